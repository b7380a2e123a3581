"""Delta change detector: at each step start, every input of [x_t ; h_{t-1}] against its reference, the
changed ones out as (part, index, delta) entries (docs/delta.md, *Hardware*).

Input i of the x part (0 <= i < n_x) and unit j of the h part (0 <= j < H) are read one per cycle from
the tile's row memories (lane i mod L of row i div L) and compared with the reference memory (x part at
i, h part at I_max + j): ``golden_model.intops.delta_update``, an input changed when |v - ref| >= theta
(theta_x or theta_h) and v != ref; then the reference moves to v and the entry carries v - ref. On a
sequence's first step every input is changed with delta v (the cleared memory: a full computation; h_{t-1}
is zero), so the reference memory needs no clearing.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model.formats import THETA_BITS

from .shapes import count_shape, index_shape, read_port
from .tile_params import TileParams, check_part_params

__all__ = ["ChangeDetector", "change_layout", "THETA_PART_BITS"]

#: The tile's 16-bit ``theta`` input holds theta_x in its low and theta_h in its high half.
THETA_PART_BITS = THETA_BITS // 2


def change_layout(params: TileParams) -> data.StructLayout:
    """A changed input: ``part`` (0 x, 1 h), ``index`` (i or j) and ``delta`` (v - ref, one bit wider than
    the activations)."""
    return data.StructLayout({"part": 1, "index": index_shape(max(params.input_size, params.hidden)),
                              "delta": signed(params.config.act.bits + 1)})


class ChangeDetector(wiring.Component):
    """The change detector of a delta tile (module docstring). Parameters: ``params`` (a
    :class:`~hw.tile_params.TileParams` with ``delta``).

    Ports
    -----
    start : In(1)            the step starts: compare its inputs
    seq_start : In(1)        a sequence starts: ``theta`` is sampled
    theta : In(THETA_BITS)   theta_x (low half) and theta_h (high half), activation-format LSBs
    first_step, read_bank, h_bank, n_x : In  step controls (StepSequencer)
    xbuf, hbuf : read ports of the tile's row memories
    changes : Out(stream, always ready)  the changed inputs, x part first, in index order
    done : Out(1)            pulses when the step's last input has been compared
    count_changed : Out(1)   an input is found changed in this cycle (the ``inputs_changed`` counter)

    :attr:`latency` = 2: ``done`` pulses n_x + H + 1 cycles after ``start``, the last entry with it.
    """

    latency = 2

    def __init__(self, params: TileParams):
        self.params = p = check_part_params(self, params)
        if not p.delta:
            raise ValueError("ChangeDetector needs a delta tile (TileParams.delta)")
        row_bits = p.lanes * p.config.act.bits
        super().__init__({
            "start": In(1), "seq_start": In(1), "theta": In(THETA_BITS),
            "first_step": In(1), "read_bank": In(1), "h_bank": In(1),
            "n_x": In(count_shape(p.input_size)),
            "xbuf": read_port(2 * p.x_rows, row_bits),
            "hbuf": read_port(2 * p.h_rows, row_bits),
            "changes": Out(stream.Signature(change_layout(p), always_ready=True)),
            "done": Out(1),
            "count_changed": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        L, KX, KH, H = p.lanes, p.x_rows, p.h_rows, p.hidden
        m.submodules.refs = refs = memory.Memory(shape=signed(p.config.act.bits), depth=max(2, p.columns), init=[])
        ref_rd, ref_wr = refs.read_port(), refs.write_port()
        theta = Signal(THETA_BITS)
        with m.If(self.seq_start):
            m.d.sync += theta.eq(self.theta)
        # stage 0: the input counters (part, index, its row and lane)
        busy, part = Signal(), Signal()
        index = Signal(index_shape(max(p.input_size, H) + 1))
        row, lane = Signal(index_shape(max(KX, KH))), Signal(index_shape(L))
        last = Mux(part, index == H - 1, 0)
        part_end = Mux(part, last, index == self.n_x - 1)
        with m.If(busy):
            m.d.sync += [index.eq(Mux(part_end, 0, index + 1)), lane.eq(Mux(part_end | (lane == L - 1), 0, lane + 1)),
                         row.eq(Mux(part_end, 0, Mux(lane == L - 1, row + 1, row))), part.eq(part | part_end)]
            with m.If(last):
                m.d.sync += busy.eq(0)
        with m.If(self.start):
            m.d.sync += [busy.eq(1), part.eq(0), index.eq(0), row.eq(0), lane.eq(0)]
        m.d.comb += [
            self.xbuf.addr.eq(Mux(self.read_bank, KX, 0) + row), self.xbuf.en.eq(busy),
            self.hbuf.addr.eq(Mux(self.h_bank, KH, 0) + row), self.hbuf.en.eq(busy),
            ref_rd.addr.eq(Mux(part, p.input_size + index, index)), ref_rd.en.eq(busy),
        ]
        # stage 1: compare with the reference; a changed input is an entry and moves its reference
        s1 = {"valid": Signal(), "part": Signal(), "index": Signal.like(index), "lane": Signal.like(lane),
              "last": Signal()}
        m.d.sync += [s1["valid"].eq(busy), s1["part"].eq(part), s1["index"].eq(index), s1["lane"].eq(lane),
                     s1["last"].eq(busy & last)]
        act = signed(p.config.act.bits)
        xrow = data.ArrayLayout(act, L)(self.xbuf.data)
        hrow = data.ArrayLayout(act, L)(self.hbuf.data)
        v = Signal(act)
        m.d.comb += v.eq(Mux(s1["part"], Mux(self.first_step, 0, hrow[s1["lane"]]), xrow[s1["lane"]]))
        ref = Mux(self.first_step, 0, ref_rd.data)
        delta = Signal(signed(p.config.act.bits + 1))
        threshold = Mux(s1["part"], theta[THETA_PART_BITS:], theta[:THETA_PART_BITS])
        m.d.comb += delta.eq(v - ref)
        magnitude = Mux(delta[-1], -delta, delta)
        changed = s1["valid"] & (self.first_step | ((magnitude >= threshold) & (delta != 0)))
        m.d.comb += [ref_wr.addr.eq(Mux(s1["part"], p.input_size + s1["index"], s1["index"])), ref_wr.data.eq(v),
                     ref_wr.en.eq(changed), self.count_changed.eq(changed)]
        out = self.changes.payload
        m.d.sync += [self.changes.valid.eq(changed), out.part.eq(s1["part"]), out.index.eq(s1["index"]),
                     out.delta.eq(delta), self.done.eq(s1["last"])]
        return m
