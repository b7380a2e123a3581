"""Sequence buffers of the layer chain: a step-major memory of a whole sequence, read back as a stream (steps
forward or reversed) and written from a stream (one step's elements at a step's offset), see
``docs/hw/layer_chain.md``.

A sequence of T steps of ``n`` elements each sits at address t*stride + offset + e (element e of step t). The
reader streams one such sequence with stride = n (a whole step per row of the layout, offset 0); the writer
takes a stream of T*n elements and writes them with any stride >= n and offset (one direction's h into its
half of a step of [h_fwd ; h_bwd]). Both walk the steps forward (t = 0, 1, ...) or reversed (t = T-1, ...,
0), so a backward direction reads its input and stores its output in time order without any reversal by the
host.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .checks import check_int, silence_unused
from .shapes import count_shape, index_shape, read_port, sequence_layout, sequence_out_layout, write_port

__all__ = ["BufferReader", "BufferWriter"]


def _check_sizes(component, depth: int, per_step: int, bits: int) -> None:
    try:
        check_int(f"{type(component).__name__} depth", depth, 2, 1 << 24)
        check_int(f"{type(component).__name__} per_step", per_step, 1, depth)
        check_int(f"{type(component).__name__} bits", bits, 1, 64)
    except (TypeError, ValueError):
        silence_unused(component)
        raise


class BufferReader(wiring.Component):
    """Streams a sequence of ``steps`` x ``n`` elements out of a buffer memory of ``depth`` words (address
    t*n + e), step by step forward or reversed, ``first`` on the first element and ``last`` on the final
    one.

    Parameters: ``depth`` (words of the memory), ``per_step`` (the largest n), ``bits`` (element width).

    Ports
    -----
    start : In(1)        pulse: sample ``steps``, ``n``, ``reverse`` and ``top`` and begin (ignored while busy)
    steps, n : In        steps (1..depth) and elements per step (1..per_step); steps * n <= depth
    reverse : In(1)      walk the steps T-1 .. 0
    top : In             the address of step T-1 (T-1)*n, where a reversed walk begins (the user knows n
                         as a constant: no multiplier here)
    o : Out(stream)      :func:`hw.shapes.sequence_layout` (the tile's x layout)
    mem : read port of the buffer memory (synchronous, enable holds the data)
    busy : Out(1)        elements are left to read or to hand over

    :attr:`latency` = 2: the first element is on ``o`` two cycles after ``start`` (the walk's registers,
    then the memory read); one element per cycle after that while ``o`` is ready.
    """

    latency = 2

    def __init__(self, depth: int, per_step: int, bits: int):
        _check_sizes(self, depth, per_step, bits)
        self.depth, self.per_step, self.bits = depth, per_step, bits
        super().__init__({
            "start": In(1), "steps": In(count_shape(depth)), "n": In(count_shape(per_step)), "reverse": In(1),
            "top": In(index_shape(depth)),
            "o": Out(stream.Signature(sequence_layout(bits))),
            "mem": read_port(depth, bits),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        addr = Signal(signed(count_shape(self.depth).width + 2))   # the back step of a reversed walk dips below
        n, e = Signal.like(self.n), Signal(index_shape(self.per_step))
        left = Signal(count_shape(self.depth))                       # steps not yet begun, after this one
        reverse, pending, valid = Signal(), Signal(), Signal()
        begin, first, last = Signal(), Signal(), Signal()   # begin: the next read is the walk's first
        advance = ~valid | self.o.ready
        step_end, final = e == n - 1, (e == n - 1) & (left == 0)
        m.d.comb += [
            self.mem.addr.eq(addr), self.mem.en.eq(advance),
            self.o.valid.eq(valid), self.o.payload.data.eq(self.mem.data),
            self.o.payload.first.eq(first), self.o.payload.last.eq(last),
            self.busy.eq(pending | valid),
        ]
        with m.If(advance):
            m.d.sync += valid.eq(pending)
            with m.If(pending):
                m.d.sync += [first.eq(begin), begin.eq(0), last.eq(final), e.eq(e + 1), addr.eq(addr + 1)]
                with m.If(step_end):
                    m.d.sync += [e.eq(0), left.eq(left - 1)]
                    with m.If(reverse):
                        m.d.sync += addr.eq(addr + 1 - 2 * n)
                with m.If(final):
                    m.d.sync += pending.eq(0)
        with m.If(self.start & ~self.busy):
            # step 0 of the walk: t = 0, or t = T-1 (address (T-1)*n) reversed
            m.d.sync += [n.eq(self.n), e.eq(0), left.eq(self.steps - 1), reverse.eq(self.reverse),
                         pending.eq(1), begin.eq(1),
                         addr.eq(Mux(self.reverse, self.top, 0))]
        return m


class BufferWriter(wiring.Component):
    """Writes a stream of ``steps`` x ``n`` elements into a buffer memory: element e of the k-th step
    taken at address t*stride + offset + e, t = k (forward) or T-1-k (reversed). It is armed by ``start``
    and disarms itself after the element flagged ``last`` (the tile's h stream and the host's x stream both
    end a sequence so); ``steps_done`` then holds the number of steps taken.

    Parameters: ``depth``, ``per_step`` (the largest n), ``bits``, ``stride`` (a constant >= per_step: the
    buffer's words per step).

    Ports
    -----
    start : In(1)        pulse: sample ``steps``, ``n``, ``offset``, ``reverse``; arm
    steps : In           T (reversed walks only: the first step written is T-1)
    n, offset : In       elements per step (1..per_step), the first element's offset in a step's words
    reverse : In(1)
    i : In(stream, ready while armed)  :func:`hw.shapes.sequence_out_layout` (the tile's h layout)
    mem : write port of the buffer memory
    armed : Out(1)       a sequence is being taken
    steps_done : Out     steps taken by the last sequence (counting a partial final step)

    :attr:`latency` = 0: an element is written in the cycle it is taken.
    """

    latency = 0

    def __init__(self, depth: int, per_step: int, bits: int, stride: int):
        _check_sizes(self, depth, per_step, bits)
        try:
            check_int("BufferWriter stride", stride, per_step, depth)
        except (TypeError, ValueError):
            silence_unused(self)
            raise
        self.depth, self.per_step, self.bits, self.stride = depth, per_step, bits, stride
        super().__init__({
            "start": In(1), "steps": In(count_shape(depth)), "n": In(count_shape(per_step)),
            "offset": In(count_shape(stride)), "reverse": In(1),
            "i": In(stream.Signature(sequence_out_layout(bits))),
            "mem": write_port(depth, bits),
            "armed": Out(1), "steps_done": Out(count_shape(depth)),
        })

    def elaborate(self, platform):
        m = Module()
        stride = self.stride
        base = Signal(signed(count_shape(self.depth).width + 2))   # t*stride + offset of the current step
        n, e = Signal.like(self.n), Signal(index_shape(self.per_step))
        reverse, armed = Signal(), Signal()
        take = self.i.valid & armed
        m.d.comb += [
            self.i.ready.eq(armed), self.armed.eq(armed),
            self.mem.addr.eq(base + e), self.mem.data.eq(self.i.payload.data), self.mem.en.eq(take),
        ]
        with m.If(take):
            m.d.sync += e.eq(e + 1)
            with m.If(e == n - 1):
                m.d.sync += [e.eq(0), self.steps_done.eq(self.steps_done + 1),
                             base.eq(Mux(reverse, base - stride, base + stride))]
            with m.If(self.i.payload.last):
                m.d.sync += armed.eq(0)
                with m.If(e != n - 1):
                    m.d.sync += self.steps_done.eq(self.steps_done + 1)
        with m.If(self.start & ~armed):
            m.d.sync += [n.eq(self.n), e.eq(0), reverse.eq(self.reverse), armed.eq(1), self.steps_done.eq(0),
                         base.eq(Mux(self.reverse, (self.steps - 1) * stride, 0) + self.offset)]
        return m
