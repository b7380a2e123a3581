"""cocotb testbench of hw.bnn.BnnUnit and hw.bnn_planes.BitPlaneUnit (run through sim.runner; parameters in
load_params()). A design config with ``planes`` (and ``frac``) is a BitPlaneUnit, scored against
golden_model.predictors.BitPlaneBnn.

params: seed, neurons (random neurons per phase), phases: list of [valid_prob, ready_prob]."""

from __future__ import annotations

import random

import cocotb
from cocotb.triggers import RisingEdge

from sim.runner import load_design, load_params
from sim.scoreboard import Scoreboard
from sim.streams import CycleCounter, StreamDriver, StreamSink, start_clock_and_reset, stream_codec, wait_until
from sim.testbenches.bnn_vectors import make_neurons, make_plane_neurons


def _neurons(cfg: dict, seed: int, count: int, corners: bool):
    """(beats, expected, description) of ``count`` random neurons for the design ``cfg``."""
    if "planes" in cfg:
        return make_plane_neurons(seed, count, cfg["width"], cfg["max_inputs"], cfg["planes"], cfg["frac"],
                                  corners=corners)
    return make_neurons(seed, count, cfg["width"], cfg["max_inputs"], corners=corners)


@cocotb.test()
async def random_vectors(dut):
    """Random and corner neurons under random valid gaps and back-pressure, scored against intops."""
    p, design = load_params(), load_design()
    cfg = design["config"]
    width, max_inputs = cfg["width"], cfg["max_inputs"]
    rng = random.Random(p.get("seed", 1))
    await start_clock_and_reset(dut)
    sb = Scoreboard(f"bnn(B={width},N_max={max_inputs}).o")
    sink = StreamSink(dut, "o", dut.clk, stream_codec(design, "o"), rng=random.Random(rng.random()),
                      callback=sb.receive)
    drv = StreamDriver(dut, "i", dut.clk, stream_codec(design, "i"), rng=random.Random(rng.random()))
    total = 0
    for k, (valid_prob, ready_prob) in enumerate(p.get("phases", [[1.0, 1.0]])):
        drv.valid_prob, sink.ready_prob = valid_prob, ready_prob
        neurons = _neurons(cfg, rng.getrandbits(32), p.get("neurons", 100), corners=(k == 0))
        beats = 0
        for n_beats, b, desc in neurons:
            drv.send_many(n_beats)
            sb.expect(b, desc)
            beats += len(n_beats)
        total += len(neurons)
        await wait_until(dut, lambda: sb.pending == 0, 20 * beats + 100, f"phase {k} outputs")
    for _ in range(5):   # nothing extra may come out
        await RisingEdge(dut.clk)
    assert not sink.protocol_errors, sink.protocol_errors
    sb.check()
    dut._log.info("bnn: %d neurons checked, %s", total, sb.report())


@cocotb.test()
async def throughput(dut):
    """Back to back, no back-pressure: one beat per cycle across neuron boundaries; latency as documented."""
    p, design = load_params(), load_design()
    cfg = design["config"]
    max_inputs = cfg["max_inputs"]
    await start_clock_and_reset(dut)
    counter = CycleCounter(dut.clk)
    sb = Scoreboard("bnn.o throughput")
    sink = StreamSink(dut, "o", dut.clk, stream_codec(design, "o"), callback=sb.receive, counter=counter)
    in_cycles = []
    drv = StreamDriver(dut, "i", dut.clk, stream_codec(design, "i"), counter=counter,
                       on_send=lambda item, c: in_cycles.append((c, item["last"])))
    neurons = _neurons(cfg, p.get("seed", 1) + 7, 50, corners=False)
    for n_beats, b, desc in neurons:
        drv.send_many(n_beats)
        sb.expect(b, desc)
    await wait_until(dut, lambda: sb.pending == 0, 100 * len(neurons) * max_inputs, "outputs")
    sb.check()
    span = in_cycles[-1][0] - in_cycles[0][0] + 1
    assert span == len(in_cycles), f"{len(in_cycles)} beats took {span} cycles (expected one per cycle)"
    last_cycles = [c for c, last in in_cycles if last]
    latencies = {o - i for o, i in zip(sink.cycles, last_cycles, strict=True)}
    assert latencies == {p["latency"]}, f"latencies {latencies}, documented {p['latency']}"
