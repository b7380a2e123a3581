"""The accelerator tile's host protocol, without I/O: the one place that knows how to drive ``hw.tile``.

Pure functions and small objects that every transport shares (the Amaranth simulator in
``tests/test_hw_tile.py``, cocotb in :mod:`sim.tile_tb`, the UART host link in :mod:`synth.host_link`,
``bench/tile_waveform.py``); a transport only moves the beats and reads the counters, sync or async.

* :data:`COUNTERS`, :data:`CONTROLS` -- the tile's performance counters and its per-sequence controls;
* :func:`controls` -- the control values of a pass (``form`` by name or number; ``theta`` through
  :func:`theta_register`: one threshold per gate, or one for every gate);
* :func:`sequence_beats` / :func:`x_beats` -- the x stream: ``first`` on element 0 of step 0 (the beat the
  tile latches the controls with), ``last`` on the final element of the final step; sequences back to back;
* :func:`network_passes` -- the layer-direction passes of a network in order (layer by layer, forward
  before backward) and :class:`NetworkPlan`, which feeds layer l's outputs to layer l+1, streams a backward
  direction's sequences reversed and re-reverses its outputs, and concatenates the directions
  (forward, backward);
* :class:`ChainPlan` -- the same network on a tile that sequences its layers itself
  (``hw.layer_chain.LayerChain``): one pass of the layer-0 sequences, the last layer's outputs back, and
  :func:`chain_controls`, the per-layer thresholds packed into its ``theta``;
* :func:`split_h` -- a pass's h stream back into per-sequence (steps, H) blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from golden_model.formats import THETA_BITS
from hw.tile_counters import COUNTERS as TILE_COUNTERS

__all__ = [
    "CONTROLS",
    "ChainPlan",
    "chain_controls",
    "COUNTERS",
    "FORMS",
    "NetworkPlan",
    "TilePass",
    "controls",
    "network_passes",
    "sequence_beats",
    "split_h",
    "theta_register",
    "x_beats",
]

#: The tile's performance counters (outputs, cleared by ``clear_counters``).
COUNTERS = tuple(TILE_COUNTERS)
#: The control inputs latched with a sequence's ``first`` x beat.
CONTROLS = ("slot", "n_x", "memo_enable", "theta", "form")
#: The threshold forms by name (the ``form`` input's values).
FORMS = {"relative": 0, "absolute": 1}


def _form_value(form: int | str) -> int:
    """The ``form`` input's value of a threshold form given as a number (0 relative, 1 absolute) or a name."""
    if isinstance(form, str):
        if form not in FORMS:
            raise ValueError(f"form must be one of {sorted(FORMS)}, not {form!r}")
        form = FORMS[form]
    return int(form)


def theta_register(theta, gates: int = 1) -> int:
    """The value of a ``theta`` input of ``gates`` THETA_BITS thresholds (gate g at bits g * THETA_BITS,
    ``hw.tile_params.TileParams.theta_shape``): ``theta`` one register value for every gate, or a sequence
    of one per gate. A delta tile's input is one word (``gates`` 1)."""
    values = [int(theta)] * gates if np.ndim(theta) == 0 else [int(t) for t in theta]
    if len(values) != gates:
        raise ValueError(f"{len(values)} per-gate thresholds for a threshold input of {gates} gates")
    for v in values:
        if not 0 <= v < 1 << THETA_BITS:
            raise ValueError(f"threshold register value {v} does not fit {THETA_BITS} bits")
    return sum(v << (g * THETA_BITS) for g, v in enumerate(values))


def controls(*, slot: int, n_x: int, memo_enable: int | bool = 0, theta=0, form: int | str = 0,
             gates: int = 1) -> dict:
    """The control values of a pass, ``form`` as a number (0 relative, 1 absolute) or a name, ``theta``
    packed for an input of ``gates`` thresholds (:func:`theta_register`)."""
    return {"slot": int(slot), "n_x": int(n_x), "memo_enable": int(bool(memo_enable)),
            "theta": theta_register(theta, gates), "form": _form_value(form)}


def sequence_beats(x) -> list[dict]:
    """The x payloads of one sequence ``x`` ((steps, n_x) ints): step-major, ``first`` on element 0 of
    step 0, ``last`` on the final element."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"a sequence is (steps, n_x) with steps, n_x >= 1, got shape {x.shape}")
    flat = x.astype(np.int64).reshape(-1).tolist()
    end = len(flat) - 1
    return [{"data": v, "first": int(k == 0), "last": int(k == end)} for k, v in enumerate(flat)]


def x_beats(sequences) -> list[dict]:
    """The x payloads of ``sequences`` streamed back to back (see :func:`sequence_beats`)."""
    return [beat for seq in sequences for beat in sequence_beats(seq)]


def split_h(values, steps, hidden: int) -> list[np.ndarray]:
    """The h data of a pass (stream order) as one (steps_b, hidden) block per sequence of ``steps``
    (missing values are 0, extra ones ignored: the scoreboard reports both)."""
    steps = [int(n) for n in steps]
    flat = np.zeros(sum(steps) * hidden, dtype=np.int64)
    values = np.asarray(values, dtype=np.int64).reshape(-1)[:flat.size]
    flat[:values.size] = values
    out, pos = [], 0
    for n in steps:
        out.append(flat[pos:pos + n * hidden].reshape(n, hidden))
        pos += n * hidden
    return out


@dataclass(frozen=True)
class TilePass:
    """One layer-direction pass: which layer and direction, the weight slot, the input size, reversed?"""
    layer: int
    direction: int
    slot: int
    n_x: int

    @property
    def reverse(self) -> bool:
        return self.direction == 1


def network_passes(inputs: list[int], directions: int) -> list[TilePass]:
    """The passes of a network whose layer l takes ``inputs[l]`` values per step: layer by layer, forward
    then backward; slot = layer * directions + direction."""
    return [TilePass(li, d, li * directions + d, int(n_x)) for li, n_x in enumerate(inputs) for d in range(directions)]


class NetworkPlan:
    """A network run over a batch ``x`` (B, T, n_x) of sequences of ``lengths``, pass by pass.

    For each :class:`TilePass` of :attr:`passes` (in order): :meth:`sequences` gives the sequences to
    stream (the current layer's inputs, reversed for a backward direction, valid steps only); the transport
    runs them and hands the h data back to :meth:`put` (stream order). :attr:`outputs` holds each layer's
    outputs (B, T, D*H), zero at padding steps; a finished layer's outputs are the next layer's inputs."""

    def __init__(self, x, lengths, *, inputs: list[int], directions: int, hidden: int):
        self.x = np.asarray(x, dtype=np.int64)
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.directions, self.hidden = int(directions), int(hidden)
        self.passes = network_passes(inputs, directions)
        batch, steps = self.x.shape[:2]
        self.outputs = [np.zeros((batch, steps, directions * hidden), dtype=np.int64) for _ in inputs]

    def layer_inputs(self, layer: int) -> np.ndarray:
        return self.x if layer == 0 else self.outputs[layer - 1]

    def sequences(self, p: TilePass) -> list[np.ndarray]:
        inputs = self.layer_inputs(p.layer)
        return [inputs[b, :n][::-1] if p.reverse else inputs[b, :n] for b, n in enumerate(self.lengths)]

    def expected_h(self, p: TilePass, expected_layer) -> list[dict]:
        """The h payloads a pass must produce (stream order) from the layer's golden outputs (B, T, D*H):
        ``last`` on the final element of each sequence."""
        cols = slice(p.direction * self.hidden, (p.direction + 1) * self.hidden)
        items = []
        for b, n in enumerate(self.lengths):
            block = np.asarray(expected_layer)[b, :n, cols]
            block = block[::-1] if p.reverse else block
            flat = block.reshape(-1).tolist()
            end = len(flat) - 1
            items += [{"data": int(v), "last": int(k == end)} for k, v in enumerate(flat)]
        return items

    def h_positions(self, p: TilePass) -> list[tuple[int, int, int]]:
        """(sequence, step, neuron) of every h element of pass ``p`` in stream order."""
        out = []
        for b, n in enumerate(self.lengths):
            order = range(n - 1, -1, -1) if p.reverse else range(n)
            out += [(b, t, j) for t in order for j in range(self.hidden)]
        return out

    def put(self, p: TilePass, h_values) -> None:
        """The h data of pass ``p`` (stream order) into the layer's outputs, re-reversed for a backward pass."""
        cols = slice(p.direction * self.hidden, (p.direction + 1) * self.hidden)
        for b, block in enumerate(split_h(h_values, self.lengths, self.hidden)):
            n = int(self.lengths[b])
            self.outputs[p.layer][b, :n, cols] = block[::-1] if p.reverse else block

    @property
    def total_steps(self) -> int:
        return int(self.lengths.sum())


def chain_controls(*, memo_enable: int | bool, theta, form: int | str = 0, gates: int = 1) -> dict:
    """The controls of a layer chain: those of :func:`controls` without slot and n_x (the chain sets them
    pass by pass), ``theta`` one entry per layer (:func:`theta_register` of ``gates``) packed into one
    number (layer l at bits l * gates * THETA_BITS)."""
    packed = sum(theta_register(t, gates) << (li * gates * THETA_BITS) for li, t in enumerate(theta))
    return {"memo_enable": int(bool(memo_enable)), "form": _form_value(form), "theta": packed}


class ChainPlan:
    """A network run over a batch ``x`` (B, T, n_x) on a layer chain: one pass streams every sequence's
    valid steps once (:meth:`sequences`); the h data that comes back (:meth:`put`, stream order: per step
    the last layer's D*H outputs [h_fwd ; h_bwd]) is the last layer's outputs :attr:`output` (B, T, D*H),
    zero at padding steps. :attr:`passes` are the layer-direction passes the chain runs inside."""

    def __init__(self, x, lengths, *, inputs: list[int], directions: int, hidden: int):
        self.x = np.asarray(x, dtype=np.int64)
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.width = int(directions) * int(hidden)
        self.passes = network_passes(inputs, directions)
        self.output = np.zeros((*self.x.shape[:2], self.width), dtype=np.int64)

    def sequences(self) -> list[np.ndarray]:
        return [self.x[b, :n] for b, n in enumerate(self.lengths)]

    def expected_h(self, expected_last) -> list[dict]:
        """The h payloads the chain must return from the last layer's golden outputs (B, T, D*H): ``last`` on
        the final element of each sequence."""
        items = []
        for b, n in enumerate(self.lengths):
            flat = np.asarray(expected_last)[b, :n].reshape(-1).tolist()
            items += [{"data": int(v), "last": int(k == len(flat) - 1)} for k, v in enumerate(flat)]
        return items

    def h_positions(self) -> list[tuple[int, int, int]]:
        """(sequence, step, output) of every h element in stream order."""
        return [(b, t, j) for b, n in enumerate(self.lengths) for t in range(n) for j in range(self.width)]

    def put(self, h_values) -> None:
        for b, block in enumerate(split_h(h_values, self.lengths, self.width)):
            self.output[b, :int(self.lengths[b])] = block

    @property
    def total_steps(self) -> int:
        return int(self.lengths.sum())
