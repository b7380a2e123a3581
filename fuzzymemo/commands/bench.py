"""``fuzzymemo bench``: wall-clock time of the golden model's sweep (a benchmark, not a test)."""

from __future__ import annotations

import time

from golden_model.sweep import DEFAULT_THRESHOLDS, SWEPT, sweep

from .args import at_least
from .source import add_source_arguments, load_source


def run_bench(args) -> int:
    src = load_source(args)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        records = sweep(src.model, src.x, src.y, src.lengths, SWEPT, DEFAULT_THRESHOLDS)
        times.append(time.perf_counter() - start)
    evaluations = src.lengths.sum() * src.model.net.num_layers * src.model.net.num_directions
    print(f"{src.name}: {len(DEFAULT_THRESHOLDS)}-threshold oracle+BNN sweep over {src.x.shape[0]} sequences "
          f"({len(records)} records, {evaluations} layer-steps per run): best {min(times):.2f} s, "
          f"mean {sum(times) / len(times):.2f} s over {args.repeat} runs")
    return 0


def register(sub) -> None:
    p = sub.add_parser("bench", help="time a 16-threshold oracle+BNN sweep of the golden model")
    add_source_arguments(p, default_workload=True)
    p.add_argument("--repeat", type=at_least(1), default=3, help="runs to time (default 3)")
    p.set_defaults(func=run_bench)
