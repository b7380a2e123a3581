# amaranth: UnusedElaboratable=no
"""The tile with the bit-plane BNN front end (hw/tile_bnn_planes.py) in the Amaranth simulator: every h_t and
the reuse counts equal to the golden model's bnn-planes output rule (planes 1..3), under random x gaps and
h back-pressure, sequence starts, run-time loading and two slots; the cycle model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from support import normal_network
from tile_front_end_cases import FrontEndCase

from golden_model.fixed_model import FixedPointNetwork
from golden_model.formats import QFormat
from hw.tile_bnn_planes import BitPlaneFrontEnd
from hw.tile_image import memory_image
from hw.tile_params import TileParams

CASE = FrontEndCase("bnn-planes", "planes", BitPlaneFrontEnd.configure)


@pytest.mark.parametrize("cell,theta,form,planes", [("lstm", 0.2, "relative", 1), ("gru", 0.2, "relative", 2),
                                                    ("lstm", 30, "absolute", 3), ("gru", 30, "absolute", 3)])
def test_bnn_planes_tile_equals_golden_with_gaps(cell, theta, form, planes):
    CASE.equals_golden_with_gaps(cell, theta, form, planes, min_reuses=5, bnn_width=3)   # 3 beats per neuron


@pytest.mark.parametrize("cell,planes", [("lstm", 3), ("gru", 2)])
def test_bnn_planes_tile_loaded_at_run_time_two_slots_and_memo_off(cell, planes):
    CASE.two_slots_and_memo_off(cell, planes)


@pytest.mark.parametrize("bnn_width", [None, 3])
def test_hit_runs_cost_kb_cycles_per_neuron(bnn_width):
    """One decision per kb = ceil((n_x + H) / B) cycles: kb = 1 (default B) and 3 (B = 3)."""
    CASE.hit_run(3, bnn_width=bnn_width)


def test_mixed_hits_cycle_estimate():
    CASE.mixed_hits(3)


def test_image_words_layout_and_checks():
    """Gain rows after every slot's sign rows: round(mean |w|) of the neuron (issue order); the shift is
    the table's constant (P + weight.frac - preact.frac); too many planes for the activation format, or a
    shift outside the table's range, is a ValueError."""
    fixed = FixedPointNetwork(normal_network("gru", 3, 4, seed=3))
    params = TileParams.for_network(fixed, lanes=2, front_end=BitPlaneFrontEnd.configure(2))
    words = memory_image(params, fixed)["predictor"]
    w = fixed.layers[0][0].w
    G, H, gb = params.gates, params.hidden, params.config.weight.bits
    base = params.slots * params.neurons * params.sign_rows
    assert BitPlaneFrontEnd.configure(2).rule_shift(params) == 2 + params.config.weight.frac - params.config.preact.frac
    for n in range(params.neurons):
        gain = int(np.floor(np.abs(w[(n % G) * H + n // G]).mean() + 0.5))
        assert words[base + n] == gain < 1 << gb
    for config, match in ((replace(params.config, act=QFormat(12, 1)), "activation fraction bits"),
                          (replace(params.config, preact=QFormat(16, 12)), "shift -4 is outside")):
        small = replace(params, config=config)
        with pytest.raises(ValueError, match=match):
            BitPlaneFrontEnd.configure(2).image_words(small, 0, w)
    with pytest.raises(ValueError, match="activation fraction bits"):
        BitPlaneFrontEnd.configure(2)(replace(params, config=replace(params.config, act=QFormat(12, 1))))
