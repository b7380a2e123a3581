# amaranth: UnusedElaboratable=no
"""The tile with the output-rule front ends (low-rank: hw/tile_low_rank.py; top-k: hw/tile_top_k.py) in the
Amaranth simulator: every h_t and the reuse counts equal to the golden model's output rule with that
predictor, under random x gaps and h back-pressure, sequence starts, run-time loading and two slots."""

from __future__ import annotations

import numpy as np
import pytest
from support import normal_network, random_inputs

from golden_model import intops, schemes
from golden_model.fixed_model import FixedPointNetwork
from hw.tile import Tile
from hw.tile_cycles import expected_cycles
from hw.tile_image import image_writes, memory_image
from hw.tile_params import TileParams
from sim.tile_amaranth import TileSequence, run_sequences

#: (predictor, its parameters) of every output-rule front end, two parameter sets each.
PREDICTORS = {"low-rank": ({"rank": 2}, {"rank": 3}), "top-k": ({"k": 2, "weight_bits": 4}, {"k": 3, "weight_bits": 6})}
BOTH = pytest.mark.parametrize("name", list(PREDICTORS))


def _policy(theta, form, name, second=False):
    return schemes.get("memo").golden_policy(theta, predictor=name, form=form,
                                             predictor_params=PREDICTORS[name][second])


def _setup(cell, name, inputs=3, hidden=4, lanes=2, layers=1, second=False, seed=3, image=True):
    fixed = FixedPointNetwork(normal_network(cell, inputs, hidden, layers=layers, seed=seed))
    front_end = schemes.get(name).front_end(PREDICTORS[name][second])
    params = TileParams.for_network(fixed, lanes=lanes, front_end=front_end)
    img = memory_image(params, fixed)
    return fixed, params, img, Tile(params, img if image else None)


def _check(res, k, gold, params, steps):
    assert np.array_equal(res.h[k], gold.out[0]), f"sequence {k}:\n{res.h[k]}\n!=\n{gold.out[0]}"
    assert res.counters[k]["evaluations"] == steps * params.neurons
    assert res.counters[k]["reuses"] == int(gold.stats.reuses.sum())


@BOTH
@pytest.mark.parametrize("cell,theta,form", [("lstm", 0.2, "relative"), ("gru", 0.2, "relative"),
                                             ("lstm", 30, "absolute"), ("gru", 30, "absolute")])
def test_tile_equals_golden_with_gaps(name, cell, theta, form):
    fixed, params, _, tile = _setup(cell, name)
    xs = random_inputs(fixed.config, 2, 6, 3, seed=5, scale=0.3)
    theta_q = intops.quantize_threshold(theta, form)
    seqs = [TileSequence(x, memo_enable=1, theta=theta_q, form=int(form == "absolute")) for x in xs]
    res = run_sequences(tile, seqs, seed=7, gap=0.3, stall=0.3)
    total = 0
    for k, x in enumerate(xs):
        gold = fixed.run(x[None], policy=_policy(theta, form, name))
        _check(res, k, gold, params, len(x))
        total += res.counters[k]["reuses"]
    assert total > 10, "the threshold should give real reuse"


@BOTH
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_tile_loaded_at_run_time_two_slots_and_memo_off(name, cell):
    """A 2-layer network on a tile built without an image: load it through wr, run layer 0 (slot 0) with
    memo on, layer 1 (slot 1) on its outputs with memo on, then memo off costs the baseline cycles."""
    fixed, params, img, tile = _setup(cell, name, layers=2, image=False, seed=4, second=True)
    x = random_inputs(fixed.config, 1, 5, 3, seed=9, scale=0.3)[0]
    theta_q = intops.quantize_threshold(0.3, "relative")
    gold = fixed.run(x[None], policy=_policy(0.3, "relative", name, second=True))
    h0 = gold.layer_outputs[0][0]
    seqs = [TileSequence(x, slot=0, memo_enable=1, theta=theta_q), TileSequence(h0, slot=1, memo_enable=1,
                                                                                 theta=theta_q),
            TileSequence(x, slot=0)]
    res = run_sequences(tile, seqs, writes=image_writes(params, img), gap=0.2, stall=0.2, seed=2)
    assert np.array_equal(res.h[0], h0)
    assert np.array_equal(res.h[1], gold.out[0])
    assert res.counters[0]["reuses"] + res.counters[1]["reuses"] == int(gold.stats.reuses.sum()) > 0
    assert np.array_equal(res.h[2], fixed.run(x[None]).layer_outputs[0][0])


@BOTH
def test_hit_runs_cost_one_cycle_per_neuron(name):
    """Constant input, a huge threshold: after the first step every neuron hits, and a step costs the
    cycle model's hit pacing (one decision per cycle)."""
    fixed, params, _, tile = _setup("lstm", name, inputs=4, hidden=4, lanes=2)
    x = random_inputs(fixed.config, 1, 3, 4, seed=1)[0]
    x[:] = x[0]
    res = run_sequences(tile, [TileSequence(x, memo_enable=1, theta=65535, form=1)])
    gold = fixed.run(x[None], policy=_policy(65535, "absolute", name))
    _check(res, 0, gold, params, 3)
    misses = (gold.stats.step_evaluations - gold.stats.step_reuses)[0, 0, 0]
    assert list(misses) == [16, 0, 0]
    assert res.counters[0]["cycles"] == expected_cycles(params, 4, 3, misses)


@BOTH
def test_mixed_hits_cycle_estimate(name):
    """With a mixed hit pattern the count-based estimate is within 5 % of the measured cycles."""
    fixed, params, _, tile = _setup("gru", name, inputs=6, hidden=4, lanes=2, seed=6)
    x = random_inputs(fixed.config, 1, 6, 6, seed=3, scale=0.3)[0]
    res = run_sequences(tile, [TileSequence(x, memo_enable=1, theta=intops.quantize_threshold(0.3, "relative"))])
    gold = fixed.run(x[None], policy=_policy(0.3, "relative", name))
    _check(res, 0, gold, params, 6)
    misses = (gold.stats.step_evaluations - gold.stats.step_reuses)[0, 0, 0]
    assert 0 < misses[1:].sum() < 5 * params.neurons
    est = expected_cycles(params, 6, 6, misses)
    assert abs(res.counters[0]["cycles"] - est) <= 0.05 * est
