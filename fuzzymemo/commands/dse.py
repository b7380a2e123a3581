"""``fuzzymemo dse``: a design-space exploration on Dask (docs/dse.md).

    fuzzymemo dse examples/small.toml --json dse.json --plot dse.png
    fuzzymemo dse SPACE.toml --json OUT.json --scheduler tcp://10.0.0.5:8786
    fuzzymemo dse SPACE.toml --json OUT.json --list

Each point of the space is one task; rerunning the same command skips the points already done in
``--json`` (the results file is the checkpoint)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .args import at_least, output_file

log = logging.getLogger("fuzzymemo.dse")


def run_dse(args) -> int:
    from fuzzymemo.dse.engine import LOCAL, explore
    from fuzzymemo.dse.pareto import markdown_table, plot_front
    from fuzzymemo.dse.space import load_space, parse_objectives, point_label

    space = load_space(args.space)
    if args.objectives:
        space.objectives = parse_objectives(args.objectives)
    if args.workers is not None and args.scheduler != LOCAL:
        raise ValueError("--workers sizes the local cluster; a scheduler address brings its own workers")
    if args.list:
        for p in space.points:
            print(f"{p['id']}  {' '.join(p['stages']):<16} {point_label(p)}")
        print(f"{len(space.points)} points; objectives: {', '.join(map(str, space.objectives))}")
        return 0
    log.info(f"space {space.name}: {len(space.points)} points, objectives {', '.join(map(str, space.objectives))}")
    doc = explore(space, args.json, args.scheduler, args.workers,
                  work_root=Path(args.keep_work) if args.keep_work else None)
    records = doc["records"]
    table = markdown_table(records, space.objectives, only_front=not args.all, extra=tuple(space.columns))
    print(table)
    c = doc["counts"]
    print(f"{c['points']} points: {c['done']} done, {c['failed']} failed; {len(doc['pareto'])} on the Pareto front "
          f"({', '.join(map(str, space.objectives))})")
    print(f"wrote {args.json}")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown_table(records, space.objectives, extra=tuple(space.columns)) + "\n")
        print(f"wrote {args.markdown}")
    if args.plot:
        print(f"wrote {plot_front(records, space.objectives, args.plot, title=f'{space.name}: Pareto front')}")
    return 0 if c["failed"] == 0 else 1


def register(sub) -> None:
    p = sub.add_parser("dse", help="design-space exploration of a space file on Dask, with its Pareto front",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("space", metavar="SPACE.toml", help="the space file (docs/dse.md; examples in examples)")
    p.add_argument("--json", type=output_file, required=True, metavar="OUT.json",
                   help="the results file: records and Pareto front, rewritten after every point (the checkpoint)")
    p.add_argument("--plot", type=output_file, metavar="OUT.png", help="plot the points and the Pareto front")
    p.add_argument("--markdown", type=output_file, metavar="OUT.md", help="write the table of every point")
    p.add_argument("--scheduler", default="local", metavar="local|ADDRESS",
                   help="local (default): a LocalCluster of one process per core, one thread each; or the "
                        "address of a running Dask scheduler (e.g. tcp://host:8786)")
    p.add_argument("--workers", type=at_least(1), metavar="N",
                   help="worker processes of the local cluster (default: one per core)")
    p.add_argument("--objectives", metavar="LIST",
                   help="the Pareto objectives instead of the space's, e.g. 'min golden.metric_loss,min rtl.cycles' "
                        "(points already done are judged again, not rerun)")
    p.add_argument("--list", action="store_true", help="list the points and exit (nothing runs)")
    p.add_argument("--all", action="store_true", help="print every point, not only the Pareto front")
    p.add_argument("--keep-work", metavar="DIR",
                   help="keep the work folders of failed points (calibration, run and synthesis files) in DIR")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.set_defaults(func=run_dse)
