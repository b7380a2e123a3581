"""``fuzzymemo bench``: wall-clock time of the golden model's sweep (a benchmark, not a test).

``--paper-scale`` times the case of the DSE issue's golden-model speed target instead of a workload: a
random 2-layer bidirectional LSTM with input 40 and hidden 256 on 200 random sequences of 150 steps."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np

from golden_model.sweep import DEFAULT_THRESHOLDS, SWEPT, sweep

from .args import add_threads_argument, at_least
from .source import add_source_arguments, load_source

#: The paper-scale case: (layers, directions, inputs, hidden, classes, sequences, steps).
PAPER_SCALE = (2, 2, 40, 256, 10, 200, 150)


def paper_scale_source(limit: int | None = None, seed: int = 0) -> SimpleNamespace:
    """The paper-scale case as a source (model, x, y, lengths, name): weights uniform in +-1/sqrt(H) as
    torch initialises an LSTM, slowly varying inputs, formats calibrated on them, random labels."""
    from golden_model.calibration import calibrate_formats
    from golden_model.fixed_model import FixedPointNetwork
    from golden_model.network import Network

    layers, dirs, inputs, hidden, classes, batch, steps = PAPER_SCALE
    rng = np.random.default_rng(seed)
    bound = hidden ** -0.5

    def uniform(*shape):
        return rng.uniform(-bound, bound, shape)

    spec = [[{"w_ih": uniform(4 * hidden, inputs if li == 0 else dirs * hidden), "w_hh": uniform(4 * hidden, hidden),
              "b_ih": uniform(4 * hidden), "b_hh": uniform(4 * hidden)} for _ in range(dirs)] for li in range(layers)]
    net = Network.build("lstm", spec, {"weight": uniform(classes, dirs * hidden), "bias": uniform(classes)})
    batch = min(batch, limit) if limit else batch
    x = np.cumsum(rng.normal(0, 0.3, (batch, steps, inputs)), axis=1) * 0.3
    model = FixedPointNetwork(net, calibrate_formats(net, x))
    return SimpleNamespace(model=model, x=x, y=rng.integers(0, classes, batch),
                           lengths=np.full(batch, steps), name="paper-scale (2-layer bidirectional LSTM 40 -> 256)")


def run_bench(args) -> int:
    if args.paper_scale and (args.workload or args.model or args.data or args.split):
        raise ValueError("--paper-scale is its own network and data: drop --workload, --model, --data, --split")
    src = paper_scale_source(args.limit) if args.paper_scale else load_source(args)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        records = sweep(src.model, src.x, src.y, src.lengths, SWEPT, DEFAULT_THRESHOLDS, workers=args.threads)
        times.append(time.perf_counter() - start)
    evaluations = src.lengths.sum() * src.model.net.num_layers * src.model.net.num_directions
    print(f"{src.name}: {len(DEFAULT_THRESHOLDS)}-threshold oracle+BNN sweep over {src.x.shape[0]} sequences "
          f"({len(records)} records, {evaluations} layer-steps per run): best {min(times):.2f} s, "
          f"mean {sum(times) / len(times):.2f} s over {args.repeat} runs, {args.threads} "
          f"thread{'s' if args.threads > 1 else ''}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("bench", help="time a 16-threshold oracle+BNN sweep of the golden model")
    add_source_arguments(p, default_workload=True)
    p.add_argument("--repeat", type=at_least(1), default=3, help="runs to time (default 3)")
    add_threads_argument(p)
    p.add_argument("--paper-scale", action="store_true",
                   help="time a random 2-layer bidirectional LSTM, input 40, hidden 256, on 200 random sequences "
                        "of 150 steps (--limit N: the first N) instead of a workload or --model")
    p.set_defaults(func=run_bench)
