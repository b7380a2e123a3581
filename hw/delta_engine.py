"""Delta correction engine: the per-neuron accumulator memories corrected by the step's changed inputs,
column-oriented (docs/delta.md, *Hardware*).

The changed inputs of the step (from :class:`hw.delta_detect.ChangeDetector`) are kept in a list memory
(x entries from 0, h entries from I_max). For each group g of L neurons (issue order n = g*L + lane) the
engine loads the group's two accumulators (input part, recurrent part: the two the baseline keeps apart;
zero on a sequence's first step), adds ``W[n, col] * delta`` of every changed input, one input per cycle
on the L lanes (the weights are stored input-major: word ``(slot * (I_max + H) + col) * NG + g`` holds
the group's L weights of column col), and writes the accumulators back; ``groups_done`` tells the
emitter (:class:`hw.delta_emit.DeltaEmitter`) which groups are final. A group costs 1 + (changed inputs)
cycles.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .delta_detect import change_layout
from .shapes import count_shape, index_shape, read_port
from .tile_params import TileParams, check_part_params

__all__ = ["DeltaEngine", "accumulator_layout"]


class _Slot(enum.Enum, shape=2):
    NONE = 0
    HEADER = 1   # a group's start: load its accumulators (and write back the previous group's)
    X = 2        # a changed input of the x part
    H = 3        # a changed input of the h part


def accumulator_layout(params: TileParams) -> data.ArrayLayout:
    """A word of an accumulator memory: the L neurons of one group, each ``acc_bits`` wide."""
    return data.ArrayLayout(signed(params.acc_bits), params.lanes)


def accumulator_port(params: TileParams) -> memory.ReadPort.Signature:
    """A read port of an accumulator memory (one word per group of L neurons)."""
    return memory.ReadPort.Signature(addr_width=ceil_log2(max(2, params.neuron_groups)),
                                     shape=accumulator_layout(params))


class DeltaEngine(wiring.Component):
    """The correction engine of a delta tile (module docstring). Parameters: ``params`` (a
    :class:`~hw.tile_params.TileParams` with ``delta``).

    Ports
    -----
    start : In(1)            the step starts (the detector starts: the change list is refilled)
    detected : In(1)         the detector's ``done``: correct the accumulators
    step_reset, first_step : In(1)  step controls
    slot : In                the sequence's slot (weight base)
    changes : In(stream, always ready)  the detector's changed inputs
    weight : read port of the input-major weight memory
    acc_x, acc_h : read ports of the accumulator memories, for the emitter (its ``acc_*`` ports)
    groups_done : Out        groups whose accumulators are final in this step
    count_corrections : Out(1)  a changed input updates a group's L neurons in this cycle (``corrections``)

    :attr:`latency` = 3: a group's accumulators are written back 3 cycles after its last slot is issued.
    """

    latency = 3

    def __init__(self, params: TileParams):
        self.params = p = check_part_params(self, params)
        if not p.delta:
            raise ValueError("DeltaEngine needs a delta tile (TileParams.delta)")
        depths, widths = p.depths(), p.widths()
        super().__init__({
            "start": In(1), "detected": In(1), "step_reset": In(1), "first_step": In(1),
            "slot": In(index_shape(p.slots)),
            "changes": In(stream.Signature(change_layout(p), always_ready=True)),
            "weight": read_port(depths["weight"], widths["weight"]),
            "acc_x": Out(accumulator_port(p)),
            "acc_h": Out(accumulator_port(p)),
            "groups_done": Out(count_shape(p.neuron_groups)),
            "count_corrections": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        entry = data.StructLayout({"index": change_layout(p)["index"].shape, "delta": change_layout(p)["delta"].shape})
        m.submodules.changed = changed = memory.Memory(shape=entry, depth=max(2, p.columns), init=[])
        mems = {}
        for part in ("acc_x", "acc_h"):
            m.submodules[part] = mems[part] = memory.Memory(shape=accumulator_layout(p), depth=max(2, p.neuron_groups),
                                                            init=[])
            wiring.connect(m, wiring.flipped(getattr(self, part)), mems[part].read_port())
        counts = self._fill(m, changed.write_port())
        s1 = self._sequence(m, changed.read_port(), mems, counts)
        self._accumulate(m, s1, [mems["acc_x"], mems["acc_h"]])
        return m

    def _fill(self, m, wp):
        """The step's changed inputs into the list; returns the (x, h) entry counts."""
        p = self.params
        cx, ch = Signal(count_shape(p.input_size)), Signal(count_shape(p.hidden))
        c = self.changes
        m.d.comb += [wp.addr.eq(Mux(c.payload.part, p.input_size + ch, cx)), wp.en.eq(c.valid),
                     wp.data.index.eq(c.payload.index), wp.data.delta.eq(c.payload.delta)]
        with m.If(c.valid):
            with m.If(c.payload.part):
                m.d.sync += ch.eq(ch + 1)
            with m.Else():
                m.d.sync += cx.eq(cx + 1)
        with m.If(self.start):
            m.d.sync += [cx.eq(0), ch.eq(0)]
        return cx, ch

    def _sequence(self, m, list_rd, mems, counts):
        """Stage 0: header, x entries, h entries of every group, then a final header (write-back only)."""
        p = self.params
        cx, ch = counts
        NG = p.neuron_groups
        busy, kind = Signal(), Signal(_Slot)
        g, k = Signal(count_shape(NG)), Signal(index_shape(max(p.input_size, p.hidden)))
        next_header = Signal()
        with m.If(busy & (kind == _Slot.HEADER)):
            with m.If(g == NG):
                m.d.sync += busy.eq(0)
            with m.Elif(cx != 0):
                m.d.sync += [kind.eq(_Slot.X), k.eq(0)]
            with m.Elif(ch != 0):
                m.d.sync += [kind.eq(_Slot.H), k.eq(0)]
            with m.Else():
                m.d.comb += next_header.eq(1)
        with m.Elif(busy & (kind == _Slot.X)):
            m.d.sync += k.eq(k + 1)
            with m.If(k == cx - 1):
                m.d.sync += [kind.eq(_Slot.H), k.eq(0)]
                with m.If(ch == 0):
                    m.d.comb += next_header.eq(1)
        with m.Elif(busy & (kind == _Slot.H)):
            m.d.sync += k.eq(k + 1)
            with m.If(k == ch - 1):
                m.d.comb += next_header.eq(1)
        with m.If(next_header):
            m.d.sync += [kind.eq(_Slot.HEADER), g.eq(g + 1)]
        with m.If(self.detected):
            m.d.sync += [busy.eq(1), kind.eq(_Slot.HEADER), g.eq(0)]
        m.d.comb += [list_rd.addr.eq(Mux(kind == _Slot.H, p.input_size + k, k)), list_rd.en.eq(1)]
        s1 = {"kind": Signal(_Slot), "g": Signal.like(g), "entry": list_rd.data, "init": []}
        for part in ("acc_x", "acc_h"):   # a header loads the group's accumulators of the previous step
            reader = mems[part].read_port()
            m.d.comb += [reader.addr.eq(g), reader.en.eq(busy & (kind == _Slot.HEADER))]
            s1["init"].append(reader.data)
        m.d.sync += [s1["kind"].eq(Mux(busy, kind, _Slot.NONE)), s1["g"].eq(g)]
        return s1

    def _accumulate(self, m, s1, acc_mem):
        """Stages 1-3: weight read, L products, accumulate; a header writes the previous group back."""
        p = self.params
        NG, L, wb = p.neuron_groups, p.lanes, p.config.weight.bits
        entry, kind1 = s1["entry"], s1["kind"]
        col = Mux(kind1 == _Slot.H, p.input_size + entry.index, entry.index)
        m.d.comb += [self.weight.addr.eq((self.slot * p.columns + col) * NG + s1["g"]),
                     self.weight.en.eq(1)]
        s2 = {"kind": Signal(_Slot), "g": Signal.like(s1["g"]), "delta": Signal.like(entry.delta)}
        s2_init = [Signal(accumulator_layout(p), name=f"s2_init{i}") for i in range(2)]
        m.d.sync += [s2["kind"].eq(kind1), s2["g"].eq(s1["g"]), s2["delta"].eq(entry.delta)]
        m.d.sync += [s2_init[i].eq(s1["init"][i]) for i in range(2)]
        weights = data.ArrayLayout(signed(wb), L)(self.weight.data)
        prod_shape = signed(wb + p.config.act.bits + 1)
        s3 = {"kind": Signal(_Slot), "g": Signal.like(s1["g"])}
        prod = [Signal(prod_shape, name=f"delta_prod{k}") for k in range(L)]
        s3_init = [Signal(accumulator_layout(p), name=f"s3_init{i}") for i in range(2)]
        m.d.sync += [s3["kind"].eq(s2["kind"]), s3["g"].eq(s2["g"]), *(s3_init[i].eq(s2_init[i]) for i in range(2))]
        m.d.sync += [prod[k].eq(weights[k] * s2["delta"]) for k in range(L)]
        accs = [Signal(accumulator_layout(p), name=f"acc_{part}") for part in ("x", "h")]
        for i, (acc, part) in enumerate(zip(accs, (_Slot.X, _Slot.H), strict=True)):
            wp = acc_mem[i].write_port()
            write_back = (s3["kind"] == _Slot.HEADER) & (s3["g"] != 0)
            m.d.comb += [wp.addr.eq(s3["g"] - 1), wp.data.eq(acc), wp.en.eq(write_back)]
            with m.If(s3["kind"] == _Slot.HEADER):
                m.d.sync += acc.eq(Mux(self.first_step, 0, s3_init[i]))
            with m.If(s3["kind"] == part):
                m.d.sync += [acc[k].eq(acc[k] + prod[k]) for k in range(L)]
        with m.If((s3["kind"] == _Slot.HEADER) & (s3["g"] != 0)):
            m.d.sync += self.groups_done.eq(s3["g"])
        with m.If(self.step_reset):
            m.d.sync += self.groups_done.eq(0)
        m.d.comb += self.count_corrections.eq((s3["kind"] == _Slot.X) | (s3["kind"] == _Slot.H))
