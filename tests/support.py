"""Helpers shared by the test modules (which never import each other): random networks and inputs of a
fixed seed, and a small stream component for the board tests. Fixtures are in conftest.py."""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model import intops
from golden_model.formats import FixedPointConfig
from golden_model.network import Network


def _network(cell, inputs, hidden, layers, directions, weight, bias, head=None) -> Network:
    g = 4 if cell == "lstm" else 3
    spec = [[{"w_ih": weight((g * hidden, inputs if li == 0 else hidden * directions)),
              "w_hh": weight((g * hidden, hidden)), "b_ih": bias(g * hidden), "b_hh": bias(g * hidden)}
             for _ in range(directions)] for li in range(layers)]
    return Network.build(cell, spec, head() if head else None)


def uniform_network(cell, inputs=3, hidden=4, layers=1, dirs=1, seed=0, scale=0.5) -> Network:
    """Weights uniform in +-scale, biases in +-0.3, and a random 3-class readout (for accuracy figures)."""
    rng = np.random.default_rng(seed)
    return _network(cell, inputs, hidden, layers, dirs, lambda shape: rng.uniform(-scale, scale, shape),
                    lambda n: rng.uniform(-0.3, 0.3, n),
                    lambda: {"weight": rng.standard_normal((3, hidden * dirs)), "bias": np.zeros(3)})


def normal_network(cell: str, inputs: int, hidden: int, layers: int = 1, directions: int = 1, seed: int = 0,
                   scale: float = 0.5) -> Network:
    """Weights normal(0, scale) clipped to +-1.9 (inside the default weight format), biases normal(0, 0.3),
    no readout: the networks of the hardware tests."""
    rng = np.random.default_rng(seed)
    return _network(cell, inputs, hidden, layers, directions,
                    lambda shape: np.clip(rng.normal(0, scale, shape), -1.9, 1.9), lambda n: rng.normal(0, 0.3, n))


def smooth_inputs(batch, steps, features, seed=0):
    """Slowly varying inputs, so that memoization has something to reuse."""
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(0, 0.15, (batch, steps, features)), axis=1)



def smooth_model(cell, layers=1, dirs=1, inputs=3, hidden=5, seed=1, batch=7, steps=9):
    """A uniform random network with formats calibrated on smooth inputs of variable lengths: (model, x,
    lengths), the first sequence full length (the input-reuse tests: delta, compositions)."""
    from golden_model.calibration import calibrate_formats
    from golden_model.fixed_model import FixedPointNetwork
    net = uniform_network(cell, inputs=inputs, hidden=hidden, layers=layers, dirs=dirs, seed=seed)
    x = smooth_inputs(batch, steps, inputs, seed=seed + 1)
    lengths = np.random.default_rng(seed).integers(1, steps + 1, batch)
    lengths[0] = steps
    return FixedPointNetwork(net, calibrate_formats(net, x, lengths)), x, lengths


def same_outputs(a, b) -> bool:
    """Two runs with every layer's outputs equal, bit for bit."""
    return all(np.array_equal(p, q) for p, q in zip(a.layer_outputs, b.layer_outputs, strict=True))

def random_inputs(config: FixedPointConfig, batch: int, steps: int, n_x: int, seed: int = 1, scale=1.0):
    """Quantized normal(0, scale) inputs in the activation format of ``config``."""
    rng = np.random.default_rng(seed)
    return intops.quantize(rng.normal(0, scale, (batch, steps, n_x)), config.act)


class AddUnit(wiring.Component):
    """o = i + offset (12 bits); count = beats done; a one-beat output register."""

    def __init__(self):
        super().__init__({"i": In(stream.Signature(12)), "o": Out(stream.Signature(12)), "offset": In(4),
                          "count": Out(16)})

    def elaborate(self, platform):
        m = Module()
        with m.If(self.o.ready | ~self.o.valid):
            m.d.comb += self.i.ready.eq(1)
            m.d.sync += [self.o.valid.eq(self.i.valid), self.o.payload.eq(self.i.payload + self.offset)]
            with m.If(self.i.valid):
                m.d.sync += self.count.eq(self.count + 1)
        return m


def check_tile_run(res, k, gold, params, steps):
    """Sequence ``k`` of a tile run (sim.tile_amaranth) against its golden run: every h_t, every neuron
    evaluated, the golden model's reuse count."""
    assert np.array_equal(res.h[k], gold.out[0]), f"sequence {k}:\n{res.h[k]}\n!=\n{gold.out[0]}"
    assert res.counters[k]["evaluations"] == steps * params.neurons
    assert res.counters[k]["reuses"] == int(gold.stats.reuses.sum())


def check_tile_sequences(tile, fixed, params, policy, theta, form, seed=5) -> int:
    """Two random 6-step sequences of 3 inputs through ``tile`` (memo on at ``theta`` in ``form``) with
    random x gaps and h back-pressure, each checked against the golden run under ``policy``
    (:func:`check_tile_run`); returns the total reuses."""
    from sim.tile_amaranth import TileSequence, run_sequences

    xs = random_inputs(fixed.config, 2, 6, 3, seed=seed, scale=0.3)
    theta_q = intops.quantize_threshold(theta, form)
    seqs = [TileSequence(x, memo_enable=1, theta=theta_q, form=int(form == "absolute")) for x in xs]
    res = run_sequences(tile, seqs, seed=7, gap=0.3, stall=0.3)
    for k, x in enumerate(xs):
        check_tile_run(res, k, fixed.run(x[None], policy=policy), params, len(x))
    return sum(res.counters[k]["reuses"] for k in range(len(xs)))


def user_files(d, sequences: int):
    """A user's files in folder ``d``: a 2-layer GRU with a readout (``model.npz``) and a calibration and a
    test file (``cal.npz``, ``test.npz``) of ``sequences`` smooth sequences labelled by the float model.
    Returns (the network, the fixed-point model with formats calibrated on the calibration file)."""
    from golden_model.calibration import calibrate_formats
    from golden_model.fixed_model import FixedPointNetwork

    net = uniform_network("gru", inputs=3, hidden=6, layers=2, seed=21)
    rng = np.random.default_rng(3)
    for name, seed in (("cal", 22), ("test", 23)):
        x = smooth_inputs(sequences, 10, 3, seed=seed).astype(np.float32)
        lengths = rng.integers(4, 11, sequences)
        np.savez(d / f"{name}.npz", x=x, y=net.predict(x, lengths), lengths=lengths)
    net.save(d / "model.npz")
    return net, FixedPointNetwork(net, calibrate_formats(net, np.load(d / "cal.npz")["x"]))


def user_data(d, name):
    """(x, y, lengths) of the file ``name`` of :func:`user_files`."""
    f = np.load(d / f"{name}.npz")
    return f["x"], f["y"], f["lengths"]
