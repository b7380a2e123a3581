"""``fuzzymemo regress``: random networks, inputs, thresholds, gaps and back-pressure through the tile of
every predictor with hardware (and the baseline), every output checked against the golden model
(fuzzymemo.regress)."""

from __future__ import annotations

import logging

from golden_model import schemes

from .args import at_least, output_file, write_json

log = logging.getLogger(__name__)


def run_regress(args) -> int:
    from ..regress import regress

    predictors = args.predictor or [None, *(e.name for e in schemes.entries(("predictor",)) if e.hardware)]
    result = regress(args.outputs, args.sim, args.seed, [None if p == "none" else p for p in predictors],
                     say=log.info)
    print(f"{result['outputs_checked']} outputs checked in {result['runs']} runs of {len(result['cases'])} tiles "
          f"on {args.sim} ({result['sim_cycles']} simulated cycles, {result['seconds']:.0f} s): "
          f"{len(result['failures'])} failures")
    for f in result["failures"]:
        print(f"  FAILURE {f['case']} run seed {f['run_seed']}: {f['reason'].splitlines()[0]}")
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0 if not result["failures"] else 1


def register(sub) -> None:
    p = sub.add_parser("regress", help="random regression of the tile against the golden model (every output)")
    p.add_argument("--outputs", type=at_least(1), default=1_000_000,
                   help="h elements to check before stopping (default 1000000)")
    p.add_argument("--sim", choices=("verilator", "icarus"), default="verilator")
    p.add_argument("--seed", type=int, default=1, help="seed of the shapes, networks and runs (default 1)")
    p.add_argument("--predictor", action="append",
                   choices=["none", *(e.name for e in schemes.entries(("predictor",)) if e.hardware)],
                   help="a tile to regress (repeatable; none: the baseline; default: the baseline and every "
                        "predictor with hardware)")
    p.add_argument("--json", type=output_file, metavar="OUT.json", help="write the summary and every failure")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.set_defaults(func=run_regress)
