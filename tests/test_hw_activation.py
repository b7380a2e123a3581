"""ActivationUnit, TableActivation, LstmCellUnit, GruCandidateUnit, GruStateUnit in the Amaranth simulator:
bit-exact against golden_model.intops with random gaps and back-pressure, timing, bad parameters.
(The cocotb runs on Icarus and Verilator are in test_hw_datapath_cocotb.py.)"""

import numpy as np
import pytest
from amaranth_streams import check_stream_unit, transfer_cycles

from golden_model import intops
from golden_model.formats import FixedPointConfig
from hw.activation import Activation, ActivationUnit, TableActivation, activation_rom_init
from hw.checks import silence_unused
from hw.gru import GruCandidateUnit, GruStateUnit
from hw.lstm_cell import LstmCellUnit
from sim.unit_vectors import (
    CONFIGS,
    activation_most_negative,
    activation_vectors,
    gru_candidate_vectors,
    gru_state_vectors,
    lstm_cell_vectors,
)

CFG_NAMES = list(CONFIGS)


@pytest.mark.parametrize("cfg_name", CFG_NAMES)
def test_activation_bit_exact(cfg_name):
    cfg = CONFIGS[cfg_name]
    inputs, expected = activation_vectors(cfg, 3000, seed=11)  # exhaustive for all but the wide format
    most_neg_in, most_neg_out = activation_most_negative(cfg)
    check_stream_unit(ActivationUnit(cfg), inputs + most_neg_in, expected + most_neg_out, seed=1)


def test_activation_rom_is_the_intops_table():
    cfg = FixedPointConfig()
    init, width = activation_rom_init(cfg, (Activation.SIGMOID, Activation.TANH))
    half = 1 << (cfg.preact.bits - 1)
    assert init[:half] == list(intops.activation_table(intops.SIGMOID, cfg.preact, cfg.act))
    assert init[half:] == list(intops.activation_table(intops.TANH, cfg.preact, cfg.act))
    assert width == (1 << cfg.act.frac).bit_length()


@pytest.mark.parametrize("cfg_name", CFG_NAMES)
def test_lstm_cell_bit_exact(cfg_name):
    cfg = CONFIGS[cfg_name]
    check_stream_unit(LstmCellUnit(cfg), *lstm_cell_vectors(cfg, 1500, seed=12), seed=2)


@pytest.mark.parametrize("cfg_name,max_inputs", [(n, m) for n in CFG_NAMES for m in (1, 40)])
def test_gru_candidate_bit_exact(cfg_name, max_inputs):
    cfg = CONFIGS[cfg_name]
    check_stream_unit(GruCandidateUnit(cfg, max_inputs), *gru_candidate_vectors(cfg, max_inputs, 800, seed=13),
                      seed=3)


@pytest.mark.parametrize("cfg_name", CFG_NAMES)
def test_gru_state_bit_exact(cfg_name):
    cfg = CONFIGS[cfg_name]
    check_stream_unit(GruStateUnit(cfg), *gru_state_vectors(cfg, 1000, seed=14), seed=4)


def test_lstm_cell_state_saturates():
    cfg = CONFIGS["default"]
    a, cell = cfg.act, cfg.cell
    inputs = [{"i": a.max_int, "f": a.max_int, "g": a.max_int, "o": a.max_int, "c": cell.max_int},
              {"i": a.max_int, "f": a.max_int, "g": a.min_int, "o": a.max_int, "c": cell.min_int}]
    table = intops.activation_table(intops.TANH, cfg.preact, cfg.act)
    expected = []
    for x in inputs:
        h, c = intops.lstm_cell_update(x["i"], x["f"], x["g"], x["o"], x["c"], table, cfg)
        expected.append({"h": int(h), "c": int(c)})
    assert [e["c"] for e in expected] == [cell.max_int, cell.min_int]
    check_stream_unit(LstmCellUnit(cfg), inputs, expected)


UNITS = [
    ("activation", lambda cfg: ActivationUnit(cfg), lambda cfg: activation_vectors(cfg, 50, 1, 0)),
    ("lstm_cell", lambda cfg: LstmCellUnit(cfg), lambda cfg: lstm_cell_vectors(cfg, 50, 1)),
    ("gru_candidate", lambda cfg: GruCandidateUnit(cfg, 16), lambda cfg: gru_candidate_vectors(cfg, 16, 50, 1)),
    ("gru_state", lambda cfg: GruStateUnit(cfg), lambda cfg: gru_state_vectors(cfg, 50, 1)),
]


@pytest.mark.parametrize("name,make,vectors", UNITS, ids=[u[0] for u in UNITS])
def test_one_per_cycle_and_latency(name, make, vectors):
    cfg = CONFIGS["default"]
    inputs, expected = vectors(cfg)
    dut = make(cfg)
    in_cycles, out_cycles = transfer_cycles(dut, inputs, len(expected))
    assert in_cycles == list(range(len(inputs)))
    assert out_cycles == [c + dut.latency for c in in_cycles]


def test_table_activation_fixed_kind_has_no_kind_port():
    lookup = TableActivation(FixedPointConfig(), kinds=(Activation.TANH,))
    assert "kind" not in lookup.signature.members
    silence_unused(lookup)


@pytest.mark.parametrize("make,exc,match", [
    (lambda: ActivationUnit(None), TypeError, "config must be a golden_model.formats.FixedPointConfig"),
    (lambda: ActivationUnit("default"), TypeError, "config must be"),
    (lambda: LstmCellUnit(3), TypeError, "config must be"),
    (lambda: GruStateUnit(object()), TypeError, "config must be"),
    (lambda: GruCandidateUnit(None, 8), TypeError, "config must be"),
    (lambda: GruCandidateUnit(FixedPointConfig(), 0), ValueError, "max_inputs must be >= 1"),
    (lambda: GruCandidateUnit(FixedPointConfig(), 8.0), TypeError, "max_inputs must be an int"),
    (lambda: GruCandidateUnit(CONFIGS["wide"], 1 << 20), ValueError, "intermediates"),
    (lambda: TableActivation(FixedPointConfig(), kinds=()), ValueError, "kinds must be"),
    (lambda: TableActivation(FixedPointConfig(), kinds=("tanh",)), ValueError, "kinds must be"),
    (lambda: TableActivation(FixedPointConfig(), kinds=(Activation.TANH, Activation.TANH)), ValueError,
     "kinds must be"),
])
def test_bad_parameters(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_gru_candidate_width_is_exact_at_the_extremes():
    cfg = CONFIGS["default"]
    unit = GruCandidateUnit(cfg, 16)
    lo, hi = -(1 << (unit.acc_bits - 1)), (1 << (unit.acc_bits - 1)) - 1
    cand = intops.gru_candidate_acc(np.array([lo, hi]), np.array([lo, lo]), np.array([cfg.act.min_int] * 2), cfg)
    assert all(-(1 << (unit.cand_bits - 1)) <= v < (1 << (unit.cand_bits - 1)) for v in cand)
    silence_unused(unit)
