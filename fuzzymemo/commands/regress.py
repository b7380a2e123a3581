"""``fuzzymemo regress``: random networks, inputs, scheme controls, gaps and back-pressure through random
tiles of every reuse dataflow with hardware (and the baseline), every output checked against the golden
model (fuzzymemo.regress)."""

from __future__ import annotations

import logging

from golden_model import schemes

from .args import at_least, output_file, write_json

log = logging.getLogger(__name__)


def run_regress(args) -> int:
    from ..regress import dataflows, regress

    result = regress(args.outputs, args.sim, args.seed, dataflows(args.scheme, args.predictor),
                     max_size=args.max_size, per_dataflow=args.tiles, max_failures=args.max_failures,
                     say=log.info)
    print(f"{result['outputs_checked']} outputs checked in {result['runs']} runs of {result['configs']} "
          f"configurations on {len(result['tiles'])} tiles on {args.sim} ({result['sim_cycles']} simulated "
          f"cycles, {result['seconds']:.0f} s): {result['mismatches']} mismatches, {len(result['failures'])} failures")
    for f in result["failures"]:
        where = "does not build" if f["stage"] == "build" else f"run seed {f['run_seed']}"
        print(f"  FAILURE {f['tile']} {where}: {f['reason'].splitlines()[0]}")
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
    p.add_argument("--scheme", action="append",
                   choices=["none", *(e.name for e in schemes.entries(("scheme",)) if e.hardware)],
                   help="a dataflow to regress (repeatable; none: the baseline; memo: one tile per predictor; "
                        "default, with no --predictor either: the baseline and every scheme with hardware)")
    p.add_argument("--predictor", action="append",
                   choices=["none", *(e.name for e in schemes.entries(("predictor",)) if e.hardware)],
                   help="a memoization tile to regress (repeatable; none: the baseline; with --scheme memo: "
                        "its predictors)")
    p.add_argument("--tiles", type=at_least(1), default=2,
                   help="tiles of random parameters built per dataflow (default 2)")
    p.add_argument("--max-failures", type=at_least(1), default=20,
                   help="stop after this many failures (default 20)")
    p.add_argument("--max-size", type=at_least(1), default=16,
                   help="largest input and hidden size a tile draws (sizes are log-uniform in 1..N; default 16)")
    p.add_argument("--json", type=output_file, metavar="OUT.json", help="write the summary and every failure")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.set_defaults(func=run_regress)
