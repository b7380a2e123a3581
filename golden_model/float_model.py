"""Float reference with PyTorch semantics (torch.nn.LSTM / torch.nn.GRU, batch_first)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .cells import LSTM
from .sequences import check_batch, last_valid, run_layers

if TYPE_CHECKING:  # annotations only: network imports this module
    from .network import Network


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class _FloatDirection:
    def __init__(self, net: Network, weights, batch: int):
        self.cell, self.w = net.cell, weights
        self.h = np.zeros((batch, net.hidden_size))
        self.c = np.zeros((batch, net.hidden_size))
        self.c_abs_max = 0.0  # largest |c| reached, for calibrating the cell format

    def step(self, t, x_t, active):
        w, hs = self.w, self.h.shape[1]
        gx = x_t @ w.w_ih.T + w.b_ih
        gh = self.h @ w.w_hh.T + w.b_hh
        if self.cell == LSTM:
            pre = gx + gh
            i, f, o = (sigmoid(pre[:, k * hs:(k + 1) * hs]) for k in (0, 1, 3))
            g = np.tanh(pre[:, 2 * hs:3 * hs])
            c = f * self.c + i * g
            h = o * np.tanh(c)
            self.c = np.where(active[:, None], c, self.c)
            self.c_abs_max = max(self.c_abs_max, float(np.abs(self.c).max()))
        else:
            r = sigmoid(gx[:, :hs] + gh[:, :hs])
            z = sigmoid(gx[:, hs:2 * hs] + gh[:, hs:2 * hs])
            n = np.tanh(gx[:, 2 * hs:] + r * gh[:, 2 * hs:])
            h = (1 - z) * n + z * self.h
        self.h = np.where(active[:, None], h, self.h)
        return h


def forward(net: Network, x, lengths=None) -> np.ndarray:
    """Output sequence (batch, time, directions*hidden) of the last layer, zero past each length."""
    x, lengths = check_batch(x, lengths, net.input_size)
    return run_layers(x, lengths, net.num_layers, net.num_directions,
                      lambda layer, d: _FloatDirection(net, net.layers[layer][d], x.shape[0]))[-1]


def cell_abs_max(net: Network, x, lengths=None) -> float:
    """Largest |c| any LSTM layer reaches over the batch (0 for a GRU)."""
    x, lengths = check_batch(x, lengths, net.input_size)
    runners = []

    def make_runner(layer, d):
        runners.append(_FloatDirection(net, net.layers[layer][d], x.shape[0]))
        return runners[-1]

    run_layers(x, lengths, net.num_layers, net.num_directions, make_runner)
    return max(r.c_abs_max for r in runners)


def readout(net: Network, out: np.ndarray, lengths) -> np.ndarray:
    """Logits of the linear head on the output at each sequence's last valid step."""
    if net.head is None:
        raise ValueError("the network has no readout head (head.weight / head.bias)")
    return last_valid(out, lengths) @ net.head.weight.T + net.head.bias


def predict(net: Network, x, lengths=None) -> np.ndarray:
    """Class predictions (argmax of the readout)."""
    x, lengths = check_batch(x, lengths, net.input_size)
    return np.argmax(readout(net, forward(net, x, lengths), lengths), axis=1)
