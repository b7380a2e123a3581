"""Row writer of the tile: packs a step's elements into rows of L lanes of a double-buffered memory.

One component serves both state buffers of :class:`hw.tile.Tile`: the x writer (input elements of the
next step into x bank w) and the h writer (new h elements into the h bank the next step reads). See
``docs/hw/tile_parts.md``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .checks import check_int, silence_unused
from .shapes import count_shape, index_shape, write_port

__all__ = ["RowWriter", "element_layout"]


def element_layout(elements: int, shape) -> data.StructLayout:
    """An element of a step as the row writer takes it in: ``data``, ``index`` (0..elements-1, position in
    the step) and ``last`` (the step's final element)."""
    return data.StructLayout({"data": shape, "index": index_shape(elements), "last": 1})


class RowWriter(wiring.Component):
    """Writes the elements of each step, in order, into rows of ``lanes`` elements (lane k of row r holds
    element r*lanes + k; lanes past the step's last element are zero) of bank b of a memory holding two
    banks of ``rows`` rows (bank b at rows b*rows ..); the bank flips after each step's last element.

    Parameters
    ----------
    lanes : int          L, elements per row (1..1024)
    elements : int       most elements of one step (1..2**20)
    rows : int           rows of one bank, at least ceil(elements / lanes)
    bits : int           element width (signed elements, two's complement in the row)
    first_bank : int     bank written by the first step after reset (0 or 1)
    fixed_count : bool   every step has ``elements`` elements (no ``count`` port; the step's end is then
                         known a cycle ahead and registered)

    Ports
    -----
    i : In(stream, always ready)   payload ``data``: one element per transfer
    count : In                     (without fixed_count) elements per step (1..elements), read with a
                                   ``restart`` element and held for the steps that follow
    restart : In(1)                (without fixed_count) the element taken in this cycle starts a sequence
                                   of steps of ``count`` elements (the first element after reset must)
    write : In(memory.WritePort.Signature)  the row memory's write port (one write per completed row)
    seen : Out(stream, always ready)  every taken element with its ``index`` and ``last`` (step end),
                                      in the cycle it is taken (observers: sign bits, step control)
    bank : Out(1)                  the bank being written

    Latency: a row is written in the cycle its final element is taken (:attr:`latency` = 0); ``seen``
    is combinational from ``i``.
    """

    latency = 0

    def __init__(self, lanes: int, elements: int, rows: int, bits: int, first_bank: int = 0,
                 fixed_count: bool = False):
        try:
            self.lanes = check_int("RowWriter lanes", lanes, 1, 1024)
            self.elements = check_int("RowWriter elements", elements, 1, 1 << 20)
            self.rows = check_int("RowWriter rows", rows, -(-elements // lanes), 1 << 24)
            self.bits = check_int("RowWriter bits", bits, 2, 64)
            self.first_bank = check_int("RowWriter first_bank", first_bank, 0, 1)
        except (TypeError, ValueError):
            silence_unused(self)
            raise
        self.fixed_count = bool(fixed_count)
        self.row_layout = data.ArrayLayout(signed(bits), lanes)
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"data": signed(bits)}), always_ready=True)),
            **({} if fixed_count else {"count": In(count_shape(elements)), "restart": In(1)}),
            "write": write_port(2 * rows, lanes * bits),
            "seen": Out(stream.Signature(element_layout(elements, signed(bits)), always_ready=True)),
            "bank": Out(1, init=first_bank),
        })

    def elaborate(self, platform):
        m = Module()
        L = self.lanes
        k = Signal(index_shape(self.elements))
        # k + 1, held beside k: the step's end is an equality with ``count`` (no subtraction before it)
        k1 = Signal(count_shape(self.elements), init=1)
        lane = Signal(index_shape(L))
        row = Signal(index_shape(self.rows))
        reg = Signal(self.row_layout)
        value = self.i.payload.data
        fire = self.i.valid
        if self.fixed_count:
            # the next element ends the step: registered (from k1's next value), one gate less before
            # step_end, which resets the tile's counters
            step_end = Signal(init=self.elements == 1)
            with m.If(fire):
                m.d.sync += step_end.eq(Mux(step_end, self.elements == 1, k1 + 1 == self.elements))
        else:
            # whether the next element ends its step, registered from k1's next value (as with
            # fixed_count), so the write address and the step end wait on no compare after the take (the
            # iCE40 memoizing tile's critical path ran from the x admission through k1 == count into the
            # row counter); a restart element (k1 = 1) compares the new count, from the input alone
            held, ends_next = Signal.like(self.count), Signal()
            count = Mux(self.restart, self.count, held)
            step_end = Mux(self.restart, self.count == 1, ends_next)
            with m.If(fire):
                m.d.sync += ends_next.eq(Mux(step_end, count == 1, k1 + 1 == count))
                with m.If(self.restart):
                    m.d.sync += held.eq(self.count)
        row_end = (lane == L - 1) | step_end
        m.d.comb += [
            self.write.addr.eq(Mux(self.bank, self.rows, 0) + row),
            self.write.data.eq(Cat(*(Mux(lane == n, value, reg[n]) for n in range(L)))),
            self.write.en.eq(fire & row_end),
            self.seen.valid.eq(fire),
            self.seen.payload.data.eq(value),
            self.seen.payload.index.eq(k),
            self.seen.payload.last.eq(step_end),
        ]
        with m.If(fire):
            with m.If(row_end):
                m.d.sync += [reg.eq(0), lane.eq(0), row.eq(row + 1)]
            with m.Else():
                m.d.sync += lane.eq(lane + 1)
                for n in range(L):
                    with m.If(lane == n):
                        m.d.sync += reg[n].eq(value)
            with m.If(step_end):
                m.d.sync += [k.eq(0), k1.eq(1), row.eq(0), self.bank.eq(~self.bank)]
            with m.Else():
                m.d.sync += [k.eq(k1), k1.eq(k1 + 1)]
        return m
