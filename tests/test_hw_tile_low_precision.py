# amaranth: UnusedElaboratable=no
"""The tile with the low-precision predictor front end (hw/tile_low_precision.py) in the Amaranth simulator:
every h_t and the reuse counts equal to the golden model's low-precision output rule, under random x gaps
and h back-pressure, sequence starts, run-time loading and two slots; the cycle model."""

from __future__ import annotations

import numpy as np
import pytest
from support import check_tile_run, check_tile_sequences, normal_network, random_inputs

from golden_model import intops, schemes
from golden_model.fixed_model import FixedPointNetwork
from golden_model.formats import FixedPointConfig
from hw.tile import Tile
from hw.tile_cycles import expected_cycles
from hw.tile_image import image_writes, memory_image
from hw.tile_low_precision import LowPrecisionFrontEnd
from hw.tile_params import TileParams
from sim.tile_amaranth import TileSequence, run_sequences

#: (weight_bits, input_bits): in the default formats (Q8.6 weights, Q12.8 activations, Q10.6 preactivations)
#: the output-rule shift is -2 (a left shift), 8 and 6; the inputs lose 6, 0 and -2 (a left shift) bits.
WIDTHS = [(4, 4), (8, 10), (4, 12)]


def _policy(theta, form, widths):
    wb, ib = widths
    return schemes.get("memo").golden_policy(theta, predictor="low-precision", form=form,
                                             predictor_params={"weight_bits": wb, "input_bits": ib})


def _setup(cell, inputs=3, hidden=4, lanes=2, layers=1, widths=(4, 4), seed=3, image=True):
    fixed = FixedPointNetwork(normal_network(cell, inputs, hidden, layers=layers, seed=seed))
    params = TileParams.for_network(fixed, lanes=lanes, front_end=LowPrecisionFrontEnd.configure(*widths))
    img = memory_image(params, fixed)
    return fixed, params, img, Tile(params, img if image else None)


@pytest.mark.parametrize("cell,theta,form,widths", [("lstm", 0.2, "relative", WIDTHS[0]),
                                                    ("gru", 0.2, "relative", WIDTHS[1]),
                                                    ("lstm", 30, "absolute", WIDTHS[2]),
                                                    ("gru", 30, "absolute", WIDTHS[0])])
def test_low_precision_tile_equals_golden_with_gaps(cell, theta, form, widths):
    """Lp = 4 (3 inputs, H = 4, L = 2): one beat per neuron."""
    fixed, params, _, tile = _setup(cell, widths=widths)
    total = check_tile_sequences(tile, fixed, params, _policy(theta, form, widths), theta, form)
    assert total > 10, "the threshold should give real reuse"


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_low_precision_tile_loaded_at_run_time_two_slots_and_memo_off(cell):
    """A 2-layer network (9 inputs, H = 5, L = 1: Lp = 4, layer 0 three beats per neuron, layer 1 two) on a
    tile built without an image: load it through wr, run layer 0 (slot 0) and layer 1 (slot 1) with memo
    on, then memo off equals the baseline."""
    fixed, params, img, tile = _setup(cell, inputs=9, hidden=5, lanes=1, layers=2, image=False, seed=4,
                                      widths=WIDTHS[2])
    assert [LowPrecisionFrontEnd.beats(params, n) for n in (9, 5)] == [3, 2]
    x = random_inputs(fixed.config, 1, 5, 9, seed=9, scale=0.3)[0]
    theta_q = intops.quantize_threshold(0.3, "relative")
    gold = fixed.run(x[None], policy=_policy(0.3, "relative", WIDTHS[2]))
    h0 = gold.layer_outputs[0][0]
    seqs = [TileSequence(x, slot=0, memo_enable=1, theta=theta_q),
            TileSequence(h0, slot=1, memo_enable=1, theta=theta_q), TileSequence(x, slot=0)]
    res = run_sequences(tile, seqs, writes=image_writes(params, img), gap=0.2, stall=0.2, seed=2)
    assert np.array_equal(res.h[0], h0)
    assert np.array_equal(res.h[1], gold.out[0])
    assert res.counters[0]["reuses"] + res.counters[1]["reuses"] == int(gold.stats.reuses.sum()) > 0
    assert np.array_equal(res.h[2], fixed.run(x[None]).layer_outputs[0][0])


@pytest.mark.parametrize("inputs,lanes", [(4, 2), (9, 1)])
def test_hit_runs_cost_the_predictor_beats(inputs, lanes):
    """Constant input, a huge threshold: after the first step every neuron hits, and a step costs the
    cycle model's hit pacing (one decision per max(ceil(n_x/Lp), ceil(H/Lp)) cycles: 1 and 3)."""
    fixed, params, _, tile = _setup("lstm", inputs=inputs, hidden=4, lanes=lanes)
    x = random_inputs(fixed.config, 1, 3, inputs, seed=1)[0]
    x[:] = x[0]
    res = run_sequences(tile, [TileSequence(x, memo_enable=1, theta=65535, form=1)])
    gold = fixed.run(x[None], policy=_policy(65535, "absolute", (4, 4)))
    check_tile_run(res, 0, gold, params, 3)
    misses = (gold.stats.step_evaluations - gold.stats.step_reuses)[0, 0, 0]
    assert list(misses) == [16, 0, 0]
    assert res.counters[0]["cycles"] == expected_cycles(params, inputs, 3, misses)


def test_mixed_hits_cycle_estimate():
    """With a mixed hit pattern the count-based estimate is within 5 % of the measured cycles."""
    fixed, params, _, tile = _setup("gru", inputs=6, hidden=4, lanes=2, seed=6)
    x = random_inputs(fixed.config, 1, 6, 6, seed=3, scale=0.3)[0]
    res = run_sequences(tile, [TileSequence(x, memo_enable=1, theta=intops.quantize_threshold(0.3, "relative"))])
    gold = fixed.run(x[None], policy=_policy(0.3, "relative", (4, 4)))
    check_tile_run(res, 0, gold, params, 6)
    misses = (gold.stats.step_evaluations - gold.stats.step_reuses)[0, 0, 0]
    assert 0 < misses[1:].sum() < 5 * params.neurons
    est = expected_cycles(params, 6, 6, misses)
    assert abs(res.counters[0]["cycles"] - est) <= 0.05 * est


def test_a_shift_the_table_cannot_take_is_a_clear_error(monkeypatch):
    """An output-rule shift past the table's shift field is a ValueError naming it (no valid formats reach
    the 6-bit field's 63, at most 45: a 3-bit field stands in for it; widths (8, 10) give 8)."""
    import hw.tile_low_precision as tlp
    monkeypatch.setattr(tlp, "SHIFT_BITS", 3)
    fe = LowPrecisionFrontEnd.configure(*WIDTHS[1])
    params = TileParams(cell="lstm", input_size=2, hidden=2, config=FixedPointConfig(), front_end=fe)
    for build in (lambda: fe(params), lambda: fe.image_words(params, 0, np.zeros((8, 4), np.int64))):
        with pytest.raises(ValueError, match="output-rule shift 8 does not fit"):
            build()
