# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the delta tile (TileParams.delta; docs/delta.md, *Hardware*): every h_t equal
to the golden DeltaPolicy's, LSTM and GRU, thresholds 0 (the fixed-point baseline) and above, lanes not
dividing G*H, gaps and back-pressure, the inputs-changed counter equal to the golden statistics."""

from __future__ import annotations

import numpy as np
import pytest
from support import normal_network, random_inputs

from golden_model.delta import DeltaPolicy, SimilarityPolicy, input_counts
from golden_model.fixed_model import FixedPointNetwork
from hw.delta_detect import THETA_PART_BITS
from hw.tile import Tile
from hw.tile_cycles import expected_cycles
from hw.tile_image import memory_image, quantizer_writes
from hw.tile_params import TileParams
from sim.tile_amaranth import TileSequence, run_sequences


def _setup(cell, inputs=3, hidden=4, lanes=2, seed=3):
    fixed = FixedPointNetwork(normal_network(cell, inputs, hidden, seed=seed))
    params = TileParams.for_network(fixed, lanes=lanes, delta=True)
    return fixed, params, Tile(params, memory_image(params, fixed))


@pytest.mark.parametrize("cell,lanes,theta_x,theta_h", [("lstm", 2, 0, 0), ("gru", 2, 0, 0), ("lstm", 3, 6, 9),
                                                         ("gru", 4, 12, 5), ("gru", 1, 3, 3)])
def test_delta_tile_equals_golden(cell, lanes, theta_x, theta_h):
    fixed, params, tile = _setup(cell, lanes=lanes)
    xs = random_inputs(fixed.config, 2, 5, 3, seed=11)
    seqs = [TileSequence(xs[0], theta=theta_x | theta_h << THETA_PART_BITS),
            TileSequence(xs[1][:3], theta=theta_x | theta_h << THETA_PART_BITS)]
    res = run_sequences(tile, seqs)
    for k, x in enumerate((xs[0], xs[1][:3])):
        gold = fixed.run(x[None], policy=DeltaPolicy(theta_x, theta_h))
        assert np.array_equal(res.h[k], gold.out[0]), f"sequence {k}:\n{res.h[k]}\n!=\n{gold.out[0]}"
        counts = input_counts(gold.stats)
        changed = res.counters[k]["x_changed"] + res.counters[k]["h_changed"]
        assert changed == int(counts.inputs.sum() - counts.unchanged.sum())


@pytest.mark.parametrize("cell,lanes,theta", [("lstm", 2, 0), ("lstm", 3, 7), ("gru", 2, 4), ("gru", 4, 0)])
def test_delta_cycle_model_is_exact(cell, lanes, theta):
    fixed, params, tile = _setup(cell, lanes=lanes, inputs=5, hidden=6)
    x = random_inputs(fixed.config, 1, 6, 5, seed=4)[0]
    res = run_sequences(tile, [TileSequence(x, theta=theta | theta << THETA_PART_BITS)])
    counts = input_counts(fixed.run(x[None], policy=DeltaPolicy(theta, theta)).stats)
    changed = (counts.inputs - counts.unchanged)[0, 0, 0]           # (steps, 2): x part, h part
    assert res.counters[0]["cycles"] == expected_cycles(params, 5, len(x), changed_per_step=changed.tolist())


@pytest.mark.parametrize("hidden,lanes", [(1, 1), (2, 3), (3, 2)])
def test_delta_gru_few_units_equals_golden_and_the_cycle_model(hidden, lanes):
    """GRU emission orders with fewer units than the candidate lag's slots (hw.tile_merge.gru_order)."""
    fixed, params, tile = _setup("gru", inputs=3, hidden=hidden, lanes=lanes)
    x = random_inputs(fixed.config, 1, 5, 3, seed=hidden)[0]
    res = run_sequences(tile, [TileSequence(x, theta=2 | 3 << THETA_PART_BITS)])
    gold = fixed.run(x[None], policy=DeltaPolicy(2, 3))
    assert np.array_equal(res.h[0], gold.out[0])
    counts = input_counts(gold.stats)
    changed = (counts.inputs - counts.unchanged)[0, 0, 0]
    assert res.counters[0]["cycles"] == expected_cycles(params, 3, len(x), changed_per_step=changed.tolist())


@pytest.mark.parametrize("cell,lanes,levels", [("lstm", 2, 6), ("gru", 3, 9), ("lstm", 4, 4096)])
def test_similarity_tile_equals_golden(cell, lanes, levels):
    """The similarity form: quantizer registers loaded through wr, ranges measured on the data (0 inside
    or outside them), every h_t and the changed-input counters equal to the golden SimilarityPolicy's."""
    fixed = FixedPointNetwork(normal_network(cell, 3, 4, seed=5))
    params = TileParams.for_network(fixed, lanes=lanes, delta=True, similarity=True)
    tile = Tile(params, memory_image(params, fixed))
    xs = random_inputs(fixed.config, 2, 5, 3, seed=12)
    for ranges in ((-300, 400, -200, 250), (20, 500, 10, 90)):
        policy = SimilarityPolicy(levels, (ranges,))
        res = run_sequences(tile, [TileSequence(xs[0]), TileSequence(xs[1][:3])],
                            writes=quantizer_writes(params, fixed, policy))
        for k, x in enumerate((xs[0], xs[1][:3])):
            gold = fixed.run(x[None], policy=policy)
            assert np.array_equal(res.h[k], gold.out[0]), f"{ranges} sequence {k}:\n{res.h[k]}\n!=\n{gold.out[0]}"
            counts = input_counts(gold.stats)
            changed = res.counters[k]["x_changed"] + res.counters[k]["h_changed"]
            assert changed == int(counts.inputs.sum() - counts.unchanged.sum())
            if levels < 100:   # a coarse quantizer changes the outputs: the levels were used
                assert not np.array_equal(gold.out[0], fixed.run(x[None]).out[0])


@pytest.mark.parametrize("similarity", [False, True])
def test_one_input_follows_its_predecessor(similarity):
    """With one input (n_x = 1) the x element of a step arrives the cycle after the previous step's and
    must be compared with the reference (level) that one has just stored (found by fuzzymemo regress)."""
    fixed = FixedPointNetwork(normal_network("lstm", 1, 2, seed=4))
    params = TileParams.for_network(fixed, lanes=1, delta=True, similarity=similarity)
    tile = Tile(params, memory_image(params, fixed))
    x = random_inputs(fixed.config, 1, 6, 1, seed=1)[0]
    policy = SimilarityPolicy(24, ((-300, 400, -200, 250),)) if similarity else DeltaPolicy(0, 0)
    res = run_sequences(tile, [TileSequence(x)], writes=quantizer_writes(params, fixed, policy) if similarity else ())
    gold = fixed.run(x[None], policy=policy)
    assert np.array_equal(res.h[0], gold.out[0]), f"{res.h[0]}\n!=\n{gold.out[0]}"
