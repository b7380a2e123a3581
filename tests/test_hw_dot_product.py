"""DotProductUnit in the Amaranth simulator: bit-exact against golden_model.intops, timing, bad parameters.
(The cocotb runs on Icarus and Verilator are in test_hw_datapath_cocotb.py.)"""

import pytest
from amaranth_streams import check_stream_unit, transfer_cycles

from golden_model.formats import FixedPointConfig
from hw.checks import silence_unused
from hw.dot_product import MAX_LANES, DotProductUnit
from sim.unit_vectors import CONFIGS, dot_product_vectors

PARAMS = [  # (lanes, max_inputs, config name)
    (1, 7, "narrow"),
    (3, 20, "default"),
    (8, 64, "wide"),
    (4, 13, "shifts"),
    (8, 5, "default"),  # more lanes than inputs
]


@pytest.mark.parametrize("lanes,max_inputs,cfg_name", PARAMS, ids=[f"L{p[0]}-N{p[1]}-{p[2]}" for p in PARAMS])
def test_bit_exact_with_gaps_and_backpressure(lanes, max_inputs, cfg_name):
    cfg = CONFIGS[cfg_name]
    beats, expected, _ = dot_product_vectors(cfg, lanes, max_inputs, 600, seed=lanes * 100 + max_inputs)
    dut = DotProductUnit(lanes, max_inputs, cfg)
    check_stream_unit(dut, beats, expected, seed=lanes, gap=0.25, stall=0.35)


@pytest.mark.parametrize("lanes", [1, 3])
def test_full_throughput_and_latency(lanes):
    cfg = CONFIGS["default"]
    beats, expected, _neurons = dot_product_vectors(cfg, lanes, 10, 120, seed=7)
    dut = DotProductUnit(lanes, 10, cfg)
    in_cycles, out_cycles = transfer_cycles(dut, beats, len(expected))
    assert in_cycles == list(range(len(beats))), "a bubble between beats"
    last_beats = [k for k, b in enumerate(beats) if b["last"]]
    assert [o - in_cycles[k] for o, k in zip(out_cycles, last_beats, strict=True)] == [dut.latency] * len(expected)
    check_stream_unit(DotProductUnit(lanes, 10, cfg), beats, expected, gap=0.0, stall=0.0)


def test_single_beat_neurons_back_to_back():
    cfg = CONFIGS["default"]
    beats, expected, _ = dot_product_vectors(cfg, 8, 8, 100, seed=3)
    # with max_inputs == lanes every neuron is one beat: one result per cycle
    assert len(beats) == len(expected) and all(b["last"] for b in beats)
    in_cycles, out_cycles = transfer_cycles(DotProductUnit(8, 8, cfg), beats, len(expected))
    assert out_cycles == [c + DotProductUnit.latency for c in in_cycles]


def test_layouts_and_widths():
    cfg = FixedPointConfig()
    dut = DotProductUnit(3, 20, cfg)
    assert dut.acc_bits == cfg.acc_bits(20)
    assert dut.i.payload.shape().size == 3 * (cfg.weight.bits + cfg.act.bits) + cfg.bias_bits + 1
    assert dut.o.payload.shape().size == cfg.acc_bits(20) + cfg.preact.bits
    assert dut.beats(20) == 7 and dut.beats(3) == 1 and dut.beats(4) == 2
    silence_unused(dut)


@pytest.mark.parametrize("args,exc,match", [
    ((0, 10, FixedPointConfig()), ValueError, "lanes must be in 1"),
    ((MAX_LANES + 1, 10, FixedPointConfig()), ValueError, "lanes must be in 1"),
    ((2.0, 10, FixedPointConfig()), TypeError, "lanes must be an int"),
    ((True, 10, FixedPointConfig()), TypeError, "lanes must be an int"),
    ((2, 0, FixedPointConfig()), ValueError, "max_inputs must be >= 1"),
    ((2, "8", FixedPointConfig()), TypeError, "max_inputs must be an int"),
    ((2, 8, None), TypeError, "config must be a golden_model.formats.FixedPointConfig"),
    ((2, 8, {"weight": (8, 6)}), TypeError, "config must be"),
    ((2, 1 << 40, CONFIGS["wide"]), ValueError, "intermediates"),
])
def test_bad_parameters(args, exc, match):
    with pytest.raises(exc, match=match):
        DotProductUnit(*args)
