"""Delta emitter: the corrected accumulators of a step out as the dot-product results the rest of the tile
takes, one per cycle in issue order (docs/delta.md, *Hardware*).

Neuron n = g*L + lane is emitted once its group g is final (``groups_done`` > g): acc = acc_x + acc_h + bias
(LSTM, GRU r and z), or for the GRU candidate two results, acc_x + b_in then acc_h + b_hn, as the
baseline's dot products give them, with their tags (:func:`hw.tile_issue.tag_layout`) and the
preactivation (``intops.neuron_preact``). So the gate feed, activation, merge and state update are the
baseline tile's.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .arith import to_preact
from .delta_engine import accumulator_port
from .dot_product import dot_layouts
from .pipeline import StreamPipeline
from .shapes import count_shape, index_shape, read_port
from .tile_issue import tag_fifo, tag_layout
from .tile_params import TileParams, check_part_params

__all__ = ["DeltaEmitter"]


class DeltaEmitter(wiring.Component):
    """The emitter of a delta tile (module docstring). Parameters: ``params`` (TileParams with ``delta``).

    Ports
    -----
    step_reset, seq_start : In(1)  step controls (bias bases sampled at ``seq_start``)
    slot : In                  the sequence's slot
    groups_done : In           the engine's final groups
    acc_x, acc_h : read ports of the engine's accumulator memories
    bias, bias_hn (GRU) : read ports of the bias memories
    o : Out(stream)            the dot-product results (:func:`hw.dot_product.dot_layouts` output)
    tags : Out(stream)         one tag per result (TAG_DEPTH FIFO)

    :attr:`latency` = 3 cycles from a neuron's take to its result on ``o`` (memory read, sum, requantize).
    """

    latency = 3

    def __init__(self, params: TileParams):
        self.params = p = check_part_params(self, params)
        if not p.delta:
            raise ValueError("DeltaEmitter needs a delta tile (TileParams.delta)")
        depths, widths = p.depths(), p.widths()
        members = {
            "step_reset": In(1), "seq_start": In(1), "slot": In(index_shape(p.slots)),
            "groups_done": In(count_shape(p.neuron_groups)),
            "acc_x": In(accumulator_port(p)), "acc_h": In(accumulator_port(p)),
            "bias": read_port(depths["bias"], widths["bias"]),
            "o": Out(stream.Signature(dot_layouts(p.lanes, p.n_max, p.config)[1])),
            "tags": Out(stream.Signature(tag_layout(p))),
        }
        if p.cell == "gru":
            members["bias_hn"] = read_port(depths["bias_hn"], widths["bias_hn"])
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p = self.params
        tags = tag_fifo(m, p, self.tags)
        item = self._items(m)
        # the pipeline's source: the next neuron, once its group is final and its tag has room
        src = SimpleNamespace(valid=Signal(name="emit_valid"), ready=Signal(name="emit_ready"))
        m.d.comb += src.valid.eq(~item["done"] & (item["group"] < self.groups_done) & tags.w_rdy)
        pipe = StreamPipeline(m, src, self.o, 3, name="emit")
        m.d.comb += [item["take"].eq(pipe.take), tags.w_en.eq(pipe.take),
                     tags.w_data.eq(Cat(item["gate"], item["part"], item["j"]))]
        self._datapath(m, pipe, item)
        return m

    def _items(self, m) -> dict:
        """The item counters: neuron n (its group, lane, gate, unit) and the GRU candidate's part."""
        p = self.params
        G, L, NN = p.gates, p.lanes, p.neurons
        it = {"take": Signal(name="emit_take"), "done": Signal(name="emit_done"),
              "n": Signal(index_shape(NN)), "group": Signal(count_shape(p.neuron_groups)),
              "lane": Signal(index_shape(L)), "gate": Signal(index_shape(G)), "j": Signal(index_shape(p.hidden)),
              "part": Signal()}
        two_parts = (it["gate"] == 2) & (p.cell == "gru")
        with m.If(it["take"]):
            with m.If(two_parts & ~it["part"]):
                m.d.sync += it["part"].eq(1)
            with m.Else():
                m.d.sync += [it["part"].eq(0), it["n"].eq(it["n"] + 1),
                             it["lane"].eq(Mux(it["lane"] == L - 1, 0, it["lane"] + 1)),
                             it["group"].eq(Mux(it["lane"] == L - 1, it["group"] + 1, it["group"])),
                             it["gate"].eq(Mux(it["gate"] == G - 1, 0, it["gate"] + 1)),
                             it["j"].eq(Mux(it["gate"] == G - 1, it["j"] + 1, it["j"]))]
                with m.If(it["n"] == NN - 1):
                    m.d.sync += it["done"].eq(1)
        with m.If(self.step_reset):
            m.d.sync += [it[k].eq(0) for k in ("done", "n", "group", "lane", "gate", "j", "part")]
        return it

    def _datapath(self, m, pipe, item):
        """Stage 1: memory reads (the read registers); stage 2: the sum; stage 3: requantize (``o``)."""
        p = self.params
        cfg = p.config
        b_base, hn_base = Signal(count_shape(p.slots * p.neurons)), Signal(count_shape(p.slots * p.hidden))
        with m.If(self.seq_start):
            m.d.sync += [b_base.eq(self.slot * p.neurons), hn_base.eq(self.slot * p.hidden)]
        reads = [self.acc_x, self.acc_h, self.bias] + ([self.bias_hn] if p.cell == "gru" else [])
        addrs = [item["group"], item["group"], b_base + item["n"], hn_base + item["j"]]
        for port, addr in zip(reads, addrs, strict=False):
            m.d.comb += [port.addr.eq(addr), port.en.eq(pipe.advance)]
        s1 = {"lane": Signal.like(item["lane"]), "part": Signal(), "candidate": Signal()}
        with m.If(pipe.advance):
            m.d.sync += [s1["lane"].eq(item["lane"]), s1["part"].eq(item["part"]),
                         s1["candidate"].eq((item["gate"] == 2) & (p.cell == "gru"))]
        acc_x, acc_h = self.acc_x.data[s1["lane"]], self.acc_h.data[s1["lane"]]
        bias = self.bias.data.as_signed()
        if p.cell == "gru":
            whole = acc_x + acc_h + bias
            total = Mux(s1["candidate"], Mux(s1["part"], acc_h + self.bias_hn.data.as_signed(), acc_x + bias), whole)
        else:
            total = acc_x + acc_h + bias
        acc = Signal.like(self.o.payload.acc)
        with m.If(pipe.advance):
            m.d.sync += [acc.eq(total), self.o.payload.acc.eq(acc),
                         self.o.payload.preact.eq(to_preact(acc, cfg.acc_frac, cfg.preact))]
