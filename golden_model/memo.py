"""Neuron-level fuzzy memoization: policies and the memo table (DESIGN.md 3.3, docs/predictors.md).

A neuron is one row of one gate. The memo table holds per neuron the last *computed* output y_m and
preactivation p_m, the predictor's score s_m of that step and a valid bit (cleared at a sequence start).
At step t, by ``kind``:
``predicted`` -- the predictor (:mod:`golden_model.predictors`) scores the neuron, s_t. Under the ``score``
              rule (the paper's) the neuron reuses y_m when valid and s_t is within the threshold of s_m;
              under the ``output`` rule when act(p_m + (s_t - s_m) in preactivation LSBs) is within the
              threshold of y_m. Otherwise y is computed, output and stored with (p, s_t). With
              ``cache_update="always"`` s_m follows s_t on reuses too (score rule only; offered for study).
``oracle``    -- compute the true y; reuse y_m if valid and y is within the threshold of y_m (upper bound).
``off``       -- always compute: exactly the fixed-point baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from . import intops
from .formats import THETA_BITS
from .intops import RELATIVE, TANH, THRESHOLD_FORMS
from .network import LSTM
from .predictors import BitPlaneBnn

if TYPE_CHECKING:  # annotations only: fixed_model imports this module
    from .fixed_model import FixedPointNetwork, RunStats

OFF = "off"
ORACLE = "oracle"
PREDICTED = "predicted"
POLICIES = (OFF, ORACLE, PREDICTED)
CACHE_UPDATES = ("compute", "always")
SCORE_RULE = "score"
OUTPUT_RULE = "output"
RULES = (SCORE_RULE, OUTPUT_RULE)


@dataclass(frozen=True)
class MemoPolicy:
    """What decides a reuse. ``threshold`` is one value for every layer or a sequence of one per layer,
    where a layer's entry may itself be a sequence of one value per gate (in the network's gate order):
    relative thresholds are fractions (0.25 = 25 %), absolute ones are integer counts of the compared
    quantity (score units under the ``score`` rule, output LSBs under the ``output`` rule and for the
    oracle). ``predictor`` is any object with ``prepare``, ``init`` and ``score`` (golden_model.predictors)."""

    kind: str = OFF
    threshold: float | tuple[float, ...] = 0.0
    form: str = RELATIVE
    cache_update: str = "compute"
    predictor: object = field(default_factory=BitPlaneBnn)
    rule: str = SCORE_RULE

    def __post_init__(self):
        if self.kind not in POLICIES:
            raise ValueError(f"unknown memoization policy {self.kind!r}; expected one of {POLICIES}")
        if self.form not in THRESHOLD_FORMS:
            raise ValueError(f"unknown threshold form {self.form!r}; expected one of {THRESHOLD_FORMS}")
        if self.cache_update not in CACHE_UPDATES:
            raise ValueError(f"unknown cache update {self.cache_update!r}; expected one of {CACHE_UPDATES}")
        if self.rule not in RULES:
            raise ValueError(f"unknown decision rule {self.rule!r}; expected one of {RULES}")
        if self.rule == OUTPUT_RULE and self.cache_update != "compute":
            raise ValueError("the output rule predicts from the step a neuron was computed: cache_update "
                             "must be 'compute'")
        check_thresholds(self.threshold, self.form)

    def direction(self, model, layer: int, direction: int, theta_q: np.ndarray, stats, correlation: bool):
        """The stepper of one layer direction of ``model`` (a FixedPointNetwork) under this policy: the
        golden model's seam for a reuse scheme (``FixedPointNetwork.run`` asks the policy for it)."""
        return MemoDirection(model, layer, direction, self, theta_q, stats, correlation)

    @property
    def per_gate(self) -> bool:
        """Whether some layer has one threshold per gate."""
        return any(np.ndim(entry) for entry in _layer_entries(self.threshold))

    def thresholds_q(self, num_layers: int, gates: int | None = None) -> np.ndarray:
        """Threshold register values: (layers,) one per layer, or with ``gates`` (layers, gates), a layer's
        single value repeated over its gates. Per-gate thresholds need ``gates``."""
        entries = _layer_entries(self.threshold)
        if len(entries) == 1:
            entries = entries * num_layers
        if len(entries) != num_layers:
            raise ValueError(f"{len(entries)} per-layer thresholds given for a {num_layers}-layer network")
        if gates is None:
            if self.per_gate:
                raise ValueError("per-gate thresholds given where one threshold per layer is taken")
            return np.array([intops.quantize_threshold(v, self.form) for v in entries], dtype=np.int64)
        rows = []
        for li, entry in enumerate(entries):
            values = np.atleast_1d(np.asarray(entry, dtype=np.float64))
            if values.size not in (1, gates):
                raise ValueError(f"layer {li} has {values.size} per-gate thresholds for a cell of {gates} gates")
            rows.append([intops.quantize_threshold(v, self.form) for v in np.broadcast_to(values, gates)])
        return np.array(rows, dtype=np.int64).reshape(num_layers, gates)


def check_thresholds(threshold, form: str) -> None:
    """A ValueError when a value of ``threshold`` (one value, or one entry per layer, an entry a value or
    one per gate) is not a valid threshold register value of ``form`` (``intops.quantize_threshold``)."""
    for entry in _layer_entries(threshold):
        for theta in np.atleast_1d(np.asarray(entry, dtype=object)):
            intops.quantize_threshold(theta, form)


def _layer_entries(threshold) -> list:
    """The per-layer entries of a ``threshold`` (one value, or a sequence of values or per-gate sequences)."""
    if isinstance(threshold, (list, tuple, np.ndarray)):
        return list(threshold)
    return [threshold]


class WrapsMemo:
    """Mixin of a policy that wraps a :class:`MemoPolicy` ``memo`` (CREW, the compositions): its kind and its
    threshold registers are the memoization's."""

    @property
    def kind(self) -> str:
        return self.memo.kind

    @property
    def per_gate(self) -> bool:
        return self.memo.per_gate

    def thresholds_q(self, num_layers: int, gates: int | None = None) -> np.ndarray:
        return self.memo.thresholds_q(num_layers, gates)


class MemoTable:
    """Memo state of one layer direction over a batch: arrays (batch, neurons).

    ``theta_q`` has shape (batch,) so every sequence of a stacked sweep can run its own threshold, or
    (batch, gates) for one per gate (neurons are gate-major: gate k is columns k*H .. (k+1)*H - 1)."""

    def __init__(self, policy: MemoPolicy, batch: int, neurons: int, theta_q: np.ndarray, dtype=np.int64,
                 score_dtype=np.int64):
        self.policy = policy
        # ``dtype`` holds the outputs and preactivations (int32 where FixedPointConfig.int32_fits), and
        # ``score_dtype`` the scores (int32 where their compare fits: MemoDirection); the threshold is held
        # in the type of the quantity it is compared with
        compares_outputs = policy.kind == ORACLE or policy.rule == OUTPUT_RULE
        theta_q = np.asarray(theta_q, dtype=dtype if compares_outputs else score_dtype)
        # per gate: one column per neuron (a compare takes the columns of the neurons it decides)
        self.theta_q = theta_q.reshape(batch, 1) if theta_q.ndim == 1 else np.repeat(
            theta_q, neurons // theta_q.shape[1], axis=1)
        self.valid = np.zeros((batch, neurons), dtype=bool)
        self.y_m = np.zeros((batch, neurons), dtype=dtype)
        self.p_m = np.zeros((batch, neurons), dtype=dtype)
        self.s_m = np.zeros((batch, neurons), dtype=score_dtype)

    def apply(self, cols: slice, y: np.ndarray, s: np.ndarray | None, active: np.ndarray,
              p: np.ndarray | None = None, predicted: np.ndarray | None = None):
        """Decide reuses for the neurons ``cols``: ``y`` and ``p`` are the computed outputs and
        preactivations, ``s`` the predictor's scores, ``predicted`` the output rule's y^ (from
        :meth:`predicted_preact`). Returns (output, hit mask); state changes only for ``active`` rows."""
        policy = self.policy
        if policy.kind == OFF:
            return y, np.zeros(y.shape, dtype=bool)
        valid, y_m, s_m = self.valid[:, cols], self.y_m[:, cols], self.s_m[:, cols]
        if policy.kind == ORACLE:
            new, cached = y, y_m
        elif policy.rule == OUTPUT_RULE:
            new, cached = predicted, y_m
        else:
            new, cached = s, s_m
        theta_q = self.theta_q if self.theta_q.shape[1] == 1 else self.theta_q[:, cols]
        hit = intops.within_threshold(new, cached, theta_q, policy.form)
        hit &= valid
        act = active[:, None]
        if not active.all():
            hit &= act
        out = _select(hit, y_m, y)
        # the state is written in place through the views: rows not active keep theirs
        np.copyto(y_m, out, where=act)
        computed = act & ~hit
        if p is not None:
            _update(self.p_m[:, cols], p, computed)
        if policy.kind == PREDICTED:
            _update(s_m, s, act if policy.cache_update == "always" else computed)
        valid |= act
        return out, hit

    def predicted_preact(self, cols: slice, s: np.ndarray, gain: np.ndarray, shift: int, limit: int):
        """The output rule's p^ = p_m + round_shift(gain * (s - s_m), shift), saturated to +-limit."""
        change = intops.round_shift(gain * (s - self.s_m[:, cols]), shift)
        return np.clip(self.p_m[:, cols] + change, -limit, limit)


class MemoDirection:
    """State of one layer direction over the batch under a :class:`MemoPolicy` (``MemoPolicy.direction``);
    ``step`` is one time step of the tile."""

    #: whether the step's arrays may be the model's ``datapath_dtype`` (int32 where the formats allow); a
    #: scheme whose own arithmetic has not been bounded for int32 sets it False
    narrow = True

    def __init__(self, model: FixedPointNetwork, layer: int, direction: int, policy: MemoPolicy,
                 theta_q: np.ndarray, stats: RunStats, correlation: bool):
        self.model, self.cfg, self.q = model, model.config, model.layers[layer][direction]
        self.layer, self.direction, self.stats, self.correlation = layer, direction, stats, correlation
        self.policy = policy
        batch, hs = theta_q.shape[0], model.net.hidden_size
        self.hs, self.gates = hs, len(model.net.gates)
        self.dtype = model.datapath_dtype if self.narrow else np.int64
        self.h = np.zeros((batch, hs), dtype=self.dtype)
        self.c = np.zeros((batch, hs), dtype=self.dtype)
        self.bias_x, self.bias_h = self.q.bias_x.astype(self.dtype), self.q.bias_h.astype(self.dtype)
        self.needs_score = policy.kind == PREDICTED or correlation
        predictor = policy.predictor
        self.prepared = predictor.prepare(self.q.w, self.cfg) if self.needs_score else None
        self.predictor_run = predictor.init(self.prepared, batch) if self.needs_score else None
        score_bits = getattr(self.prepared, "score_bits", None)  # a predictor may prepare anything
        # the score compare |s - s_m| << THETA_FRAC <= theta * |s_m| in int32 needs |s_m| * 2**THETA_BITS < 2**31
        narrow_scores = self.dtype == np.int32 and score_bits is not None and score_bits - 1 + THETA_BITS <= 31
        self.memo = MemoTable(policy, batch, self.gates * hs, theta_q, self.dtype,
                              np.int32 if narrow_scores else np.int64)

    def dot_x(self, x_t: np.ndarray) -> np.ndarray:
        """W_ih x_t, exact (a scheme that computes the products differently overrides it)."""
        return self.model.dot(x_t, self.q.w[:, :self.q.input_size], self.dtype)

    def dot_h(self, h: np.ndarray) -> np.ndarray:
        """W_hh h_{t-1}, exact."""
        return self.model.dot(h, self.q.w[:, self.q.input_size:], self.dtype)

    def _gate(self, k):
        return slice(k * self.hs, (k + 1) * self.hs)

    def _activate(self, p, gates):
        kinds = [self.model.gate_kinds[k] for k in gates]
        return np.concatenate([intops.activate(kind, p[:, self._gate(i)], self.model.tables[kind], self.cfg.act)
                               for i, kind in enumerate(kinds)], axis=1)

    def _decide(self, cols: slice, gates, p, y, s, active):
        """Memo decisions for the neurons ``cols`` (the gates ``gates``) of one step."""
        predicted = None
        if self.policy.kind == PREDICTED and self.policy.rule == OUTPUT_RULE:
            p_hat = self.memo.predicted_preact(cols, s, self.prepared.gain[cols], self.prepared.shift,
                                               intops.preact_limit(self.cfg.preact))
            predicted = self._activate(p_hat, gates)
        return self.memo.apply(cols, y, s, active, p, predicted)

    def step(self, t, x_t, active):
        cfg, hs = self.cfg, self.hs
        s = None
        if self.needs_score:
            v = np.concatenate([x_t, self.h], axis=1)
            s = self.policy.predictor.score(self.prepared, self.predictor_run, v, active)
        acc_x = self.dot_x(x_t) + self.bias_x  # new arrays: a scheme's dot_x may return its own state
        acc_h = self.dot_h(self.h) + self.bias_h
        if self.model.net.cell == LSTM:
            acc_x += acc_h
            p = intops.neuron_preact(acc_x, 0, cfg)
            y, hit = self._decide(slice(None), range(4), p, self._activate(p, range(4)), s, active)
            i, f, g, o = (y[:, self._gate(k)] for k in range(4))
            h, c = intops.lstm_cell_update(i, f, g, o, self.c, self.model.tables[TANH], cfg)
            self.c = _keep_inactive(c, self.c, active)
        else:
            rz = slice(0, 2 * hs)
            p_rz = intops.neuron_preact(acc_x[:, rz] + acc_h[:, rz], 0, cfg)
            y_rz, hit_rz = self._decide(rz, (0, 1), p_rz, self._activate(p_rz, (0, 1)),
                                        None if s is None else s[:, rz], active)
            r, z = y_rz[:, :hs], y_rz[:, hs:]
            n_cols = self._gate(2)
            p_n = intops.neuron_preact(intops.gru_candidate_acc(acc_x[:, n_cols], acc_h[:, n_cols], r, cfg), 0, cfg)
            n, hit_n = self._decide(n_cols, (2,), p_n, self._activate(p_n, (2,)),
                                    None if s is None else s[:, n_cols], active)
            h = intops.gru_state_update(z, n, self.h, cfg)
            p = np.concatenate([p_rz, p_n], axis=1)
            hit = np.concatenate([hit_rz, hit_n], axis=1)
        self.h = _keep_inactive(h, self.h, active)
        self._count(t, hit, active, s, p)
        return h
    def count_multiplications(self, hit: np.ndarray, active: np.ndarray) -> np.ndarray:
        """Multiplications of one step per batch row: N = n_x + H per computed neuron (a scheme that
        computes the products differently overrides it)."""
        return (active * hit.shape[1] - np.count_nonzero(hit, axis=1)) * self.q.w.shape[1]  # hits are active

    def _count(self, t, hit, active, b, p):
        s, li, d = self.stats, self.layer, self.direction
        s.multiplications[:, li, d] += self.count_multiplications(hit, active)
        s.baseline_multiplications[:, li, d] += active * hit.shape[1] * self.q.w.shape[1]
        per_gate = hit.reshape(hit.shape[0], self.gates, self.hs).sum(axis=2)
        s.reuses[:, li, d] += per_gate
        s.evaluations[:, li, d] += active[:, None] * self.hs
        s.step_reuses[:, li, d, t] = per_gate.sum(axis=1)
        s.step_evaluations[:, li, d, t] = active * self.gates * self.hs
        if self.correlation:
            bb = b[active].reshape(-1, self.gates, self.hs).astype(np.float64)
            pp = p[active].reshape(-1, self.gates, self.hs).astype(np.float64)
            s.corr_sums[li] += np.stack([np.full(self.gates, bb.shape[0] * self.hs), bb.sum((0, 2)),
                                         pp.sum((0, 2)), (bb * bb).sum((0, 2)), (pp * pp).sum((0, 2)),
                                         (bb * pp).sum((0, 2))], axis=1)


# Hits fall at random, so masked selections (np.where, np.copyto with where=) mispredict a branch per element;
# the arithmetic forms below have no branch and took half the time on (400 x 1024) int64 arrays at 50 % hits.
# Exact: the values are integers far from their type's limits (int32 only where FixedPointConfig.int32_fits).

def _select(mask: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.where(mask, a, b) for integer arrays: b + (a - b) * mask."""
    out = a - b
    out *= mask
    out += b
    return out


def _update(state: np.ndarray, new: np.ndarray, mask: np.ndarray) -> None:
    """state = np.where(mask, new, state) in place (``state`` may be a view of the memo table)."""
    change = new - state
    change *= mask
    state += change


def _keep_inactive(new: np.ndarray, old: np.ndarray, active: np.ndarray) -> np.ndarray:
    """State after a step: ``new`` in the active rows, ``old`` in the others (no copy when all are active)."""
    return new if active.all() else np.where(active[:, None], new, old)
