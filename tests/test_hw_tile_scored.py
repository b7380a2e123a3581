# amaranth: UnusedElaboratable=no
"""The tile with the low-rank (hw/tile_low_rank.py) and the top-k (hw/tile_top_k.py) predictor front ends
in the Amaranth simulator: every h_t and the reuse counts equal to the golden model's output rule, under
random x gaps and h back-pressure, sequence starts, run-time loading and two slots, and the cycle model
(tests/tile_front_end_cases.py)."""

from __future__ import annotations

import pytest
from tile_front_end_cases import FrontEndCase

from hw.tile_low_rank import LowRankFrontEnd
from hw.tile_top_k import TopKFrontEnd

CASES = [FrontEndCase("low-rank", "rank", lambda rank: LowRankFrontEnd.configure(rank, 8)),
         FrontEndCase("top-k", "k", lambda k: TopKFrontEnd.configure(k, 4))]
each_case = pytest.mark.parametrize("case", CASES, ids=lambda c: c.predictor)


@each_case
@pytest.mark.parametrize("cell,theta,form", [("lstm", 0.2, "relative"), ("gru", 0.2, "relative"),
                                             ("lstm", 30, "absolute"), ("gru", 30, "absolute")])
def test_tile_equals_golden_with_gaps(case, cell, theta, form):
    case.equals_golden_with_gaps(cell, theta, form, 2)


@each_case
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_tile_loaded_at_run_time_two_slots_and_memo_off(case, cell):
    case.two_slots_and_memo_off(cell, 3)


@each_case
def test_hit_runs_cost_one_cycle_per_neuron(case):
    case.hit_run(2)


@each_case
def test_mixed_hits_cycle_estimate(case):
    case.mixed_hits(2)
