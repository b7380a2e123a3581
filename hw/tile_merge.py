"""Merge stage of the tile: neuron outputs back in issue order, hits from the cache, misses from the
activation unit, gathered per hidden unit into the element-wise unit's input. See ``docs/hw/tile_parts.md``.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .activation import ActivationUnit, activation_layouts
from .gru import GruCandidateUnit, GruStateUnit
from .lstm_cell import LstmCellUnit
from .pipeline import SkidBuffer
from .shapes import count_shape, index_shape, memory_depth, read_port
from .tile_front_end import decision_layout, update_layout
from .tile_params import TileParams, ceil_div, check_part_params

__all__ = ["EW_DEPTH", "Merge", "candidate_lag", "candidate_r_wait", "ew_depth", "gru_candidate_next", "gru_order",
           "r_port_layouts", "r_slots", "update_unit_class"]

#: Depth of the element-wise input queue (:meth:`Merge._element_input`) while hidden units complete at
#: most every other cycle; one more where they complete back to back (:func:`ew_depth`).
EW_DEPTH = 2


def update_unit_class(cell: str) -> type:
    """The element-wise update unit of a cell type."""
    return GruStateUnit if cell == "gru" else LstmCellUnit


class Merge(wiring.Component):
    """Takes one token per neuron in issue order (every neuron is computed without a front end): a hit
    takes the cached ``y``, a miss the activation unit's next output (and sends the front end the
    neuron's ``update``). The gates before a hidden unit's last are held (LSTM i, f, g; GRU r and z, in
    :func:`r_slots` slots, the delta tile's candidates coming in :func:`gru_order`); with the last (LSTM
    o, GRU n) the element-wise input register is loaded (LSTM i, f, g, o and c_j; GRU z, n and
    h_{t-1,j}), the old state element read ahead at j through ``old`` (c memory, or the h bank holding
    h_{t-1}; zero on the first step).

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
    r, r_unit, r_held : Out   (GRU) per slot, the held r gate of hidden unit ``r_unit`` (for the pairing)
    evaluated, reused : Out(1)  a neuron is merged in this cycle / it is a hit (performance counters)

    :attr:`latency` = 1: the element-wise input is valid the cycle after the hidden unit's last gate merges.
    """

    latency = 1

    def __init__(self, params: TileParams, predicted: bool):
        self.params = p = check_part_params(self, params, predicted=predicted)
        self.predicted = predicted
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
            members.update({name: Out(shape) for name, shape in r_port_layouts(p).items()})
        if predicted:
            context = p.front_end.context_shape(p)
            members["tokens"] = In(stream.Signature(decision_layout(p, context)))
            members["update"] = Out(stream.Signature(update_layout(p, context), always_ready=True))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p = self.params
        H, L = p.hidden, p.lanes
        # the activation results wait here while the merge takes hits, so a hit never holds the activation
        # unit, the dot product and the beats back (the cycle model has no such stall), and the ready
        # chain from the state update stops here
        m.submodules.skid = skid = SkidBuffer(activation_layouts(p.config)[1])
        wiring.connect(m, wiring.flipped(self.act), skid.i)
        results = skid.o
        act = signed(p.config.act.bits)
        m_j, m_n = Signal(index_shape(H)), Signal(index_shape(p.neurons))
        m_lane, m_row = Signal(index_shape(L)), Signal(index_shape(p.h_rows))
        if self.predicted:
            tok_avail, t_hit, t_y = self.tokens.valid, self.tokens.payload.hit, self.tokens.payload.y
        else:
            tok_avail, t_hit, t_y = Const(1), Const(0), Const(0)
        last_gate = Signal()        # the result that completes a hidden unit (LSTM o, GRU n) is next
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
        held = (self._gru_gates if p.cell == "gru" else self._lstm_gates)(m, fire, y, last_gate, m_j)
        old = self._old_state(m, m_j, m_lane, m_row, fire & last_gate)
        with m.If(fire):
            m.d.sync += m_n.eq(m_n + 1)
            with m.If(last_gate):
                m.d.sync += [m_j.eq(m_j + 1), m_lane.eq(m_lane + 1)]
                with m.If(m_lane == L - 1):
                    m.d.sync += [m_lane.eq(0), m_row.eq(m_row + 1)]
        with m.If(self.step_reset):
            m.d.sync += [m_j.eq(0), m_n.eq(0), m_lane.eq(0), m_row.eq(0)]
        self._element_input(m, fire & last_gate, held, y, Mux(self.first_step, 0, old), ew_room)
        return m

    def _lstm_gates(self, m, fire, y, last_gate, m_j) -> list:
        """LSTM: the results come in gate order per hidden unit; gates i, f, g are held for the o gate."""
        G, act = self.params.gates, signed(self.params.config.act.bits)
        m_g = Signal(index_shape(G))
        gates = [Signal(act, name=f"gate{k}") for k in range(G - 1)]
        m.d.comb += last_gate.eq(m_g == G - 1)
        with m.If(fire):
            m.d.sync += m_g.eq(Mux(last_gate, 0, m_g + 1))
            for k in range(G - 1):
                with m.If(m_g == k):
                    m.d.sync += gates[k].eq(y)
        with m.If(self.step_reset):
            m.d.sync += m_g.eq(0)
        return gates

    def _gru_gates(self, m, fire, y, last_gate, m_j) -> list:
        """GRU: the results come in :func:`gru_order` (a unit's r and z, its candidate n up to
        :func:`candidate_lag` units later). r and z wait in :func:`r_slots` slots, written in turn with
        each unit's r and z and freed by its n, which reads its z; the held r go to the pairing
        (``r``, ``r_unit``, ``r_held``: one entry per slot). Returns [the z of the next n's unit]."""
        p = self.params
        slots, act = r_slots(p), signed(p.config.act.bits)
        rz_units, phase = Signal(count_shape(p.hidden)), Signal()   # units whose r and z merged; z next
        rz_slot, n_slot = Signal(index_shape(slots)), Signal(index_shape(slots))
        z = [Signal(act, name=f"z{s}") for s in range(slots)]
        m.d.comb += last_gate.eq(gru_candidate_next(rz_units, m_j, phase, p))
        with m.If(fire):
            with m.If(last_gate):
                m.d.sync += n_slot.eq(Mux(n_slot == slots - 1, 0, n_slot + 1))
            with m.Elif(phase):
                m.d.sync += [phase.eq(0), rz_units.eq(rz_units + 1),
                             rz_slot.eq(Mux(rz_slot == slots - 1, 0, rz_slot + 1))]
            with m.Else():
                m.d.sync += phase.eq(1)
        for s in range(slots):
            with m.If(fire & (rz_slot == s) & ~last_gate):
                with m.If(phase):
                    m.d.sync += z[s].eq(y)
                with m.Else():
                    m.d.sync += [self.r[s].eq(y), self.r_unit[s].eq(rz_units), self.r_held[s].eq(1)]
            with m.If(fire & (n_slot == s) & last_gate):
                m.d.sync += self.r_held[s].eq(0)
        with m.If(self.step_reset):
            m.d.sync += [rz_units.eq(0), phase.eq(0), rz_slot.eq(0), n_slot.eq(0), self.r_held.eq(0)]
        z_of_n = z[0]
        for s in range(1, slots):
            z_of_n = Mux(n_slot == s, z[s], z_of_n)
        return [z_of_n]

    def _old_state(self, m, m_j, m_lane, m_row, unit_done):
        """The old state element of hidden unit ``m_j``: c_j (LSTM) or h_{t-1,j} (GRU), read ahead. The
        read is registered, so unit j's is there one cycle after ``m_j`` moved to j: enough while a unit
        has G results, but the delta GRU's trailing candidates (:func:`candidate_lag`) complete units in
        consecutive cycles, so there the address moves on with the completing result (``unit_done``)."""
        p = self.params
        if p.cell != "gru":
            m.d.comb += [self.old.addr.eq(m_j), self.old.en.eq(1)]
            return self.old.data.as_signed()
        lane, row = m_lane, m_row
        if candidate_lag(p) > 0:
            lane = Mux(unit_done, Mux(m_lane == p.lanes - 1, 0, m_lane + 1), m_lane)
            row = m_row + (unit_done & (m_lane == p.lanes - 1))
        m.d.comb += [self.old.addr.eq(Mux(self.h_bank, p.h_rows, 0) + row), self.old.en.eq(1)]
        lane_sel = Signal(index_shape(p.lanes))
        m.d.sync += lane_sel.eq(lane)
        return data.ArrayLayout(signed(p.config.act.bits), p.lanes)(self.old.data)[lane_sel]

    def _element_input(self, m, load, held, y, old, room):
        """The element-wise input: a queue of :func:`ew_depth` written with a hidden unit's last gate and
        read as the ``ew`` stream (an entry written in cycle t is on ``ew`` from t + 1, as from a register);
        ``room`` is registered (the queue was empty a cycle ago and at most one entry is written per
        cycle, so it never overflows), so the merge's take waits on no ready of the element-wise unit
        (the iCE40 memoizing tile's critical path ran from the output FIFO through it)."""
        ew = self.ew
        layout = ew.payload.shape()
        depth = ew_depth(self.params)
        m.submodules.ew_queue = queue = fifo.SyncFIFO(width=layout.size, depth=depth)
        entry = Signal(layout)
        m.d.sync += room.eq(queue.level < depth - 1)
        if self.params.cell == "gru":
            m.d.comb += [entry.z.eq(held[0]), entry.n.eq(y), entry.h.eq(old)]
        else:
            m.d.comb += [entry.i.eq(held[0]), entry.f.eq(held[1]), entry.g.eq(held[2]), entry.o.eq(y),
                         entry.c.eq(old)]
        m.d.comb += [queue.w_en.eq(load), queue.w_data.eq(entry), ew.valid.eq(queue.r_rdy),
                     ew.payload.eq(queue.r_data), queue.r_en.eq(ew.ready)]


def candidate_r_wait() -> int:
    """GRU: cycles from a unit's r entering the candidate unit to the merge holding it for the unit's
    candidate (the candidate unit, the activation, the merge)."""
    return GruCandidateUnit.latency + ActivationUnit.latency + Merge.latency


def candidate_lag(params: TileParams) -> int:
    """Hidden units a GRU candidate trails its unit's r and z in the delta tile's emission order
    (:func:`gru_order`; 0 on every other tile, whose issue order is n = j*G + g). The delta emitter gives
    one result per cycle, a candidate whole (both parts), so with a lag of k a unit's n follows its r by
    3k + 2 results: the smallest k that covers :func:`candidate_r_wait` (docs/delta.md, *Cycle model*)."""
    if not (params.delta and params.cell == "gru"):
        return 0
    return max(0, ceil_div(candidate_r_wait() - 2, 3))


def ew_depth(params: TileParams) -> int:
    """Depth of the element-wise input queue: :data:`EW_DEPTH`, plus one where the delta GRU's trailing
    candidates complete units in consecutive cycles (the registered room then still admits each of
    them while the element-wise unit takes one per cycle, as the cycle model has it)."""
    return EW_DEPTH + (candidate_lag(params) > 0)


def r_slots(params: TileParams) -> int:
    """GRU: the r (and z) values the merge holds at once: the units of one candidate lag, plus one."""
    return candidate_lag(params) + 1


def r_port_layouts(params: TileParams) -> dict:
    """GRU: shapes of the merge's held-r outputs (the pairing's inputs), one entry per :func:`r_slots`."""
    slots = r_slots(params)
    return {"r": data.ArrayLayout(signed(params.config.act.bits), slots),
            "r_unit": data.ArrayLayout(index_shape(params.hidden), slots), "r_held": slots}


def gru_candidate_next(rz_units, n_units, phase, params: TileParams):
    """GRU emission order: after ``rz_units`` units' r and z and ``n_units`` candidates (``phase``: the
    next unit's r is out, its z next), is the next result a candidate? Yes once every unit's r and z
    are out, between units while the candidates trail by more than :func:`candidate_lag`, and once the
    last unit's r is out, for the candidates before it (they go ahead of its z, which is in the group
    the engine finishes last, so a step ends with the last unit's z and n). Works on
    ints (:func:`gru_order`) and on Amaranth values (the emitter and the merge), so the order is defined
    once."""
    H, lag = params.hidden, candidate_lag(params)
    nxt = (rz_units == H) | ((phase == 0) & (rz_units - n_units > lag))
    if lag > 0 and H > 1:   # (in issue order, and with one unit, no candidate is before the last unit's z)
        nxt = nxt | ((phase == 1) & (rz_units == H - 1) & (n_units < H - 1))
    return nxt


def gru_order(params: TileParams) -> list[int]:
    """The GRU neurons n = j*G + g of one step in emission order (:func:`gru_candidate_next`); lag 0
    is the issue order 0, 1, 2, ..."""
    out, rz_units, n_units, phase = [], 0, 0, 0
    while n_units < params.hidden:
        if gru_candidate_next(rz_units, n_units, phase, params):
            out.append(n_units * params.gates + 2)
            n_units += 1
        else:
            out.append(rz_units * params.gates + phase)
            rz_units, phase = rz_units + phase, 1 - phase
    return out
