"""The accelerator tile: a time-multiplexed LSTM/GRU layer engine with BNN-predicted neuron-level fuzzy
memoization (DESIGN.md section 4). The interface contract, memory layouts, pipeline and cycle model are in
``docs/tile.md``; parameters in :mod:`hw.tile_params`, memory words in :mod:`hw.tile_image`.

Structure (one time step; neurons in issue order n = j*G + g, hidden unit j, gate g)::

    x stream -> x writer (double-buffered x rows + x sign bits)
                                         BNN feeder -> BnnUnit -> MemoTable.lookup -> decision FIFO
                                                                                          |
    issue (stage 0 counters / stage 1 memory data): a hit pushes a token only; a miss pushes a token and
    feeds ceil(n_x/L) + ceil(H/L) beats to the DotProductUnit, back to back across neurons
        -> [GRU: pairing (acc_x, acc_h, r) -> GruCandidateUnit] -> ActivationUnit
    merge (tokens in order: hit -> cached y, miss -> activation output; MemoTable.update on a miss)
        -> gate registers -> LstmCellUnit / GruStateUnit -> h (state memory, sign bits, output FIFO -> h stream)

Every arithmetic operation lives in the reused blocks (hw/dot_product.py, hw/activation.py,
hw/lstm_cell.py, hw/gru.py, hw/bnn.py, hw/memo_table.py); this module only sequences and stores.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model.formats import THETA_BITS

from .activation import Activation, ActivationUnit
from .bnn import BnnUnit
from .checks import silence_unused
from .dot_product import DotProductUnit
from .gru import GruCandidateUnit, GruStateUnit
from .lstm_cell import LstmCellUnit
from .memo_table import MemoTable, ThresholdForm, memo_layouts
from .tile_image import MEM_NAMES, wr_layout
from .tile_params import DECISION_DEPTH, OUT_DEPTH, TAG_DEPTH, TOKEN_DEPTH, TileParams

__all__ = ["Tile", "COUNTER_BITS"]

#: Width of the performance counters.
COUNTER_BITS = 32


def _urange(n: int):
    """unsigned shape holding 0..n-1 (at least one bit)."""
    return unsigned(max(1, (max(n, 1) - 1).bit_length()))


def _ucount(n: int):
    """unsigned shape holding 0..n."""
    return unsigned(max(1, n.bit_length()))


class Tile(wiring.Component):
    """LSTM/GRU inference tile with neuron-level fuzzy memoization (docs/tile.md).

    Parameters
    ----------
    params : TileParams
    image : dict or None
        :func:`hw.tile_image.memory_image` words used as the memories' elaboration-time ``init``
        (None: zero; load at run time through ``wr``).
    """

    def __init__(self, params: TileParams, image: dict | None = None):
        try:
            if not isinstance(params, TileParams):
                raise TypeError(f"params must be a hw.tile_params.TileParams, not {type(params).__name__}")
            if image is not None:
                if not isinstance(image, dict):
                    raise TypeError(f"image must be a dict from hw.tile_image.memory_image, not {type(image).__name__}")
                depths, widths = params.depths(), params.widths()
                if set(image) != set(depths):
                    raise ValueError(f"image has memories {sorted(image)}, the tile {sorted(depths)}")
                for name, words in image.items():
                    if len(words) != depths[name]:
                        raise ValueError(f"image[{name!r}] has {len(words)} words, the memory {depths[name]} rows")
                    bad = [w for w in words if not isinstance(w, int) or not 0 <= w < (1 << widths[name])]
                    if bad:
                        raise ValueError(f"image[{name!r}] holds {bad[0]!r}, not a {widths[name]}-bit raw word")
        except (TypeError, ValueError):
            silence_unused(self)
            raise
        self.params = p = params
        self.image = image
        cfg = p.config
        act = signed(cfg.act.bits)
        self.x_layout = data.StructLayout({"data": act, "first": 1, "last": 1})
        self.h_layout = data.StructLayout({"data": act, "last": 1})
        self.wr_layout = wr_layout(p)
        super().__init__({
            "x": In(stream.Signature(self.x_layout)),
            "h": Out(stream.Signature(self.h_layout)),
            "wr": In(stream.Signature(self.wr_layout)),
            "slot": In(_urange(p.slots)),
            "n_x": In(_ucount(p.input_size)),
            "memo_enable": In(1),
            "theta": In(THETA_BITS),
            "form": In(1),
            "busy": Out(1),
            "cycles": Out(COUNTER_BITS),
            "evaluations": Out(COUNTER_BITS),
            "reuses": Out(COUNTER_BITS),
            "stalls": Out(COUNTER_BITS),
            "clear_counters": In(1),
        })

    # ------------------------------------------------------------------------------------------------
    def elaborate(self, platform):
        m = Module()
        p, cfg = self.params, self.params.config
        gru = p.cell == "gru"
        G, H, L, B, NN = p.gates, p.hidden, p.lanes, p.bnn_width, p.neurons
        KX, KH, KB, RPN = p.x_rows, p.h_rows, p.sign_rows, p.rows_per_neuron
        IM = p.input_size
        ab, wb = cfg.act.bits, cfg.weight.bits
        act = signed(ab)
        depths, widths = p.depths(), p.widths()
        image = self.image or {}

        # ---------------------------------------------------------------- run-time-loadable memories
        mems = {}
        for mem_id, name in MEM_NAMES.items():
            if name not in depths:
                continue
            mems[name] = mem = memory.Memory(shape=unsigned(widths[name]), depth=depths[name],
                                             init=image.get(name, []))
            m.submodules[f"{name}_mem"] = mem
            wp = mem.write_port()
            wr_fire = Signal(name=f"wr_{name}")
            m.d.comb += [
                wr_fire.eq(self.wr.valid & self.wr.ready & (self.wr.payload.mem == mem_id)),
                wp.addr.eq(self.wr.payload.addr),
                wp.data.eq(self.wr.payload.data[:widths[name]]),
                wp.en.eq(wr_fire),
            ]

        # ---------------------------------------------------------------- state memories
        row_shape = data.ArrayLayout(act, L)
        m.submodules.xbuf = xbuf = memory.Memory(shape=unsigned(L * ab), depth=2 * KX, init=[])
        m.submodules.hbuf = hbuf = memory.Memory(shape=unsigned(L * ab), depth=2 * KH, init=[])
        if not gru:
            m.submodules.cmem = cmem = memory.Memory(shape=unsigned(cfg.cell.bits), depth=H, init=[])

        # ---------------------------------------------------------------- datapath blocks
        m.submodules.dot = dot = DotProductUnit(L, p.n_max, cfg)
        m.submodules.act = actu = ActivationUnit(cfg)
        if gru:
            m.submodules.cand = cand = GruCandidateUnit(cfg, p.n_max)
            m.submodules.update = ew = GruStateUnit(cfg)
        else:
            m.submodules.update = ew = LstmCellUnit(cfg)

        # ---------------------------------------------------------------- sequence control registers
        seq_active = Signal()       # a sequence is in progress (first accepted .. last h written)
        step_run = Signal()         # a step is computing
        first_step = Signal()       # the running/next step is the sequence's first (h = c = 0)
        cur_last = Signal()         # the running step is the sequence's last
        got_last = Signal()         # the x element with `last` has been taken
        nx_r = Signal(_ucount(IM))
        slot_r = Signal.like(self.slot)
        memo_on = Signal()
        theta_r = Signal(THETA_BITS)
        form_r = Signal()
        rb = Signal()               # x bank being read (by the running / next step)
        hb = Signal()               # h bank holding h_{t-1}
        full = Signal(2)            # x bank loaded
        lastflag = Signal(2)        # x bank holds the sequence's last step
        step_count = Signal(p.step_bits)
        w_base0 = Signal(_ucount(depths["weight"]))
        b_base0 = Signal(_ucount(depths["bias"]))
        hn_base0 = Signal(_ucount(p.slots * H))
        s_base0 = Signal(_ucount(p.slots * NN * KB))

        # ---------------------------------------------------------------- x writer (double-buffered)
        x = self.x
        xw_bank = Signal()
        xw_k = Signal(_urange(IM))
        xw_lane = Signal(_urange(L))
        xw_row = Signal(_urange(KX))
        xw_reg = Signal(row_shape)
        xs = [Signal(IM, name=f"xsign{b}") for b in range(2)]
        xmask = Signal(IM)
        idle = ~seq_active
        nx_cur = Mux(idle, self.n_x, nx_r)
        bank_full = Mux(xw_bank, full[1], full[0])
        x_fire = Signal()
        first_fire = Signal()
        m.d.comb += [
            x.ready.eq(Mux(idle, x.payload.first, ~got_last & ~x.payload.first & ~bank_full)),
            x_fire.eq(x.valid & x.ready),
            first_fire.eq(x_fire & idle),
        ]
        x_step_end = xw_k == nx_cur - 1
        x_row_end = (xw_lane == L - 1) | x_step_end
        xwp = xbuf.write_port()
        new_row = Cat(*(Mux(xw_lane == k, x.payload.data, xw_reg[k]) for k in range(L)))
        m.d.comb += [
            xwp.addr.eq(Mux(xw_bank, KX, 0) + xw_row),
            xwp.data.eq(new_row),
            xwp.en.eq(x_fire & x_row_end),
        ]
        with m.If(x_fire):
            for b in range(2):
                with m.If(xw_bank == b):
                    for k in range(IM):  # explicit bits: no incomplete case over xw_k in Verilog
                        with m.If(xw_k == k):
                            m.d.sync += xs[b][k].eq(x.payload.data >= 0)
            with m.If(x_row_end):
                m.d.sync += [xw_reg.eq(0), xw_lane.eq(0), xw_row.eq(xw_row + 1)]
            with m.Else():
                m.d.sync += xw_lane.eq(xw_lane + 1)
                for k in range(L):
                    with m.If(xw_lane == k):
                        m.d.sync += xw_reg[k].eq(x.payload.data)
            with m.If(x_step_end):
                m.d.sync += [xw_k.eq(0), xw_row.eq(0), xw_bank.eq(~xw_bank)]
                for b in range(2):
                    with m.If(xw_bank == b):
                        m.d.sync += [full[b].eq(1), lastflag[b].eq(x.payload.last)]
                with m.If(x.payload.last):
                    m.d.sync += got_last.eq(1)
            with m.Else():
                m.d.sync += xw_k.eq(xw_k + 1)

        with m.If(first_fire):
            m.d.sync += [
                seq_active.eq(1), first_step.eq(1), step_count.eq(0),
                nx_r.eq(self.n_x), slot_r.eq(self.slot),
                theta_r.eq(self.theta), form_r.eq(self.form),
                xmask.eq(Cat(*(Const(k, _ucount(IM)) < self.n_x for k in range(IM)))),
                w_base0.eq(self.slot * (NN * RPN)),
                b_base0.eq(self.slot * NN),
                hn_base0.eq(self.slot * H),
                s_base0.eq(self.slot * (NN * KB)),
            ]
            if p.memo:
                m.d.sync += memo_on.eq(self.memo_enable)
            with m.If(~(x_step_end & x.payload.last)):
                m.d.sync += got_last.eq(0)

        # ---------------------------------------------------------------- step sequencer
        step_start = Signal()       # the next step starts computing in this cycle (bank loaded)
        step_end = Signal()         # the step's last h is written in this cycle
        step_reset = Signal()       # counters of the issue/BNN/merge stages return to the step's start
        go = Signal()               # a step computes in this cycle
        m.d.comb += [
            step_start.eq(seq_active & ~step_run & Mux(rb, full[1], full[0])),
            step_reset.eq(step_end | first_fire),
            go.eq(step_run | step_start),
        ]
        # slot bases: from the inputs in the cycle the sequence starts, from the registers afterwards
        w_base = Mux(first_fire, self.slot * (NN * RPN), w_base0)
        s_base = Mux(first_fire, self.slot * (NN * KB), s_base0)
        n_bits = Mux(first_fire, self.n_x, nx_r) + H
        with m.If(step_start):
            m.d.sync += [step_run.eq(1), cur_last.eq(Mux(rb, lastflag[1], lastflag[0]))]
        with m.If(step_end):
            m.d.sync += [step_run.eq(0), rb.eq(~rb), hb.eq(~hb), first_step.eq(0),
                         step_count.eq(step_count + 1)]
            for b in range(2):
                with m.If(rb == b):
                    m.d.sync += full[b].eq(0)
            with m.If(cur_last):
                m.d.sync += seq_active.eq(0)

        # ---------------------------------------------------------------- memo hardware
        if p.memo:
            layouts = memo_layouts(NN, ab, p.b_bits)
            resp_layout = layouts["response"]
            m.submodules.bnn = bnn = BnnUnit(B, p.n_max)
            m.submodules.memo = memo = MemoTable(NN, ab, p.b_bits, p.cache_update)
            m.submodules.decisions = dec = fifo.SyncFIFOBuffered(width=resp_layout.size, depth=DECISION_DEPTH)
            tok_layout = data.StructLayout({"hit": 1, "y": act, "b": signed(p.b_bits)})
            m.submodules.tokens = tok = fifo.SyncFIFOBuffered(width=tok_layout.size, depth=TOKEN_DEPTH)
            m.d.comb += [
                memo.clear.eq(first_fire),
                memo.enable.eq(memo_on),
                memo.theta.eq(theta_r),
                memo.form.eq(Mux(form_r, ThresholdForm.ABSOLUTE, ThresholdForm.RELATIVE)),
            ]

            # BNN feeder: stage 0 counters, stage 1 = sign-memory data + v bits -> BnnUnit.i
            hs = [Signal(H, name=f"hsign{b}") for b in range(2)]
            f_n = Signal(_urange(NN))
            f_beat = Signal(_urange(KB))
            f_left = Signal(_ucount(p.n_max))
            f_sa = Signal(_ucount(depths["sign"]))
            f_nbase = Signal(_ucount(depths["sign"]))
            f_done = Signal()
            b1_valid, b1_last = Signal(), Signal()
            b1_x = Signal(B)
            b1_count = Signal(range(B + 1))
            vwidth = KB * B
            xs_cur = Mux(rb, xs[1], xs[0]) & xmask
            hs_cur = Mux(first_step, Const((1 << H) - 1, H), Mux(hb, hs[1], hs[0]))
            vbits = Signal(vwidth)
            m.d.comb += vbits.eq((Cat(xs_cur, Const(0, vwidth)) | (Cat(hs_cur, Const(0, vwidth)) << nx_r))[:vwidth])
            f_adv = ~b1_valid | bnn.i.ready
            f_go = Signal()
            f_last = f_left <= B
            m.d.comb += f_go.eq(go & memo_on & ~f_done & f_adv)
            srp = mems["sign"].read_port()
            m.d.comb += [srp.addr.eq(f_sa), srp.en.eq(f_adv)]
            with m.If(f_go):
                m.d.sync += [b1_valid.eq(1), b1_x.eq(vbits.word_select(f_beat, B)),
                             b1_count.eq(Mux(f_last, f_left, B)), b1_last.eq(f_last)]
                with m.If(f_last):
                    m.d.sync += [f_n.eq(f_n + 1), f_beat.eq(0), f_left.eq(nx_r + H),
                                 f_nbase.eq(f_nbase + KB), f_sa.eq(f_nbase + KB)]
                    with m.If(f_n == NN - 1):
                        m.d.sync += f_done.eq(1)
                with m.Else():
                    m.d.sync += [f_beat.eq(f_beat + 1), f_left.eq(f_left - B), f_sa.eq(f_sa + 1)]
            with m.Elif(f_adv):
                m.d.sync += b1_valid.eq(0)
            with m.If(step_reset):
                m.d.sync += [f_n.eq(0), f_beat.eq(0), f_left.eq(n_bits), f_sa.eq(s_base),
                             f_nbase.eq(s_base), f_done.eq(0)]
            m.d.comb += [
                bnn.i.valid.eq(b1_valid),
                bnn.i.payload.x.eq(b1_x),
                bnn.i.payload.w.eq(srp.data),
                bnn.i.payload.count.eq(b1_count),
                bnn.i.payload.last.eq(b1_last),
            ]
            # BnnUnit.o -> MemoTable.lookup (index = neuron in issue order) -> decision FIFO
            look_n = Signal(_urange(NN))
            m.d.comb += [
                memo.lookup.valid.eq(bnn.o.valid),
                memo.lookup.payload.b.eq(bnn.o.payload),
                memo.lookup.payload.index.eq(look_n),
                bnn.o.ready.eq(memo.lookup.ready),
                dec.w_data.eq(memo.response.payload),
                dec.w_en.eq(memo.response.valid),
                memo.response.ready.eq(dec.w_rdy),
            ]
            with m.If(memo.lookup.valid & memo.lookup.ready):
                m.d.sync += look_n.eq(look_n + 1)
            with m.If(step_reset):
                m.d.sync += look_n.eq(0)
            dec_view = resp_layout(dec.r_data)
            tok_view = tok_layout(tok.r_data)

        # ---------------------------------------------------------------- issue: stage 0
        i_in = Signal()             # inside a computed neuron's beats
        i_part = Signal()           # 0: input part, 1: recurrent part
        i_r = Signal(_urange(max(KX, KH)))
        i_xe = Signal(_ucount(KX * L + L))
        i_n = Signal(_urange(NN))
        i_g = Signal(_urange(G))
        i_j = Signal(_urange(H))
        i_done = Signal()
        i_wbase = Signal(_ucount(depths["weight"]))

        s1_valid, s1_last, s1_part, s1_zero, s1_hn = Signal(), Signal(), Signal(), Signal(), Signal()
        s1_g = Signal(_urange(G))
        s1_j = Signal(_urange(H))

        tag_layout = data.StructLayout({"g": _urange(G), "part": 1, "j": _urange(H)})
        m.submodules.tags = tags = fifo.SyncFIFO(width=tag_layout.size, depth=TAG_DEPTH)
        dot_in_fire = Signal()
        m.d.comb += [
            dot.i.valid.eq(s1_valid & (~s1_last | tags.w_rdy)),
            dot_in_fire.eq(dot.i.valid & dot.i.ready),
            tags.w_en.eq(dot_in_fire & s1_last),
            tags.w_data.eq(Cat(s1_g, s1_part, s1_j)),
        ]
        adv1 = Signal()
        m.d.comb += adv1.eq(~s1_valid | dot_in_fire)

        cur_part = Mux(i_in, i_part, 0)
        cur_r = Mux(i_in, i_r, 0)
        cur_xe = Mux(i_in, i_xe, L)
        x_end = ~cur_part & (cur_xe >= nx_r)
        h_end = cur_part & (cur_r == KH - 1)
        is_n = (i_g == 2) if gru else Const(0)
        beat_last = h_end | (x_end & is_n)

        if p.memo:
            dec_ok = ~memo_on | dec.r_rdy
            hit = memo_on & dec_view.hit
            tok_ok = tok.w_rdy
        else:
            dec_ok, hit, tok_ok = Const(1), Const(0), Const(1)
        start_ok = Signal()
        take = Signal()
        emit = Signal()
        next_neuron = Signal()
        m.d.comb += [
            start_ok.eq(go & ~i_in & ~i_done & dec_ok & tok_ok),
            take.eq(start_ok & (hit | adv1)),
            emit.eq(adv1 & ((go & i_in) | (take & ~hit))),
            next_neuron.eq((emit & h_end) | (take & hit)),
        ]
        if p.memo:
            m.d.comb += [
                dec.r_en.eq(take & memo_on),
                tok.w_en.eq(take),
                tok.w_data.eq(Cat(hit, dec_view.y, dec_view.b)),
            ]
        with m.If(emit):
            m.d.sync += i_in.eq(1)
            with m.If(h_end):
                m.d.sync += i_in.eq(0)
            with m.Elif(x_end):
                m.d.sync += [i_part.eq(1), i_r.eq(0)]
            with m.Else():
                m.d.sync += [i_part.eq(cur_part), i_r.eq(cur_r + 1), i_xe.eq(cur_xe + L)]
        with m.If(next_neuron):
            m.d.sync += [i_n.eq(i_n + 1), i_g.eq(i_g + 1), i_wbase.eq(i_wbase + RPN)]
            with m.If(i_g == G - 1):
                m.d.sync += [i_g.eq(0), i_j.eq(i_j + 1)]
            with m.If(i_n == NN - 1):
                m.d.sync += i_done.eq(1)
        with m.If(step_reset):
            m.d.sync += [i_in.eq(0), i_n.eq(0), i_g.eq(0), i_j.eq(0), i_done.eq(0), i_wbase.eq(w_base)]

        # stage 0 -> 1: memory reads (enabled with adv1) and the beat's attributes
        wrp = mems["weight"].read_port()
        xrp = xbuf.read_port()
        hrp = hbuf.read_port()
        brp = mems["bias"].read_port()
        m.d.comb += [
            wrp.addr.eq(i_wbase + Mux(cur_part, KX + cur_r, cur_r)), wrp.en.eq(adv1),
            xrp.addr.eq(Mux(rb, KX, 0) + cur_r), xrp.en.eq(adv1),
            hrp.addr.eq(Mux(hb, KH, 0) + cur_r), hrp.en.eq(adv1),
            brp.addr.eq(b_base0 + i_n), brp.en.eq(adv1),
        ]
        if gru:
            hnrp = mems["bias_hn"].read_port()
            m.d.comb += [hnrp.addr.eq(hn_base0 + i_j), hnrp.en.eq(adv1)]
        with m.If(adv1):
            m.d.sync += [s1_valid.eq(emit), s1_last.eq(beat_last), s1_part.eq(cur_part),
                         s1_zero.eq(cur_part & first_step), s1_hn.eq(cur_part & is_n),
                         s1_g.eq(i_g), s1_j.eq(i_j)]

        # stage 1 -> DotProductUnit.i
        wrow = data.ArrayLayout(signed(wb), L)(wrp.data)
        xrow = row_shape(xrp.data)
        hrow = row_shape(hrp.data)
        for k in range(L):
            m.d.comb += [
                dot.i.payload.weights[k].eq(wrow[k]),
                dot.i.payload.acts[k].eq(Mux(s1_part, Mux(s1_zero, 0, hrow[k]), xrow[k])),
            ]
        bias_x = brp.data.as_signed()
        m.d.comb += [
            dot.i.payload.bias.eq(Mux(s1_hn, hnrp.data.as_signed(), bias_x) if gru else bias_x),
            dot.i.payload.last.eq(s1_last),
        ]

        # -------------------------------------------- merge state (declared early: the GRU pairing reads it)
        m_g = Signal(_urange(G))
        m_j = Signal(_urange(H))
        m_n = Signal(_urange(NN))
        m_lane = Signal(_urange(L))
        m_row = Signal(_urange(KH))
        gates = [Signal(act, name=f"gate{k}") for k in range(G - 1)]

        # ---------------------------------------------------------------- after the dot product
        tag = tag_layout(tags.r_data)
        dot_out_fire = Signal()
        m.d.comb += [dot_out_fire.eq(dot.o.valid & dot.o.ready), tags.r_en.eq(dot_out_fire)]
        if gru:
            # pairing: r/z pass (acc, 0, 0) so that the candidate's preact equals the plain neuron's;
            # n pairs acc_x (held) with acc_h and the r of the same hidden unit from the merge stage.
            px = Signal(signed(p.acc_bits))
            kind_nx = (tag.g == 2) & ~tag.part
            kind_nh = (tag.g == 2) & tag.part
            r_ok = (m_j == tag.j) & (m_g != 0)
            m.submodules.funcs = funcs = fifo.SyncFIFO(width=1, depth=4)
            cand_go = ~kind_nx & (~kind_nh | r_ok) & funcs.w_rdy
            m.d.comb += [
                cand.i.valid.eq(dot.o.valid & cand_go),
                cand.i.payload.acc_x.eq(Mux(kind_nh, px, dot.o.payload.acc)),
                cand.i.payload.acc_h.eq(Mux(kind_nh, dot.o.payload.acc, 0)),
                cand.i.payload.r.eq(Mux(kind_nh, gates[0], 0)),
                dot.o.ready.eq(kind_nx | (cand_go & cand.i.ready)),
                funcs.w_en.eq(cand.i.valid & cand.i.ready),
                funcs.w_data.eq(kind_nh),
                actu.i.valid.eq(cand.o.valid),
                actu.i.payload.preact.eq(cand.o.payload.preact),
                actu.i.payload.func.eq(Mux(funcs.r_data[0], Activation.TANH, Activation.SIGMOID)),
                cand.o.ready.eq(actu.i.ready),
                funcs.r_en.eq(cand.o.valid & actu.i.ready),
            ]
            with m.If(dot_out_fire & kind_nx):
                m.d.sync += px.eq(dot.o.payload.acc)
        else:
            m.d.comb += [
                actu.i.valid.eq(dot.o.valid),
                actu.i.payload.preact.eq(dot.o.payload.preact),
                actu.i.payload.func.eq(Mux(tag.g == 2, Activation.TANH, Activation.SIGMOID)),
                dot.o.ready.eq(actu.i.ready),
            ]

        # ---------------------------------------------------------------- merge (neuron order)
        if p.memo:
            tok_avail, t_hit, t_y = tok.r_rdy, tok_view.hit, tok_view.y
        else:
            tok_avail, t_hit, t_y = Const(1), Const(0), Const(0)
        last_gate = m_g == G - 1
        sink_ok = ~last_gate | ~ew.i.valid | ew.i.ready
        fire = Signal()
        y = Signal(act)
        m.d.comb += [
            fire.eq(tok_avail & (t_hit | actu.o.valid) & sink_ok),
            y.eq(Mux(t_hit, t_y, actu.o.payload.value)),
            actu.o.ready.eq(tok_avail & ~t_hit & sink_ok),
        ]
        if p.memo:
            m.d.comb += [
                tok.r_en.eq(fire),
                memo.update.valid.eq(fire & ~t_hit & memo_on),
                memo.update.payload.index.eq(m_n),
                memo.update.payload.y.eq(y),
                memo.update.payload.b.eq(tok_view.b),
            ]
        # the old state element the update needs: c_j (LSTM) or h_{t-1,j} (GRU), read ahead at m_j
        if gru:
            hrp2 = hbuf.read_port()
            m.d.comb += [hrp2.addr.eq(Mux(hb, KH, 0) + m_row), hrp2.en.eq(1)]
            lane_sel = Signal(_urange(L))
            m.d.sync += lane_sel.eq(m_lane)
            old = row_shape(hrp2.data)[lane_sel]
        else:
            crp = cmem.read_port()
            m.d.comb += [crp.addr.eq(m_j), crp.en.eq(1)]
            old = crp.data.as_signed()

        with m.If(fire):
            m.d.sync += [m_g.eq(m_g + 1), m_n.eq(m_n + 1)]
            for k in range(G - 1):
                with m.If(m_g == k):
                    m.d.sync += gates[k].eq(y)
            with m.If(last_gate):
                m.d.sync += [m_g.eq(0), m_j.eq(m_j + 1), m_lane.eq(m_lane + 1)]
                with m.If(m_lane == L - 1):
                    m.d.sync += [m_lane.eq(0), m_row.eq(m_row + 1)]
        with m.If(step_reset):
            m.d.sync += [m_g.eq(0), m_j.eq(0), m_n.eq(0), m_lane.eq(0), m_row.eq(0)]

        # element-wise input register
        with m.If(ew.i.ready):
            m.d.sync += ew.i.valid.eq(0)
        with m.If(fire & last_gate):
            m.d.sync += ew.i.valid.eq(1)
            if gru:
                m.d.sync += [ew.i.payload.z.eq(gates[1]), ew.i.payload.n.eq(y),
                             ew.i.payload.h.eq(Mux(first_step, 0, old))]
            else:
                m.d.sync += [ew.i.payload.i.eq(gates[0]), ew.i.payload.f.eq(gates[1]),
                             ew.i.payload.g.eq(gates[2]), ew.i.payload.o.eq(y),
                             ew.i.payload.c.eq(Mux(first_step, 0, old))]

        # ---------------------------------------------------------------- element-wise output
        m.submodules.out = out = fifo.SyncFIFOBuffered(width=self.h_layout.size, depth=OUT_DEPTH)
        o_j = Signal(_urange(H))
        o_lane = Signal(_urange(L))
        o_row = Signal(_urange(KH))
        o_reg = Signal(row_shape)
        ew_fire = Signal()
        h_new = ew.o.payload.h
        o_step_end = o_j == H - 1
        m.d.comb += [
            ew.o.ready.eq(out.w_rdy),
            ew_fire.eq(ew.o.valid & out.w_rdy),
            out.w_en.eq(ew_fire),
            out.w_data.eq(Cat(h_new, cur_last & o_step_end)),
            step_end.eq(ew_fire & o_step_end),
        ]
        hwp = hbuf.write_port()
        o_row_end = (o_lane == L - 1) | o_step_end
        m.d.comb += [
            hwp.addr.eq(Mux(hb, 0, KH) + o_row),
            hwp.data.eq(Cat(*(Mux(o_lane == k, h_new, o_reg[k]) for k in range(L)))),
            hwp.en.eq(ew_fire & o_row_end),
        ]
        if not gru:
            cwp = cmem.write_port()
            m.d.comb += [cwp.addr.eq(o_j), cwp.data.eq(ew.o.payload.c), cwp.en.eq(ew_fire)]
        with m.If(ew_fire):
            if p.memo:
                for b in range(2):
                    with m.If(hb != b):
                        for k in range(H):
                            with m.If(o_j == k):
                                m.d.sync += hs[b][k].eq(h_new >= 0)
            with m.If(o_row_end):
                m.d.sync += [o_reg.eq(0), o_lane.eq(0), o_row.eq(o_row + 1)]
            with m.Else():
                m.d.sync += o_lane.eq(o_lane + 1)
                for k in range(L):
                    with m.If(o_lane == k):
                        m.d.sync += o_reg[k].eq(h_new)
            with m.If(o_step_end):
                m.d.sync += [o_j.eq(0), o_row.eq(0)]
            with m.Else():
                m.d.sync += o_j.eq(o_j + 1)

        h_out = self.h_layout(out.r_data)
        m.d.comb += [
            self.h.valid.eq(out.r_rdy),
            self.h.payload.data.eq(h_out.data),
            self.h.payload.last.eq(h_out.last),
            out.r_en.eq(self.h.ready),
        ]

        # ---------------------------------------------------------------- wr stream, status, counters
        m.d.comb += [
            self.wr.ready.eq(idle),
            self.busy.eq(seq_active | out.r_rdy),
        ]
        stall = (seq_active & ~step_run & ~Mux(rb, full[1], full[0]) & ~x.valid) | (ew.o.valid & ~out.w_rdy)
        counters = [(self.cycles, seq_active), (self.evaluations, fire), (self.reuses, fire & t_hit),
                    (self.stalls, stall)]
        with m.If(self.clear_counters):
            m.d.sync += [c.eq(0) for c, _ in counters]
        with m.Else():
            for c, inc in counters:
                with m.If(inc):
                    m.d.sync += c.eq(c + 1)
        return m


def parse_bool(value) -> bool:
    """A registry option's boolean: True/False or the strings true/false, yes/no, on/off, 1/0."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected a boolean (true/false), not {value!r}")


def from_options(options: dict) -> Tile:
    """The tile of a registry option set (``fuzzymemo generate --top tile``); memories zero (load through
    ``wr``)."""
    from .checks import config_from_options
    formats = {**options, "cell": options["cell_format"]}
    params = TileParams(cell=options["cell"], input_size=options["input_size"], hidden=options["hidden"],
                        slots=options["slots"], lanes=options["lanes"], bnn_width=options["bnn_width"],
                        config=config_from_options(formats), memo=parse_bool(options["memo"]),
                        max_steps=options["max_steps"], cache_update=options["cache_update"])
    return Tile(params)
