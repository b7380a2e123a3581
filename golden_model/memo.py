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
from typing import Protocol

import numpy as np

from . import intops
from .intops import RELATIVE, THRESHOLD_FORMS

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
