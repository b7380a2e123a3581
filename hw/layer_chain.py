"""Layers sequenced in hardware: a :class:`hw.tile.Tile` with sequence buffers that runs every layer-direction
pass of a multi-layer, optionally bidirectional network by itself (issue 10 item 5; docs/hw/layer_chain.md).

The host streams one sequence of layer-0 inputs and receives the last layer's outputs, h_t = [h_fwd,t ;
h_bwd,t] in time order. In between::

    x -> capture (x buffer) -> pass 0: x buffer -> tile -> layer buffer A -> pass 1 (backward: the steps
    reversed both ways) -> ... -> layer l reads buffer (l-1) % 2 and writes l % 2 -> output: last layer's
    buffer -> h

A pass is the tile's own sequence protocol (docs/tile.md): the reader streams the pass's inputs with
``first`` and ``last``, the tile latches the pass's controls (slot = layer * D + direction, n_x, theta of
the layer) with the first beat, and the writer stores its h outputs at their time positions. The
host-driven mode (the host runs each pass, :class:`sim.tile_protocol.NetworkPlan`) stays: it is the bare
tile.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .checks import check_int, silence_tree, silence_unused
from .layer_buffer import BufferReader, BufferWriter
from .shapes import index_shape, memory_depth
from .tile import Tile
from .tile_counters import COUNTER_BITS, counter_names
from .tile_memories import wr_layout
from .tile_params import TileParams
from .tile_sequencer import x_layout
from .tile_state import h_layout

__all__ = ["ChainShape", "LayerChain", "chain_counter_outputs", "pass_counter"]


def pass_counter(name: str, pass_index: int) -> str:
    """The output counting the tile's counter ``name`` during pass ``pass_index`` (layer * D + direction)
    of every sequence since the counters were cleared: the host-driven mode's count of that pass."""
    return f"{name}_pass{pass_index}"


def chain_counter_outputs(params: TileParams) -> list[str]:
    """Every counter output of a chain around a tile of ``params``: the tile's (summed over the passes) and
    each pass's (:func:`pass_counter`)."""
    names = counter_names(params)
    return [*names, *(pass_counter(n, k) for k in range(params.slots) for n in names)]


class Phase(enum.Enum, shape=3):
    """The chain's state."""
    IDLE = 0            # taking a sequence's x into the x buffer
    CAPTURED = 1        # the sequence's length is known
    START = 2           # the reader and the writer of a pass start
    PASS = 3            # the tile runs a pass
    OUTPUT_START = 4    # the reader of the outputs starts
    OUTPUT = 5          # the last layer's outputs go to the host


@dataclass(frozen=True)
class ChainShape:
    """What the chain sequences: ``layers`` x ``directions`` passes, ``x_size`` layer-0 inputs per step, and
    sequences of up to ``max_steps`` steps (the buffers' size)."""
    layers: int
    directions: int
    x_size: int
    max_steps: int

    @classmethod
    def for_network(cls, net, max_steps: int) -> ChainShape:
        """The shape of a golden ``Network`` (or a ``FixedPointNetwork``) for sequences up to ``max_steps``."""
        net = getattr(net, "net", net)
        return cls(net.num_layers, net.num_directions, net.input_size, max_steps)

    def check(self, params: TileParams) -> None:
        """Raise a ValueError naming the first size the tile of ``params`` cannot run."""
        check_int("ChainShape.layers", self.layers, 1, 1 << 10)
        check_int("ChainShape.directions", self.directions, 1, 2)
        check_int("ChainShape.x_size", self.x_size, 1, params.input_size)
        check_int("ChainShape.max_steps", self.max_steps, 1, params.max_steps)
        if params.slots != self.layers * self.directions:
            raise ValueError(f"the tile holds {params.slots} layer-directions, the chain runs "
                             f"{self.layers} x {self.directions}")
        if self.layers > 1 and self.directions * params.hidden > params.input_size:
            raise ValueError(f"layer 1 takes {self.directions * params.hidden} inputs, more than the tile's "
                             f"input_size {params.input_size}")

    def n_x(self, layer: int, hidden: int) -> int:
        return self.x_size if layer == 0 else self.directions * hidden


class LayerChain(wiring.Component):
    """A tile that runs a whole network over one sequence (module docstring).

    Parameters: ``params`` (:class:`TileParams` of every layer-direction), ``shape`` (:class:`ChainShape`),
    ``image`` (as :class:`hw.tile.Tile`).

    Ports
    -----
    x : In(stream)        the layer-0 sequence, the tile's x layout (``first`` starts it, ``last`` ends it)
    h : Out(stream)       the last layer's outputs, step by step [h_fwd ; h_bwd], ``last`` on the final one
    wr : In(stream)       the tile's memory writes (taken while the chain is idle)
    memo_enable, form : In(1)   the tile's controls, every pass
    theta : In            ``layers`` threshold inputs of the tile (``TileParams.theta_shape``; layer l's
                          per-gate thresholds from bit l*G*THETA_BITS)
    busy : Out(1)         a sequence is in the chain
    clear_counters, counters : the tile's (they sum over the passes until cleared)
    <counter>_pass<k> : Out   the counters' increase during pass k, summed over the sequences (:func:`pass_counter`)

    Cycles (:meth:`sequence_cycles`): the capture of the host's T * n_x elements, then the passes one after another
    (a layer needs its predecessor's whole output, and the tile takes one sequence at a time), each the
    tile's own cycles (its ``cycles`` counter) plus :attr:`PASS_OVERHEAD`, then the T * D * H outputs.
    """

    #: Cycles of a pass beyond the tile's ``cycles`` counter: the writer disarms the cycle after the tile's
    #: final h (1), the START state (1), the reader's latency before the first x element, the cycle the tile
    #: takes it before its counter runs (1), and the final h leaves the tile's output FIFO a cycle after its
    #: counter stops (1). Measured on LSTM and GRU, 1-3 layers, 1-2 directions: tests/test_hw_layer_chain.py.
    PASS_OVERHEAD = 4 + BufferReader.latency
    #: Cycles of a sequence beyond its capture, passes and outputs, counted from the first x beat taken to
    #: the final h taken: the CAPTURED state (1), the OUTPUT_START state (1) and the reader's latency.
    SEQUENCE_OVERHEAD = 2 + BufferReader.latency

    def __init__(self, params: TileParams, shape: ChainShape, image: dict | None = None):
        try:
            if not isinstance(shape, ChainShape):
                raise TypeError(f"shape must be a hw.layer_chain.ChainShape, not {type(shape).__name__}")
            shape.check(params)
        except (TypeError, ValueError):
            silence_unused(self)
            raise
        self.params, self.shape = params, shape
        self.tile = Tile(params, image)
        width = shape.directions * params.hidden
        self.x_depth = memory_depth(shape.max_steps * shape.x_size)
        self.h_depth = memory_depth(shape.max_steps * width)
        bits = params.config.act.bits
        self.capture = BufferWriter(self.x_depth, shape.x_size, bits, shape.x_size)
        self.reader = BufferReader(max(self.x_depth, self.h_depth), max(shape.x_size, width), bits)
        self.writer = BufferWriter(self.h_depth, params.hidden, bits, width)
        for part in (self.tile, self.capture, self.reader, self.writer):
            silence_tree(part)
        super().__init__({
            "x": In(stream.Signature(x_layout(params))),
            "h": Out(stream.Signature(h_layout(params))),
            "wr": In(stream.Signature(wr_layout(params))),
            "memo_enable": In(1), "form": In(1),
            "theta": In(data.ArrayLayout(params.theta_shape, shape.layers)),
            "busy": Out(1),
            **{name: Out(COUNTER_BITS) for name in self.counter_outputs()},
            "clear_counters": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        p, s = self.params, self.shape
        tile, capture, reader, writer = self.tile, self.capture, self.reader, self.writer
        m.submodules.tile, m.submodules.capture = tile, capture
        m.submodules.reader, m.submodules.writer = reader, writer
        bits = unsigned(p.config.act.bits)
        xbuf = m.submodules.xbuf = memory.Memory(shape=bits, depth=self.x_depth, init=[])
        bufs = [memory.Memory(shape=bits, depth=self.h_depth, init=[]) for _ in range(min(2, s.layers))]
        for k, buf in enumerate(bufs):
            m.submodules[f"layer_buf{k}"] = buf
        wiring.connect(m, wiring.flipped(self.wr), tile.wr)
        m.d.comb += [tile.clear_counters.eq(self.clear_counters), tile.memo_enable.eq(self.memo_enable),
                     tile.form.eq(self.form)]
        for name in counter_names(p):
            m.d.comb += getattr(self, name).eq(getattr(tile, name))
        layer, direction, steps = Signal(index_shape(s.layers)), Signal(index_shape(s.directions)), Signal.like(
            capture.steps_done)
        output_phase = Signal()     # the reader streams the last layer's outputs to the host
        self._ports(m, xbuf, bufs, layer, output_phase)
        state = self._sequence(m, layer, direction, steps, output_phase)
        self._pass_counts(m, state == Phase.START, (state == Phase.PASS) & ~writer.armed,
                          layer * s.directions + direction)
        m.d.comb += [tile.slot.eq(layer * s.directions + direction),
                     tile.n_x.eq(Mux(layer == 0, s.x_size, s.directions * p.hidden)),
                     tile.theta.eq(self.theta[layer])]
        return m

    def _ports(self, m, xbuf, bufs, layer, output_phase):
        """The memories' ports: the capture writes the x buffer; the reader reads the x buffer (layer 0),
        the previous layer's buffer (a pass), or the last layer's (the output); the writer writes the
        current layer's."""
        s, capture, reader, writer = self.shape, self.capture, self.reader, self.writer
        wiring.connect(m, capture.mem, xbuf.write_port())
        reads = [xbuf.read_port(), *(buf.read_port() for buf in bufs)]
        writes = [buf.write_port() for buf in bufs]
        # the buffer the reader walks: x (0) for layer 0, else layer l-1's (1 + (l-1) % 2); the output: the last's
        source = Signal(range(len(reads)))
        last_buf = 1 + (s.layers - 1) % 2
        m.d.comb += source.eq(Mux(output_phase, last_buf, Mux(layer == 0, 0, 1 + (layer - 1) % 2)))
        for k, port in enumerate(reads):
            m.d.comb += [port.addr.eq(reader.mem.addr), port.en.eq(reader.mem.en & (source == k))]
        selected = reads[-1].data
        for k in reversed(range(len(reads) - 1)):
            selected = Mux(source == k, reads[k].data, selected)
        m.d.comb += reader.mem.data.eq(selected)
        for k, port in enumerate(writes):
            m.d.comb += [port.addr.eq(writer.mem.addr), port.data.eq(writer.mem.data),
                         port.en.eq(writer.mem.en & (layer % 2 == k))]

    def _sequence(self, m, layer, direction, steps, output_phase):
        """Capture, the passes in order, the output: the chain's control; returns its state register."""
        p, s, tile = self.params, self.shape, self.tile
        capture, reader, writer = self.capture, self.reader, self.writer
        width = s.directions * p.hidden
        reverse = direction == 1
        # the tile's x from the reader during a pass; the host's h from the reader during the output
        m.d.comb += [tile.x.payload.eq(reader.o.payload), writer.i.payload.eq(tile.h.payload),
                     self.h.payload.data.eq(reader.o.payload.data), self.h.payload.last.eq(reader.o.payload.last),
                     capture.i.payload.data.eq(self.x.payload.data), capture.i.payload.last.eq(self.x.payload.last),
                     writer.i.valid.eq(tile.h.valid), tile.h.ready.eq(writer.i.ready),
                     writer.steps.eq(steps), writer.n.eq(p.hidden), writer.offset.eq(direction * p.hidden),
                     writer.reverse.eq(reverse), reader.steps.eq(steps), reader.reverse.eq(reverse & ~output_phase),
                     capture.n.eq(s.x_size), capture.offset.eq(0), capture.reverse.eq(0)]
        n_x = Mux(layer == 0, s.x_size, width)
        m.d.comb += [reader.n.eq(Mux(output_phase, width, n_x)),
                     reader.top.eq(Mux(layer == 0, (steps - 1) * s.x_size, (steps - 1) * width))]
        # the chain's state: an explicit register and an if-chain, not m.FSM, whose case statements
        # Verilator's lint rejects (CASEINCOMPLETE) and Icarus starts as X
        state = Signal(Phase)
        idle = state == Phase.IDLE
        m.d.comb += [output_phase.eq((state == Phase.OUTPUT_START) | (state == Phase.OUTPUT)),
                     self.busy.eq(~idle | capture.armed | tile.busy)]
        with m.If(idle):
            # a sequence's first beat arms the capture (and waits a cycle for it); beats before one are
            # dropped, as the bare tile drops them
            m.d.comb += [capture.i.valid.eq(self.x.valid), capture.start.eq(self.x.valid & self.x.payload.first),
                         self.x.ready.eq(Mux(capture.armed, capture.i.ready, ~self.x.payload.first))]
            with m.If(capture.armed & self.x.valid & self.x.payload.last):
                m.d.sync += state.eq(Phase.CAPTURED)
        with m.Elif(state == Phase.CAPTURED):
            m.d.sync += [layer.eq(0), direction.eq(0), steps.eq(capture.steps_done), state.eq(Phase.START)]
        with m.Elif(state == Phase.START):
            m.d.comb += [reader.start.eq(1), writer.start.eq(1)]
            m.d.sync += state.eq(Phase.PASS)
        with m.Elif(state == Phase.PASS):
            m.d.comb += [tile.x.valid.eq(reader.o.valid), reader.o.ready.eq(tile.x.ready)]
            with m.If(~writer.armed):
                self._next_pass(m, state, layer, direction)
        with m.Elif(state == Phase.OUTPUT_START):
            m.d.comb += reader.start.eq(1)
            m.d.sync += state.eq(Phase.OUTPUT)
        with m.Else():   # OUTPUT
            m.d.comb += [self.h.valid.eq(reader.o.valid), reader.o.ready.eq(self.h.ready)]
            with m.If(~reader.busy):
                m.d.sync += state.eq(Phase.IDLE)
        return state

    def counter_outputs(self) -> list[str]:
        return chain_counter_outputs(self.params)

    def sequence_cycles(self, steps: int, pass_cycles) -> int:
        """Cycles of a sequence of ``steps`` steps from its first x beat taken to its final h taken, with
        no valid gaps on x and no back-pressure on h, given each pass's tile cycles ``pass_cycles`` (the
        tile's cycle model, :func:`hw.tile_cycles.expected_cycles`, or its ``cycles`` counter)."""
        s, width = self.shape, self.shape.directions * self.params.hidden
        passes = list(pass_cycles)
        if len(passes) != s.layers * s.directions:
            raise ValueError(f"{len(passes)} pass cycle counts for {s.layers * s.directions} passes")
        return (steps * s.x_size + self.SEQUENCE_OVERHEAD + sum(passes) + len(passes) * self.PASS_OVERHEAD
                + steps * width)

    def _pass_counts(self, m, starting, ending, index) -> None:
        """Each pass's counts: the tile's counters sampled as a pass starts and, as it ends (``index`` =
        layer * D + direction), their increase added to the pass's outputs; cleared with the counters. So a
        host reads every pass's counts over a batch of sequences as the host-driven mode gives them."""
        names = counter_names(self.params)
        at_start = {n: Signal(COUNTER_BITS, name=f"{n}_at_pass_start") for n in names}
        with m.If(starting):
            m.d.sync += [at_start[n].eq(getattr(self.tile, n)) for n in names]
        for k in range(self.params.slots):
            with m.If(ending & (index == k)):
                m.d.sync += [getattr(self, pass_counter(n, k)).eq(getattr(self, pass_counter(n, k))
                                                                   + getattr(self.tile, n) - at_start[n])
                             for n in names]
        with m.If(self.clear_counters):   # after the pass ends: a clear wins
            m.d.sync += [getattr(self, pass_counter(n, k)).eq(0) for k in range(self.params.slots) for n in names]

    def _next_pass(self, m, state, layer, direction):
        s = self.shape
        with m.If(direction == s.directions - 1):
            m.d.sync += direction.eq(0)
            with m.If(layer == s.layers - 1):
                m.d.sync += state.eq(Phase.OUTPUT_START)
            with m.Else():
                m.d.sync += [layer.eq(layer + 1), state.eq(Phase.START)]
        with m.Else():
            m.d.sync += [direction.eq(direction + 1), state.eq(Phase.START)]
