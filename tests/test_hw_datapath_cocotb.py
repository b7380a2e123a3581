"""cocotb runs of the datapath units on Icarus and Verilator (through sim.runner): random vectors and
corners from sim.unit_vectors, random valid gaps and back-pressure, every output bit-exact against
golden_model.intops, plus a full-throughput / documented-latency check. One build per configuration and
simulator (sim.runner caches builds across runs and processes)."""

from functools import cache

import pytest

from hw.activation import ActivationUnit
from hw.dot_product import DotProductUnit
from hw.gru import GruCandidateUnit, GruStateUnit
from hw.lstm_cell import LstmCellUnit
from sim.runner import Design, pytest_simulators, run
from sim.unit_vectors import config_by_name

# (unit, design parameters, vectors): vectors are counted in outputs (neurons / elements)
CASES = [
    ("dot_product", {"cfg": "narrow", "lanes": 1, "max_inputs": 7}, 400),
    ("dot_product", {"cfg": "default", "lanes": 3, "max_inputs": 20}, 600),
    ("dot_product", {"cfg": "wide", "lanes": 8, "max_inputs": 64}, 300),
    ("activation", {"cfg": "default"}, 0),   # exhaustive: all 2 * 2047 table arguments (+ the most negative)
    ("activation", {"cfg": "wide"}, 1500),   # 2 * 8191 arguments: table edges + random
    ("lstm_cell", {"cfg": "default"}, 1500),
    ("lstm_cell", {"cfg": "shifts"}, 800),
    ("gru_candidate", {"cfg": "default", "max_inputs": 40}, 1200),
    ("gru_candidate", {"cfg": "narrow", "max_inputs": 7}, 600),
    ("gru_state", {"cfg": "default"}, 1200),
    ("gru_state", {"cfg": "shifts"}, 600),
]


def _case_id(case):
    unit, design, _ = case
    return "-".join([unit, design["cfg"]] + [f"{k[0].upper()}{v}" for k, v in design.items() if k != "cfg"])


def make_unit(unit: str, design: dict):
    cfg = config_by_name(design["cfg"])
    if unit == "dot_product":
        return DotProductUnit(design["lanes"], design["max_inputs"], cfg)
    if unit == "activation":
        return ActivationUnit(cfg)
    if unit == "lstm_cell":
        return LstmCellUnit(cfg)
    if unit == "gru_candidate":
        return GruCandidateUnit(cfg, design["max_inputs"])
    if unit == "gru_state":
        return GruStateUnit(cfg)
    raise ValueError(unit)


@cache
def _design(unit: str, design_items: tuple):
    design = dict(design_items)
    component = make_unit(unit, design)
    return Design.from_component(component, name=unit, config=design), component.latency


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
@pytest.mark.parametrize("sim", pytest_simulators())
def test_datapath_unit(sim, case):
    unit, design, count = case
    verilog, latency = _design(unit, tuple(sorted(design.items())))
    params = dict(design, unit=unit, count=count, seed=len(CASES) + CASES.index(case),
                  latency=latency, valid_prob=0.7, ready_prob=0.6)
    result = run(verilog, sim, "sim.testbenches.tb_datapath", params=params)
    assert result["tests"] == 2
