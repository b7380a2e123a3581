"""cocotb testbench of the delta-tile blocks (run through sim.runner; see tests/test_hw_delta_cocotb.py).

On a :class:`hw.delta_detect.ChangeDetector` (top ``hw.top.ReadyPorts(...)``,
``testcase="detector_streams"``):

detector_streams  -- per phase of ``params["phases"]`` (:func:`sim.delta_vectors.detector_phases`): its
                     ``wr`` writes (random gaps), then (a new sequence) ``theta``/``slot`` and a
                     ``seq_start`` pulse, the step controls, its x and h elements interleaved with random
                     gaps (``gap``); every compared element on ``x_changes`` / ``h_changes`` must equal
                     ``params["expected"]`` (:func:`sim.delta_vectors.detector_reference`) and leave
                     ``latency`` cycles after its element; ``count_x`` / ``count_h`` follow the changed ones.

On a :class:`sim.delta_vectors.EmitterHarness` (``testcase="emitter_backpressure"``):

emitter_backpressure -- per step of ``params["steps"]``: (a new sequence) ``slot`` and ``seq_start``;
                     ``groups_done`` rising one group at a time with random gaps (``group_gap``), ``o``
                     and ``tags`` under independent random back-pressure (``ready_prob``); every result and
                     tag equal to the step's ``results`` / ``tags`` in order, none of a group before the
                     group is done, nothing extra; then ``step_reset``.
"""

from __future__ import annotations

import random

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from sim.runner import load_design, load_params
from sim.scoreboard import Scoreboard
from sim.streams import StreamSink, start_clock_and_reset, stream_codec


@cocotb.test()
async def detector_streams(dut):
    params, design = load_params(), load_design()
    rng, gap, latency = random.Random(params["seed"]), params["gap"], params["latency"]
    for name in ("x__valid", "h__valid", "wr__valid", "seq_start", "first_step", "last_step", "x_bank", "h_bank",
                 "theta", "slot"):
        getattr(dut, name).value = 0
    await start_clock_and_reset(dut)
    codecs = {name: stream_codec(design, name) for name in ("x", "h", "wr", "x_changes", "h_changes")}
    state = {"cycle": 0, "sent": {"x": [], "h": []}, "got": None}

    async def tick():
        await ReadOnly()
        for lane in ("x", "h"):
            valid = int(getattr(dut, f"{lane}_changes__valid").value)
            count = int(getattr(dut, f"count_{lane}").value)
            raw = int(getattr(dut, f"{lane}_changes__payload").value) if valid else None
            item = codecs[f"{lane}_changes"].unpack(raw) if valid else None
            assert count == (1 if valid and item["changed"] else 0), f"count_{lane} {count} at cycle {state['cycle']}"
            if valid:
                assert state["got"] is not None and state["sent"][lane], f"{lane}_changes valid with no element"
                after = state["cycle"] - state["sent"][lane].pop(0)
                assert after == latency, f"{lane} element compared {after} cycles after it, latency {latency}"
                state["got"][lane].append({k: int(item[k]) for k in ("index", "delta", "changed", "bank")})
        await RisingEdge(dut.clk)
        state["cycle"] += 1

    for k, (ph, want) in enumerate(zip(params["phases"], params["expected"], strict=True)):
        for wr in ph["wr"]:
            while rng.random() < gap:
                await tick()
            dut.wr__payload.value = codecs["wr"].pack(wr)
            dut.wr__valid.value = 1
            await tick()
            dut.wr__valid.value = 0
        if ph["seq_start"]:
            dut.theta.value, dut.slot.value, dut.seq_start.value = ph["theta"], ph["slot"], 1
            await tick()
            dut.seq_start.value = 0
            dut.theta.value = rng.randrange(1 << 16)   # sampled at seq_start only
        for name in ("first_step", "last_step", "x_bank", "h_bank"):
            getattr(dut, name).value = ph[name]
        state["got"] = {"x": [], "h": []}
        items = {"x": list(enumerate(ph["x"])), "h": list(enumerate(ph["h"]))}
        while items["x"] or items["h"]:
            for lane in ("x", "h"):
                send = bool(items[lane]) and rng.random() >= gap
                if send:
                    i, v = items[lane].pop(0)
                    getattr(dut, f"{lane}__payload").value = codecs[lane].pack(
                        {"data": v, "index": i, "last": int(not items[lane])})
                    state["sent"][lane].append(state["cycle"])
                getattr(dut, f"{lane}__valid").value = int(send)
            await tick()
        dut.x__valid.value = 0
        dut.h__valid.value = 0
        for _ in range(rng.choice([1, 2, 4])):
            await tick()
        assert not state["sent"]["x"], f"phase {k}: an x element without its comparison"
        assert not state["sent"]["h"] or ph["last_step"], f"phase {k}: an h element without its comparison"
        state["sent"]["h"].clear()
        for lane in ("x", "h"):
            assert state["got"][lane] == want[lane], (f"phase {k} lane {lane}:\n got {state['got'][lane]}\n"
                                                      f"want {want[lane]}")
    dut._log.info("detector: %d phases, every comparison as the reference", len(params["phases"]))


@cocotb.test()
async def emitter_backpressure(dut):
    params, design = load_params(), load_design()
    rng, groups, NG = random.Random(params["seed"]), params["result_groups"], params["neuron_groups"]
    for name in ("seq_start", "step_reset", "slot", "groups_done", "o__ready", "tags__ready"):
        getattr(dut, name).value = 0
    await start_clock_and_reset(dut)
    cur = {"results": None, "tags": None, "groups": 0}

    def on_result(item):
        n = cur["results"].received
        assert n < len(groups) and groups[n] < cur["groups"], f"result {n} before its group was done"
        cur["results"].receive(item)

    sinks = [StreamSink(dut, "o", dut.clk, stream_codec(design, "o"), rng=random.Random(rng.random()),
                        ready_prob=params["ready_prob"], callback=on_result),
             StreamSink(dut, "tags", dut.clk, stream_codec(design, "tags"), rng=random.Random(rng.random()),
                        ready_prob=params["ready_prob"], callback=lambda item: cur["tags"].receive(item))]
    for k, st in enumerate(params["steps"]):
        if st["seq_start"]:
            dut.slot.value, dut.seq_start.value = st["slot"], 1
            await RisingEdge(dut.clk)
            dut.seq_start.value = 0
            dut.slot.value = rng.randrange(params["slots"])
        cur["results"], cur["tags"] = Scoreboard(f"delta_emit.o step {k}"), Scoreboard(f"delta_emit.tags step {k}")
        cur["results"].expect_many(st["results"])
        cur["tags"].expect_many(st["tags"])
        n, cycles = len(st["results"]), 0
        while cur["results"].received < n or cur["tags"].received < n:
            if cur["groups"] < NG and rng.random() >= params["group_gap"]:
                cur["groups"] += 1
            dut.groups_done.value = cur["groups"]
            await RisingEdge(dut.clk)
            cycles += 1
            assert cycles < 100 * n + 100, f"step {k}: {cur['results'].received} results, {cur['tags'].received} tags"
        for _ in range(12):   # anything extra would show up here
            await RisingEdge(dut.clk)
        for sink in sinks:
            assert not sink.protocol_errors, sink.protocol_errors
        cur["results"].check()
        cur["tags"].check()
        dut.step_reset.value = 1
        await RisingEdge(dut.clk)
        dut.step_reset.value = 0
        cur["groups"] = 0
        dut.groups_done.value = 0
        await RisingEdge(dut.clk)
        dut._log.info("emitter step %d: %d results and tags in %d cycles", k, n, cycles)
