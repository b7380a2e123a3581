"""Delta correction engine: the per-neuron accumulator memories corrected by the step's changed inputs,
column-oriented (docs/delta.md, *Hardware*).

The changed inputs of the step (from :class:`hw.delta_detect.ChangeDetector`) are kept in two list
memories (x entries, h entries), each with one region per bank: the entries of the step that reads x bank
b (h bank b) go to region b as they are found, during the previous step. For each group g of L neurons
(issue order n = g*L + lane) the
engine loads the group's two accumulators (input part, recurrent part: the two the baseline keeps apart;
zero on a sequence's first step), adds ``W[n, col] * delta`` of every changed input, one input per cycle
on the L lanes (the weights are stored input-major: word ``(slot * (I_max + H) + col) * NG + g`` holds
the group's L weights of column col), and writes the accumulators back; ``groups_done`` tells the
emitter (:class:`hw.delta_emit.DeltaEmitter`) which groups are final. A group costs max(1, changed inputs)
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


class _Slot(enum.Enum, shape=3):
    NONE = 0
    X = 1        # a changed input of the x part
    H = 2        # a changed input of the h part
    EMPTY = 3    # a group without changed inputs (its accumulators are reloaded as they are)
    FLUSH = 4    # after the last group: write it back


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
    step_start : In(1)       the step starts: correct the accumulators (one cycle later, when the
                             detector's results of the step's last inputs are in the lists)
    step_reset, first_step, read_bank, h_bank : In(1)  step controls
    slot : In                the sequence's slot (weight base)
    x_changes, h_changes : In(stream, always ready)  the detector's compared elements
    h_first_delta : In       the value of h_{-1} = 0 on a first step (the detector's; 0 under delta)
    weight : read port of the input-major weight memory
    acc_x, acc_h : read ports of the accumulator memories, for the emitter (its ``acc_*`` ports)
    groups_done : Out        groups whose accumulators are final in this step
    count_corrections : Out(1)  a changed input updates a group's L neurons in this cycle (``corrections``)
    count_first_h : Out(1)   a first step's h_{-1} input enters group 0 (it counts as changed: ``h_changed``)

    :attr:`latency` = 3: a group's accumulators are written back 3 cycles after its last slot is issued.
    """

    latency = 3

    def __init__(self, params: TileParams):
        self.params = p = check_part_params(self, params)
        if not p.delta:
            raise ValueError("DeltaEngine needs a delta tile (TileParams.delta)")
        depths, widths = p.depths(), p.widths()
        super().__init__({
            "step_start": In(1), "step_reset": In(1), "first_step": In(1), "read_bank": In(1), "h_bank": In(1),
            "h_first_delta": In(signed(p.config.act.bits + 1)),
            "slot": In(index_shape(p.slots)),
            "x_changes": In(stream.Signature(change_layout(p, p.input_size), always_ready=True)),
            "h_changes": In(stream.Signature(change_layout(p, p.hidden), always_ready=True)),
            "weight": read_port(depths["weight"], widths["weight"]),
            "acc_x": Out(accumulator_port(p)),
            "acc_h": Out(accumulator_port(p)),
            "groups_done": Out(count_shape(p.neuron_groups)),
            "count_corrections": Out(1), "count_first_h": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        mems = {}
        for part in ("acc_x", "acc_h"):
            m.submodules[part] = mems[part] = memory.Memory(shape=accumulator_layout(p), depth=max(2, p.neuron_groups),
                                                            init=[])
            wiring.connect(m, wiring.flipped(getattr(self, part)), mems[part].read_port())
        # a first step's recurrent part: h_{-1} = 0, whose value is h_first_delta for every unit (0 under delta)
        x_list = self._list(m, "x", self.x_changes, p.input_size, self.read_bank)
        h_count, h_rd, h_base = self._list(m, "h", self.h_changes, p.hidden, self.h_bank)
        first_count = Mux(self.h_first_delta != 0, p.hidden, 0)
        lists = [x_list, (Mux(self.first_step, first_count, h_count), h_rd, h_base)]
        s1 = self._sequence(m, lists, mems)
        self._accumulate(m, s1, [mems["acc_x"], mems["acc_h"]])
        return m

    def _list(self, m, name, changes, size, read_bank):
        """A part's changed inputs, region b for the step of bank b; returns (the running step's entry
        count, the read port, the region base of the running step)."""
        entry = data.StructLayout({"index": index_shape(size), "delta": changes.payload.delta.shape()})
        m.submodules[f"{name}_list"] = mem = memory.Memory(shape=entry, depth=2 * size, init=[])
        wp = mem.write_port()
        counts = [Signal(count_shape(size), name=f"{name}_count{b}") for b in range(2)]
        c = changes.payload
        start = c.index == 0   # a step's first element: its bank's region starts over
        count = Mux(c.bank, counts[1], counts[0])
        m.d.comb += [wp.addr.eq(c.bank * size + Mux(start, 0, count)), wp.en.eq(changes.valid & c.changed),
                     wp.data.index.eq(c.index), wp.data.delta.eq(c.delta)]
        for b in range(2):
            with m.If(changes.valid & (c.bank == b)):
                m.d.sync += counts[b].eq(Mux(start, 0, counts[b]) + c.changed)
        return Mux(read_bank, counts[1], counts[0]), mem.read_port(), read_bank * size

    def _sequence(self, m, lists, mems):
        """Stage 0: the x entries, then the h entries of every group (at least one slot each); the first
        slot of a group also loads the group's accumulators; a flush slot after the last group."""
        p = self.params
        (cx, x_rd, x_base), (ch, h_rd, h_base) = lists
        NG = p.neuron_groups
        busy, kind, first = Signal(), Signal(_Slot), Signal()
        g, k = Signal(count_shape(NG)), Signal(index_shape(max(p.input_size, p.hidden)))
        enter, group_end = Signal(), Signal()
        # the first slot of a group: its first x entry, else its first h entry, else an empty slot
        m.d.comb += enter.eq(group_end & (g != NG - 1))
        with m.If(enter):
            m.d.sync += [g.eq(g + 1), first.eq(1), k.eq(0),
                         kind.eq(Mux(cx != 0, _Slot.X, Mux(ch != 0, _Slot.H, _Slot.EMPTY)))]
        with m.If(busy & (kind == _Slot.X)):
            with m.If(k == cx - 1):
                with m.If(ch != 0):
                    m.d.sync += [kind.eq(_Slot.H), k.eq(0), first.eq(0)]
                with m.Else():
                    m.d.comb += group_end.eq(1)
            with m.Else():
                m.d.sync += [k.eq(k + 1), first.eq(0)]
        with m.If(busy & (kind == _Slot.H)):
            with m.If(k == ch - 1):
                m.d.comb += group_end.eq(1)
            with m.Else():
                m.d.sync += [k.eq(k + 1), first.eq(0)]
        with m.If(busy & (kind == _Slot.EMPTY)):
            m.d.comb += group_end.eq(1)
        with m.If(group_end & (g == NG - 1)):
            m.d.sync += [kind.eq(_Slot.FLUSH), g.eq(NG), first.eq(0)]
        with m.If(busy & (kind == _Slot.FLUSH)):
            m.d.sync += busy.eq(0)
        detected = Signal()   # the step's last inputs are in the lists one cycle after its start
        m.d.sync += detected.eq(self.step_start)
        with m.If(detected):
            m.d.sync += [busy.eq(1), g.eq(0), first.eq(1), k.eq(0),
                         kind.eq(Mux(cx != 0, _Slot.X, Mux(ch != 0, _Slot.H, _Slot.EMPTY)))]
        m.d.comb += [x_rd.addr.eq(x_base + k), x_rd.en.eq(1), h_rd.addr.eq(h_base + k), h_rd.en.eq(1),
                     self.count_first_h.eq(busy & (kind == _Slot.H) & self.first_step & (g == 0))]
        s1 = {"kind": Signal(_Slot), "first": Signal(), "g": Signal.like(g), "init": []}
        for part in ("acc_x", "acc_h"):   # a group's first slot loads its accumulators of the previous step
            reader = mems[part].read_port()
            m.d.comb += [reader.addr.eq(g), reader.en.eq(busy & first)]
            s1["init"].append(reader.data)
        m.d.sync += [s1["kind"].eq(Mux(busy, kind, _Slot.NONE)), s1["first"].eq(busy & first), s1["g"].eq(g)]
        h1, k1 = s1["kind"] == _Slot.H, Signal.like(k)
        m.d.sync += k1.eq(k)
        h_index = Mux(self.first_step, k1, h_rd.data.index)
        s1["index"] = Mux(h1, p.input_size + h_index, x_rd.data.index)   # the weight column
        s1["delta"] = Mux(h1, Mux(self.first_step, self.h_first_delta, h_rd.data.delta), x_rd.data.delta)
        return s1

    def _accumulate(self, m, s1, acc_mem):
        """Stages 1-3: weight read, L products, accumulate; a header writes the previous group back."""
        p = self.params
        NG, L, wb = p.neuron_groups, p.lanes, p.config.weight.bits
        m.d.comb += [self.weight.addr.eq((self.slot * p.columns + s1["index"]) * NG + s1["g"]),
                     self.weight.en.eq(1)]
        s2 = {"kind": Signal(_Slot), "first": Signal(), "g": Signal.like(s1["g"]),
              "delta": Signal(s1["delta"].shape())}
        s2_init = [Signal(accumulator_layout(p), name=f"s2_init{i}") for i in range(2)]
        m.d.sync += [s2[name].eq(s1[name]) for name in ("kind", "first", "g", "delta")]
        m.d.sync += [s2_init[i].eq(s1["init"][i]) for i in range(2)]
        weights = data.ArrayLayout(signed(wb), L)(self.weight.data)
        prod_shape = signed(wb + p.config.act.bits + 1)
        s3 = {"kind": Signal(_Slot), "first": Signal(), "g": Signal.like(s1["g"])}
        prod = [Signal(prod_shape, name=f"delta_prod{k}") for k in range(L)]
        s3_init = [Signal(accumulator_layout(p), name=f"s3_init{i}") for i in range(2)]
        m.d.sync += [*(s3[name].eq(s2[name]) for name in ("kind", "first", "g")),
                     *(s3_init[i].eq(s2_init[i]) for i in range(2))]
        m.d.sync += [prod[k].eq(weights[k] * s2["delta"]) for k in range(L)]
        # a group's first slot (or the flush) writes the previous group back and starts the next one
        write_back = (s3["first"] | (s3["kind"] == _Slot.FLUSH)) & (s3["g"] != 0)
        accs = [Signal(accumulator_layout(p), name=f"acc_{part}") for part in ("x", "h")]
        for i, (acc, part) in enumerate(zip(accs, (_Slot.X, _Slot.H), strict=True)):
            wp = acc_mem[i].write_port()
            m.d.comb += [wp.addr.eq(s3["g"] - 1), wp.data.eq(acc), wp.en.eq(write_back)]
            base = Mux(s3["first"], Mux(self.first_step, 0, s3_init[i]), acc)
            base_view = data.ArrayLayout(signed(p.acc_bits), L)(base)
            with m.If(s3["kind"] == part):
                m.d.sync += [acc[k].eq(base_view[k] + prod[k]) for k in range(L)]
            with m.Elif(s3["first"]):
                m.d.sync += acc.eq(base)
        with m.If(write_back):
            m.d.sync += self.groups_done.eq(s3["g"])
        with m.If(self.step_reset):
            m.d.sync += self.groups_done.eq(0)
        m.d.comb += self.count_corrections.eq((s3["kind"] == _Slot.X) | (s3["kind"] == _Slot.H))
