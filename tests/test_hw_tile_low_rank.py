# amaranth: UnusedElaboratable=no
"""The tile with the low-rank predictor front end (hw/tile_low_rank.py) in the Amaranth simulator: every
h_t and the reuse counts equal to the golden model's low-rank output rule, under random x gaps and h
back-pressure, sequence starts, run-time loading and two slots."""

from __future__ import annotations

import numpy as np
import pytest
from support import check_tile_run, check_tile_sequences, normal_network, random_inputs

from golden_model import intops, schemes
from golden_model.fixed_model import FixedPointNetwork
from hw.tile import Tile
from hw.tile_cycles import expected_cycles
from hw.tile_image import image_writes, memory_image
from hw.tile_low_rank import LowRankFrontEnd
from hw.tile_params import TileParams
from sim.tile_amaranth import TileSequence, run_sequences


def _policy(theta, form, rank):
    return schemes.get("memo").golden_policy(theta, predictor="low-rank", form=form,
                                             predictor_params={"rank": rank})


def _setup(cell, inputs=3, hidden=4, lanes=2, layers=1, rank=2, seed=3, image=True):
    fixed = FixedPointNetwork(normal_network(cell, inputs, hidden, layers=layers, seed=seed))
    params = TileParams.for_network(fixed, lanes=lanes, front_end=LowRankFrontEnd.configure(rank, 8))
    img = memory_image(params, fixed)
    return fixed, params, img, Tile(params, img if image else None)


@pytest.mark.parametrize("cell,theta,form", [("lstm", 0.2, "relative"), ("gru", 0.2, "relative"),
                                             ("lstm", 30, "absolute"), ("gru", 30, "absolute")])
def test_low_rank_tile_equals_golden_with_gaps(cell, theta, form):
    fixed, params, _, tile = _setup(cell)
    total = check_tile_sequences(tile, fixed, params, _policy(theta, form, 2), theta, form)
    assert total > 10, "the threshold should give real reuse"


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_low_rank_tile_loaded_at_run_time_two_slots_and_memo_off(cell):
    """A 2-layer network on a tile built without an image: load it through wr, run layer 0 (slot 0) with
    memo on, layer 1 (slot 1) on its outputs with memo on, then memo off costs the baseline cycles."""
    fixed, params, img, tile = _setup(cell, layers=2, image=False, seed=4, rank=3)
    x = random_inputs(fixed.config, 1, 5, 3, seed=9, scale=0.3)[0]
    theta_q = intops.quantize_threshold(0.3, "relative")
    gold = fixed.run(x[None], policy=_policy(0.3, "relative", 3))
    h0 = gold.layer_outputs[0][0]
    seqs = [TileSequence(x, slot=0, memo_enable=1, theta=theta_q), TileSequence(h0, slot=1, memo_enable=1,
                                                                                 theta=theta_q),
            TileSequence(x, slot=0)]
    res = run_sequences(tile, seqs, writes=image_writes(params, img), gap=0.2, stall=0.2, seed=2)
    assert np.array_equal(res.h[0], h0)
    assert np.array_equal(res.h[1], gold.out[0])
    assert res.counters[0]["reuses"] + res.counters[1]["reuses"] == int(gold.stats.reuses.sum()) > 0
    assert np.array_equal(res.h[2], fixed.run(x[None]).layer_outputs[0][0])


def test_hit_runs_cost_one_cycle_per_neuron():
    """Constant input, a huge threshold: after the first step every neuron hits, and a step costs the
    cycle model's hit pacing (one decision per cycle)."""
    fixed, params, _, tile = _setup("lstm", inputs=4, hidden=4, lanes=2)
    x = random_inputs(fixed.config, 1, 3, 4, seed=1)[0]
    x[:] = x[0]
    res = run_sequences(tile, [TileSequence(x, memo_enable=1, theta=65535, form=1)])
    gold = fixed.run(x[None], policy=_policy(65535, "absolute", 2))
    check_tile_run(res, 0, gold, params, 3)
    misses = (gold.stats.step_evaluations - gold.stats.step_reuses)[0, 0, 0]
    assert list(misses) == [16, 0, 0]
    assert res.counters[0]["cycles"] == expected_cycles(params, 4, 3, misses)


def test_mixed_hits_cycle_estimate():
    """With a mixed hit pattern the count-based estimate is within 5 % of the measured cycles."""
    fixed, params, _, tile = _setup("gru", inputs=6, hidden=4, lanes=2, seed=6)
    x = random_inputs(fixed.config, 1, 6, 6, seed=3, scale=0.3)[0]
    res = run_sequences(tile, [TileSequence(x, memo_enable=1, theta=intops.quantize_threshold(0.3, "relative"))])
    gold = fixed.run(x[None], policy=_policy(0.3, "relative", 2))
    check_tile_run(res, 0, gold, params, 6)
    misses = (gold.stats.step_evaluations - gold.stats.step_reuses)[0, 0, 0]
    assert 0 < misses[1:].sum() < 5 * params.neurons
    est = expected_cycles(params, 6, 6, misses)
    assert abs(res.counters[0]["cycles"] - est) <= 0.05 * est
