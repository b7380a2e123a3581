"""Integer predictors of a neuron's change: the cheap models that decide a reuse (docs/predictors.md).

A predictor is prepared once per layer direction from the integer weights W (neurons, N) of
:class:`~golden_model.fixed_model.QuantizedDirection` and then scores every neuron at every step from the
integer inputs v = [x_t ; h_{t-1}] (activation format). The memo table caches the score s_m of the
step a neuron was last computed and decides a reuse by one of two rules (:mod:`golden_model.memo`):

* ``score`` (the paper's): s within the threshold of s_m;
* ``output``: the predicted preactivation p^ = p_m + round_shift(gain * (s - s_m), shift), saturated like
  every preactivation, gives y^ = act(p^); reuse when y^ is within the threshold of y_m. ``gain`` (one
  integer per neuron) and ``shift`` convert the score's units into preactivation LSBs.

Everything is integer arithmetic the hardware reproduces: factors are quantized offline, scores are exact
integer sums. A predictor with state across steps (``top-k``) keeps it per layer direction (``init``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import intops
from .formats import FixedPointConfig


@dataclass(frozen=True)
class Prepared:
    """A predictor's offline state for one layer direction: integer ``factors`` (name -> array), the
    per-neuron ``gain`` (neurons,) and the ``shift`` of the output rule's conversion to preactivation LSBs.
    ``score_bits``: a signed width every score fits, when the predictor knows one (it may then return
    int32 scores, and the memo table holds them in int32 where its compare fits); None: int64."""
    factors: dict
    gain: np.ndarray
    shift: int
    score_bits: int | None = None


def acc_to_preact_shift(cfg: FixedPointConfig) -> int:
    """Bits dropped from an accumulator value (fraction weight.frac + act.frac) to a preactivation."""
    return cfg.weight.frac + cfg.act.frac - cfg.preact.frac


def narrow(q, bits: int, drop: int) -> np.ndarray:
    """``q`` with ``drop`` low bits rounded away (round half up), then saturated to ``bits`` bits."""
    return intops.saturate(intops.round_shift(q, drop), bits)


def check_count(name: str, value, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high}, not {value!r}")
    return value


class Stateless:
    """Mixin of the predictors whose score depends on the current inputs only."""

    def init(self, prepared: Prepared, batch: int):
        return None


@dataclass(frozen=True)
class BitPlaneBnn(Stateless):
    """Binarized neuron over ``planes`` residual bit planes (ReBNet-style): plane l binarizes the residual
    r_l (r_0 = v) as b_l = sign(r_l), then r_{l+1} = r_l -/+ 2**(act.frac - 1 - l); the score is
    s = sum_l 2**(planes - 1 - l) * (2 * popcount(XNOR(b_l, sign w)) - N). One plane is the paper's BNN.
    Output-rule gain: the neuron's mean |w| in weight LSBs (rounded), as in XNOR-Net."""
    planes: int = 1

    def __post_init__(self):
        check_count("planes", self.planes, 1, 8)

    def prepare(self, w, cfg: FixedPointConfig) -> Prepared:
        if self.planes > cfg.act.frac:
            raise ValueError(f"{self.planes} bit planes need at least {self.planes} activation fraction bits; "
                             f"the format is {cfg.act}")
        gain = np.floor(np.abs(w).mean(axis=1) + 0.5).astype(np.int64)
        # one score unit is 2**-planes of a value, 2**(act.frac - planes) activation LSBs
        score_bits = (w.shape[1] * ((1 << self.planes) - 1)).bit_length() + 1   # |s| <= N * (2**planes - 1)
        sign = intops.sign_bits(w)
        sign.flags.writeable = False   # fixed: bnn_output makes its +-1 matrix once (intops.converted)
        return Prepared({"sign": sign, "act_frac": cfg.act.frac}, gain,
                        self.planes - cfg.act.frac + acc_to_preact_shift(cfg), score_bits)

    def score(self, prepared: Prepared, state, v_q, active):
        residual = intops.integers(v_q)
        frac, total = prepared.factors["act_frac"], None
        out = np.int32 if prepared.score_bits <= 32 else np.int64
        for level in range(self.planes):
            bits = intops.sign_bits(residual)
            plane = intops.bnn_output(bits, prepared.factors["sign"], out)
            plane <<= self.planes - 1 - level
            total = plane if total is None else total + plane
            if level + 1 < self.planes:  # the last plane's residual is not needed
                residual = residual - (2 * bits.astype(residual.dtype) - 1) * (1 << (frac - 1 - level))
        return total


@dataclass(frozen=True)
class LowRank(Stateless):
    """A rank-r view of the weights: W ~ A B^T from the SVD (A = U_r S_r, B = V_r, offline), both quantized
    to ``bits`` bits with a power-of-two scale per layer direction; per step z = B^T v once per layer
    direction (r * N MACs shared by its neurons), then s = A_n . z (r MACs per neuron)."""
    rank: int = 4
    bits: int = 8

    def __post_init__(self):
        check_count("rank", self.rank, 1, 64)
        check_count("bits", self.bits, 2, 16)

    def prepare(self, w, cfg: FixedPointConfig) -> Prepared:
        u, s, vt = np.linalg.svd(np.asarray(w, dtype=np.float64), full_matrices=False)
        r = min(self.rank, s.size)
        a, b = u[:, :r] * s[:r], vt[:r].T
        flip = np.sign(b[np.argmax(np.abs(b), axis=0), np.arange(r)])  # a fixed sign per component
        a, b = a * flip, b * flip
        b_frac = self.bits - 1            # |B| <= 1 (orthonormal columns)
        peak = float(np.abs(a).max()) or 1.0
        a_frac = self.bits - 1 - int(np.ceil(np.log2(peak)))
        top = (1 << (self.bits - 1)) - 1
        a_q = np.clip(np.floor(a * 2.0 ** a_frac + 0.5), -top, top).astype(np.int64)
        b_q = np.clip(np.floor(b * 2.0 ** b_frac + 0.5), -top, top).astype(np.int64)
        return Prepared({"a": a_q, "b": b_q}, np.ones(w.shape[0], dtype=np.int64),
                        a_frac + b_frac + acc_to_preact_shift(cfg))

    def score(self, prepared: Prepared, state, v_q, active):
        z = np.asarray(v_q, dtype=np.int64) @ prepared.factors["b"]
        return z @ prepared.factors["a"].T


@dataclass(frozen=True)
class LowPrecision(Stateless):
    """The neuron at low precision: weights to ``weight_bits`` (low bits rounded away, range kept), inputs
    to ``input_bits`` with 2 integer bits (steps of 2**-(input_bits - 2), range [-2, 2)); s = W' . v'."""
    weight_bits: int = 4
    input_bits: int = 4

    def __post_init__(self):
        check_count("weight_bits", self.weight_bits, 2, 16)
        check_count("input_bits", self.input_bits, 3, 16)

    def prepare(self, w, cfg: FixedPointConfig) -> Prepared:
        w_drop = max(0, cfg.weight.bits - self.weight_bits)
        v_drop = cfg.act.frac - (self.input_bits - 2)
        return Prepared({"w": narrow(w, self.weight_bits, w_drop), "v_drop": v_drop},
                        np.ones(w.shape[0], dtype=np.int64), acc_to_preact_shift(cfg) - w_drop - v_drop)

    def score(self, prepared: Prepared, state, v_q, active):
        v, w = narrow(v_q, self.input_bits, prepared.factors["v_drop"]), prepared.factors["w"]
        # |products| < 2**(weight_bits + input_bits - 2), at most N of them
        return intops.exact_matmul(v, w.T, self.weight_bits + self.input_bits + w.shape[1].bit_length())


@dataclass
class TopKState:
    previous: np.ndarray   # (batch, N): the inputs of the previous step (zeros before the first)
    total: np.ndarray      # (batch, neurons): the running score


@dataclass(frozen=True)
class TopK:
    """The k inputs that changed most since the previous step (|v_t - v_{t-1}|, ties to the lower index),
    weighted by ``weight_bits``-bit weights: s_t = s_{t-1} + sum over those k of w'_i (v_t,i - v_{t-1},i).
    s - s_m is then the weighted change accumulated since the neuron was last computed."""
    k: int = 4
    weight_bits: int = 4

    def __post_init__(self):
        check_count("k", self.k, 1, 1024)
        check_count("weight_bits", self.weight_bits, 2, 16)

    def prepare(self, w, cfg: FixedPointConfig) -> Prepared:
        w_drop = max(0, cfg.weight.bits - self.weight_bits)
        return Prepared({"w": narrow(w, self.weight_bits, w_drop)}, np.ones(w.shape[0], dtype=np.int64),
                        acc_to_preact_shift(cfg) - w_drop)

    def init(self, prepared: Prepared, batch: int) -> TopKState:
        neurons, inputs = prepared.factors["w"].shape
        return TopKState(np.zeros((batch, inputs), dtype=np.int64), np.zeros((batch, neurons), dtype=np.int64))

    def score(self, prepared: Prepared, state: TopKState, v_q, active):
        v_q = np.asarray(v_q, dtype=np.int64)
        delta = v_q - state.previous
        k = min(self.k, delta.shape[1])
        chosen = np.argsort(-np.abs(delta), axis=1, kind="stable")[:, :k]          # (batch, k)
        picked = np.take_along_axis(delta, chosen, axis=1)                           # (batch, k)
        w_t = prepared.factors["w"].T                                                # (N, neurons)
        step = sum(picked[:, j, None] * w_t[chosen[:, j]] for j in range(k))        # (batch, neurons)
        act = active[:, None]
        state.total = np.where(act, state.total + step, state.total)
        state.previous = np.where(act, v_q, state.previous)
        return state.total
