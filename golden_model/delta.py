"""Input-similarity and delta reuse (Riera et al., ISCA 2018; DeltaRNN/EdgeDRNN; docs/delta.md).

Both forms keep, per neuron, the dot products of the previous step (the preactivation-accumulator
memory: one for the input part W_x e_x and one for the recurrent part W_h e_h, the two the baseline keeps
apart) and, per input of [x ; h], the value the memory was last corrected with. At every step each input
i is compared with its stored value; the memory is corrected only by the inputs that changed,

    acc_t = acc_{t-1} + sum over changed i of W[:, i] * (e_i(t) - e_i(t-1)),

in exact integer arithmetic, so acc_t is always W e(t) for the *effective* inputs e(t):

* ``similarity`` -- e_i is v_i linearly quantized to ``levels`` levels over the layer part's calibrated
  range and mapped back to the activation format (:func:`intops.linear_quantize`, ``linear_dequantize``);
  input i changed when its level index changed.
* ``delta`` -- e_i is the reference ref_i, which moves to v_i only when |v_i - ref_i| >= theta
  (:func:`intops.delta_update`; theta_x for the input part, theta_h for the recurrent part).

A sequence's start clears the memory (stored values 0, accumulators 0), so its first step corrects by
every nonzero effective input: a full computation (a zero adds nothing: h_{-1} = 0 costs no work). The
rest of the step (bias, requantize, activations, cell update) is the baseline's
(:class:`golden_model.memo.MemoDirection` with memoization off). With theta = 0, or the quantizer at the
datapath's own resolution, e = v and the scheme is the fixed-point baseline exactly.

Multiplications: a changed input costs one per neuron of the layer direction (G*H), an unchanged one none;
the baseline's N = n_x + H per neuron. The counts of inputs unchanged per step are in
:func:`input_counts` of the run's statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import intops
from .memo import OFF, MemoDirection, MemoPolicy

__all__ = ["DELTA", "SIMILARITY", "DeltaPolicy", "SimilarityPolicy", "InputCounts", "input_counts",
           "full_resolution_range", "check_levels", "check_theta"]

DELTA = "delta"
SIMILARITY = "similarity"
#: Index of the input part and of the recurrent part in the per-part arrays.
X_PART, H_PART = 0, 1


def check_theta(theta, what: str = "theta") -> int:
    """A delta threshold in activation-format LSBs: an integer >= 0."""
    value = float(theta)
    if not np.isfinite(value) or value < 0 or value != int(value):
        raise ValueError(f"{what} must be an integer >= 0 (activation-format LSBs), not {value:g}")
    return int(value)


def check_levels(levels) -> int:
    """A similarity quantizer's level count: an integer >= 2."""
    value = float(levels)
    if not np.isfinite(value) or value < 2 or value != int(value):
        raise ValueError(f"levels must be an integer >= 2, not {value:g}")
    return int(value)


def full_resolution_range(fmt) -> tuple[int, int]:
    """The quantizer range at the datapath's own resolution: the whole activation format."""
    return fmt.min_int, fmt.max_int


def _per_layer(values, num_layers: int, what: str) -> list:
    """One value per layer (a single value is every layer's); a value may be a per-row array (stacked runs)."""
    values = list(values) if isinstance(values, (tuple, list)) else [values]
    if len(values) == 1:
        values = values * num_layers
    if len(values) != num_layers:
        raise ValueError(f"{len(values)} per-layer {what} given for a {num_layers}-layer network")
    return values


def _flat(values) -> np.ndarray:
    """Every number of a value, a per-layer sequence or per-row arrays, flattened."""
    values = values if isinstance(values, (tuple, list)) else [values]
    return np.concatenate([np.ravel(np.asarray(v, dtype=np.float64)) for v in values])


def _rows(value, batch: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=np.int64), (batch,)).reshape(batch, 1)


@dataclass
class InputCounts:
    """Per batch row, layer, direction, step and part (x, h): inputs compared and inputs unchanged. A
    sequence's first step compares nothing: its nonzero effective inputs count as changed (the full
    computation), its zero ones (h_{-1} = 0 under delta) as unchanged."""
    inputs: np.ndarray      # (batch, layers, dirs, steps, 2)
    unchanged: np.ndarray   # (batch, layers, dirs, steps, 2)

    def fraction_unchanged(self, rows=slice(None), axis=None):
        """Unchanged / inputs over ``rows``, summed over all but ``axis`` (None: one number)."""
        n, u = self.inputs[rows], self.unchanged[rows]
        if axis is None:
            return float(u.sum() / n.sum()) if n.sum() else 0.0
        keep = tuple(i for i in range(n.ndim) if i != axis)
        total = n.sum(axis=keep)
        return np.divide(u.sum(axis=keep), total, out=np.zeros(total.shape), where=total > 0)


def input_counts(stats) -> InputCounts | None:
    """The input counts a delta or similarity run left in its RunStats (None for other schemes)."""
    return getattr(stats, "input_counts", None)


def _counts_of(stats, layers: int, dirs: int) -> InputCounts:
    counts = input_counts(stats)
    if counts is None:
        batch, steps = stats.step_evaluations.shape[0], stats.step_evaluations.shape[3]
        shape = (batch, layers, dirs, steps, 2)
        counts = InputCounts(np.zeros(shape, np.int64), np.zeros(shape, np.int64))
        stats.input_counts = counts
    return counts


@dataclass(frozen=True, eq=False)
class DeltaPolicy:
    """The delta form: ``theta_x`` and ``theta_h`` are one value for every layer or one per layer, in
    activation-format LSBs (an entry may be a per-row array: stacked calibration runs)."""
    theta_x: object = 0
    theta_h: object = 0

    kind = DELTA
    #: no neuron thresholds (FixedPointNetwork.run's rows are per layer)
    per_gate = False

    def __post_init__(self):
        for name in ("theta_x", "theta_h"):
            for v in _flat(getattr(self, name)):
                check_theta(v, name)

    def thresholds_q(self, num_layers: int) -> np.ndarray:
        """The memoization threshold rows of FixedPointNetwork.run: unused (no neuron is memoized)."""
        return np.zeros(num_layers, dtype=np.int64)

    def detector(self, model, layer: int, batch: int):
        """The change detector of layer ``layer`` over a batch of ``batch`` rows."""
        n = model.net.num_layers
        thetas = (_per_layer(self.theta_x, n, "theta_x")[layer], _per_layer(self.theta_h, n, "theta_h")[layer])
        return _DeltaInputs(thetas, batch)

    def direction(self, model, layer: int, direction: int, theta_q: np.ndarray, stats, correlation: bool):
        return DeltaDirection(model, layer, direction, self.detector(model, layer, theta_q.shape[0]), theta_q,
                              stats, correlation)


@dataclass(frozen=True, eq=False)
class SimilarityPolicy:
    """The input-similarity form: ``levels`` one count for every layer or one per layer; ``ranges`` per
    layer (lo_x, hi_x, lo_h, hi_h) in activation-format integers, the quantizer ranges of the input and the
    recurrent part (None: the whole activation format, every layer)."""
    levels: object = 16
    ranges: object = None

    kind = SIMILARITY
    per_gate = False

    def __post_init__(self):
        for v in _flat(self.levels):
            check_levels(v)

    def thresholds_q(self, num_layers: int) -> np.ndarray:
        return np.zeros(num_layers, dtype=np.int64)

    def detector(self, model, layer: int, batch: int):
        """The change detector (quantizer registers) of layer ``layer`` over a batch of ``batch`` rows."""
        n, fmt = model.net.num_layers, model.config.act
        levels = _per_layer(self.levels, n, "levels")[layer]
        full = full_resolution_range(fmt) * 2
        lo_x, hi_x, lo_h, hi_h = full if self.ranges is None else _per_layer(self.ranges, n, "ranges")[layer]
        return _QuantizedInputs(((lo_x, hi_x), (lo_h, hi_h)), levels, batch, fmt)

    def direction(self, model, layer: int, direction: int, theta_q: np.ndarray, stats, correlation: bool):
        return DeltaDirection(model, layer, direction, self.detector(model, layer, theta_q.shape[0]), theta_q,
                              stats, correlation)


class _DeltaInputs:
    """The change detector of the delta form over one layer direction's batch: per part, the references."""

    def __init__(self, thetas, batch: int):
        self.thetas = [_rows(t, batch) for t in thetas]

    def start(self, part: int, v: np.ndarray) -> np.ndarray:
        """The effective values of a sequence's first step (the references it leaves): v itself."""
        return v

    def advance(self, part: int, v: np.ndarray, stored: np.ndarray):
        """(new stored values, deltas e(t) - e(t-1), changed mask) against the stored references."""
        return intops.delta_update(v, stored, self.thetas[part])

    def effective(self, part: int, stored: np.ndarray) -> np.ndarray:
        """The values the accumulator memory holds the products of: the references."""
        return stored


class _QuantizedInputs:
    """The change detector of the similarity form: per part, the quantizer registers; the stored value is
    the level index, the effective value its dequantized activation-format integer. A part gets at most
    hi - lo + 1 levels: more than its range has integers is the datapath's own resolution."""

    def __init__(self, ranges, levels, batch: int, fmt):
        self.fmt = fmt
        self.lo, self.levels, self.m, self.g = [], [], [], []
        for lo, hi in ranges:
            part_levels = np.minimum(_rows(levels, batch), int(hi) - int(lo) + 1)
            values, inverse = np.unique(part_levels, return_inverse=True)
            regs = np.array([intops.quantizer_registers(lo, hi, int(lv)) for lv in values], dtype=np.int64)
            self.lo.append(np.int64(lo))
            self.levels.append(part_levels)
            self.m.append(regs[inverse.reshape(-1), 0].reshape(batch, 1))
            self.g.append(regs[inverse.reshape(-1), 1].reshape(batch, 1))

    def quantize(self, part, v):
        return intops.linear_quantize(v, self.lo[part], self.m[part], self.levels[part])

    def effective(self, part, stored):
        return intops.linear_dequantize(stored, self.lo[part], self.g[part], self.fmt)

    def start(self, part, v):
        return self.quantize(part, v)

    def advance(self, part, v, stored):
        q = self.quantize(part, v)
        changed = q != stored
        delta = np.where(changed, self.effective(part, q) - self.effective(part, stored), 0)
        return q, delta, changed


class DeltaDirection(MemoDirection):
    """One layer direction under the delta or similarity form: the baseline stepper (memoization off, or the
    neuron-level ``memo`` of a composition, golden_model.compose) whose dot products come from the corrected
    accumulator memories."""

    narrow = False  # its corrections and products are computed in int64 (golden_model.intops)

    def __init__(self, model, layer, direction, detector, theta_q, stats, correlation, memo: MemoPolicy | None = None):
        super().__init__(model, layer, direction, memo or MemoPolicy(OFF), theta_q, stats, correlation)
        batch, n_x = theta_q.shape[0], self.q.input_size
        self.detector = detector
        self.started = np.zeros(batch, dtype=bool)
        self.stored = [np.zeros((batch, n_x), np.int64), np.zeros((batch, self.hs), np.int64)]
        self.acc = [np.zeros((batch, self.q.w.shape[0]), np.int64) for _ in range(2)]
        self.weights = [self.q.w[:, :n_x], self.q.w[:, n_x:]]
        self.changed = np.zeros(batch, dtype=np.int64)
        #: per part, this step's changed-input mask (every input on a sequence's first step)
        self.changed_mask = [np.zeros((batch, n_x), bool), np.zeros((batch, self.hs), bool)]
        self.counts = _counts_of(stats, model.net.num_layers, model.net.num_directions)
        self._t, self._active = 0, np.zeros(batch, dtype=bool)

    def _correct(self, part: int, v: np.ndarray) -> np.ndarray:
        """The part's accumulator after this step's corrections (state changes only for active rows)."""
        active, first = self._active, self._active & ~self.started
        det = self.detector
        stored, delta, changed = det.advance(part, v, self.stored[part])
        if first.any():   # cleared memory: the full computation W e(t); a zero e_i adds nothing, so only
            start = det.start(part, v)          # the nonzero ones count as changed (h_{-1} = 0 costs nothing)
            e = det.effective(part, start)
            stored = np.where(first[:, None], start, stored)
            delta = np.where(first[:, None], e, delta)
            changed = np.where(first[:, None], e != 0, changed)
        acc = np.where(first[:, None], 0, self.acc[part]) + self.part_dot(part, delta)
        act = active[:, None]
        self.acc[part] = np.where(act, acc, self.acc[part])
        self.stored[part] = np.where(act, stored, self.stored[part])
        self.changed_mask[part] = changed & act
        n_changed = self.changed_mask[part].sum(axis=1)
        self.changed += n_changed
        c = self.counts
        c.inputs[:, self.layer, self.direction, self._t, part] = active * v.shape[1]
        c.unchanged[:, self.layer, self.direction, self._t, part] = active * v.shape[1] - n_changed
        return self.acc[part]

    def part_dot(self, part: int, delta: np.ndarray) -> np.ndarray:
        """W_part delta: the correction of the part's accumulators, exact (a composition with CREW overrides it)."""
        return self.model.dot(delta, self.weights[part])

    def dot_x(self, x_t):
        return self._correct(0, x_t)

    def dot_h(self, h):
        return self._correct(1, h)

    def step(self, t, x_t, active):
        self._t, self._active = t, active
        self.changed = np.zeros(active.shape[0], dtype=np.int64)
        h = super().step(t, x_t, active)
        self.started |= active
        return h

    def count_multiplications(self, hit, active):
        """One multiplication per changed input and neuron of the layer direction."""
        return self.changed * self.q.w.shape[0]
