# amaranth: UnusedElaboratable=no
"""BnnUnit: Amaranth-simulator tests, cocotb tests on Icarus and Verilator, bad parameters.
Every output is checked against golden_model.intops (bnn_output / popcount_xnor_words)."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from hw.bnn import BnnUnit
from sim import runner
from sim.runner import pytest_simulators
from sim.testbenches.bnn_vectors import make_neurons

#: (width B, max_inputs N_max): B = 1, N_max not a multiple of B, a wide beat.
COCOTB_CONFIGS = [(1, 9), (8, 40), (24, 200)]
#: per config: neurons per phase; phases are (valid_prob, ready_prob)
COCOTB_PARAMS = {"neurons": 150, "phases": [[1.0, 1.0], [0.5, 1.0], [1.0, 0.4], [0.4, 0.4]]}


def amaranth_run(width, max_inputs, neurons, *, seed, gap=0.0, stall=0.0):
    """Feed ``neurons`` (from make_neurons) with random valid gaps and back-pressure; return
    (outputs, cycles, beat transfer cycles, output transfer cycles)."""
    dut = BnnUnit(width, max_inputs)
    rng = random.Random(seed)
    outputs, in_cycles, out_cycles = [], [], []
    beats = [beat for n_beats, _, _ in neurons for beat in n_beats]
    state = {"cycles": 0}

    async def tb(ctx):
        pending = list(beats)
        current = None
        cycle = 0
        while len(outputs) < len(neurons):
            if current is None and pending and rng.random() >= gap:
                current = pending.pop(0)
            ctx.set(dut.i.valid, current is not None)
            if current is not None:
                ctx.set(dut.i.payload, current)
            ready = rng.random() >= stall
            ctx.set(dut.o.ready, ready)
            if current is not None and ctx.get(dut.i.ready):
                in_cycles.append((cycle, current["last"]))
                current = None
            if ready and ctx.get(dut.o.valid):
                outputs.append(ctx.get(dut.o.payload))
                out_cycles.append(cycle)
            await ctx.tick()
            cycle += 1
            assert cycle < 100 * len(beats) + 100, "timeout"
        state["cycles"] = cycle

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return outputs, state["cycles"], in_cycles, out_cycles


@pytest.mark.parametrize("width,max_inputs", [(1, 9), (8, 40), (16, 100), (7, 70)])
def test_amaranth_random(width, max_inputs):
    neurons = make_neurons(width * 1000 + max_inputs, 120, width, max_inputs)
    outputs, _, _, _ = amaranth_run(width, max_inputs, neurons, seed=width, gap=0.3, stall=0.3)
    expected = [b for _, b, _ in neurons]
    bad = [(k, e, o, neurons[k][2]) for k, (e, o) in enumerate(zip(expected, outputs, strict=True)) if e != o]
    assert not bad, f"{len(bad)} mismatches, first: {bad[:5]}"
    assert len(outputs) == len(expected)


@pytest.mark.parametrize("width,max_inputs", [(8, 40), (3, 10)])
def test_amaranth_throughput_and_latency(width, max_inputs):
    neurons = make_neurons(5, 60, width, max_inputs, corners=False)
    outputs, _, in_cycles, out_cycles = amaranth_run(width, max_inputs, neurons, seed=1)
    assert outputs == [b for _, b, _ in neurons]
    assert in_cycles[-1][0] - in_cycles[0][0] + 1 == len(in_cycles), "not one beat per cycle"
    last = [c for c, is_last in in_cycles if is_last]
    assert {o - i for o, i in zip(out_cycles, last, strict=True)} == {BnnUnit.LATENCY}
    assert BnnUnit(width, max_inputs).latency == BnnUnit.LATENCY == 3


def test_amaranth_backpressure_holds_output():
    """With ready low the output stays valid and stable; nothing is lost or duplicated."""
    neurons = make_neurons(9, 40, 4, 12, corners=True)
    outputs, _, _, _ = amaranth_run(4, 12, neurons, seed=3, gap=0.0, stall=0.8)
    assert outputs == [b for _, b, _ in neurons]


@pytest.mark.parametrize("width,max_inputs", COCOTB_CONFIGS, ids=[f"B{w}-N{n}" for w, n in COCOTB_CONFIGS])
@pytest.mark.parametrize("sim", pytest_simulators())
def test_cocotb(sim, width, max_inputs):
    config = {"width": width, "max_inputs": max_inputs}
    design = runner.Design.from_component(BnnUnit(width, max_inputs), name="bnn", config=config)
    result = runner.run(design, sim, "sim.testbenches.tb_bnn", params={**COCOTB_PARAMS, "seed": width * 7 + max_inputs,
                                                         "latency": BnnUnit.LATENCY})
    assert result["tests"] == 2


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"width": "8", "max_inputs": 10}, TypeError, "width must be an int"),
    ({"width": 8.0, "max_inputs": 10}, TypeError, "width must be an int"),
    ({"width": True, "max_inputs": 10}, TypeError, "width must be an int"),
    ({"width": 0, "max_inputs": 10}, ValueError, "width must be in 1..4096"),
    ({"width": 4097, "max_inputs": 10}, ValueError, "width must be in 1..4096"),
    ({"width": 8, "max_inputs": 0}, ValueError, "max_inputs must be in"),
    ({"width": 8, "max_inputs": None}, TypeError, "max_inputs must be an int"),
])
def test_bad_parameters(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        BnnUnit(**kwargs)
