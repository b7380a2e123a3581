# amaranth: UnusedElaboratable=no
"""Draw the handshakes of the tile's units over a few time steps (docs/img/tile_waveform.png).

    .venv/bin/python bench/tile_waveform.py [--out docs/img/tile_waveform.png] [--memo-off]

A small memoizing LSTM tile (I=3, H=4, L=2, B=8) runs a 4-step sequence of a random network with BNN
memoization on (absolute threshold 2) in the Amaranth simulator; every cycle the script samples the
transfers (valid & ready) of the x stream, the BNN unit's input, the memo table's responses (hit or
miss), the dot-product unit's input beats, the activation unit's output, the element-wise update's
output and the h stream, and plots them as a timing diagram. The outputs are checked against the
golden model before anything is drawn.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from golden_model import Network, intops  # noqa: E402
from golden_model.calibration import calibrate_formats  # noqa: E402
from golden_model.fixed_model import FixedPointNetwork  # noqa: E402
from golden_model.memo import PREDICTED, MemoPolicy  # noqa: E402
from hw.tile import Tile  # noqa: E402
from hw.tile_bnn import BnnFrontEnd  # noqa: E402
from hw.tile_image import memory_image  # noqa: E402
from hw.tile_params import TileParams  # noqa: E402
from sim.tile_amaranth import TileSequence, run_sequences  # noqa: E402

INPUTS, HIDDEN, STEPS, THETA = 3, 4, 4, 2


def _network(seed=0):
    rng = np.random.default_rng(seed)
    return Network.build("lstm", [[{"w_ih": rng.uniform(-0.8, 0.8, (4 * HIDDEN, INPUTS)),
                                    "w_hh": rng.uniform(-0.8, 0.8, (4 * HIDDEN, HIDDEN)),
                                    "b_ih": rng.uniform(-0.3, 0.3, 4 * HIDDEN),
                                    "b_hh": rng.uniform(-0.3, 0.3, 4 * HIDDEN)}]])


def simulate(memo_enable: bool):
    net = _network()
    x = np.cumsum(np.random.default_rng(1).normal(0, 0.1, (1, STEPS, INPUTS)), axis=1)
    model = FixedPointNetwork(net, calibrate_formats(net, x))
    params = TileParams.for_network(net, model.config, lanes=2, bnn_width=8, front_end=BnnFrontEnd)
    x_q = model.quantize_input(x)
    tile = Tile(params, memory_image(params, model))
    # the tile's parts are public attributes: sample their stream handshakes
    front_end = tile.front_end
    traces = {name: [] for name in ("x", "bnn beat", "memo hit", "memo miss", "dot beat", "activation",
                                    "update", "h")}
    h_out = []

    def fire(s):
        return lambda ctx: ctx.get(s.valid) and ctx.get(s.ready)

    probes = {"x": fire(tile.x), "bnn beat": fire(front_end.bnn.i), "dot beat": fire(tile.dot.i),
              "activation": fire(tile.activation.o), "update": fire(tile.state.unit.o), "h": fire(tile.h)}
    resp = front_end.memo.response

    async def monitor(ctx):
        while len(h_out) < STEPS * HIDDEN:
            for name, probe in probes.items():
                traces[name].append(bool(probe(ctx)))
            got = ctx.get(resp.valid) and ctx.get(resp.ready)
            hit = got and bool(ctx.get(resp.payload.hit))
            traces["memo hit"].append(hit)
            traces["memo miss"].append(got and not hit)
            if ctx.get(tile.h.valid) and ctx.get(tile.h.ready):
                h_out.append(ctx.get(tile.h.payload.data))
            await ctx.tick()

    run_sequences(tile, [TileSequence(x_q[0], memo_enable=int(memo_enable), theta=THETA, form=1)],
                  monitors=[monitor])
    policy = MemoPolicy(PREDICTED, THETA, form=intops.ABSOLUTE) if memo_enable else MemoPolicy()
    golden = model.run(x_q, policy=policy)
    if h_out != golden.out[0].ravel().tolist():
        raise SystemExit("tile outputs differ from the golden model: not drawing")
    return traces, int(golden.stats.reuses.sum()), int(golden.stats.evaluations.sum())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/img/tile_waveform.png")
    parser.add_argument("--memo-off", action="store_true", help="run with memo_enable = 0")
    args = parser.parse_args()
    traces, reuses, evaluations = simulate(not args.memo_off)
    cycles = len(traces["x"])
    fig, ax = plt.subplots(figsize=(14, 4.2))
    for row, (name, values) in enumerate(reversed(list(traces.items()))):
        on = np.flatnonzero(values)
        color = {"memo hit": "tab:green", "memo miss": "tab:red"}.get(name, "tab:blue")
        ax.broken_barh([(c, 0.9) for c in on], (row + 0.1, 0.8), color=color)
    ax.set_yticks(np.arange(len(traces)) + 0.5, list(reversed(list(traces))))
    ax.set_xlim(0, cycles)
    ax.set_xlabel("clock cycle")
    ax.grid(True, axis="x", alpha=0.3)
    state = "off" if args.memo_off else f"on (absolute threshold {THETA})"
    ax.set_title(f"Tile, LSTM I={INPUTS} H={HIDDEN} L=2 B=8, {STEPS} steps, memoization {state}: "
                 f"{reuses}/{evaluations} neuron evaluations reused, {cycles} cycles; a mark = one transfer")
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out} ({cycles} cycles, {reuses}/{evaluations} reused)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
