"""cocotb testbench of the datapath units (dot product, activation, LSTM cell, GRU candidate and state).

Run through :func:`sim.runner.run` (see ``tests/test_hw_datapath_cocotb.py``). Parameters (``params``):
``unit``, ``cfg``, ``count``, ``seed`` and the unit's own (``lanes``, ``max_inputs``) select the vectors of
:func:`sim.unit_vectors.unit_vectors`, the same ones the Amaranth-simulator tests use; ``valid_prob`` /
``ready_prob`` set the random valid gaps and back-pressure; ``latency`` is the unit's documented latency.
Every output is scored bit-exact, in order, against golden_model.intops (via the vectors).
"""

from __future__ import annotations

import random

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from sim.runner import load_design, load_params
from sim.scoreboard import Scoreboard
from sim.streams import StreamDriver, StreamSink, start_clock_and_reset, stream_codec
from sim.unit_vectors import output_input_index, unit_vectors


async def _reset(dut) -> None:
    """Idle both streams (a previous test may have left them driven) and reset the unit."""
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    await start_clock_and_reset(dut)


async def _wait_for(dut, scoreboard: Scoreboard, n: int, limit: int) -> None:
    for _ in range(limit):
        await RisingEdge(dut.clk)
        if scoreboard.received >= n:
            break
    for _ in range(16):  # anything extra would show up here
        await RisingEdge(dut.clk)


@cocotb.test()
async def bit_exact_with_gaps_and_backpressure(dut):
    params, design = load_params(), load_design()
    inputs, expected = unit_vectors(params)
    await _reset(dut)
    sb = Scoreboard(f"{params['unit']}.o")
    sb.expect_many(expected)
    rng = random.Random(params["seed"])
    sink = StreamSink(dut, "o", dut.clk, stream_codec(design, "o"), rng=random.Random(rng.random()),
                      ready_prob=params.get("ready_prob", 0.7), callback=sb.receive)
    driver = StreamDriver(dut, "i", dut.clk, stream_codec(design, "i"), rng=random.Random(rng.random()),
                          valid_prob=params.get("valid_prob", 0.7))
    driver.send_many(inputs)
    await _wait_for(dut, sb, len(expected), 40 * len(inputs) + 100)
    assert driver.sent == len(inputs), f"only {driver.sent} of {len(inputs)} inputs were taken"
    assert not sink.protocol_errors, sink.protocol_errors
    sb.check()
    dut._log.info("%s: %d inputs, %d outputs bit-exact", params["unit"], len(inputs), sb.matched)


@cocotb.test()
async def full_throughput_and_latency(dut):
    """Inputs back to back with the output always ready: no input stall, and every output exactly
    ``latency`` cycles after the input that completes it."""
    params, design = load_params(), load_design()
    inputs, expected = unit_vectors(dict(params, count=min(200, params["count"])))
    await _reset(dut)
    sb = Scoreboard(f"{params['unit']}.o")
    sb.expect_many(expected)
    StreamSink(dut, "o", dut.clk, stream_codec(design, "o"), ready_prob=1.0, callback=sb.receive)
    driver = StreamDriver(dut, "i", dut.clk, stream_codec(design, "i"), valid_prob=1.0)
    in_cycles, out_cycles = [], []

    async def monitor():
        cycle = 0
        while True:
            await ReadOnly()
            if int(dut.i__valid.value) and int(dut.i__ready.value):
                in_cycles.append(cycle)
            if int(dut.o__valid.value) and int(dut.o__ready.value):
                out_cycles.append(cycle)
            await RisingEdge(dut.clk)
            cycle += 1

    cocotb.start_soon(monitor())
    driver.send_many(inputs)
    await _wait_for(dut, sb, len(expected), 4 * len(inputs) + 100)
    sb.check()
    assert len(in_cycles) == len(inputs)
    assert in_cycles == list(range(in_cycles[0], in_cycles[0] + len(inputs))), "input stalled"
    ends = output_input_index(params["unit"], inputs)
    latencies = {o - in_cycles[k] for o, k in zip(out_cycles, ends, strict=True)}
    assert latencies == {params["latency"]}, f"latencies {sorted(latencies)}, documented {params['latency']}"
