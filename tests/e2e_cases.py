"""Workload slices, the bidirectional test network and the exactness check shared by the end-to-end tile
tests (test_tile_e2e.py: the memoizing tile; test_tile_crew_e2e.py: the CREW tile)."""

from __future__ import annotations

import functools

import numpy as np

from golden_model.calibration import calibrate_formats, config_for
from golden_model.fixed_model import FixedPointNetwork
from golden_model.network import Network
from golden_model.workloads import load_workload
from sim import tile_host

#: (sequences, steps kept) per workload: a few back-to-back sequences, cut short in time.
SLICES = {"japanese_vowels": (3, 4), "basic_motions": (2, 6), "digits": (3, 8)}


@functools.cache
def workload_model(name: str):
    w = load_workload(name)
    return FixedPointNetwork(w.network, config_for(w.network, w.x, w.lengths)), w


def sliced(name: str):
    model, w = workload_model(name)
    n, steps = SLICES[name]
    x = w.x[:n, :steps]
    lengths = np.minimum(w.lengths[:n], steps)
    return model, x, lengths


@functools.cache
def bidir_model(cell: str = "lstm"):
    """A small random 2-layer bidirectional LSTM (or GRU; the bundled workloads have none)."""
    rng = np.random.default_rng(7)
    inputs, hidden, gates = 4, 4, 4 if cell == "lstm" else 3

    def direction(n_in):
        return {"w_ih": rng.uniform(-1, 1, (gates * hidden, n_in)),
                "w_hh": rng.uniform(-1, 1, (gates * hidden, hidden)),
                "b_ih": rng.uniform(-0.5, 0.5, gates * hidden), "b_hh": rng.uniform(-0.5, 0.5, gates * hidden)}

    net = Network.build(cell, [[direction(inputs), direction(inputs)],
                                 [direction(2 * hidden), direction(2 * hidden)]])
    x = rng.uniform(-1, 1, (4, 6, inputs))
    lengths = np.array([6, 2, 5, 1])
    return FixedPointNetwork(net, calibrate_formats(net, x, lengths))


def bidir_data():
    rng = np.random.default_rng(8)
    return rng.uniform(-1, 1, (4, 6, 4)), np.array([6, 2, 5, 1])


def assert_exact(run: tile_host.TileRun):
    assert run.bit_exact, run.report
    assert run.counters_ok, run.passes
    for out, want in zip(run.outputs, run.expected, strict=True):
        np.testing.assert_array_equal(out, want)
