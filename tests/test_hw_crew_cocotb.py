# amaranth: UnusedElaboratable=no
"""cocotb runs of the CREW blocks on Icarus and Verilator (through sim.runner, testbench
sim/testbenches/tb_crew.py): the adder lanes (hw.crew_sum.CrewSumUnit) bit-exact under random valid gaps
on ``i`` and ``writes`` and random back-pressure on ``o``, plus full throughput at the documented latency;
the product stage (hw.crew_products.ProductStage in sim.crew_vectors.ProductHarness, x/h row memories
loaded at elaboration) over several steps of a random network's memory image and a table loaded through
``wr``: every bank write, the cycles start -> done, first steps, short inputs. One build per configuration
and simulator (sim.runner caches builds)."""

from __future__ import annotations

import random
from functools import cache

import pytest
from support import normal_network

from golden_model.crew import crew_tables
from golden_model.fixed_model import FixedPointNetwork
from hw.crew_products import ProductStage
from hw.crew_sum import CrewSumUnit
from hw.tile_image import memory_image
from hw.tile_memories import MemId
from hw.tile_params import CrewShape, TileParams
from hw.top import ReadyPorts
from sim.crew_vectors import ProductHarness, product_reference, row_words
from sim.runner import Design, pytest_simulators, run
from sim.unit_vectors import config_by_name

SUM_CASES = [  # design parameters of the adder lanes
    {"cfg": "default", "lanes": 4, "multipliers": 2, "unique_max": 5, "rows": 3},
    {"cfg": "narrow", "lanes": 1, "multipliers": 1, "unique_max": 2, "rows": 2},
    {"cfg": "wide", "lanes": 3, "multipliers": 3, "unique_max": 3, "rows": 4},
]

STAGE_CASES = [  # (cell, inputs, hidden, layers, lanes, multipliers, U_max slack, seed)
    ("lstm", 3, 4, 1, 2, 1, 1, 1),
    ("gru", 5, 3, 2, 4, 2, 0, 2),
]


def _sum_id(d):
    return "-".join([d["cfg"], *(f"{k[0].upper()}{v}" for k, v in d.items() if k != "cfg")])


@cache
def _sum_design(items: tuple):
    d = dict(items)
    unit = CrewSumUnit(d["lanes"], d["rows"] * d["lanes"], config_by_name(d["cfg"]),
                       CrewShape(d["unique_max"], d["multipliers"]), d["rows"])
    return Design.from_component(ReadyPorts(unit), name="crew_sum", config=d), unit.latency


@pytest.mark.parametrize("design", SUM_CASES, ids=[_sum_id(d) for d in SUM_CASES])
@pytest.mark.parametrize("sim", pytest_simulators())
def test_crew_sum(sim, design):
    verilog, latency = _sum_design(tuple(sorted(design.items())))
    params = dict(design, neurons=150, phases=3, seed=SUM_CASES.index(design) + 7, latency=latency,
                  valid_prob=0.7, ready_prob=0.6)
    result = run(verilog, sim, "sim.testbenches.tb_crew", params=params,
                 testcase="crew_sum_random,crew_sum_back_to_back")
    assert result["tests"] == 2


@cache
def _stage_case(case: tuple):
    """The harness design and the steps (controls, wr writes, expected products) of a case."""
    cell, inputs, hidden, layers, lanes, mult, slack, seed = case
    nets = [FixedPointNetwork(normal_network(cell, inputs, hidden, layers=layers, seed=seed + 100 * k))
            for k in range(2)]
    unique = max(crew_tables(q.w).unique_max for f in nets for layer in f.layers for q in layer) + slack
    params = TileParams.for_network(nets[0], lanes=lanes, crew=CrewShape(unique, mult))
    images = [memory_image(params, f) for f in nets]
    rng, ab = random.Random(seed), params.config.act
    xbuf, hbuf = (row_words([[rng.randint(ab.min_int, ab.max_int) for _ in range(lanes)] for _ in range(n)], ab.bits)
                  for n in (2 * params.x_rows, 2 * params.h_rows))
    n_in = [q.input_size for layer in nets[0].layers for q in layer]
    steps = []
    for slot in range(params.slots):
        for first_step, n_x in ((1, n_in[slot]), (0, n_in[slot]), (0, rng.randint(1, n_in[slot]))):
            steps.append({"slot": slot, "n_x": n_x, "read_bank": rng.randrange(2), "h_bank": rng.randrange(2),
                          "first_step": first_step, "table": 0})
    wr = [{"mem": int(MemId.WEIGHT.value), "addr": 0, "data": 1}]   # not the table's
    wr += [{"mem": int(MemId.PREDICTOR.value), "addr": a, "data": w} for a, w in enumerate(images[1]["predictor"])]
    steps.append({"slot": params.slots - 1, "n_x": n_in[-1], "read_bank": 0, "h_bank": 1, "first_step": 0,
                  "table": 1, "wr": wr})
    for st in steps:
        controls = {k: st[k] for k in ("slot", "n_x", "read_bank", "h_bank", "first_step")}
        expected, slots = product_reference(params, images[st.pop("table")]["predictor"], xbuf, hbuf, **controls)
        st.update(slots=slots, expected=[[a, lane, v] for (a, lane), v in sorted(expected.items())])
    harness = ProductHarness(params, images[0], xbuf, hbuf)
    config = {"case": list(case), "unique_max": unique}
    return Design.from_component(harness, name="crew_product_stage", config=config), params, steps


@pytest.mark.parametrize("case", STAGE_CASES, ids=[f"{c[0]}-I{c[1]}-H{c[2]}-layers{c[3]}-L{c[4]}-M{c[5]}"
                                                   for c in STAGE_CASES])
@pytest.mark.parametrize("sim", pytest_simulators())
def test_product_stage(sim, case):
    verilog, params, steps = _stage_case(case)
    run_params = {"seed": case[-1], "steps": steps, "multipliers": params.crew.multipliers,
                  "groups": params.lanes // params.crew.multipliers, "latency": ProductStage.latency}
    result = run(verilog, sim, "sim.testbenches.tb_crew", params=run_params, testcase="product_stage_steps")
    assert result["tests"] == 1
