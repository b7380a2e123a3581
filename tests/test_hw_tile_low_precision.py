# amaranth: UnusedElaboratable=no
"""The tile with the low-precision predictor front end (hw/tile_low_precision.py) in the Amaranth simulator:
every h_t and the reuse counts equal to the golden model's low-precision output rule, under random x gaps
and h back-pressure, sequence starts, run-time loading and two slots; the cycle model."""

from __future__ import annotations

import numpy as np
import pytest
from support import check_tile_sequences, normal_network
from tile_front_end_cases import FrontEndCase

from golden_model import schemes
from golden_model.fixed_model import FixedPointNetwork
from golden_model.formats import FixedPointConfig
from hw.tile import Tile
from hw.tile_image import memory_image
from hw.tile_low_precision import LowPrecisionFrontEnd
from hw.tile_params import TileParams

CASE = FrontEndCase("low-precision", None, lambda widths: LowPrecisionFrontEnd.configure(**widths))

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
    tile built without an image, loaded through wr (tests/tile_front_end_cases.py)."""
    CASE.two_slots_and_memo_off(cell, dict(zip(("weight_bits", "input_bits"), WIDTHS[2], strict=True)),
                                inputs=9, hidden=5, lanes=1)


@pytest.mark.parametrize("inputs,lanes", [(4, 2), (9, 1)])
def test_hit_runs_cost_the_predictor_beats(inputs, lanes):
    """Every neuron hits after the first step; one decision per max(ceil(n_x/Lp), ceil(H/Lp)) cycles: 1, 3."""
    params = CASE.hit_run({"weight_bits": 4, "input_bits": 4}, inputs=inputs, lanes=lanes)
    assert LowPrecisionFrontEnd.decision_timing(params, inputs)[1] == (1 if inputs == 4 else 3)


def test_mixed_hits_cycle_estimate():
    CASE.mixed_hits({"weight_bits": 4, "input_bits": 4})


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
