"""Issue stage of the tile: takes one decision per neuron and feeds the computed neurons' beats to the
dot-product unit. See ``docs/hw/tile_parts.md``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .crew_sum import crew_beat_layout
from .dot_product import DotProductUnit, dot_layouts
from .pipeline import SKID_DEPTH
from .shapes import count_shape, index_shape, read_port
from .tile_front_end import decision_layout
from .tile_params import TileParams, check_part_params

__all__ = ["IssueStage", "tag_fifo", "tag_layout", "TAG_DEPTH", "TOKEN_DEPTH"]

#: Depth of the tag FIFO (kind of every dot product in flight): at most DotProductUnit.latency results in
#: the dot-product unit and SKID_DEPTH in the gate feed's skid buffer wait for the activation unit, plus
#: one entry because the issue stage sees the FIFO's room a cycle late; so the FIFO never holds a beat.
TAG_DEPTH = DotProductUnit.latency + SKID_DEPTH + 2
#: Default depth of the token FIFO (hit/miss of every issued neuron, in order, to the merge stage); the
#: tile sizes it with :func:`hw.tile_cycles.token_depth` so that it never holds the hits back.
TOKEN_DEPTH = 16


def tag_layout(params: TileParams) -> data.StructLayout:
    """Kind of a dot product: gate ``g``, ``part`` (GRU n: 0 input part, 1 recurrent part), unit ``j``."""
    return data.StructLayout({"g": index_shape(params.gates), "part": 1, "j": index_shape(params.hidden)})


def tag_fifo(m, params: TileParams, tags) -> fifo.SyncFIFO:
    """The TAG_DEPTH FIFO of a part's ``tags`` output (its read side is ``tags``); the part writes it."""
    m.submodules.tags = queue = fifo.SyncFIFO(width=tag_layout(params).size, depth=TAG_DEPTH)
    wiring.connect(m, wiring.flipped(tags), queue.r_stream)
    return queue


class IssueStage(wiring.Component):
    """Walks a step's neurons in issue order n = j*G + g. Stage 0 takes one decision per cycle (every
    neuron is computed without a front end) and pushes its token; hits are free: a hit is taken in the
    same cycle as a beat of an earlier miss (or in an otherwise idle cycle) and never holds the beats
    back. A miss goes to the beat counters directly when they are free (its first beat in the cycle of
    its take), else to a one-entry pending slot (decisions then run one miss ahead; a further miss waits
    until the pending one starts). The beat counters emit ceil(n_x/L) input beats then ceil(H/L)
    recurrent beats per miss, back to back, also across neurons (GRU n: the input part ends its own dot
    product, acc_x with b_in, the recurrent part another, acc_h with b_hn). Stage 1 holds the memory
    data of the beat (weight row, x row, h row or zero on the first step, bias) and is the ``dot`` stream.

    Parameters: ``params`` (:class:`~hw.tile_params.TileParams`), ``predicted`` (a front end decides:
    the ``decision`` input and ``tokens`` output exist), ``token_depth`` (of the token FIFO).

    Ports
    -----
    decision : In(stream)   (predicted) one decision per neuron, :func:`hw.tile_front_end.decision_layout`
    go, step_reset, seq_start, first_step, read_bank, h_bank : In(1)  step controls (StepSequencer)
    n_x, slot : In          the sequence's n_x and slot (weight/bias bases sampled at ``seq_start``)
    weight, xbuf, hbuf, bias, bias_hn (GRU) : read ports of those memories
    dot : Out(stream)       DotProductUnit input beats
    tags : Out(stream)      one :func:`tag_layout` per dot product, in order (from a TAG_DEPTH FIFO)
    tokens : Out(stream)    (predicted) the decision of every issued neuron, in order (``token_depth`` FIFO)

    :attr:`latency` = 1 cycle from a beat's issue (stage 0) to its ``dot`` transfer (no back-pressure);
    :attr:`token_latency` = 2 cycles from a decision's take to its token on ``tokens``;
    :attr:`pending_latency` = 1 cycle from a pending miss's start to the take of the next miss.
    """

    latency = 1
    token_latency = 2
    #: Cycles from a pending miss's start to the first cycle the pending slot takes the next miss.
    pending_latency = 1

    def __init__(self, params: TileParams, predicted: bool, token_depth: int = TOKEN_DEPTH):
        self.params = p = check_part_params(self, params, predicted=predicted)
        self.predicted = predicted
        self.token_depth = token_depth
        depths, widths = p.depths(), p.widths()
        row_bits = p.lanes * p.config.act.bits
        members = {
            "go": In(1), "step_reset": In(1), "seq_start": In(1), "first_step": In(1),
            "read_bank": In(1), "h_bank": In(1),
            "n_x": In(count_shape(p.input_size)),
            "slot": In(index_shape(p.slots)),
            "weight": read_port(depths["weight"], widths["weight"]),
            "xbuf": read_port(2 * p.x_rows, row_bits),
            "hbuf": read_port(2 * p.h_rows, row_bits),
            "bias": read_port(depths["bias"], widths["bias"]),
            "dot": Out(stream.Signature(crew_beat_layout(p.lanes, p.rows_per_neuron, p.crew, p.config)
                                        if p.crew is not None else dot_layouts(p.lanes, p.n_max, p.config)[0])),
            "tags": Out(stream.Signature(tag_layout(p))),
        }
        if p.cell == "gru":
            members["bias_hn"] = read_port(depths["bias_hn"], widths["bias_hn"])
        if predicted:
            layout = decision_layout(p, p.front_end.context_shape(p))
            members["decision"] = In(stream.Signature(layout))
            members["tokens"] = Out(stream.Signature(layout))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p = self.params
        tags = tag_fifo(m, p, self.tags)
        s1 = {name: Signal(name=f"s1_{name}") for name in ("valid", "last", "part", "zero", "hn")}
        s1["g"], s1["j"] = Signal(index_shape(p.gates), name="s1_g"), Signal(index_shape(p.hidden), name="s1_j")
        dot_in_fire = Signal()
        adv1 = Signal(attrs={"keep": 1})   # kept, as the beat enable below
        # the stage-1 beat may leave: not a last beat, or room for its tag (the FIFO's level a cycle ago below
        # TAG_DEPTH - 1: at most one tag is written per cycle). A flip-flop holding next cycle's value of
        # ~last | room, so the beat enable is a gate from flip-flops and the dot product's ready (on the
        # iCE40 the level compare and the last bit cost a LUT level of the issue stage's path)
        may_leave = Signal(init=1)
        beat = self._stage0(m, adv1)
        next_last = Mux(adv1, beat["last"], s1["last"])
        m.d.sync += may_leave.eq(~next_last | (tags.level < TAG_DEPTH - 1))
        m.d.comb += [
            self.dot.valid.eq(s1["valid"] & may_leave),
            dot_in_fire.eq(self.dot.valid & self.dot.ready),
            tags.w_en.eq(dot_in_fire & s1["last"]),
            tags.w_data.eq(Cat(s1["g"], s1["part"], s1["j"])),
            adv1.eq(~s1["valid"] | dot_in_fire),
        ]
        self._stage1(m, adv1, beat, s1)
        return m

    def _decisions(self, m, take):
        """(decision available, hit, token space) for stage 0; tokens pushed on ``take``."""
        if not self.predicted:
            return Const(1), Const(0), Const(1)
        # room for a token, registered (fewer than token_depth a cycle ago: at most one is written per
        # cycle, and one spare entry so that it never overflows: the buffered FIFO's inner memory holds
        # token_depth, a power of two, which keeps it in LUT RAM on the ECP5), so the take does not wait on
        # the FIFO's level compare; it refuses only with token_depth tokens in flight, which never happens
        m.submodules.tokens = tok = fifo.SyncFIFOBuffered(width=self.tokens.payload.shape().size,
                                                          depth=self.token_depth + 1)
        wiring.connect(m, wiring.flipped(self.tokens), tok.r_stream)
        room = Signal()
        m.d.sync += room.eq(tok.level < self.token_depth)
        m.d.comb += [self.decision.ready.eq(take), tok.w_en.eq(take), tok.w_data.eq(self.decision.payload)]
        return self.decision.valid, self.decision.payload.hit, room

    def _stage0(self, m, adv1) -> dict:
        """Stage 0: the decision counter (one decision per cycle; a hit writes its token only), the
        pending miss (one computed neuron waiting for the beat counters) and the beat counters of the
        neuron being emitted; returns the current beat's attributes."""
        p = self.params
        G, H, NN, RPN = p.gates, p.hidden, p.neurons, p.rows_per_neuron
        i_in = Signal()                     # the beat counters emit a computed neuron
        wshape = count_shape(p.depths()["weight"])

        def neuron(prefix):
            return {"n": Signal(index_shape(NN), name=f"{prefix}_n"), "g": Signal(index_shape(G), name=f"{prefix}_g"),
                    "j": Signal(index_shape(H), name=f"{prefix}_j"), "wbase": Signal(wshape, name=f"{prefix}_wbase")}

        d, q, e = neuron("d"), neuron("q"), neuron("e")   # next decision, pending miss, emitted neuron
        d_done, q_valid = Signal(), Signal()
        w_base0 = Signal(wshape)
        with m.If(self.seq_start):
            m.d.sync += w_base0.eq(self.slot * (NN * RPN))
        w_base = Mux(self.seq_start, self.slot * (NN * RPN), w_base0)
        take, start, bypass = Signal(), Signal(), Signal()
        dec_ok, hit, tok_ok = self._decisions(m, take)
        # a miss is taken while the pending slot is empty (not in the cycle it frees: pending_latency), so
        # the take (which drives the decision and token FIFOs and the decision counter) is a few gates
        # from flip-flops and does not wait on the beat enable (the dot product's ready). Written out flat
        # from "a miss could be taken" (miss_ready); a neuron in progress or pending implies go (both are
        # cleared with step_reset), so the beat enable needs go only through miss_ready. The beat enable
        # is a kept wire: its cone is mapped on its own (on the iCE40 ABC otherwise folds it into the
        # take's and the counters' logic, two LUT levels deeper).
        offered, miss_ready, emit = Signal(), Signal(), Signal(attrs={"keep": 1}, name="emit")
        idle = ~i_in & adv1                      # the beat counters can start a neuron in this cycle
        m.d.comb += [
            offered.eq(self.go & ~d_done & dec_ok & tok_ok),
            miss_ready.eq(offered & ~hit),
            take.eq(offered & (hit | ~q_valid)),
            bypass.eq(miss_ready & ~q_valid & idle),
            start.eq(idle & (q_valid | miss_ready)),
            emit.eq(adv1 & (i_in | q_valid | miss_ready)),   # = adv1 & ((go & i_in) | start)
        ]
        src = {k: Mux(q_valid, q[k], d[k]) for k in d}
        cur = {k: Mux(i_in, e[k], src[k]) for k in d}
        x_end, h_end, cur_part, cur_r, w_row = self._beat_counters(m, emit, i_in, cur["wbase"], src["wbase"])
        is_n = (cur["g"] == 2) if p.cell == "gru" else Const(0)
        with m.If(start):
            m.d.sync += [e[k].eq(src[k]) for k in d]
        with m.If(take & ~hit & ~bypass):
            m.d.sync += [q_valid.eq(1)] + [q[k].eq(d[k]) for k in d]
        with m.Elif(start):
            m.d.sync += q_valid.eq(0)
        with m.If(emit):
            m.d.sync += i_in.eq(~h_end)
        with m.If(take):
            m.d.sync += [d["n"].eq(d["n"] + 1), d["g"].eq(d["g"] + 1), d["wbase"].eq(d["wbase"] + RPN)]
            with m.If(d["g"] == G - 1):
                m.d.sync += [d["g"].eq(0), d["j"].eq(d["j"] + 1)]
            with m.If(d["n"] == NN - 1):
                m.d.sync += d_done.eq(1)
        with m.If(self.step_reset):
            m.d.sync += [i_in.eq(0), q_valid.eq(0), d_done.eq(0), d["n"].eq(0), d["g"].eq(0), d["j"].eq(0),
                         d["wbase"].eq(w_base)]
        return {"emit": emit, "last": h_end | (x_end & is_n), "part": cur_part, "r": cur_r, "is_n": is_n,
                "n": cur["n"], "g": cur["g"], "j": cur["j"], "w_row": w_row}

    def _beat_counters(self, m, emit, i_in, wbase, new_wbase):
        """The beat counters of the neuron being emitted (``i_in``; else a new one starts, at ``new_wbase``):
        part (0 input, 1 recurrent), row r, the x elements covered and the weight row. Whether a beat ends
        its part is held in registers set when the previous beat was emitted (``x_last``, ``h_last``; for a
        new neuron from n_x, sampled at the sequence start), and so is the next weight row (``e_row``), so
        the counters' enables and the weight memory's address wait on no compare or adder. Returns the
        beat's (x_end, h_end, part, r, weight row)."""
        p = self.params
        L, KX, KH = p.lanes, p.x_rows, p.h_rows
        i_part, i_r, i_xe = Signal(), Signal(index_shape(max(KX, KH))), Signal(count_shape(KX * L + L))
        x_last, h_last, x_last0 = Signal(), Signal(), Signal()
        n_x = Signal.like(self.n_x)         # held from the sequence start (no beat is emitted in that cycle)
        with m.If(self.seq_start):
            # n_x <= I_max: with I_max <= L one beat always covers the inputs (a constant compare is a lint error)
            m.d.sync += [n_x.eq(self.n_x), x_last0.eq(1 if p.input_size <= L else self.n_x <= L)]
        cur_part, cur_r, cur_xe = Mux(i_in, i_part, 0), Mux(i_in, i_r, 0), Mux(i_in, i_xe, L)
        x_end = ~cur_part & Mux(i_in, x_last, x_last0)
        h_end = i_in & i_part & h_last
        e_row = Signal(count_shape(p.depths()["weight"]))
        w_row = Mux(i_in, e_row, new_wbase)
        # every counter loads on each emitted beat (its enable is the beat enable itself, no gate after
        # it); after a neuron's last beat their values are unused (a new neuron starts from x_last0, L, 0)
        with m.If(emit):
            m.d.sync += [e_row.eq(Mux(x_end, wbase + KX, w_row + 1)), i_part.eq(cur_part | x_end),
                         i_r.eq(Mux(x_end, 0, cur_r + 1)), i_xe.eq(cur_xe + L), x_last.eq(cur_xe + L >= n_x),
                         h_last.eq(Mux(x_end, int(KH == 1), cur_r + 1 == KH - 1))]
        return x_end, h_end, cur_part, cur_r, w_row

    def _stage1(self, m, adv1, beat, s1):
        """Memory reads (enabled with ``adv1``) and the stage-1 register -> the ``dot`` stream."""
        p = self.params
        KX, KH = p.x_rows, p.h_rows
        b_base0 = Signal(count_shape(p.slots * p.neurons))
        hn_base0 = Signal(count_shape(p.slots * p.hidden))
        with m.If(self.seq_start):
            m.d.sync += [b_base0.eq(self.slot * p.neurons), hn_base0.eq(self.slot * p.hidden)]
        part, r = beat["part"], beat["r"]
        m.d.comb += [
            self.weight.addr.eq(beat["w_row"]), self.weight.en.eq(adv1),
            self.xbuf.addr.eq(Mux(self.read_bank, KX, 0) + r), self.xbuf.en.eq(adv1),
            self.hbuf.addr.eq(Mux(self.h_bank, KH, 0) + r), self.hbuf.en.eq(adv1),
            self.bias.addr.eq(b_base0 + beat["n"]), self.bias.en.eq(adv1),
        ]
        if p.cell == "gru":
            m.d.comb += [self.bias_hn.addr.eq(hn_base0 + beat["j"]), self.bias_hn.en.eq(adv1)]
        row = Signal(index_shape(KX + KH))
        with m.If(adv1):
            m.d.sync += [s1["valid"].eq(beat["emit"]), s1["last"].eq(beat["last"]), s1["part"].eq(part),
                         s1["zero"].eq(part & self.first_step), s1["hn"].eq(part & beat["is_n"]),
                         s1["g"].eq(beat["g"]), s1["j"].eq(beat["j"]), row.eq(Mux(part, KX + r, r))]
        out = self.dot.payload
        if p.crew is not None:   # the beat's products are fetched by index (hw.crew_sum)
            m.d.comb += [out.indices.eq(self.weight.data), out.row.eq(row)]
        else:
            self._operands(m, s1, out)
        bias_x = self.bias.data.as_signed()
        bias = Mux(s1["hn"], self.bias_hn.data.as_signed(), bias_x) if p.cell == "gru" else bias_x
        m.d.comb += [out.bias.eq(bias), out.last.eq(s1["last"])]

    def _operands(self, m, s1, out):
        """The beat's weights and activations (x row, h row, or zero for h_{t-1} on the first step)."""
        p = self.params
        act = signed(p.config.act.bits)
        wrow = data.ArrayLayout(signed(p.config.weight.bits), p.lanes)(self.weight.data)
        xrow = data.ArrayLayout(act, p.lanes)(self.xbuf.data)
        hrow = data.ArrayLayout(act, p.lanes)(self.hbuf.data)
        for k in range(p.lanes):
            m.d.comb += [out.weights[k].eq(wrow[k]),
                         out.acts[k].eq(Mux(s1["part"], Mux(s1["zero"], 0, hrow[k]), xrow[k]))]
