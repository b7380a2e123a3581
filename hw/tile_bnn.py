"""The BNN predictor front end of the tile: sign bits of [x ; h], the sign-weight memory, the BNN feeder,
:class:`hw.bnn.BnnUnit`, :class:`hw.memo_table.MemoTable` and the decision FIFO, behind the predictor
interface of :mod:`hw.tile_front_end`. See ``docs/hw/front_end.md``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model import intops

from .bnn import BnnUnit, bnn_input_layout
from .checks import check_int, silence_unused
from .memo_table import MemoTable, ThresholdForm, memo_layouts
from .shapes import count_shape, index_shape, read_port
from .tile_front_end import FrontEnd, drive_decisions
from .tile_memories import write_from
from .tile_params import TileParams, ceil_div, check_part_params
from .tile_rows import element_layout

__all__ = ["BnnFrontEnd", "BnnFeeder", "SignBits", "DECISION_DEPTH"]

#: Depth of the decision FIFO (BNN/memo-table decisions queued ahead of the dot-product unit).
DECISION_DEPTH = 16
#: Cycles the decision FIFO (SyncFIFOBuffered) adds to the decision lead.
DECISION_FIFO_LATENCY = 1



def bnn_beats(params: TileParams, n_x: int) -> int:
    """BNN beats of one neuron: ceil((n_x + H) / B)."""
    return ceil_div(n_x + params.hidden, params.bnn_width)


class SignBits(wiring.Component):
    """Two banks of ``size`` sign flip-flops (1 = element >= 0): element ``index`` of the step is written
    into the write bank, which flips after the step's ``last`` element; ``bits`` shows the read bank,
    which flips on ``swap``.

    Parameters: ``size`` (1..65536 elements), ``first_bank`` (bank written first after reset, 0 or 1;
    the read bank starts at 0), ``bits`` (element width).

    Ports: ``i`` In(stream, always ready) of :func:`hw.tile_rows.element_layout`; ``swap`` In(1);
    ``bits`` Out(size). :attr:`latency` = 1 (a written bit shows the cycle after, once its bank is read).
    """

    latency = 1

    def __init__(self, size: int, bits: int, first_bank: int = 0):
        try:
            self.size = check_int("SignBits size", size, 1, 1 << 16)
            check_int("SignBits bits", bits, 2, 64)
            self.first_bank = check_int("SignBits first_bank", first_bank, 0, 1)
        except (TypeError, ValueError):
            silence_unused(self)
            raise
        super().__init__({
            "i": In(stream.Signature(element_layout(size, signed(bits)), always_ready=True)),
            "swap": In(1),
            "bits": Out(size),
        })

    def elaborate(self, platform):
        m = Module()
        banks = [Signal(self.size, name=f"bank{b}") for b in range(2)]
        wbank = Signal(init=self.first_bank)
        rbank = Signal()
        e = self.i.payload
        m.d.comb += self.bits.eq(Mux(rbank, banks[1], banks[0]))
        with m.If(self.i.valid):
            for b in range(2):
                with m.If(wbank == b):
                    for k in range(self.size):  # explicit bits: no incomplete case over the index in Verilog
                        with m.If(e.index == k):
                            m.d.sync += banks[b][k].eq(e.data >= 0)
            with m.If(e.last):
                m.d.sync += wbank.eq(~wbank)
        with m.If(self.swap):
            m.d.sync += rbank.eq(~rbank)
        return m


class BnnFeeder(wiring.Component):
    """Feeds a step's neurons to the BNN unit: per neuron n (in issue order) ceil((n_x + H) / B) beats of
    (v bits, sign-memory row), v = the packed [x ; h] sign bits.

    Stage 0 holds the counters and the sign-memory address; stage 1 (the output register, with the
    memory's read data) is the ``o`` stream, so :attr:`latency` = 1 cycle from a beat's issue to ``o``.

    Ports
    -----
    v : In(KB*B)          packed sign bits of [x ; h] (bit i = element i)
    run : In(1)           feed in this cycle (a step computes and memoization is on)
    n_x, slot : In        the sequence's n_x and slot; ``seq_start`` samples the slot's sign-memory base
    seq_start, step_reset : In(1)  ``step_reset`` returns to neuron 0
    sign : In(memory.ReadPort.Signature)  read port of the sign memory (rows of B weight sign bits)
    o : Out(stream)       :func:`hw.bnn.bnn_input_layout` beats
    """

    latency = 1

    def __init__(self, params: TileParams):
        self.params = p = check_part_params(self, params)
        depth = p.slots * p.neurons * p.sign_rows
        super().__init__({
            "v": In(p.sign_rows * p.bnn_width),
            "run": In(1), "seq_start": In(1), "step_reset": In(1),
            "n_x": In(count_shape(p.input_size)),
            "slot": In(index_shape(p.slots)),
            "sign": read_port(depth, p.bnn_width),   # rows of the front end's ``predictor`` memory
            "o": Out(stream.Signature(bnn_input_layout(p.bnn_width))),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        B, H, NN, KB = p.bnn_width, p.hidden, p.neurons, p.sign_rows
        depth = p.slots * NN * KB
        f_n = Signal(index_shape(NN))
        f_beat = Signal(index_shape(KB))
        f_left = Signal(count_shape(p.n_max))
        f_sa = Signal(count_shape(depth))
        f_nbase = Signal(count_shape(depth))
        s_base0 = Signal(count_shape(depth))
        f_done = Signal()
        o = self.o
        s_base = Mux(self.seq_start, self.slot * (NN * KB), s_base0)
        f_adv = ~o.valid | o.ready
        f_go = Signal()
        f_last = f_left <= B
        m.d.comb += [f_go.eq(self.run & ~f_done & f_adv), self.sign.addr.eq(f_sa), self.sign.en.eq(f_adv),
                     o.payload.w.eq(self.sign.data)]
        with m.If(self.seq_start):
            m.d.sync += s_base0.eq(self.slot * (NN * KB))
        with m.If(f_go):
            m.d.sync += [o.valid.eq(1), o.payload.x.eq(self.v.word_select(f_beat, B)),
                         o.payload.count.eq(Mux(f_last, f_left, B)), o.payload.last.eq(f_last)]
            with m.If(f_last):
                m.d.sync += [f_n.eq(f_n + 1), f_beat.eq(0), f_left.eq(self.n_x + H),
                             f_nbase.eq(f_nbase + KB), f_sa.eq(f_nbase + KB)]
                with m.If(f_n == NN - 1):
                    m.d.sync += f_done.eq(1)
            with m.Else():
                m.d.sync += [f_beat.eq(f_beat + 1), f_left.eq(f_left - B), f_sa.eq(f_sa + 1)]
        with m.Elif(f_adv):
            m.d.sync += o.valid.eq(0)
        with m.If(self.step_reset):
            m.d.sync += [f_n.eq(0), f_beat.eq(0), f_left.eq(self.n_x + H), f_sa.eq(s_base),
                         f_nbase.eq(s_base), f_done.eq(0)]
        return m


class BnnFrontEnd(FrontEnd):
    """BNN-predicted fuzzy memoization (DESIGN.md 3.3) as a tile front end (:mod:`hw.tile_front_end`).

    It keeps the sign bits of the x elements (two banks: the step being read and the next one being
    written) and of the new h elements (two banks: h_{t-1} and h_t), feeds [x ; h] bits and the sign
    weights of each neuron to a :class:`~hw.bnn.BnnUnit` (:class:`BnnFeeder`), looks the BNN output b up
    in a :class:`~hw.memo_table.MemoTable` (index = neuron in issue order) and queues the responses in a
    decision FIFO of :data:`DECISION_DEPTH`, running ahead of the dot-product unit. A decision's
    ``context`` is b_t, returned with the update of a computed neuron (``MemoTable.update``).

    Memories: ``predictor``, the sign words (B-wide rows, ``slots*G*H*KB`` rows, docs/tile.md *Memory
    image*); the memo table's y/b memories are internal. Controls sampled at ``seq_start``: ``enable``,
    ``theta``, ``form`` (the memo table's threshold), and the x mask of n_x; ``seq_start`` also clears
    every valid bit.

    Decision timing: decision k of a step is ready ``latency + kb + k*kb`` cycles after the step starts,
    kb = ceil((n_x + H) / B), :attr:`latency` = feeder + BnnUnit + MemoTable + decision FIFO latencies.
    """

    #: Fixed part of the decision lead: feeder stage 1, BnnUnit, MemoTable, decision FIFO.
    latency = BnnFeeder.latency + BnnUnit.LATENCY + MemoTable.LATENCY + DECISION_FIFO_LATENCY

    def __init__(self, params: TileParams, image: dict | None = None):
        super().__init__(params, image)
        p = params
        act_bits = p.config.act.bits
        self.x_signs = SignBits(p.input_size, act_bits, first_bank=0)
        self.h_signs = SignBits(p.hidden, act_bits, first_bank=1)
        self.feeder = BnnFeeder(p)
        self.bnn = BnnUnit(p.bnn_width, p.n_max)
        self.memo = MemoTable(p.neurons, act_bits, p.b_bits, p.cache_update)

    # ------------------------------------------------------------------ the front-end class methods
    @classmethod
    def memories(cls, params) -> dict[str, tuple[int, int]]:
        return {"predictor": (params.slots * params.neurons * params.sign_rows, params.bnn_width)}

    @classmethod
    def context_shape(cls, params):
        return signed(params.b_bits)

    @classmethod
    def decision_timing(cls, params, n_x: int) -> tuple[int, int]:
        kb = bnn_beats(params, n_x)
        return cls.latency + kb, kb

    @classmethod
    def image_words(cls, params, slot: int, weights) -> dict[str, list[tuple[int, int]]]:
        out = []
        for n in range(params.neurons):
            row = (n % params.gates) * params.hidden + n // params.gates   # n = j*G + g -> row g*H + j
            base = (slot * params.neurons + n) * params.sign_rows
            words = intops.pack_bits(intops.sign_bits(weights[row]), params.bnn_width)
            out += [(base + k, int(word)) for k, word in enumerate(words)]
        return {"predictor": out}

    # ------------------------------------------------------------------ hardware
    def elaborate(self, platform):
        m = Module()
        p = self.params
        H, KB, B = p.hidden, p.sign_rows, p.bnn_width
        m.submodules.x_signs, m.submodules.h_signs = xs, hs = self.x_signs, self.h_signs
        m.submodules.feeder, m.submodules.bnn, m.submodules.memo = feeder, bnn, memo = \
            self.feeder, self.bnn, self.memo
        (depth, width), = self.memories(p).values()
        m.submodules.sign_mem = sign_mem = memory.Memory(shape=unsigned(width), depth=depth,
                                                         init=self.image.get("predictor", []))
        write_from(m, sign_mem, "predictor", self.wr)
        resp_layout = memo_layouts(p.neurons, p.config.act.bits, p.b_bits)["response"]
        m.submodules.decisions = dec = fifo.SyncFIFOBuffered(width=resp_layout.size, depth=DECISION_DEPTH)

        memo_on = Signal()
        theta_r = Signal.like(self.theta)
        form_r = Signal()
        xmask = Signal(p.input_size)
        with m.If(self.seq_start):
            m.d.sync += [memo_on.eq(self.enable), theta_r.eq(self.theta), form_r.eq(self.form),
                         xmask.eq(Cat(*(Const(k, count_shape(p.input_size)) < self.n_x
                                        for k in range(p.input_size))))]
        m.d.comb += [
            memo.clear.eq(self.seq_start), memo.enable.eq(memo_on), memo.theta.eq(theta_r),
            memo.form.eq(Mux(form_r, ThresholdForm.ABSOLUTE, ThresholdForm.RELATIVE)),
        ]
        # [x ; h] sign bits: the x elements of the step being read (masked to n_x), then h_{t-1}
        wiring.connect(m, wiring.flipped(self.x), xs.i)
        wiring.connect(m, wiring.flipped(self.h), hs.i)
        m.d.comb += [xs.swap.eq(self.step_end), hs.swap.eq(self.step_end)]
        vwidth = KB * B
        hs_cur = Mux(self.first_step, Const((1 << H) - 1, H), hs.bits)
        m.d.comb += feeder.v.eq((Cat(xs.bits & xmask, Const(0, vwidth))
                                 | (Cat(hs_cur, Const(0, vwidth)) << self.n_x))[:vwidth])
        m.d.comb += [feeder.run.eq(self.go & memo_on), feeder.n_x.eq(self.n_x), feeder.slot.eq(self.slot),
                     feeder.seq_start.eq(self.seq_start), feeder.step_reset.eq(self.step_reset)]
        wiring.connect(m, feeder.sign, sign_mem.read_port())
        wiring.connect(m, feeder.o, bnn.i)
        self._lookup(m, bnn, memo, dec)
        self._decisions(m, memo_on, resp_layout(dec.r_data), dec)
        return m

    def _lookup(self, m, bnn, memo, dec):
        """BnnUnit.o -> MemoTable.lookup (index = neuron in issue order) -> decision FIFO."""
        look_n = Signal(index_shape(self.params.neurons))
        m.d.comb += [
            memo.lookup.valid.eq(bnn.o.valid),
            memo.lookup.payload.b.eq(bnn.o.payload),
            memo.lookup.payload.index.eq(look_n),
            bnn.o.ready.eq(memo.lookup.ready),
        ]
        wiring.connect(m, memo.response, dec.w_stream)
        with m.If(memo.lookup.valid & memo.lookup.ready):
            m.d.sync += look_n.eq(look_n + 1)
        with m.If(self.step_reset):
            m.d.sync += look_n.eq(0)

    def _decisions(self, m, memo_on, view, dec):
        """Decision stream out (every neuron a miss while memoization is off), updates to the memo table."""
        memo = self.memo
        drive_decisions(m, self, dec, memo_on, view.hit, view.y, view.b)
        m.d.comb += [
            memo.update.valid.eq(self.update.valid & memo_on),
            memo.update.payload.index.eq(self.update.payload.index),
            memo.update.payload.y.eq(self.update.payload.y),
            memo.update.payload.b.eq(self.update.payload.context),
        ]
