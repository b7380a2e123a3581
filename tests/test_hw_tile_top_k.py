# amaranth: UnusedElaboratable=no
"""The tile with the top-k predictor front end (hw/tile_top_k.py) in the Amaranth simulator: every h_t and
the reuse counts equal to the golden model's top-k output rule, under random x gaps and h back-pressure,
sequence starts, run-time loading and two slots (tests/tile_front_end_cases.py)."""

from __future__ import annotations

import pytest
from tile_front_end_cases import FrontEndCase

from hw.tile_top_k import TopKFrontEnd

CASE = FrontEndCase("top-k", "k", lambda k: TopKFrontEnd.configure(k, 4))


@pytest.mark.parametrize("cell,theta,form", [("lstm", 0.2, "relative"), ("gru", 0.2, "relative"),
                                             ("lstm", 30, "absolute"), ("gru", 30, "absolute")])
def test_top_k_tile_equals_golden_with_gaps(cell, theta, form):
    CASE.equals_golden_with_gaps(cell, theta, form, 2)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_top_k_tile_loaded_at_run_time_two_slots_and_memo_off(cell):
    CASE.two_slots_and_memo_off(cell, 3)


def test_hit_runs_cost_one_cycle_per_neuron():
    CASE.hit_run(2)


def test_mixed_hits_cycle_estimate():
    CASE.mixed_hits(2)
