"""``fuzzymemo sweep``: reuse and accuracy of registered predictors (and the oracle) against the threshold
(the paper's Figure 1)."""

from __future__ import annotations

import logging

from golden_model import schemes
from golden_model.reuse_calibration import DELTA_GRID, LEVELS_GRID, input_ranges, sweep_scheme
from golden_model.sweep import SWEPT, sweep
from golden_model.workloads import load_workload

from .args import add_threads_argument, output_file, write_json
from .predictor_args import (
    MEMO_SCHEME,
    add_policy_arguments,
    add_scheme_argument,
    check_input_scheme_options,
    grid,
    policy_of,
    predictor_parameters,
)
from .source import add_source_arguments, load_source

log = logging.getLogger(__name__)


def _table(records) -> str:
    width = max([6] + [len(r["policy"]) for r in records])
    lines = [f"{'policy':<{width}} {'threshold':>9} {'reuse':>7} {'accuracy':>9} {'loss pp':>8}"]
    for r in records:
        lines.append(f"{r['policy']:<{width}} {r['threshold']:>9.4g} {r['reuse']:>7.1%} {r['metric']:>9.4f} "
                     f"{r['metric_loss']:>8.2f}")
    return "\n".join(lines)


def _similarity_ranges(args, src):
    """A bundled workload's quantizer ranges come from its calibration split; a user's from its --data."""
    if args.model is not None:
        log.info("similarity: quantizer ranges measured on --data (no separate calibration split)")
        return None, str(args.data)
    cal = load_workload(args.workload, "calibration")
    x_q = src.model.quantize_input(cal.x)
    return input_ranges(src.model, x_q, src.model.run(x_q, cal.lengths), cal.lengths), "calibration"


def run_sweep_scheme(args) -> int:
    check_input_scheme_options(args, None)
    params = predictor_parameters([args.scheme], args.param)[args.scheme]
    if args.scheme == "similarity" and params:
        raise ValueError("--param levels: --scheme similarity sweeps its levels with --thresholds")
    src = load_source(args)
    ranges, ranges_from = _similarity_ranges(args, src) if args.scheme == "similarity" else (None, None)
    values = args.thresholds or list(DELTA_GRID if args.scheme == "delta" else LEVELS_GRID)
    records = sweep_scheme(src.model, src.x, src.y, src.lengths, args.scheme, values, ranges,
                           None if params.get("theta_h", -1) == -1 else params["theta_h"], log.info)
    for r in records:
        r["workload"] = src.name
        r["split"] = args.split or "test" if args.model is None else str(args.data)
        if ranges_from:
            r["ranges_from"] = ranges_from
    return _report(args, records, src)


def _report(args, records, src) -> int:
    print(_table(records))
    if args.json:
        write_json(args.json, records)
        print(f"wrote {args.json}")
    if args.plot:
        from fuzzymemo.plots import plot_sweep
        plot_sweep(records, args.plot, title=f"{src.name}: reuse and accuracy loss vs threshold")
        print(f"wrote {args.plot if args.plot.suffix else args.plot.with_suffix('.png')}")
    return 0


def run_sweep(args) -> int:
    if args.scheme != MEMO_SCHEME:
        return run_sweep_scheme(args)
    names = list(dict.fromkeys(args.predictor or SWEPT))
    params = {name: schemes.get(name).resolve(given) for name, given in predictor_parameters(names, args.param).items()}
    policies = [(name, policy_of(name, args, params[name])) for name in names]
    src = load_source(args)
    records = sweep(src.model, src.x, src.y, src.lengths, policies, grid(args), args.form, args.cache_update,
                    log.info, args.threads)
    for r in records:
        r["workload"] = src.name
        r["parameters"] = params[r["policy"]]
    return _report(args, records, src)


def register(sub) -> None:
    p = sub.add_parser("sweep", help="reuse and accuracy of predictors and the oracle over thresholds")
    add_source_arguments(p)
    add_scheme_argument(p)
    p.add_argument("--predictor", action="append", choices=schemes.names(("predictor", "oracle")),
                   help=f"a registered predictor or the oracle (repeatable; default: {' and '.join(SWEPT)})")
    add_policy_arguments(p)
    add_threads_argument(p)
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.add_argument("--json", type=output_file, metavar="OUT.json", help="write the records as a JSON list")
    p.add_argument("--plot", type=output_file, metavar="OUT.png", help="plot reuse and loss against the threshold")
    p.set_defaults(func=run_sweep)
