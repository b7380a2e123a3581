"""Bit-exact fixed-point model of the tile, with fuzzy memoization.

Composes the integer operations of :mod:`golden_model.intops` in the order the hardware performs them.
Per layer direction and step, with v = [x_t ; h_{t-1}] in the activation format:

* LSTM: acc = W v + b (exact), p = neuron_preact(acc), gates i, f, o = sigmoid(p), g = tanh(p);
  c, h = lstm_cell_update(i, f, g, o, c).
* GRU: acc_x = W_ih x + b_ih, acc_h = W_hh h + b_hh per gate; r, z = sigmoid(preact(acc_x + acc_h));
  n = tanh(preact(gru_candidate_acc(acc_x, acc_h, r))); h = gru_state_update(z, n, h).
  (r and z use the sum of both biases, quantized once; the candidate keeps b_in and b_hn apart.)

The memo table (:mod:`golden_model.memo`) sits on every gate output y, so a reuse replaces the whole
neuron (both dot products, bias, requantize and activation). The readout is host-side float on the
dequantized output at each sequence's last valid step.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from . import intops
from .formats import FixedPointConfig, QFormat
from .intops import SIGMOID, TANH
from .memo import MemoPolicy
from .network import LSTM, Network
from .sequences import check_batch, last_valid, run_layers


def _strict_quantize(values, fmt: QFormat, what: str) -> np.ndarray:
    """Quantize weights; a value the format cannot hold is an error, never a silent saturation."""
    limit = fmt.max_int / fmt.scale
    lowest = fmt.min_int / fmt.scale
    outside = (values > limit + 0.5 / fmt.scale) | (values < lowest - 0.5 / fmt.scale)
    if np.any(outside):
        where = np.unravel_index(int(np.argmax(np.where(outside, np.abs(values), -1.0))), np.shape(values))
        index = ", ".join(str(int(i)) for i in where)
        raise ValueError(f"{what}[{index}] = {float(values[where]):.4g} is outside the range [{lowest}, {limit}] of "
                         f"format {fmt}; use fewer fraction bits or more bits")
    return intops.quantize(values, fmt)


@dataclass(frozen=True)
class QuantizedDirection:
    """Integer weights of one layer direction: W = [W_ih | W_hh] (G*H, I+H) and the biases at the
    accumulator fraction. ``bias_x`` goes with the input part, ``bias_h`` with the recurrent part; both
    are summed except in the GRU candidate, where bias_h (b_hn) is scaled by r."""
    w: np.ndarray
    bias_x: np.ndarray
    bias_h: np.ndarray
    input_size: int


class FixedPointNetwork:
    """A network quantized to ``config``; ``run`` executes the integer datapath over a batch."""

    def __init__(self, net: Network, config: FixedPointConfig | None = None):
        self.net = net
        self.config = config = config or FixedPointConfig()
        if not isinstance(config, FixedPointConfig):
            raise TypeError(f"config must be a FixedPointConfig, not {type(config).__name__}")
        hs, gates = net.hidden_size, len(net.gates)
        self.tables = {kind: intops.activation_table(kind, config.preact, config.act) for kind in (SIGMOID, TANH)}
        self.gate_kinds = tuple(TANH if g in ("g", "n") else SIGMOID for g in net.gates)
        self.layers = []
        for li, layer in enumerate(net.layers):
            n_in = net.layer_input_size(li)
            config.check_sizes(n_in + hs)
            dirs = []
            for d, w in enumerate(layer):
                where = f"layer {li}{' reverse' if d else ''}"
                weights = np.concatenate([_strict_quantize(w.w_ih, config.weight, f"{where} weight_ih"),
                                          _strict_quantize(w.w_hh, config.weight, f"{where} weight_hh")], axis=1)
                if net.cell == LSTM:
                    bias_x = w.b_ih + w.b_hh
                    bias_h = np.zeros_like(bias_x)
                else:  # GRU: b_hn stays inside r * (W_hn h + b_hn)
                    split = np.arange(gates * hs) < 2 * hs
                    bias_x = np.where(split, w.b_ih + w.b_hh, w.b_ih)
                    bias_h = np.where(split, 0.0, w.b_hh)
                weights.flags.writeable = False  # fixed: its converted copies are made once (intops.converted)
                dirs.append(QuantizedDirection(
                    weights, _strict_quantize(bias_x, config.bias, f"{where} bias (b_ih + b_hh)"),
                    _strict_quantize(bias_h, config.bias, f"{where} bias b_hn"), n_in))
            self.layers.append(tuple(dirs))
        self._largest_weight = max(int(np.abs(d.w).max(initial=0)) for dirs in self.layers for d in dirs)
        widest = max(net.layer_input_size(li) for li in range(net.num_layers)) + hs
        #: the integer type of the per-neuron arrays of a step (intops: int32 where the formats allow)
        self.datapath_dtype = np.int32 if config.int32_fits(widest) else np.int64

    def quantize_input(self, x) -> np.ndarray:
        """Inputs to the activation format (round half up, saturating)."""
        return intops.quantize(x, self.config.act)

    def input_saturation(self, x, lengths=None) -> tuple[int, int]:
        """(values that saturate, values) of the valid steps of the float batch ``x`` in the activation
        format: inputs beyond the range the formats were calibrated for are clipped."""
        x, lengths = check_batch(x, lengths, self.net.input_size)
        valid = np.arange(x.shape[1])[None, :] < lengths[:, None]
        fmt = self.config.act
        values = x[valid]
        clipped = (values > fmt.max_value) | (values < fmt.min_int / fmt.scale)
        return int(clipped.sum()), int(values.size)

    def dot(self, v_q: np.ndarray, w: np.ndarray, out=np.int64) -> np.ndarray:
        """Exact integer product v_q @ w.T (:func:`intops.exact_matmul`) as ``out``, its width bounded from the
        operands (:func:`intops.product_bits`, the weights' largest magnitude found once): float32 BLAS
        while their magnitudes allow, else float64. ``w`` is a part of this network's weights; ``out``
        int32 only as :attr:`datapath_dtype` allows."""
        v_q = np.asarray(v_q)
        return intops.exact_matmul(v_q, w.T, intops.product_bits(v_q, None, self._largest_weight), out)

    def run(self, x, lengths=None, policy: MemoPolicy | None = None, theta_rows=None,
            correlation: bool = False) -> FixedRun:
        """Run the integer datapath over a batch (x float, quantized here, or int64 already quantized).

        ``theta_rows`` (layers, batch), or (layers, batch, gates) for per-gate thresholds, overrides the
        policy's thresholds row by row (sweeps stack many thresholds into one batch). ``correlation``
        collects BNN-vs-neuron statistics."""
        policy = policy or MemoPolicy()
        x = np.asarray(x)
        if np.issubdtype(x.dtype, np.integer):
            x_q, lengths = check_batch(x, lengths, self.net.input_size)
            x_q = x.astype(np.int64)
            if np.any(x_q < self.config.act.min_int) or np.any(x_q > self.config.act.max_int):
                raise ValueError(f"integer input outside the activation format {self.config.act}")
        else:
            x, lengths = check_batch(x, lengths, self.net.input_size)
            x_q = self.quantize_input(x)
        batch, steps = x_q.shape[:2]
        net = self.net
        gates = len(net.gates)
        if theta_rows is None:
            registers = policy.thresholds_q(net.num_layers, gates) if policy.per_gate else \
                policy.thresholds_q(net.num_layers)
            theta_rows = np.repeat(registers[:, None], batch, axis=1)
        theta_rows = np.asarray(theta_rows, dtype=np.int64)
        if theta_rows.shape not in ((net.num_layers, batch), (net.num_layers, batch, gates)):
            raise ValueError(f"theta_rows has shape {theta_rows.shape}, expected ({net.num_layers}, {batch}) "
                             f"or ({net.num_layers}, {batch}, {gates})")
        stats = RunStats.empty(batch, net.num_layers, net.num_directions, len(net.gates), steps)

        def make_runner(layer, direction):
            return policy.direction(self, layer, direction, theta_rows[layer], stats, correlation)

        outs = run_layers(x_q, lengths, net.num_layers, net.num_directions, make_runner)
        return FixedRun(outs[-1], lengths, stats, outs)

    def logits(self, out: np.ndarray, lengths) -> np.ndarray:
        """Host-side float readout on the dequantized output at the last valid step."""
        if self.net.head is None:
            raise ValueError("the network has no readout head (head.weight / head.bias)")
        h = intops.dequantize(last_valid(out, lengths), self.config.act)
        return h @ self.net.head.weight.T + self.net.head.bias

    def predict(self, x, lengths=None, policy: MemoPolicy | None = None) -> np.ndarray:
        run = self.run(x, lengths, policy)
        return np.argmax(self.logits(run.out, run.lengths), axis=1)


@dataclass
class RunStats:
    """Counts per batch row: evaluations and reuses per (layer, direction, gate) and per step, and
    the sums behind the BNN-vs-neuron correlation per (layer, gate)."""
    evaluations: np.ndarray       # (batch, layers, dirs, gates)
    reuses: np.ndarray            # (batch, layers, dirs, gates)
    step_evaluations: np.ndarray  # (batch, layers, dirs, steps)
    step_reuses: np.ndarray       # (batch, layers, dirs, steps)
    corr_sums: np.ndarray         # (layers, gates, 6): n, sum b, sum p, sum b^2, sum p^2, sum b*p
    #: (batch, layers, dirs): multiplications the scheme's datapath performs, and those of the fixed-point
    #: baseline (N = n_x + H per neuron and step); a scheme's ``multiplications avoided`` is 1 - their ratio
    multiplications: np.ndarray = None
    baseline_multiplications: np.ndarray = None

    @classmethod
    def empty(cls, batch, layers, dirs, gates, steps):
        z = np.zeros
        return cls(z((batch, layers, dirs, gates), np.int64), z((batch, layers, dirs, gates), np.int64),
                   z((batch, layers, dirs, steps), np.int64), z((batch, layers, dirs, steps), np.int64),
                   z((layers, gates, 6)), z((batch, layers, dirs), np.int64), z((batch, layers, dirs), np.int64))

    @classmethod
    def concatenate(cls, parts: list[RunStats]) -> RunStats:
        """The statistics of consecutive row blocks as one run's: every per-row array joined along the rows,
        the correlation sums added (sums of integers, exact in float64 at any practical size). A scheme's
        own counts (the delta schemes' ``input_counts``) are not joined: their runs are not split."""
        joined = {f.name: (np.sum([getattr(p, f.name) for p in parts], axis=0) if f.name == "corr_sums" else
                           np.concatenate([getattr(p, f.name) for p in parts]))
                  for f in fields(cls)}
        return cls(**joined)

    def multiplications_avoided(self) -> float:
        """Fraction of the baseline's multiplications the run did not perform (0 for the baseline)."""
        base = int(self.baseline_multiplications.sum())
        return 1.0 - int(self.multiplications.sum()) / base if base else 0.0

    def correlation(self) -> np.ndarray:
        """Pearson correlation of the BNN output with the neuron's preactivation, per (layer, gate)."""
        n, sb, sp, sbb, spp, sbp = np.moveaxis(self.corr_sums, -1, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            cov = sbp / n - (sb / n) * (sp / n)
            var = (sbb / n - (sb / n) ** 2) * (spp / n - (sp / n) ** 2)
            return cov / np.sqrt(var)


@dataclass
class FixedRun:
    out: np.ndarray       # (batch, time, dirs*hidden) in the activation format: int32 or int64 (datapath_dtype)
    lengths: np.ndarray
    stats: RunStats
    layer_outputs: list[np.ndarray]   # every layer's output (the last one is ``out``): the next layer's input
