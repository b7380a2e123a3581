"""``fuzzymemo import-torch`` and ``fuzzymemo info``."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

from golden_model.calibration import calibrate_formats, width_study
from golden_model.fixed_model import FixedPointNetwork
from golden_model.torch_import import load_torch_checkpoint
from golden_model.workloads import load_data

from .args import at_least, output_file, write_json
from .source import add_source_arguments, load_source

#: import-torch options choosing the formats' widths: calibrate_formats' keywords, with its defaults.
WIDTHS = {name: p.default for name, p in inspect.signature(calibrate_formats).parameters.items()
          if name.endswith("_bits")}


def run_import(args) -> int:
    net = load_torch_checkpoint(args.checkpoint)
    meta = dict(net.meta, source=str(Path(args.checkpoint).name))
    widths = {k: getattr(args, k) for k in WIDTHS if getattr(args, k) is not None}
    if widths and not args.calibrate_data:
        raise ValueError("format widths (--weight-bits ...) are chosen with --calibrate-data DATA.npz")
    if args.calibrate_data:
        x, _, lengths = load_data(args.calibrate_data, labels=False)
        config = calibrate_formats(net, x, lengths, **widths)
        FixedPointNetwork(net, config)   # every weight and bias fits, or an error naming the tensor
        meta["fixed_point"] = config.to_dict()
    net = dataclasses.replace(net, meta=meta)
    net.save(args.output)
    print(f"{args.checkpoint}: {net.describe()} -> {args.output}")
    return 0


def run_info(args) -> int:
    src = load_source(args)
    net, model = src.model.net, src.model
    print(f"{src.name}: {net.describe()}")
    print(f"formats: {model.config}")
    print(f"data: {src.x.shape[0]} sequences, up to {src.x.shape[1]} steps")
    if net.head is not None:
        float_acc = (net.predict(src.x, src.lengths) == src.y).mean()
        fixed_acc = (model.predict(src.x, src.lengths) == src.y).mean()
        print(f"accuracy: float {float_acc:.4f}, fixed-point {fixed_acc:.4f} "
              f"(loss {100 * (float_acc - fixed_acc):.2f} pp)")
    return 0


def run_width_study(args) -> int:
    src = load_source(args)
    rows = width_study(src.model.net, src.x, src.y, src.lengths)
    print(f"{src.name}: fixed-point accuracy against each format's width (others at their defaults)")
    print(f"{'format':<12} {'bits':>4} {'accuracy':>9} {'loss pp':>8}")
    for r in rows:
        acc = f"{r['accuracy']:9.4f} {r['loss_pp']:8.2f}" if r["accuracy"] is not None else f"  {r['error']}"
        print(f"{r['format']:<12} {r['bits']:>4} {acc}")
    if args.json:
        write_json(args.json, rows)
    return 0


def register(sub) -> None:
    p = sub.add_parser("import-torch", help="convert a torch.save-d state dict (rnn.* and head.*) to a model file")
    p.add_argument("checkpoint", metavar="STATE_DICT.pt")
    p.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write (.npz)")
    p.add_argument("--calibrate-data", metavar="DATA.npz",
                   help="calibrate the fixed-point formats on this data (x and optional lengths; no labels "
                        "needed) and store them in the model")
    for name, default in WIDTHS.items():
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=at_least(2, 48), metavar="BITS",
                       help=f"width of the {name.split('_')[0]} format (default {default}; with --calibrate-data)")
    p.set_defaults(func=run_import)

    p = sub.add_parser("info", help="describe a model, its formats and its float/fixed-point accuracy")
    add_source_arguments(p, default_workload=True)
    p.set_defaults(func=run_info)

    p = sub.add_parser("width-study", help="fixed-point accuracy against the width of each format")
    add_source_arguments(p, default_workload=True)
    p.add_argument("--json", type=output_file, metavar="OUT.json", help="write the rows as JSON")
    p.set_defaults(func=run_width_study)
