# amaranth: UnusedElaboratable=no
"""cocotb runs of the delta-tile blocks on Icarus and Verilator (through sim.runner, testbench
sim/testbenches/tb_delta.py): the change detector (hw.delta_detect.ChangeDetector as hw.registry builds it
for ``fuzzymemo generate``), delta and similarity forms, over random x and h element streams with random
gaps, every comparison equal to sim.delta_vectors.detector_reference at latency 1; the emitter
(hw.delta_emit.DeltaEmitter in sim.delta_vectors.EmitterHarness, accumulators and biases loaded at
elaboration), LSTM and GRU, under random back-pressure on ``o`` and ``tags``, every result and tag equal
to sim.delta_vectors.emitter_reference. One build per configuration and simulator (sim.runner caches
builds)."""

from __future__ import annotations

import random
from functools import cache

import pytest

from hw.delta_detect import ChangeDetector
from hw.tile_params import TileParams
from hw.top import ReadyPorts
from sim.delta_vectors import (
    EmitterHarness,
    detector_phases,
    detector_reference,
    emitter_steps,
    random_accumulators,
    result_groups,
)
from sim.runner import Design, pytest_simulators, run
from sim.unit_vectors import config_by_name

DETECT_CASES = [  # (cell, config, input_size, hidden, slots, similarity, seed)
    ("lstm", "default", 5, 4, 1, False, 1),
    ("gru", "narrow", 4, 3, 2, True, 2),
]

EMIT_CASES = [  # (cell, config, input_size, hidden, slots, lanes, seed)
    ("lstm", "default", 3, 4, 2, 3, 1),
    ("gru", "wide", 5, 3, 2, 2, 2),
]


@cache
def _detector_case(case: tuple):
    cell, cfg, inputs, hidden, slots, similarity, seed = case
    params = TileParams(cell=cell, input_size=inputs, hidden=hidden, slots=slots, lanes=2,
                        config=config_by_name(cfg), delta=True, similarity=similarity)
    phases = detector_phases(params, sequences=8, seed=seed)
    top = ReadyPorts(ChangeDetector(params))
    return Design.from_component(top, name="delta_detect", config={"case": list(case)}), phases, \
        detector_reference(params, phases)


@pytest.mark.parametrize("case", DETECT_CASES, ids=[f"{c[0]}-{c[1]}-" + ("similarity" if c[5] else "delta")
                                                    for c in DETECT_CASES])
@pytest.mark.parametrize("sim", pytest_simulators())
def test_detector(sim, case):
    design, phases, expected = _detector_case(case)
    params = {"seed": case[-1], "gap": 0.35, "latency": ChangeDetector.latency, "phases": phases, "expected": expected}
    result = run(design, sim, "sim.testbenches.tb_delta", params=params, testcase="detector_streams")
    assert result["tests"] == 1


@cache
def _emitter_case(case: tuple):
    cell, cfg, inputs, hidden, slots, lanes, seed = case
    params = TileParams(cell=cell, input_size=inputs, hidden=hidden, slots=slots, lanes=lanes,
                        config=config_by_name(cfg), delta=True)
    rng = random.Random(seed)
    mems = random_accumulators(params, rng)
    steps, groups = emitter_steps(params, mems, 4, rng), result_groups(params)
    design = Design.from_component(EmitterHarness(params, *mems), name="delta_emit", config={"case": list(case)})
    return design, params, steps, groups


@pytest.mark.parametrize("case", EMIT_CASES, ids=[f"{c[0]}-{c[1]}-L{c[5]}" for c in EMIT_CASES])
@pytest.mark.parametrize("sim", pytest_simulators())
def test_emitter(sim, case):
    design, params, steps, groups = _emitter_case(case)
    run_params = {"seed": case[-1], "steps": steps, "result_groups": groups, "neuron_groups": params.neuron_groups,
                  "slots": params.slots, "ready_prob": 0.6, "group_gap": 0.7}
    result = run(design, sim, "sim.testbenches.tb_delta", params=run_params, testcase="emitter_backpressure")
    assert result["tests"] == 1
