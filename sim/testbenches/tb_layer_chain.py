"""cocotb testbench of the layers sequenced in hardware (run through sim.runner; see
tests/test_hw_layer_chain_cocotb.py).

On a :class:`hw.layer_chain.LayerChain` (memories loaded at elaboration), ``testcase="chain_sequences"``:
the controls of ``params`` (``memo_enable``, ``form``, ``theta``: the per-layer thresholds packed, layer l in
bits l*16 ..), then per sequence of ``params["sequences"]`` (x beats, expected h data): counters cleared, the
x beats with random valid gaps (``gap``), h taken under random back-pressure (``stall``); every h element
must equal the expected one, in order, ``last`` on the final one only, nothing extra; the ``reuses``
counter must equal ``params["reuses"]`` of the sequence; the stream rules hold (payload stable while
valid and not ready).
"""

from __future__ import annotations

import random

import cocotb
from cocotb.triggers import RisingEdge

from sim.runner import load_design, load_params
from sim.scoreboard import Scoreboard
from sim.streams import StreamDriver, StreamSink, start_clock_and_reset, stream_codec


@cocotb.test()
async def chain_sequences(dut):
    params, design = load_params(), load_design()
    rng = random.Random(params["seed"])
    for name in ("x__valid", "x__payload", "wr__valid", "wr__payload", "clear_counters"):
        getattr(dut, name).value = 0
    dut.memo_enable.value, dut.form.value, dut.theta.value = params["memo_enable"], params["form"], params["theta"]
    await start_clock_and_reset(dut)
    board = {"sb": None}
    x = StreamDriver(dut, "x", dut.clk, stream_codec(design, "x"), rng=random.Random(rng.random()),
                     valid_prob=1.0 - params["gap"])
    h = StreamSink(dut, "h", dut.clk, stream_codec(design, "h"), rng=random.Random(rng.random()),
                   ready_prob=1.0 - params["stall"], callback=lambda item: board["sb"].receive(item))
    for k, seq in enumerate(params["sequences"]):
        dut.clear_counters.value = 1
        await RisingEdge(dut.clk)
        dut.clear_counters.value = 0
        expected = seq["h"]
        board["sb"] = sb = Scoreboard(f"layer_chain.h sequence {k}")
        sb.expect_many([{"data": v, "last": int(i == len(expected) - 1)} for i, v in enumerate(expected)])
        x.send_many(seq["x"])
        cycles = 0
        while sb.received < len(expected):
            await RisingEdge(dut.clk)
            cycles += 1
            assert cycles < params["timeout"], f"sequence {k}: {sb.received} of {len(expected)} outputs"
        while int(dut.busy.value):
            await RisingEdge(dut.clk)
        for _ in range(12):   # anything extra would show up here
            await RisingEdge(dut.clk)
        assert not h.protocol_errors, h.protocol_errors
        sb.check()
        assert int(dut.reuses.value) == seq["reuses"], f"sequence {k}: reuses {int(dut.reuses.value)}"
        dut._log.info("sequence %d: %d outputs in %d cycles, %d reuses", k, len(expected), cycles, seq["reuses"])
