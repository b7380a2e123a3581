"""The tile's cycle model: the ``cycles`` counter of a sequence, computed from the ``latency`` of every
part on the way (never restated) and the front end's ``decision_timing``; see docs/tile.md, *Cycle model*."""

from __future__ import annotations

import numpy as np

from .activation import ActivationUnit
from .checks import check_int
from .crew_products import ProductStage
from .dot_product import DotProductUnit
from .gru import GruStateUnit
from .lstm_cell import LstmCellUnit
from .tile_gates import gate_feed_class
from .tile_issue import IssueStage
from .tile_merge import Merge
from .tile_params import TileParams, ceil_div
from .tile_sequencer import StepSequencer

__all__ = ["expected_cycles", "neuron_beats", "pipeline_latency", "product_phase", "step_overhead", "x_beats"]


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


def product_phase(params: TileParams, product_slots: int) -> int:
    """CREW: cycles from a step's start to its first issue, for ``product_slots`` unique-value slots
    (:func:`hw.tile_image.product_slots`): ``ProductStage.latency`` + slots * L/M."""
    return ProductStage.latency + product_slots * (params.lanes // params.crew.multipliers)


def _step_cycles(params: TileParams, n_x: int, miss_mask) -> int:
    """Cycles of one memoizing step (step start to the next step start) for a hit/miss pattern in issue
    order (True = miss), by the recurrence of docs/tile.md: decision k reaches the issue stage at
    ``lead + k*interval`` (the front end's ``decision_timing``); the issue takes it when the previous
    neuron is done (a miss occupies it for ``beats`` cycles, a hit for one); a miss's h leaves
    ``beats + overhead`` after its issue, a hit's ``hit_tail`` after (token FIFO, merge, update, barrier)."""
    lead, interval = params.front_end.decision_timing(params, n_x)
    beats = neuron_beats(params, n_x)
    over = step_overhead(params)
    hit_tail = IssueStage.token_latency + Merge.latency + _update_latency(params) + StepSequencer.latency
    free, end = 0, 0
    for k, miss in enumerate(miss_mask):
        issue = max(lead + k * interval, free)
        if miss:
            free = issue + beats
            end = max(end, issue + beats + over)
        else:
            free = issue + 1
            end = max(end, issue + hit_tail)
    return end


def expected_cycles(params: TileParams, n_x: int, steps: int, misses_per_step=None, memo_enable: bool = True,
                    product_slots: int | None = None) -> int:
    """Expected value of the ``cycles`` counter for one sequence of ``steps`` steps of ``n_x`` inputs,
    the x stream always valid and the h stream always ready.

    Baseline (memo hardware absent, ``memo_enable`` False or ``misses_per_step`` None): exact,
    ``n_x - 1 + steps * (G*H*beats + overhead)`` (the first step's x load, then every step).

    Memoizing: ``misses_per_step`` is either one miss count per step (or one count for every step;
    the misses are then assumed spread evenly over the step's neurons) or a (steps, G*H) boolean array of
    misses in issue order (n = j*G + g), which makes the model exact (docs/tile.md, *Cycle model*).

    CREW (``params.crew``): exact, the baseline's plus :func:`product_phase` of ``product_slots`` per step."""
    check_int("steps", steps, 1)
    params.check_run(0, n_x)
    beats = neuron_beats(params, n_x)
    nn = params.neurons
    if params.crew is not None:
        if product_slots is None:
            raise ValueError("the CREW cycle model needs the step's product_slots (hw.tile_image.product_slots)")
        return n_x - 1 + steps * (nn * beats + step_overhead(params) + product_phase(params, product_slots))
    if misses_per_step is None or params.front_end is None or not memo_enable:
        return n_x - 1 + steps * (nn * beats + step_overhead(params))
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
