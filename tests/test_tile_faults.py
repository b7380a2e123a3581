# amaranth: UnusedElaboratable=no
"""Faults the tile meets in a system (issue 14 deliverable 5), in the Amaranth simulator: a long
starvation of x and long back-pressure on h in the middle of a sequence, and run-time writes during a
run. The tile recovers with nothing lost: every h_t equals the golden model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from support import normal_network, random_inputs

from fuzzymemo.compiled import CompiledModel
from golden_model.fixed_model import FixedPointNetwork
from hw.tile import Tile
from sim.tile_amaranth import TileSequence, run_reset_mid_sequence, run_sequences

#: The length of the starvation and of the back-pressure (cycles).
LONG = 100_000


def _stall_after(cycles_before: int, length: int):
    """A pause generator: no pause for ``cycles_before`` cycles, then ``length`` paused cycles, then none."""
    return itertools.chain(itertools.repeat(False, cycles_before), itertools.repeat(True, length),
                           itertools.repeat(False))


def _tile(cell="lstm", seed=1):
    fixed = FixedPointNetwork(normal_network(cell, 3, 2, seed=seed))
    compiled = CompiledModel(fixed, lanes=2, bnn_width=8)
    return fixed, compiled, Tile(compiled.params, compiled.image)


@pytest.mark.slow   # a soak of 100k cycles; the shorter fault tests below stay in the default run
def test_x_starvation_and_h_back_pressure_for_100k_cycles():
    fixed, compiled, tile = _tile()
    x = random_inputs(fixed.config, 1, 5, 3, seed=2, scale=0.3)[0]
    theta = compiled.policy(0.3).thresholds_q(1)[0]
    res = run_sequences(tile, [TileSequence(x, memo_enable=1, theta=int(theta))], timeout=4 * LONG,
                        x_pauses=_stall_after(7, LONG), h_pauses=_stall_after(40, LONG))
    gold = fixed.run(x[None], policy=compiled.policy(0.3))
    assert np.array_equal(res.h[0], gold.out[0])
    assert res.counters[0]["reuses"] == int(gold.stats.reuses.sum())
    assert res.counters[0]["cycles"] > LONG          # the run spanned the fault
    # the stall counter saw it: every waiting cycle but those the tile spent finishing the step in progress
    assert 0.99 * LONG < res.counters[0]["stalls"] < res.counters[0]["cycles"]


def test_writes_during_a_run_wait_for_it_to_end():
    """wr beats offered while a sequence runs are held off (wr.ready low) and land after it: the running
    sequence uses the old weights, nothing is lost, and the next sequence uses the new ones."""
    fixed, compiled, tile = _tile(seed=1)
    other = FixedPointNetwork(normal_network("lstm", 3, 2, seed=9), fixed.config)
    x = random_inputs(fixed.config, 1, 4, 3, seed=3, scale=0.3)[0]
    writes = compiled.memory_words(other)
    first, second = TileSequence(x), TileSequence(x)
    res = run_sequences(tile, [first, second], writes_during=writes)
    assert np.array_equal(res.h[0], fixed.run(x[None]).out[0])      # the run in progress: old weights
    assert np.array_equal(res.h[1], other.run(x[None]).out[0])      # after it: every write landed


def test_reset_in_the_middle_of_a_sequence():
    """A reset while a sequence runs ends it (nothing more comes out, the tile is idle) and keeps the
    memories: the weights loaded through wr before it survive, and the next sequence, memoizing, is
    bit-exact with clean state (h, c and the memo table start over with its `first`)."""
    fixed, compiled, _ = _tile(cell="gru", seed=4)
    tile = Tile(compiled.params)                     # empty memories: the weights come through wr
    xs = random_inputs(fixed.config, 2, 6, 3, seed=6, scale=0.3)
    theta = int(compiled.policy(0.3).thresholds_q(1)[0])
    res = run_reset_mid_sequence(tile, TileSequence(xs[0], memo_enable=1, theta=theta), 2,
                                 TileSequence(xs[1], memo_enable=1, theta=theta),
                                 writes=compiled.memory_words())
    assert np.array_equal(res["cut_h"], fixed.run(xs[:1], policy=compiled.policy(0.3)).out[0][:2])
    assert not res["busy_after_reset"]
    gold = fixed.run(xs[1:], policy=compiled.policy(0.3))
    run = res["then"]
    assert np.array_equal(run.h[0], gold.out[0])
    assert run.lasts == [[6 * compiled.params.hidden - 1]]
    assert run.counters[0]["reuses"] == int(gold.stats.reuses.sum()) > 0


def test_a_sequence_without_last_is_reported_and_a_reset_recovers():
    """The contract: a sequence whose final x element has no `last` is not ended -- the tile computes every
    step it gets, then waits for more x (busy; it takes no new `first` and no wr) until a reset. The host
    reports it (the final h has no `last`), and after a reset the next sequence is bit-exact."""
    fixed, compiled, tile = _tile(seed=5)
    xs = random_inputs(fixed.config, 2, 3, 3, seed=8, scale=0.3)
    with pytest.raises(RuntimeError, match=r"h of sequence 0 \(of 2\): `last` on outputs \[\], not on the final"
                                           r" one \(5\): the x stream did not end the sequence"):
        run_sequences(tile, [TileSequence(xs[0], end=False), TileSequence(xs[1])])
    res = run_reset_mid_sequence(tile, TileSequence(xs[0], end=False), 3, TileSequence(xs[1]))
    assert np.array_equal(res["cut_h"], fixed.run(xs[:1]).out[0])     # every step it got was computed
    assert np.array_equal(res["then"].h[0], fixed.run(xs[1:]).out[0])


def test_truncated_input_times_out_naming_the_stream_and_sequence():
    """x stops for good in the middle of a sequence (the host's input ends early): the host times out
    with the stream, the sequence and how far it got, instead of waiting forever."""
    fixed, _, tile = _tile()
    x = random_inputs(fixed.config, 1, 4, 3, seed=2, scale=0.3)[0]
    with pytest.raises(TimeoutError, match=r"h of sequence 0 \(of 1\): 4 of 8 outputs after 3001 cycles "
                                           r"\(the tile waits for x"):
        run_sequences(tile, [TileSequence(x)], x_pauses=_stall_after(7, 10**9), timeout=3000)
