"""Delta emitter: the corrected accumulators of a step out as the dot-product results the rest of the tile
takes, one per cycle in emission order (docs/delta.md, *Hardware*).

Neuron n = g*L + lane is emitted once its group g is final (``groups_done`` > g): acc = acc_x + acc_h + bias
(LSTM, GRU r and z) with the preactivation (``intops.neuron_preact``), or for the GRU candidate one
result with both parts, acc = acc_x + b_in and acc_h = acc_h + b_hn (:func:`hw.tile_gates.whole_candidates`),
each with its tag (:func:`hw.tile_issue.tag_layout`). The LSTM's neurons come in issue order
n = j*G + g, the GRU's in :func:`hw.tile_merge.gru_order`: a unit's candidate trails its r and z by
:func:`hw.tile_merge.candidate_lag` units, so that its r has passed the activation when it pairs. The
gate feed, activation, merge and state update are the baseline tile's.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .arith import to_preact
from .delta_engine import accumulator_port
from .pipeline import StreamPipeline
from .shapes import count_shape, index_shape, read_port
from .tile_gates import dot_result_layout
from .tile_issue import tag_fifo, tag_layout
from .tile_merge import gru_candidate_next, gru_order
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
    o : Out(stream)            the results (:func:`hw.tile_gates.dot_result_layout`)
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
            "o": Out(stream.Signature(dot_result_layout(p))),
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

    @staticmethod
    def order(params: TileParams) -> list[int]:
        """The neurons of one step in emission order (the cycle model's and the tests' view)."""
        return gru_order(params) if params.cell == "gru" else list(range(params.neurons))

    def _items(self, m) -> dict:
        """The next neuron (its n, group, lane, gate, unit j, and ``part``: a GRU candidate, both parts)
        in :meth:`order`: one cursor over the neurons (LSTM), or one over the r and z gates and one over
        the candidates (GRU)."""
        p = self.params
        it = {"take": Signal(name="emit_take"), "done": Signal(name="emit_done")}
        if p.cell == "gru":
            it.update(self._gru_cursors(m, it["take"]))
            last = it["part"] & (it["j"] == p.hidden - 1)
        else:
            cur = self._cursor(m, "neuron", 0)
            gate, j = Signal(index_shape(p.gates)), Signal(index_shape(p.hidden))
            with m.If(it["take"]):
                _advance(m, cur, 1, p.lanes)
                m.d.sync += [gate.eq(Mux(gate == p.gates - 1, 0, gate + 1)), j.eq(Mux(gate == p.gates - 1, j + 1, j))]
            with m.If(self.step_reset):
                m.d.sync += [gate.eq(0), j.eq(0)]
            it.update(cur)
            it.update({"gate": gate, "j": j, "part": Const(0, 1)})
            last = cur["n"] == p.neurons - 1
        with m.If(it["take"] & last):
            m.d.sync += it["done"].eq(1)
        with m.If(self.step_reset):
            m.d.sync += it["done"].eq(0)
        return it

    def _cursor(self, m, name: str, first: int) -> dict:
        """A neuron's n, group and lane, at neuron ``first`` after ``step_reset``."""
        p = self.params
        cur = {"n": Signal(count_shape(p.neurons + p.gates), name=f"{name}_n", init=first),
               "group": Signal(count_shape(p.neuron_groups + p.gates), name=f"{name}_group", init=first // p.lanes),
               "lane": Signal(index_shape(p.lanes), name=f"{name}_lane", init=first % p.lanes)}
        with m.If(self.step_reset):
            m.d.sync += [cur["n"].eq(first), cur["group"].eq(first // p.lanes), cur["lane"].eq(first % p.lanes)]
        return cur

    def _gru_cursors(self, m, take) -> dict:
        """GRU: the r/z cursor (``rz_units`` units done, ``phase``: z next) and the candidate cursor; which
        one is next is :func:`hw.tile_merge.gru_candidate_next`."""
        p = self.params
        rz, cand = self._cursor(m, "rz", 0), self._cursor(m, "cand", 2)
        rz_units, cand_units, phase = Signal(count_shape(p.hidden)), Signal(count_shape(p.hidden)), Signal()
        is_cand = Signal(name="emit_candidate")
        m.d.comb += is_cand.eq(gru_candidate_next(rz_units, cand_units, phase, p))
        with m.If(take & is_cand):
            _advance(m, cand, p.gates, p.lanes)
            m.d.sync += cand_units.eq(cand_units + 1)
        with m.If(take & ~is_cand):
            with m.If(phase):   # z: on to the next unit's r, past the candidate
                _advance(m, rz, p.gates - 1, p.lanes)
                m.d.sync += [rz_units.eq(rz_units + 1), phase.eq(0)]
            with m.Else():
                _advance(m, rz, 1, p.lanes)
                m.d.sync += phase.eq(1)
        with m.If(self.step_reset):
            m.d.sync += [rz_units.eq(0), cand_units.eq(0), phase.eq(0)]
        pick = {k: Mux(is_cand, cand[k], rz[k]) for k in ("n", "group", "lane")}
        unit = Mux(is_cand, cand_units, rz_units)[:index_shape(p.hidden).width]
        return {**pick, "gate": Mux(is_cand, 2, phase), "j": unit, "part": is_cand}

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
        s1 = {"lane": Signal.like(item["lane"]), "candidate": Signal()}
        with m.If(pipe.advance):
            m.d.sync += [s1["lane"].eq(item["lane"]), s1["candidate"].eq(item["part"])]
        acc_x, acc_h = self.acc_x.data[s1["lane"]], self.acc_h.data[s1["lane"]]
        bias = self.bias.data.as_signed()
        o = self.o.payload
        acc = Signal.like(o.acc)
        if p.cell == "gru":
            # a candidate: its input part with b_in, its recurrent part with b_hn (0 on the other gates)
            acc_hn = Signal.like(o.acc_h)
            with m.If(pipe.advance):
                m.d.sync += [acc.eq(Mux(s1["candidate"], acc_x + bias, acc_x + acc_h + bias)),
                             acc_hn.eq(Mux(s1["candidate"], acc_h + self.bias_hn.data.as_signed(), 0)),
                             o.acc_h.eq(acc_hn)]
        else:
            with m.If(pipe.advance):
                m.d.sync += acc.eq(acc_x + acc_h + bias)
        with m.If(pipe.advance):
            m.d.sync += [o.acc.eq(acc), o.preact.eq(to_preact(acc, cfg.acc_frac, cfg.preact))]


def _advance(m, cursor: dict, k: int, lanes: int) -> None:
    """Move ``cursor`` on by ``k`` neurons: lane + k wraps at ``lanes`` into the group (a constant
    table over the lane, so no division)."""
    m.d.sync += cursor["n"].eq(cursor["n"] + k)
    with m.Switch(cursor["lane"]):
        for lane in range(lanes):
            carry, to = divmod(lane + k, lanes)
            # the last lane as the default: the lane's unused codes covered (Verilator's CASEINCOMPLETE)
            with m.Case(lane) if lane < lanes - 1 else m.Default():
                m.d.sync += [cursor["lane"].eq(to), cursor["group"].eq(cursor["group"] + carry)]
