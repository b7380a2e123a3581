"""The tile's cycle model: the ``cycles`` counter of a sequence, computed from the ``latency`` of every
part on the way (never restated) and the front end's ``decision_timing``; see docs/tile.md, *Cycle model*."""

from __future__ import annotations

import numpy as np

from .activation import ActivationUnit
from .checks import check_int
from .crew_products import ProductStage
from .delta_detect import ChangeDetector
from .delta_emit import DeltaEmitter
from .delta_engine import DeltaEngine
from .dot_product import DotProductUnit
from .gru import GruStateUnit
from .lstm_cell import LstmCellUnit
from .tile_gates import gate_feed_class
from .tile_issue import TOKEN_DEPTH, IssueStage
from .tile_merge import Merge, candidate_r_wait
from .tile_params import TileParams, ceil_div
from .tile_sequencer import StepSequencer

__all__ = ["baseline_step_cycles", "delta_step_cycles", "expected_cycles", "neuron_beats", "pipeline_latency",
           "product_phase", "step_overhead", "token_depth", "x_beats"]


def x_beats(params: TileParams, n_x: int) -> int:
    """Dot-product beats of the input part of one neuron: ceil(n_x / L)."""
    return ceil_div(n_x, params.lanes)


def neuron_beats(params: TileParams, n_x: int) -> int:
    """Dot-product beats of one computed neuron: ceil(n_x / L) + ceil(H / L)."""
    return x_beats(params, n_x) + params.h_rows


def _update_latency(params: TileParams) -> int:
    return (GruStateUnit if params.cell == "gru" else LstmCellUnit).latency


def pipeline_latency(params: TileParams) -> int:
    """Cycles from the issue of a computed neuron's last beat (stage 0) to its h element leaving the
    element-wise unit: the sum of the ``latency`` of every component on the way (docs/tile.md)."""
    return (IssueStage.latency + DotProductUnit.latency + gate_feed_class(params.cell).latency
            + ActivationUnit.latency + Merge.latency + _update_latency(params))


def step_overhead(params: TileParams) -> int:
    """Cycles of a step beyond its dot-product beats (baseline): the drain from the last beat to the last
    h written (:func:`pipeline_latency`), plus the step barrier (``StepSequencer.latency``), less the last
    beat's own cycle (counted in the beats); see docs/tile.md."""
    return pipeline_latency(params) + StepSequencer.latency - 1


def baseline_step_cycles(params: TileParams, n_x: int) -> int:
    """Cycles of one step with every neuron computed: G*H*beats + :func:`step_overhead` for an LSTM; a
    GRU candidate's recurrent part may reach the pairing before the merge holds its unit's r (when
    2*beats is shorter than the r's way, :func:`hw.tile_merge.candidate_r_wait`), so a GRU step is the recurrence of
    :func:`_step_cycles` with every decision a miss, all available at once (equal to the LSTM's form
    when nothing waits)."""
    if params.cell == "gru":
        return _step_cycles(params, n_x, [True] * params.neurons, timing=(0, 1))
    return params.neurons * neuron_beats(params, n_x) + step_overhead(params)


def product_phase(params: TileParams, product_slots: int) -> int:
    """CREW: cycles from a step's start to its first issue, for ``product_slots`` unique-value slots
    (:func:`hw.tile_image.product_slots`): ``ProductStage.latency`` + slots * L/M."""
    return ProductStage.latency + product_slots * (params.lanes // params.crew.multipliers)


def delta_step_cycles(params: TileParams, n_x: int, changed_x: int, changed_h: int) -> int:
    """Cycles of one step of the delta tile (step start to the next step start) with ``changed_x`` and
    ``changed_h`` changed inputs: the detector has compared them as they arrived; the engine spends
    max(1, changed) cycles per group of L neurons, a group final (in ``groups_done``)
    ``DeltaEngine.latency`` + 2 cycles after its last slot is issued; the emitter takes one neuron per
    cycle in ``DeltaEmitter.order`` once its group is final, through its pipeline of
    ``DeltaEmitter.latency`` stages that holds while the gate feed waits (a GRU candidate waits for its
    unit's r: :func:`hw.tile_merge.candidate_r_wait`); then the drain through the gate feed, activation,
    merge, update and the step barrier (docs/delta.md, *Cycle model*)."""
    G, L, NG = params.gates, params.lanes, params.neuron_groups
    first_header = ChangeDetector.latency + 1   # the engine starts when the step's last inputs are compared
    per_group = max(1, changed_x + changed_h)
    final = [first_header + (g + 1) * per_group + DeltaEngine.latency + 1 for g in range(NG)]
    # items in emission order: (group, unit, waits for the unit's r, is the unit's r)
    gru = params.cell == "gru"
    items = [(n // L, n // G, gru and n % G == 2, gru and n % G == 0) for n in DeltaEmitter.order(params)]
    stages, taken, r_ready, t, consumed_at = [None] * DeltaEmitter.latency, 0, {}, 0, None
    while taken < len(items) or any(s is not None for s in stages):
        out = stages[-1]
        ok = out is None or not items[out][2] or t >= r_ready.get(items[out][1], t + 1)
        if out is not None and ok:
            consumed_at = t
            if items[out][3]:
                r_ready[items[out][1]] = t + candidate_r_wait()
        if ok:
            take = taken if taken < len(items) and t >= final[items[taken][0]] else None
            taken += take is not None
            stages = [take, *stages[:-1]]
        t += 1
    drain = (gate_feed_class(params.cell).latency + ActivationUnit.latency + Merge.latency + _update_latency(params)
             + StepSequencer.latency)
    return consumed_at + drain


def token_depth(params: TileParams) -> int:
    """Depth of the issue stage's token FIFO such that it never fills while the h stream is ready, so hits
    stay free and :func:`_step_cycles` exact: a token stays from its take to its merge at most as long as
    a miss, S = 2*beats - 1 (the previous miss's beats, then its own) + the way to the merge (+ a GRU n's
    wait for its r), a hit behind a miss no longer (it merges one cycle after the token ahead of it); one
    token is taken per cycle, so S + 2 entries (the FIFO's own read cycle) hold every token in flight.
    The largest n_x has the most beats. The next power of two, at least ``TOKEN_DEPTH``."""
    beats = neuron_beats(params, params.input_size)
    span = (2 * beats - 1 + IssueStage.latency + DotProductUnit.latency + gate_feed_class(params.cell).latency
            + ActivationUnit.latency + (candidate_r_wait() if params.cell == "gru" else 0))
    return max(TOKEN_DEPTH, 1 << (span + 1).bit_length())


def _step_cycles(params: TileParams, n_x: int, miss_mask, timing=None) -> int:
    """Cycles of one memoizing step (step start to the next step start) for a hit/miss pattern in issue
    order (True = miss), by the recurrence of docs/tile.md: decision k reaches the issue stage at
    ``lead + k*interval`` (the front end's ``decision_timing``); the issue takes one decision per cycle
    (a hit writes its token only, free), a miss once the previous miss has left the pending slot; the
    beat counters start a miss when the previous one's ``beats`` are out; the merge takes the neurons
    in order, one per cycle: a miss ``IssueStage.latency`` + dot product + gate feed + activation after
    its last beat, a hit ``IssueStage.token_latency`` after its take; the step ends ``Merge.latency`` +
    update + barrier after the last merge. ``timing`` is the (lead, interval) of the decisions (default
    the front end's; the baseline's issue stage has every decision at once: (0, 1))."""
    lead, interval = timing or params.front_end.decision_timing(params, n_x)
    beats = neuron_beats(params, n_x)
    to_pair = IssueStage.latency + DotProductUnit.latency    # last beat -> its accumulator at the gate feed
    to_merge = gate_feed_class(params.cell).latency + ActivationUnit.latency
    tail = Merge.latency + _update_latency(params) + StepSequencer.latency
    gru = params.cell == "gru"
    take, start, free, merges = -1, None, None, []   # previous take, previous miss start, beats free at, merges
    for k, miss in enumerate(miss_mask):
        take = max(lead + k * interval, take + 1)
        if miss:
            if free is not None:
                # the pending slot takes the next miss once the previous miss has started
                take = max(take, start + IssueStage.pending_latency)
            start = take if free is None else max(take, free)
            acc = start + beats - 1 + to_pair
            # GRU n: the recurrent part waits for the merge to hold the unit's r (the beats behind it wait too)
            wait = max(0, merges[k - 2] + 1 - acc) if gru and k % 3 == 2 else 0
            free = start + beats + wait
            ready = acc + wait + to_merge
        else:
            ready = take + IssueStage.token_latency
        merges.append(max(ready, merges[-1] + 1) if merges else ready)
    merge = merges[-1]
    return merge + tail


def expected_cycles(params: TileParams, n_x: int, steps: int, misses_per_step=None, memo_enable: bool = True,
                    product_slots: int | None = None, changed_per_step=None) -> int:
    """Expected value of the ``cycles`` counter for one sequence of ``steps`` steps of ``n_x`` inputs,
    the x stream always valid and the h stream always ready.

    Baseline (memo hardware absent, ``memo_enable`` False or ``misses_per_step`` None): exact,
    ``n_x - 1 + steps * (G*H*beats + overhead)`` (the first step's x load, then every step).

    Memoizing: ``misses_per_step`` is either one miss count per step (or one count for every step;
    the misses are then assumed spread evenly over the step's neurons) or a (steps, G*H) boolean array of
    misses in issue order (n = j*G + g), which makes the model exact (docs/tile.md, *Cycle model*).

    CREW (``params.crew``): exact, the baseline's plus :func:`product_phase` of ``product_slots`` per step.
    Delta (``params.delta``): :func:`delta_step_cycles` of each step's (changed x, changed h) inputs in
    ``changed_per_step`` (the golden model's ``input_counts``)."""
    check_int("steps", steps, 1)
    params.check_run(0, n_x)
    nn = params.neurons
    if params.delta:
        if changed_per_step is None or len(changed_per_step) != steps:
            raise ValueError("the delta cycle model needs (changed x, changed h) inputs for each of the steps")
        return n_x - 1 + sum(delta_step_cycles(params, n_x, int(cx), int(ch)) for cx, ch in changed_per_step)
    if params.crew is not None:
        if product_slots is None:
            raise ValueError("the CREW cycle model needs the step's product_slots (hw.tile_image.product_slots)")
        return n_x - 1 + steps * (baseline_step_cycles(params, n_x) + product_phase(params, product_slots))
    if misses_per_step is None or params.front_end is None or not memo_enable:
        return n_x - 1 + steps * baseline_step_cycles(params, n_x)
    arr = np.asarray(misses_per_step)
    if arr.ndim == 0:
        arr = np.full(steps, int(arr))
    if arr.shape[0] != steps:
        raise ValueError(f"misses_per_step has {arr.shape[0]} entries for {steps} steps")
    total = n_x - 1
    for row in arr:
        if np.ndim(row) == 0:
            miss = check_int("misses per step", int(row), 0, nn)
            mask = [(k + 1) * miss // nn > k * miss // nn for k in range(nn)]
        else:
            if len(row) != nn:
                raise ValueError(f"a miss mask row has {len(row)} entries, the tile {nn} neurons")
            mask = [bool(v) for v in row]
        total += _step_cycles(params, n_x, mask)
    return total
