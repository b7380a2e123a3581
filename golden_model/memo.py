"""Neuron-level fuzzy memoization: policies, predictors and the memo table (DESIGN.md 3.3).

A neuron is one row of one gate. The memo table holds per neuron the last *computed* output y_m, the
predictor output b_m of that step and a valid bit (cleared at a sequence start). At step t:
``bnn``    -- compute b_t; if valid and b_t is within the threshold of b_m, output y_m (a reuse), else
              compute y, output it and store (y, b_t). With ``cache_update="always"`` b_m follows b_t on
              reuses too (the error can then drift; offered for study).
``oracle`` -- compute the true y; reuse y_m if valid and y is within the threshold of y_m (upper bound).
``off``    -- always compute: exactly the fixed-point baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from . import intops
from .intops import RELATIVE, TANH, THRESHOLD_FORMS
from .network import LSTM

if TYPE_CHECKING:  # annotations only: fixed_model imports this module
    from .fixed_model import FixedPointNetwork, RunStats

OFF = "off"
ORACLE = "oracle"
BNN = "bnn"
POLICIES = (OFF, ORACLE, BNN)
CACHE_UPDATES = ("compute", "always")


class Predictor(Protocol):
    """A cheap model of a neuron whose integer output is compared with its cached value."""
    name: str

    def prepare(self, weights: np.ndarray):
        """Offline step over the neurons' integer weights (neurons, N); returns the predictor's state."""

    def score(self, prepared, v_q: np.ndarray) -> np.ndarray:
        """Integer outputs (batch, neurons) for the integer inputs v_q = [x ; h] (batch, N)."""


@dataclass(frozen=True)
class SignBnn:
    """The paper's binarized neuron: signs of inputs and weights, b = 2 * popcount(XNOR) - N."""
    name: str = "sign-bnn"

    def prepare(self, weights):
        return intops.sign_bits(weights)

    def score(self, prepared, v_q):
        return intops.bnn_output(intops.sign_bits(v_q), prepared)


@dataclass(frozen=True)
class MemoPolicy:
    """What decides a reuse. ``threshold`` is one value for every layer or a sequence of one per layer:
    relative thresholds are fractions (0.25 = 25 %), absolute ones are integer counts of the compared
    quantity (BNN output units for ``bnn``, least significant bits of the output for ``oracle``)."""

    kind: str = OFF
    threshold: float | tuple[float, ...] = 0.0
    form: str = RELATIVE
    cache_update: str = "compute"
    predictor: Predictor = field(default_factory=SignBnn)

    def __post_init__(self):
        if self.kind not in POLICIES:
            raise ValueError(f"unknown memoization policy {self.kind!r}; expected one of {POLICIES}")
        if self.form not in THRESHOLD_FORMS:
            raise ValueError(f"unknown threshold form {self.form!r}; expected one of {THRESHOLD_FORMS}")
        if self.cache_update not in CACHE_UPDATES:
            raise ValueError(f"unknown cache update {self.cache_update!r}; expected one of {CACHE_UPDATES}")
        for theta in np.atleast_1d(np.asarray(self.threshold, dtype=object)):
            intops.quantize_threshold(theta, self.form)  # raises on a bad value

    def direction(self, model, layer: int, direction: int, theta_q: np.ndarray, stats, correlation: bool):
        """The stepper of one layer direction of ``model`` (a FixedPointNetwork) under this policy: the
        golden model's seam for a reuse scheme (``FixedPointNetwork.run`` asks the policy for it)."""
        return MemoDirection(model, layer, direction, self, theta_q, stats, correlation)

    def thresholds_q(self, num_layers: int) -> np.ndarray:
        """Threshold register values, one per layer."""
        values = np.atleast_1d(np.asarray(self.threshold, dtype=np.float64))
        if values.size == 1:
            values = np.repeat(values, num_layers)
        if values.size != num_layers:
            raise ValueError(f"{values.size} per-layer thresholds given for a {num_layers}-layer network")
        return np.array([intops.quantize_threshold(v, self.form) for v in values], dtype=np.int64)


class MemoTable:
    """Memo state of one layer direction over a batch: arrays (batch, neurons).

    ``theta_q`` has shape (batch, 1) so every sequence of a stacked sweep can run its own threshold."""

    def __init__(self, policy: MemoPolicy, batch: int, neurons: int, theta_q: np.ndarray):
        self.policy = policy
        self.theta_q = np.asarray(theta_q, dtype=np.int64).reshape(batch, 1)
        self.valid = np.zeros((batch, neurons), dtype=bool)
        self.y_m = np.zeros((batch, neurons), dtype=np.int64)
        self.b_m = np.zeros((batch, neurons), dtype=np.int64)

    def apply(self, cols: slice, y: np.ndarray, b: np.ndarray | None, active: np.ndarray):
        """Decide reuses for the neurons ``cols``; ``y`` are the computed outputs, ``b`` the predictor's.
        Returns (output, hit mask). State changes only for the ``active`` sequences."""
        kind = self.policy.kind
        if kind == OFF:
            return y, np.zeros(y.shape, dtype=bool)
        valid, y_m, b_m = self.valid[:, cols], self.y_m[:, cols], self.b_m[:, cols]
        if kind == BNN:
            hit = valid & intops.within_threshold(b, b_m, self.theta_q, self.policy.form)
        else:
            hit = valid & intops.within_threshold(y, y_m, self.theta_q, self.policy.form)
        hit &= active[:, None]
        out = np.where(hit, y_m, y)
        act = active[:, None]
        self.y_m[:, cols] = np.where(act, out, y_m)
        if kind == BNN:
            new_b = b if self.policy.cache_update == "always" else np.where(hit, b_m, b)
            self.b_m[:, cols] = np.where(act, new_b, b_m)
        self.valid[:, cols] = valid | act
        return out, hit


class MemoDirection:
    """State of one layer direction over the batch under a :class:`MemoPolicy` (``MemoPolicy.direction``);
    ``step`` is one time step of the tile."""

    def __init__(self, model: FixedPointNetwork, layer: int, direction: int, policy: MemoPolicy,
                 theta_q: np.ndarray, stats: RunStats, correlation: bool):
        self.model, self.cfg, self.q = model, model.config, model.layers[layer][direction]
        self.layer, self.direction, self.stats, self.correlation = layer, direction, stats, correlation
        self.policy = policy
        batch, hs = theta_q.shape[0], model.net.hidden_size
        self.hs, self.gates = hs, len(model.net.gates)
        self.h = np.zeros((batch, hs), dtype=np.int64)
        self.c = np.zeros((batch, hs), dtype=np.int64)
        self.memo = MemoTable(policy, batch, self.gates * hs, theta_q)
        self.needs_score = policy.kind == BNN or correlation
        self.predictor_state = policy.predictor.prepare(self.q.w) if self.needs_score else None

    def _gate(self, k):
        return slice(k * self.hs, (k + 1) * self.hs)

    def _activate(self, p, gates):
        kinds = [self.model.gate_kinds[k] for k in gates]
        return np.concatenate([intops.activate(kind, p[:, self._gate(i)], self.model.tables[kind], self.cfg.act)
                               for i, kind in enumerate(kinds)], axis=1)

    def step(self, t, x_t, active):
        cfg, q, hs = self.cfg, self.q, self.hs
        v = np.concatenate([x_t, self.h], axis=1)
        b = self.policy.predictor.score(self.predictor_state, v) if self.needs_score else None
        acc_x = self.model.dot(x_t, q.w[:, :q.input_size]) + q.bias_x
        acc_h = self.model.dot(self.h, q.w[:, q.input_size:]) + q.bias_h
        if self.model.net.cell == LSTM:
            p = intops.neuron_preact(acc_x + acc_h, 0, cfg)
            y, hit = self.memo.apply(slice(None), self._activate(p, range(4)), b, active)
            i, f, g, o = (y[:, self._gate(k)] for k in range(4))
            h, c = intops.lstm_cell_update(i, f, g, o, self.c, self.model.tables[TANH], cfg)
            self.c = np.where(active[:, None], c, self.c)
        else:
            rz = slice(0, 2 * hs)
            p_rz = intops.neuron_preact(acc_x[:, rz] + acc_h[:, rz], 0, cfg)
            y_rz, hit_rz = self.memo.apply(rz, self._activate(p_rz, (0, 1)), None if b is None else b[:, rz],
                                           active)
            r, z = y_rz[:, :hs], y_rz[:, hs:]
            n_cols = self._gate(2)
            p_n = intops.neuron_preact(intops.gru_candidate_acc(acc_x[:, n_cols], acc_h[:, n_cols], r, cfg), 0, cfg)
            n, hit_n = self.memo.apply(n_cols, self._activate(p_n, (2,)), None if b is None else b[:, n_cols],
                                       active)
            h = intops.gru_state_update(z, n, self.h, cfg)
            p = np.concatenate([p_rz, p_n], axis=1)
            hit = np.concatenate([hit_rz, hit_n], axis=1)
        self.h = np.where(active[:, None], h, self.h)
        self._count(t, hit, active, b, p)
        return h

    def _count(self, t, hit, active, b, p):
        s, li, d = self.stats, self.layer, self.direction
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
