"""Step sequencer of the tile: admits the x stream, samples a sequence's run-time inputs and runs the steps.

See ``docs/hw/tile_parts.md`` (step controls) and ``docs/tile.md`` (stream rules, step barrier).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .shapes import count_shape, index_shape, sequence_layout
from .tile_params import TileParams, check_part_params

__all__ = ["StepSequencer", "x_layout"]


def x_layout(params: TileParams) -> data.StructLayout:
    """Payload of the tile's ``x`` stream: ``data``, ``first`` (starts a sequence), ``last`` (ends it)."""
    return sequence_layout(params.config.act.bits)


class StepSequencer(wiring.Component):
    """Sequence and step control of one tile.

    ``x`` is admitted under the tile's stream rules (docs/tile.md): a ``first`` element only while idle
    (it starts a sequence: ``seq_start``, and ``n_x``/``slot`` are sampled), other elements only inside a
    sequence, before its ``last`` element and while the x bank being written is free. Admitted elements
    leave on ``elements`` to the x :class:`~hw.tile_rows.RowWriter`, whose step ends (``x_step_end``)
    and ``bank`` come back here. A step starts when the x bank it reads is loaded and no step runs; it
    ends with ``step_end`` (the state update writes the step's last h); then the banks swap.

    Parameters: ``params`` (:class:`~hw.tile_params.TileParams`).

    Ports
    -----
    x : In(stream)              the tile's x stream (``data``, ``first``, ``last``)
    n_x_in, slot_in : In        the tile's ``n_x`` and ``slot`` inputs (sampled with ``first``)
    elements : Out(stream, always ready)  admitted x elements to the row writer
    x_step_end : In(1)          the row writer takes the last x element of a step in this cycle
    x_bank : In(1)              the x bank the row writer fills
    step_end : In(1)            the running step's last h is written in this cycle
    seq_start : Out(1)          a sequence starts in this cycle (its ``first`` element is taken)
    step_start : Out(1)         the next step starts computing in this cycle
    step_reset : Out(1)         step_end | seq_start: the per-step counters return to the step's start
    go : Out(1)                 a step computes in this cycle
    active : Out(1)             a sequence is in progress
    first_step, last_step : Out(1)  the running (or next) step is the sequence's first / last
    read_bank, h_bank : Out(1)  x bank the running step reads; h bank holding h_{t-1}
    n_x, slot : Out             the sequence's n_x and slot (the inputs while idle, so in the ``seq_start``
                                cycle)
    x_wait : Out(1)             stall term: no step runs because the next step's x is not there
    step : Out                  index of the running step in the sequence (``max_steps`` sizes it)

    :attr:`latency` = 1: the next step starts at the earliest one cycle after ``step_end``.
    """

    latency = 1

    def __init__(self, params: TileParams):
        self.params = p = check_part_params(self, params)
        act = signed(p.config.act.bits)
        super().__init__({
            "x": In(stream.Signature(x_layout(p))),
            "n_x_in": In(count_shape(p.input_size)),
            "slot_in": In(index_shape(p.slots)),
            "elements": Out(stream.Signature(data.StructLayout({"data": act}), always_ready=True)),
            "x_step_end": In(1),
            "x_bank": In(1),
            "step_end": In(1),
            "seq_start": Out(1), "step_start": Out(1), "step_reset": Out(1), "go": Out(1),
            "active": Out(1), "first_step": Out(1), "last_step": Out(1),
            "read_bank": Out(1), "h_bank": Out(1),
            "n_x": Out(count_shape(p.input_size)),
            "slot": Out(index_shape(p.slots)),
            "x_wait": Out(1),
            "step": Out(p.step_bits),
        })

    def elaborate(self, platform):
        m = Module()
        x = self.x
        step_run = Signal()         # a step is computing
        got_last = Signal()         # the x element with `last` has been taken
        nx_r = Signal.like(self.n_x)
        slot_r = Signal.like(self.slot)
        full = Signal(2)            # x bank loaded
        lastflag = Signal(2)        # x bank holds the sequence's last step
        idle = ~self.active
        bank_full = Signal()        # the x bank being written is loaded (registered like may_start)
        x_fire = Signal()
        x_step_end = self.x_step_end
        # may_start: a sequence is active and the x bank the next step reads is loaded, registered from
        # the next state of those flags, so ``go`` (which every part's counters wait on) is one gate
        # from flip-flops, and ``seq_start`` (which resets them) one gate from the x stream
        full_n, read_bank_n, active_n, may_start = Signal(2), Signal(), Signal(), Signal()
        m.d.comb += [full_n.eq(full), read_bank_n.eq(self.read_bank ^ self.step_end), active_n.eq(self.active)]
        with m.If(x_step_end):
            m.d.comb += full_n.bit_select(self.x_bank, 1).eq(1)
        with m.If(self.step_end):
            m.d.comb += full_n.bit_select(self.read_bank, 1).eq(0)
            with m.If(self.last_step):
                m.d.comb += active_n.eq(0)
        with m.If(self.seq_start):
            m.d.comb += active_n.eq(1)
        # loaded only on an event (nothing else changes them), so an x stream left undriven before the
        # first sequence cannot make them unknown in a 4-state simulator
        may_start_n = Signal()
        m.d.comb += may_start_n.eq(may_start)
        with m.If(x_step_end | self.step_end | self.seq_start):
            m.d.comb += may_start_n.eq(active_n & full_n.bit_select(read_bank_n, 1))
            m.d.sync += [full.eq(full_n), self.read_bank.eq(read_bank_n), self.active.eq(active_n),
                         bank_full.eq(full_n.bit_select(self.x_bank ^ x_step_end, 1))]   # the writer's next bank
        # go (= step_run | may_start) is itself a register, loaded with the next state of both (step_run's:
        # go & ~step_end), so every part's counters wait on a flip-flop, not on a gate after two
        m.d.sync += [may_start.eq(may_start_n), self.go.eq((self.go & ~self.step_end) | may_start_n)]
        m.d.comb += [
            x.ready.eq(Mux(idle, x.payload.first, ~got_last & ~x.payload.first & ~bank_full)),
            x_fire.eq(x.valid & x.ready),
            self.seq_start.eq(x.valid & idle & x.payload.first),   # = x_fire & idle, in one gate
            self.elements.valid.eq(x_fire),
            self.elements.payload.data.eq(x.payload.data),
            # the inputs while idle (so in the seq_start cycle, where the parts sample them), selected by a
            # flip-flop: no path from the x stream through seq_start into the parts' registers (the ECP5
            # memoizing tile's critical path ran from x.valid through here into the BNN's x/h masks)
            self.n_x.eq(Mux(idle, self.n_x_in, nx_r)),
            self.slot.eq(Mux(idle, self.slot_in, slot_r)),
            self.step_start.eq(~step_run & may_start),
            self.step_reset.eq(self.step_end | self.seq_start),
            self.x_wait.eq(self.active & ~step_run & ~may_start & ~x.valid),
        ]
        with m.If(x_step_end):
            for b in range(2):
                with m.If(self.x_bank == b):
                    m.d.sync += lastflag[b].eq(x.payload.last)
            with m.If(x.payload.last):
                m.d.sync += got_last.eq(1)
        with m.If(self.seq_start):
            m.d.sync += [self.first_step.eq(1), self.step.eq(0), nx_r.eq(self.n_x_in), slot_r.eq(self.slot_in)]
            with m.If(~(x_step_end & x.payload.last)):
                m.d.sync += got_last.eq(0)
        with m.If(self.step_start):
            m.d.sync += [step_run.eq(1), self.last_step.eq(Mux(self.read_bank, lastflag[1], lastflag[0]))]
        with m.If(self.step_end):
            m.d.sync += [step_run.eq(0), self.h_bank.eq(~self.h_bank), self.first_step.eq(0),
                         self.step.eq(self.step + 1)]
        return m
