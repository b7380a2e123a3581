"""Merge stage of the tile: neuron outputs back in issue order, hits from the cache, misses from the
activation unit, gathered per hidden unit into the element-wise unit's input. See ``docs/hw/tile_parts.md``.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .activation import activation_layouts
from .gru import GruStateUnit
from .lstm_cell import LstmCellUnit
from .pipeline import SkidBuffer
from .shapes import index_shape, memory_depth, read_port
from .tile_front_end import decision_layout, update_layout
from .tile_params import TileParams, check_part_params

__all__ = ["EW_DEPTH", "Merge", "update_unit_class"]

#: Depth of the element-wise input queue (:meth:`Merge._element_input`).
EW_DEPTH = 2


def update_unit_class(cell: str) -> type:
    """The element-wise update unit of a cell type."""
    return GruStateUnit if cell == "gru" else LstmCellUnit


class Merge(wiring.Component):
    """Takes one token per neuron in issue order (every neuron is computed without a front end): a hit
    takes the cached ``y``, a miss the activation unit's next output (and sends the front end the
    neuron's ``update``). Gates 0..G-2 of hidden unit j are held; with gate G-1 the element-wise input
    register is loaded (LSTM i, f, g, o and c_j; GRU z, n and h_{t-1,j}), the old state element read
    ahead at j through ``old`` (c memory, or the h bank holding h_{t-1}; zero on the first step).

    Parameters: ``params`` (:class:`~hw.tile_params.TileParams`), ``predicted`` (``tokens`` and
    ``update`` exist).

    Ports
    -----
    tokens : In(stream)   (predicted) decisions of the issued neurons, in order
    act : In(stream)      ActivationUnit output (the computed neurons, in order)
    update : Out(stream, always ready)  (predicted) ``index``, ``y``, ``p``, ``context`` of every computed
                          neuron
    ew : Out(stream)      element-wise unit input (LstmCellUnit / GruStateUnit layout)
    old : read port of the c memory (LSTM) or of the h buffer (GRU)
    step_reset, first_step, h_bank : In(1)
    r, r_unit, r_held : Out   (GRU) the held r gate of hidden unit ``r_unit`` (for the pairing)
    evaluated, reused : Out(1)  a neuron is merged in this cycle / it is a hit (performance counters)

    :attr:`latency` = 1: the element-wise input is valid the cycle after the hidden unit's last gate merges.
    """

    latency = 1

    def __init__(self, params: TileParams, predicted: bool):
        self.params = p = check_part_params(self, params, predicted=predicted)
        self.predicted = predicted
        act = signed(p.config.act.bits)
        gru = p.cell == "gru"
        members = {
            "act": In(stream.Signature(activation_layouts(p.config)[1])),
            "ew": Out(stream.Signature(update_unit_class(p.cell).layouts(p.config)[0])),
            "old": (read_port(2 * p.h_rows, p.lanes * p.config.act.bits) if gru
                    else read_port(memory_depth(p.hidden), p.config.cell.bits)),
            "step_reset": In(1), "first_step": In(1), "h_bank": In(1),
            "evaluated": Out(1), "reused": Out(1),
        }
        if gru:
            members.update({"r": Out(act), "r_unit": Out(index_shape(p.hidden)), "r_held": Out(1)})
        if predicted:
            context = p.front_end.context_shape(p)
            members["tokens"] = In(stream.Signature(decision_layout(p, context)))
            members["update"] = Out(stream.Signature(update_layout(p, context), always_ready=True))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p = self.params
        G, H, L = p.gates, p.hidden, p.lanes
        # the activation results wait here while the merge takes hits, so a hit never holds the activation
        # unit, the dot product and the beats back (the cycle model has no such stall), and the ready
        # chain from the state update stops here
        m.submodules.skid = skid = SkidBuffer(activation_layouts(p.config)[1])
        wiring.connect(m, wiring.flipped(self.act), skid.i)
        results = skid.o
        act = signed(p.config.act.bits)
        m_g, m_j, m_n = Signal(index_shape(G)), Signal(index_shape(H)), Signal(index_shape(p.neurons))
        m_lane, m_row = Signal(index_shape(L)), Signal(index_shape(p.h_rows))
        gates = [Signal(act, name=f"gate{k}") for k in range(G - 1)]
        if self.predicted:
            tok_avail, t_hit, t_y = self.tokens.valid, self.tokens.payload.hit, self.tokens.payload.y
        else:
            tok_avail, t_hit, t_y = Const(1), Const(0), Const(0)
        last_gate = m_g == G - 1
        ew_room = Signal()          # the element-wise input queue has room (a register)
        sink_ok = ~last_gate | ew_room
        fire = Signal()
        y = Signal(act)
        m.d.comb += [
            fire.eq(tok_avail & (t_hit | results.valid) & sink_ok),
            y.eq(Mux(t_hit, t_y, results.payload.value)),
            results.ready.eq(tok_avail & ~t_hit & sink_ok),
            self.evaluated.eq(fire),
            self.reused.eq(fire & t_hit),
        ]
        if self.predicted:
            m.d.comb += [
                self.tokens.ready.eq(fire),
                self.update.valid.eq(fire & ~t_hit),
                self.update.payload.index.eq(m_n),
                self.update.payload.y.eq(y),
                self.update.payload.p.eq(results.payload.preact),
                self.update.payload.context.eq(self.tokens.payload.context),
            ]
        if p.cell == "gru":
            m.d.comb += [self.r.eq(gates[0]), self.r_unit.eq(m_j), self.r_held.eq(m_g != 0)]
        old = self._old_state(m, m_j, m_lane, m_row)
        with m.If(fire):
            m.d.sync += [m_g.eq(m_g + 1), m_n.eq(m_n + 1)]
            for k in range(G - 1):
                with m.If(m_g == k):
                    m.d.sync += gates[k].eq(y)
            with m.If(last_gate):
                m.d.sync += [m_g.eq(0), m_j.eq(m_j + 1), m_lane.eq(m_lane + 1)]
                with m.If(m_lane == L - 1):
                    m.d.sync += [m_lane.eq(0), m_row.eq(m_row + 1)]
        with m.If(self.step_reset):
            m.d.sync += [m_g.eq(0), m_j.eq(0), m_n.eq(0), m_lane.eq(0), m_row.eq(0)]
        self._element_input(m, fire & last_gate, gates, y, Mux(self.first_step, 0, old), ew_room)
        return m

    def _old_state(self, m, m_j, m_lane, m_row):
        """The old state element of hidden unit ``m_j``: c_j (LSTM) or h_{t-1,j} (GRU), read ahead."""
        p = self.params
        if p.cell != "gru":
            m.d.comb += [self.old.addr.eq(m_j), self.old.en.eq(1)]
            return self.old.data.as_signed()
        m.d.comb += [self.old.addr.eq(Mux(self.h_bank, p.h_rows, 0) + m_row), self.old.en.eq(1)]
        lane_sel = Signal(index_shape(p.lanes))
        m.d.sync += lane_sel.eq(m_lane)
        return data.ArrayLayout(signed(p.config.act.bits), p.lanes)(self.old.data)[lane_sel]

    def _element_input(self, m, load, gates, y, old, room):
        """The element-wise input: a queue of :data:`EW_DEPTH` written with a hidden unit's last gate and
        read as the ``ew`` stream (an entry written in cycle t is on ``ew`` from t + 1, as from a register);
        ``room`` is registered (the queue was empty a cycle ago: at most one entry is written per cycle,
        and a hidden unit has G >= 3 gates), so the merge's take waits on no ready of the element-wise unit
        (the iCE40 memoizing tile's critical path ran from the output FIFO through it)."""
        ew = self.ew
        layout = ew.payload.shape()
        m.submodules.ew_queue = queue = fifo.SyncFIFO(width=layout.size, depth=EW_DEPTH)
        entry = Signal(layout)
        m.d.sync += room.eq(queue.level < EW_DEPTH - 1)
        if self.params.cell == "gru":
            m.d.comb += [entry.z.eq(gates[1]), entry.n.eq(y), entry.h.eq(old)]
        else:
            m.d.comb += [entry.i.eq(gates[0]), entry.f.eq(gates[1]), entry.g.eq(gates[2]), entry.o.eq(y),
                         entry.c.eq(old)]
        m.d.comb += [queue.w_en.eq(load), queue.w_data.eq(entry), ew.valid.eq(queue.r_rdy),
                     ew.payload.eq(queue.r_data), queue.r_en.eq(ew.ready)]
