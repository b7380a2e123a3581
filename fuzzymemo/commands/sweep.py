"""``fuzzymemo sweep`` and ``fuzzymemo calibrate``: reuse and accuracy against the threshold."""

from __future__ import annotations

import argparse
import logging

from golden_model import intops, schemes
from golden_model.memo import CACHE_UPDATES
from golden_model.sweep import DEFAULT_GRIDS, SWEPT, pick_threshold, sweep

from .args import finite_at_least, output_file, write_json
from .source import add_source_arguments, load_source

log = logging.getLogger(__name__)


def _thresholds(text: str):
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes comma-separated numbers, not {text!r}") from None
    return values


def _grid(args) -> list[float]:
    return args.thresholds if args.thresholds is not None else list(DEFAULT_GRIDS[args.form])


def _add_sweep_arguments(parser):
    add_source_arguments(parser)
    parser.add_argument("--thresholds", type=_thresholds,
                        help="comma-separated thresholds (default: 16 from 0 to 0.75 relative, 0 to 30 by 2 "
                             "absolute)")
    parser.add_argument("--form", choices=intops.THRESHOLD_FORMS, default=intops.RELATIVE,
                        help="threshold form: relative (a fraction of the cached value, default) or absolute")
    parser.add_argument("--cache-update", choices=CACHE_UPDATES, default="compute",
                        help="when the BNN's cached output changes: only on compute (default) or always")
    parser.add_argument("--quiet", action="store_true", help="no progress messages")


def _table(records) -> str:
    lines = [f"{'policy':<7} {'threshold':>9} {'reuse':>7} {'accuracy':>9} {'loss pp':>8}"]
    for r in records:
        lines.append(f"{r['policy']:<7} {r['threshold']:>9.4g} {r['reuse']:>7.1%} {r['metric']:>9.4f} "
                     f"{r['metric_loss']:>8.2f}")
    return "\n".join(lines)


def memo_policies(names, form: str, cache_update: str) -> list[tuple]:
    """(name, golden policy) of the memoization scheme for each registered predictor or oracle ``names``;
    ``cache_update`` applies to predictors (an oracle caches computed outputs only)."""
    memo = schemes.get("memo", ("scheme",))
    out = []
    for name in names:
        kind = schemes.get(name, ("predictor", "oracle")).kind
        update = cache_update if kind == "predictor" else "compute"
        out.append((name, memo.golden_policy(0.0, predictor=name, form=form, cache_update=update)))
    return out


def run_sweep(args) -> int:
    src = load_source(args)
    records = sweep(src.model, src.x, src.y, src.lengths, memo_policies(SWEPT, args.form, args.cache_update),
                    _grid(args), args.form, args.cache_update, log.info)
    for r in records:
        r["workload"] = src.name
    print(_table(records))
    if args.json:
        write_json(args.json, records)
        print(f"wrote {args.json}")
    if args.plot:
        from fuzzymemo.plots import plot_sweep
        plot_sweep(records, args.plot, title=f"{src.name}: reuse and accuracy loss vs threshold")
        print(f"wrote {args.plot if args.plot.suffix else args.plot.with_suffix('.png')}")
    return 0


def run_calibrate(args) -> int:
    src = load_source(args)
    records = sweep(src.model, src.x, src.y, src.lengths, memo_policies((args.policy,), args.form,
                                                                        args.cache_update),
                    _grid(args), args.form, args.cache_update, log.info)
    chosen = pick_threshold(records, args.policy, args.budget)
    if chosen is None:
        print(f"no swept threshold keeps the loss within {args.budget} pp "
              f"(threshold {records[0]['threshold']} loses {records[0]['metric_loss']:.2f} pp)")
        return 1
    print(f"{src.name}: {args.policy} {args.form} threshold {chosen['threshold']:g} reuses "
          f"{chosen['reuse']:.1%} of neuron evaluations, accuracy {chosen['metric']:.4f} "
          f"(loss {chosen['metric_loss']:.2f} pp, budget {args.budget} pp)")
    if args.json:
        write_json(args.json, chosen | {"workload": src.name, "budget_pp": args.budget})
    return 0


def register(sub) -> None:
    p = sub.add_parser("sweep", help="reuse and accuracy of the oracle and BNN policies over thresholds")
    _add_sweep_arguments(p)
    p.add_argument("--json", type=output_file, metavar="OUT.json", help="write the records as a JSON list")
    p.add_argument("--plot", type=output_file, metavar="OUT.png", help="plot reuse and loss against the threshold")
    p.set_defaults(func=run_sweep)

    p = sub.add_parser("calibrate", help="largest threshold within an accuracy-loss budget")
    _add_sweep_arguments(p)
    p.add_argument("--policy", choices=schemes.names(("predictor", "oracle")), default="bnn",
                   help="the registered predictor or oracle to calibrate (default bnn)")
    p.add_argument("--budget", type=finite_at_least(0.0), default=1.0,
                   help="loss budget in percentage points (default 1)")
    p.add_argument("--json", type=output_file, metavar="OUT.json", help="write the chosen record")
    p.set_defaults(func=run_calibrate)
