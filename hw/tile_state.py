"""State update and output of the tile: the element-wise unit, the h row writer, the c state and the h
output FIFO. See ``docs/hw/tile_parts.md``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .shapes import memory_depth, sequence_out_layout, write_port
from .tile_merge import update_unit_class
from .tile_params import TileParams, check_part_params
from .tile_rows import RowWriter, element_layout

__all__ = ["StateUpdate", "h_layout", "OUT_DEPTH"]

#: Depth of the h output FIFO.
OUT_DEPTH = 8


def h_layout(params: TileParams) -> data.StructLayout:
    """Payload of the tile's ``h`` stream: ``data``, ``last`` (the sequence's final element)."""
    return sequence_out_layout(params.config.act.bits)


class StateUpdate(wiring.Component):
    """The element-wise update (:class:`~hw.lstm_cell.LstmCellUnit` with c_j, or
    :class:`~hw.gru.GruStateUnit`) of each hidden unit in order; its h_t,j goes to the h buffer bank the
    next step reads (a :class:`~hw.tile_rows.RowWriter`, the same as the x writer), to the predictor
    (``h_seen``) and to the output FIFO (:data:`OUT_DEPTH`) -> ``h``; c_j to the c memory (LSTM).
    The step ends (``step_end``) when h_{t,H-1} is written.

    Ports
    -----
    i : In(stream)          element-wise unit input (from the merge stage)
    h : Out(stream)         the tile's h stream (``data``, ``last`` on the final element of the last step)
    last_step : In(1)       the running step is the sequence's last
    hbuf : write port of the h buffer (two banks of ceil(H/L) rows of L activations)
    cmem : (LSTM) write port of the c memory (H words)
    h_seen : Out(stream, always ready)  each new h element with its index and step end
    step_end : Out(1)       the step's last h is written in this cycle
    stalled : Out(1)        a result waits because the output FIFO is full
    pending : Out(1)        h elements wait in the output FIFO

    :attr:`latency` = the element-wise unit's (input transfer to result; it is written the same cycle).
    """

    def __init__(self, params: TileParams):
        self.params = p = check_part_params(self, params)
        cls = update_unit_class(p.cell)
        act_bits = p.config.act.bits
        members = {
            "i": In(stream.Signature(cls.layouts(p.config)[0])),
            "h": Out(stream.Signature(h_layout(p))),
            "last_step": In(1),
            "hbuf": write_port(2 * p.h_rows, p.lanes * act_bits),
            "h_seen": Out(stream.Signature(element_layout(p.hidden, signed(act_bits)), always_ready=True)),
            "step_end": Out(1), "stalled": Out(1), "pending": Out(1),
        }
        if p.cell != "gru":
            members["cmem"] = write_port(memory_depth(p.hidden), p.config.cell.bits)
        super().__init__(members)
        self.unit = cls(p.config)
        self.h_writer = RowWriter(p.lanes, p.hidden, p.h_rows, act_bits, first_bank=1, fixed_count=True)

    @property
    def latency(self) -> int:
        return self.unit.latency

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.unit = unit = self.unit
        m.submodules.h_writer = hw = self.h_writer
        # room in the output FIFO, registered (its level a cycle ago below OUT_DEPTH - 1: at most one h is
        # written per cycle; one spare entry so that it never overflows), so the ready chain through the
        # element-wise unit and the merge starts at a flip-flop, not at the FIFO's level compare
        m.submodules.out = out = fifo.SyncFIFOBuffered(width=h_layout(p).size, depth=OUT_DEPTH + 1)
        room = Signal()
        m.d.sync += room.eq(out.level < OUT_DEPTH - 1)
        wiring.connect(m, wiring.flipped(self.i), unit.i)
        wiring.connect(m, wiring.flipped(self.hbuf), hw.write)
        wiring.connect(m, wiring.flipped(self.h_seen), hw.seen)
        fire = unit.o.valid & room
        h_new = unit.o.payload.h
        step_last = hw.seen.payload.last
        m.d.comb += [
            hw.i.valid.eq(fire),
            hw.i.payload.data.eq(h_new),
            unit.o.ready.eq(room),
            out.w_en.eq(fire),
            out.w_data.eq(Cat(h_new, self.last_step & step_last)),
            self.step_end.eq(fire & step_last),
            self.stalled.eq(unit.o.valid & ~room),
            self.pending.eq(out.r_rdy),
        ]
        if p.cell != "gru":
            m.d.comb += [self.cmem.addr.eq(hw.seen.payload.index), self.cmem.data.eq(unit.o.payload.c),
                         self.cmem.en.eq(fire)]
        wiring.connect(m, wiring.flipped(self.h), out.r_stream)
        return m
