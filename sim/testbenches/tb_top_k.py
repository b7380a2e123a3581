"""cocotb testbench of hw.top_k.TopKScorer (tests/test_hw_top_k.py builds the design; parameters in
load_params()); its weight-row read port is served from Python like a memory read port (data the cycle
after an enabled address, held otherwise).

golden_steps -- sequences of steps: per step a random choice of k changes (ties, empty entries) on
                ``chosen``, every neuron once in a random order with random valid gaps, random
                back-pressure on ``o``; each output scored against the golden running score
                (golden_model.predictors.TopK arithmetic: s += sum of w'[n, index] * delta); ``clear`` at
                every sequence start.

params: seed, sequences, steps, phases ([valid_prob, ready_prob] ...)."""

from __future__ import annotations

import random

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

from golden_model.formats import FixedPointConfig
from golden_model.predictors import TopK
from sim.harness import pauses
from sim.runner import load_design, load_params
from sim.scoreboard import Scoreboard
from sim.streams import StreamDriver, StreamSink, start_clock_and_reset, stream_codec, wait_until

#: The output-rule shift the test rows carry above their weights.
SHIFT = 9


def scorer_rows(cfg: dict):
    """The narrow weights (neurons, elements) of a test configuration and their memory rows (the first
    ``base`` rows zero)."""
    rng = np.random.default_rng(cfg["seed"])
    wb, elements = cfg["weight_bits"], cfg["elements"]
    w = TopK(cfg["k"], wb).prepare(rng.integers(-400, 400, (cfg["neurons"], elements)), FixedPointConfig()).factors["w"]
    mask = (1 << wb) - 1
    rows = [sum((int(v) & mask) << (f * wb) for f, v in enumerate(row)) | (SHIFT << (elements * wb)) for row in w]
    return w, [0] * cfg["base"] + rows


def _pack_chosen(chosen, index_bits: int, delta_bits: int) -> int:
    word = 0
    for j, (i, d) in enumerate(chosen):
        word |= (i | ((d & ((1 << delta_bits) - 1)) << index_bits)) << (j * (index_bits + delta_bits))
    return word


def _step_choice(rng: random.Random, cfg: dict):
    """k changes of distinct elements (empty entries and tied magnitudes among them)."""
    lim = (1 << cfg["act_bits"]) - 1
    picks = rng.sample(range(cfg["elements"]), cfg["k"])
    out = []
    for i in picks:
        r = rng.random()
        out.append((0, 0) if r < 0.15 else (i, rng.choice([lim, -lim, 3, -3, rng.randint(-lim, lim)])))
    return out


async def _serve_rows(dut, rows):
    while True:
        await ReadOnly()
        en, addr = dut.w_row__en.value, dut.w_row__addr.value
        await RisingEdge(dut.clk)
        if en.is_resolvable and int(en):
            assert addr.is_resolvable, f"w_row read of address {addr}"
            addr = int(addr)
            dut.w_row__data.value = rows[addr] if addr < len(rows) else 0


@cocotb.test()
async def golden_steps(dut):
    p, design = load_params(), load_design()
    cfg = design["config"]
    w, rows = scorer_rows(cfg)
    rng = random.Random(p.get("seed", 1))
    index_bits = max(1, (cfg["elements"] - 1).bit_length())
    dut.clear.value = 0
    dut.chosen.value = 0
    dut.w_base.value = cfg["base"]
    dut.w_row__data.value = 0
    dut.i__payload.value = 0
    dut.i__valid.value = 0   # before the reset ends: Icarus would clock in an undriven (Z) valid
    dut.o__ready.value = 0
    await start_clock_and_reset(dut)
    cocotb.start_soon(_serve_rows(dut, rows))
    sb = Scoreboard("top_k_scorer.o")
    drv = StreamDriver(dut, "i", dut.clk, stream_codec(design, "i"), rng=random.Random(rng.random()))
    sink = StreamSink(dut, "o", dut.clk, stream_codec(design, "o"), rng=random.Random(rng.random()),
                      callback=sb.receive)
    phases = p.get("phases", [[1.0, 1.0]])
    neurons, scored = cfg["neurons"], 0
    for seq in range(p.get("sequences", 3)):
        drv_prob, sink_prob = phases[seq % len(phases)]
        drv.set_pause_generator(pauses(drv_prob, rng=random.Random(rng.random())))
        sink.set_pause_generator(pauses(sink_prob, rng=random.Random(rng.random())))
        dut.clear.value = 1
        await RisingEdge(dut.clk)
        dut.clear.value = 0
        total = np.zeros(neurons, dtype=np.int64)
        for step in range(p.get("steps", 6)):
            chosen = _step_choice(rng, cfg)
            dut.chosen.value = _pack_chosen(chosen, index_bits, cfg["act_bits"] + 1)
            total = total + sum(d * w[:, i] for i, d in chosen)
            for n in rng.sample(range(neurons), neurons):
                func = rng.choice([0, 1])
                drv.send({"index": n, "func": func})
                sb.expect({"index": n, "func": func, "s": int(total[n]), "shift": SHIFT}, f"seq {seq} step {step}")
            await wait_until(dut, lambda done=scored + neurons: drv.idle and sink.received == done,
                             100 * neurons + 200, f"seq {seq} step {step}")
            scored += neurons
    assert not sink.protocol_errors, sink.protocol_errors
    sb.check()
    dut._log.info("golden_steps: %d scores checked; %s", scored, sb.report())

