"""cocotb testbench of hw.low_rank.LowRankScorer (run through sim.runner; parameters in load_params()).

random_scores -- batches of neurons under random valid gaps and back-pressure (``phases``), each batch
                 with its own z (random, corners: every element at the most negative / positive value)
                 and factor base ``a_base``; every (index, func, s, shift) scored against
                 golden_model.predictors.LowRank (s = A_n . z) and the A row's shift field.
throughput    -- neurons back to back with ``o.ready`` high: one per cycle, each ``latency`` cycles after
                 its input.

params: seed, batches, neurons (per batch), phases ([valid_prob, ready_prob] ...), latency."""

from __future__ import annotations

import random

import cocotb

from hw.output_rule import SHIFT_BITS
from sim.codec import PayloadCodec
from sim.runner import load_design, load_params
from sim.scoreboard import Scoreboard
from sim.streams import StreamDriver, StreamSink, start_clock_and_reset, stream_codec, wait_until
from sim.testbenches.checks import back_to_back, finish
from sim.testbenches.low_rank_ref import factor_rows, golden_s, serve_read_port, signed_range


async def _setup(dut, design, rng):
    """Reset, the factor memory (every row random) behind ``a_row``; returns (A factors, shifts, z codec)."""
    cfg = design["config"]
    a, words, shifts = factor_rows(rng, cfg["depth"], cfg["rank"], cfg["bits"], SHIFT_BITS)
    dut.a_base.value = 0
    dut.z.value = 0
    dut.i__valid.value = 0   # idle the streams (a previous test may have left them driven)
    dut.o__ready.value = 0
    serve_read_port(dut, "a_row", dict(enumerate(words)))
    await start_clock_and_reset(dut)
    return a, shifts, PayloadCodec(design["ports"]["z"]["shape"])


def _z(rng, rank, z_bits, kind):
    lo, hi = signed_range(z_bits)
    if kind == "min":
        return [lo] * rank
    if kind == "max":
        return [hi] * rank
    return [rng.choice([lo, hi, 0, -1, rng.randint(lo, hi)]) if rng.random() < 0.2 else rng.randint(lo, hi)
            for _ in range(rank)]


@cocotb.test()
async def random_scores(dut):
    p, design = load_params(), load_design()
    cfg = design["config"]
    neurons, rank, z_bits, depth = cfg["neurons"], cfg["rank"], cfg["z_bits"], cfg["depth"]
    rng = random.Random(p.get("seed", 1))
    a, shifts, z_codec = await _setup(dut, design, rng)
    sb = Scoreboard(f"low_rank_scorer({neurons},{rank},{cfg['bits']},{z_bits}).o")
    sink = StreamSink(dut, "o", dut.clk, stream_codec(design, "o"), rng=random.Random(rng.random()),
                      callback=sb.receive)
    drv = StreamDriver(dut, "i", dut.clk, stream_codec(design, "i"), rng=random.Random(rng.random()))
    phases = p.get("phases", [[1.0, 1.0]])
    total = 0
    for batch in range(p.get("batches", 8)):
        drv.valid_prob, sink.ready_prob = phases[batch % len(phases)]
        z = _z(rng, rank, z_bits, ("min", "max")[batch] if batch < 2 else "random")
        base = rng.choice([0, depth - neurons, rng.randint(0, depth - neurons)])
        dut.z.value = z_codec.pack(z)
        dut.a_base.value = base
        s = golden_s(z, a)
        count = p.get("neurons", 100)
        for k in range(count):
            n = k if k < neurons else rng.randrange(neurons)   # every neuron, then random ones
            func = rng.randint(0, 1)
            drv.send({"index": n, "func": func})
            sb.expect({"index": n, "func": func, "s": int(s[base + n]), "shift": shifts[base + n]},
                      f"batch {batch} base {base} z {z}")
        total += count
        # z and a_base hold while the batch is in flight (the tile changes z only between steps)
        await wait_until(dut, lambda: sb.pending == 0, 50 * count + 100, f"batch {batch}")
    await finish(dut, sink, sb, f"random_scores: {total} neurons")


@cocotb.test()
async def throughput(dut):
    """Back to back, ready high: one neuron per cycle, each score ``latency`` cycles after its input."""
    p, design = load_params(), load_design()
    cfg = design["config"]
    rng = random.Random(p.get("seed", 1) + 1)
    a, shifts, z_codec = await _setup(dut, design, rng)
    z = _z(rng, cfg["rank"], cfg["z_bits"], "random")
    dut.z.value = z_codec.pack(z)
    s = golden_s(z, a)
    items = [{"index": k % cfg["neurons"], "func": k % 2} for k in range(200)]
    await back_to_back(dut, design, "i", "o", items, p["latency"],
                       [{**item, "s": int(s[item["index"]]), "shift": shifts[item["index"]]} for item in items])
