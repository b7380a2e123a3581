"""The BNN predictor front end of the tile: sign bits of [x ; h], the sign-weight memory, the BNN feeder,
:class:`hw.bnn.BnnUnit`, :class:`hw.memo_table.MemoTable` and the decision FIFO, behind the predictor
interface of :mod:`hw.tile_front_end`. See ``docs/hw/front_end.md``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model import intops

from .bnn import BnnUnit, bnn_input_layout
from .bnn_planes import MAX_PLANES, plane_bits, plane_bits_of
from .checks import check_int, silence_unused
from .memo_table import MemoTable, memo_layouts
from .pipeline import SkidBuffer
from .shapes import count_shape, index_shape, read_port
from .tile_front_end import DECISION_DEPTH, DECISION_FIFO_LATENCY, FrontEnd, beat_timing
from .tile_params import TileParams, ceil_div, check_part_params
from .tile_rows import element_layout

__all__ = ["BnnFrontEnd", "BnnFeeder", "SignBits", "SignFeed", "DECISION_DEPTH", "sign_words"]


def bnn_beats(params: TileParams, n_x: int) -> int:
    """BNN beats of one neuron: ceil((n_x + H) / B)."""
    return ceil_div(n_x + params.hidden, params.bnn_width)


class SignBits(wiring.Component):
    """Two banks of ``size`` sign flip-flops (1 = element >= 0) per plane, each a shift register: an
    element of the step shifts into bit 0 of the write bank (the older bits move up one), which flips
    after the step's ``last`` element; ``bits`` shows the read bank, which flips on ``swap``. After a step
    of n elements, bit k < n holds element n - 1 - k (the step reversed; bits from n on are stale and
    the reader ignores them). Elements arrive in order, so the ``index`` of the input is not read: no
    per-bit write decoder. With ``planes`` > 1 an element's bits are its residual sign planes
    (:func:`hw.bnn_planes.plane_bits`, ``frac`` = the activation fraction bits).

    Parameters: ``size`` (1..65536 elements), ``first_bank`` (bank written first after reset, 0 or 1;
    the read bank starts at 0), ``bits`` (element width), ``planes`` (1..8), ``frac`` (planes..bits - 1;
    only used for planes > 1).

    Ports: ``i`` In(stream, always ready) of :func:`hw.tile_rows.element_layout`; ``swap`` In(1);
    ``bits`` Out(planes*size), plane l at bits l*size..(l+1)*size-1. :attr:`latency` = 1 (a written bit
    shows the cycle after, once its bank is read).
    """

    latency = 1

    def __init__(self, size: int, bits: int, first_bank: int = 0, planes: int = 1, frac: int | None = None):
        try:
            self.size = check_int("SignBits size", size, 1, 1 << 16)
            check_int("SignBits bits", bits, 2, 64)
            self.first_bank = check_int("SignBits first_bank", first_bank, 0, 1)
            self.planes = check_int("SignBits planes", planes, 1, MAX_PLANES)
            self.frac = frac if planes == 1 else check_int("SignBits frac", frac, planes, bits - 1)
        except (TypeError, ValueError):
            silence_unused(self)
            raise
        super().__init__({
            "i": In(stream.Signature(element_layout(size, signed(bits)), always_ready=True)),
            "swap": In(1),
            "bits": Out(planes * size),
        })

    def elaborate(self, platform):
        m = Module()
        size = self.size
        banks = [[Signal(size, name=f"bank{b}_plane{level}") for level in range(self.planes)] for b in range(2)]
        wbank = Signal(init=self.first_bank)
        rbank = Signal()
        e = self.i.payload
        planes = Signal(self.planes, name="planes")
        m.d.comb += [self.bits.eq(Mux(rbank, Cat(*banks[1]), Cat(*banks[0]))),
                     planes.eq(plane_bits(e.data, self.planes, self.frac))]
        with m.If(self.i.valid):
            for b in range(2):
                with m.If(wbank == b):
                    m.d.sync += [bank.eq(Cat(planes[level], bank[:-1])) for level, bank in enumerate(banks[b])]
            with m.If(e.last):
                m.d.sync += wbank.eq(~wbank)
        with m.If(self.swap):
            m.d.sync += rbank.eq(~rbank)
        return m


class BnnFeeder(wiring.Component):
    """Feeds a step's neurons to the BNN unit: per neuron n (in issue order) ceil((n_x + H) / B) beats of
    (v bits, sign-memory row), v = the packed [x ; h] sign bits.

    Stage 0 holds the counters and the sign-memory address; stage 1 the beat's v bits, count and last
    beside the memory's read data; stage 2 (the output register, the memory's data registered: an EBR's
    clock-to-out leaves no room for logic after it, docs/synthesis.md) is the ``o`` stream. Both stages
    advance together while ``o`` is empty or taken, so :attr:`latency` = 2 cycles from a beat's issue to ``o``.
    With ``planes`` > 1 (``bnn-planes``) a beat carries the same B bits of every plane (``x`` word l =
    plane l) with one sign-memory row.

    Ports
    -----
    v : In(planes*KB*B)   packed sign bits of [x ; h] (bit i = element i), plane l at bits l*KB*B...
    run : In(1)           feed in this cycle (a step computes and memoization is on)
    n_x, slot : In        the sequence's n_x and slot; ``seq_start`` samples the slot's sign-memory base
    seq_start, step_reset : In(1)  ``step_reset`` returns to neuron 0
    sign : In(memory.ReadPort.Signature)  read port of the sign memory (rows of B weight sign bits)
    o : Out(stream)       :func:`hw.bnn.bnn_input_layout` beats
    """

    latency = 2

    def __init__(self, params: TileParams, planes: int = 1):
        self.params = p = check_part_params(self, params)
        self.planes = check_int("BnnFeeder planes", planes, 1, MAX_PLANES)
        depth = p.slots * p.neurons * p.sign_rows
        super().__init__({
            "v": In(planes * p.sign_rows * p.bnn_width),
            "run": In(1), "seq_start": In(1), "step_reset": In(1),
            "n_x": In(count_shape(p.input_size)),
            "slot": In(index_shape(p.slots)),
            "sign": read_port(depth, p.bnn_width),   # rows of the front end's ``predictor`` memory
            "o": Out(stream.Signature(bnn_input_layout(p.bnn_width, planes))),
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
        m.d.comb += [f_go.eq(self.run & ~f_done & f_adv), self.sign.addr.eq(f_sa), self.sign.en.eq(f_adv)]
        # stage 1: the beat beside the memory's read data
        s1_valid, s1_x, s1_count, s1_last = (Signal(), Signal.like(o.payload.x), Signal.like(o.payload.count),
                                             Signal())
        with m.If(f_adv):
            m.d.sync += [s1_valid.eq(f_go), o.valid.eq(s1_valid), o.payload.x.eq(s1_x),
                         o.payload.count.eq(s1_count), o.payload.last.eq(s1_last), o.payload.w.eq(self.sign.data)]
        with m.If(self.seq_start):
            m.d.sync += s_base0.eq(self.slot * (NN * KB))
        with m.If(f_go):
            # plane l's beat word = word f_beat of plane l's KB words
            beat = Cat(*(self.v.word_select(level * KB + f_beat, B) for level in range(self.planes)))
            m.d.sync += [s1_x.eq(beat), s1_count.eq(Mux(f_last, f_left, B)), s1_last.eq(f_last)]
            with m.If(f_last):
                m.d.sync += [f_n.eq(f_n + 1), f_beat.eq(0), f_left.eq(self.n_x + H),
                             f_nbase.eq(f_nbase + KB), f_sa.eq(f_nbase + KB)]
                with m.If(f_n == NN - 1):
                    m.d.sync += f_done.eq(1)
            with m.Else():
                m.d.sync += [f_beat.eq(f_beat + 1), f_left.eq(f_left - B), f_sa.eq(f_sa + 1)]
        with m.If(self.step_reset):
            m.d.sync += [f_n.eq(0), f_beat.eq(0), f_left.eq(self.n_x + H), f_sa.eq(s_base),
                         f_nbase.eq(s_base), f_done.eq(0)]
        return m


def sign_words(params: TileParams, slot: int, weights) -> list[tuple[int, int]]:
    """The packed sign-weight rows of one slot: KB B-bit words per neuron n (issue order, weight row
    g*H + j for n = j*G + g) at ``(slot*G*H + n)*KB``. A row's N = n_x + H signs are stored reversed
    (bit k = the sign of weight N - 1 - k), the order in which :class:`SignFeed` holds [x ; h]."""
    out = []
    for n in range(params.neurons):
        row = (n % params.gates) * params.hidden + n // params.gates   # n = j*G + g -> row g*H + j
        base = (slot * params.neurons + n) * params.sign_rows
        words = intops.pack_bits(intops.sign_bits(weights[row])[::-1], params.bnn_width)
        out += [(base + k, int(word)) for k, word in enumerate(words)]
    return out


class SignFeed:
    """What the BNN front ends share (:class:`BnnFrontEnd`, :class:`hw.tile_bnn_planes.BitPlaneFrontEnd`):
    the [x ; h] sign planes (:class:`SignBits`, ``planes`` per element) and the :class:`BnnFeeder` that
    reads the sign-weight rows of the ``predictor`` memory (rows ``0..slots*G*H*KB-1``, :func:`sign_words`).

    v, the feeder's bits, is [x ; h] reversed: element i of the N = n_x + H at bit N - 1 - i. Both sign
    banks shift their elements in at bit 0 (:class:`SignBits`), so after a step h_{H-1-k} is at bit k of
    the h bank and x_{n_x-1-k} at bit k of the x bank, and v = the h bank, then the x bank: fixed wiring
    for every n_x, with no write decoder, x mask or shift by n_x; the sign rows are stored in the same
    reversed order (:func:`sign_words`), so the XNOR-popcount (order-free) is unchanged."""

    planes = 1

    @classmethod
    def decision_timing(cls, params, n_x: int) -> tuple[int, int]:
        """Decision k at ``latency + (k + 1)*kb - 1``: kb = ceil((n_x + H) / B) feeder beats per neuron."""
        return beat_timing(cls.latency, bnn_beats(params, n_x))

    def _sign_parts(self, p: TileParams):
        frac = p.config.act.frac if self.planes > 1 else None
        self.x_signs = SignBits(p.input_size, p.config.act.bits, 0, self.planes, frac)
        self.h_signs = SignBits(p.hidden, p.config.act.bits, 1, self.planes, frac)
        self.feeder = BnnFeeder(p, self.planes)

    def _feed_signs(self, m, sign_port, memo_on):
        """x, h -> SignBits -> v = [x_t ; h_{t-1}] reversed per plane (the h bank, then the x bank) -> the
        feeder, whose sign rows come from ``sign_port`` (a read port of the predictor memory, the low B
        bits of its rows). Bits of v past n_x + H (stale x bits, padding) are the BNN unit's to ignore
        (the beat count)."""
        p = self.params
        KB, B, H = p.sign_rows, p.bnn_width, p.hidden
        m.submodules.x_signs, m.submodules.h_signs, m.submodules.feeder = xs, hs, feeder = \
            self.x_signs, self.h_signs, self.feeder
        wiring.connect(m, wiring.flipped(self.x), xs.i)
        wiring.connect(m, wiring.flipped(self.h), hs.i)
        m.d.comb += [xs.swap.eq(self.step_end), hs.swap.eq(self.step_end)]
        vwidth, words = KB * B, []
        zero = plane_bits_of(0, self.planes, p.config.act.frac)   # h_{t-1} = 0 on the first step
        for level in range(self.planes):
            h_prev = Mux(self.first_step, Const((1 << H) - 1 if zero[level] else 0, H), hs.bits.word_select(level, H))
            words.append(Cat(h_prev, xs.bits.word_select(level, p.input_size), Const(0, vwidth))[:vwidth])
        m.d.comb += [feeder.v.eq(Cat(*words)),
                     feeder.run.eq(self.go & memo_on), feeder.n_x.eq(self.n_x), feeder.slot.eq(self.slot),
                     feeder.seq_start.eq(self.seq_start), feeder.step_reset.eq(self.step_reset),
                     sign_port.addr.eq(feeder.sign.addr), sign_port.en.eq(feeder.sign.en),
                     feeder.sign.data.eq(sign_port.data[:B])]
        return feeder


class BnnFrontEnd(SignFeed, FrontEnd):
    """BNN-predicted fuzzy memoization (DESIGN.md 3.3) as a tile front end (:mod:`hw.tile_front_end`).

    It keeps the sign bits of the x elements (two banks: the step being read and the next one being
    written) and of the new h elements (two banks: h_{t-1} and h_t), feeds [x ; h] bits and the sign
    weights of each neuron to a :class:`~hw.bnn.BnnUnit` (:class:`BnnFeeder`), looks the BNN output b up
    in a :class:`~hw.memo_table.MemoTable` (index = neuron in issue order) and queues the responses in a
    decision FIFO of :data:`DECISION_DEPTH`, running ahead of the dot-product unit. A decision's
    ``context`` is b_t, returned with the update of a computed neuron (``MemoTable.update``).

    Memories: ``predictor``, the sign words (B-wide rows, ``slots*G*H*KB`` rows, docs/tile.md *Memory
    image*); the memo table's y/b memories are internal. Controls sampled at ``seq_start``: ``enable``,
    ``theta``, ``form`` (the memo table's threshold); ``seq_start`` also clears every valid bit.

    Decision timing: decision k of a step is ready ``latency + (k + 1)*kb - 1`` cycles after the step
    starts, kb = ceil((n_x + H) / B), :attr:`latency` = feeder + BnnUnit + MemoTable + decision FIFO latencies.
    """

    #: Fixed part of the decision lead: feeder stage 1, BnnUnit, MemoTable, decision FIFO.
    latency = BnnFeeder.latency + BnnUnit.LATENCY + MemoTable.LATENCY + DECISION_FIFO_LATENCY

    def __init__(self, params: TileParams, image: dict | None = None):
        super().__init__(params, image)
        p = params
        act_bits = p.config.act.bits
        self._sign_parts(p)
        self.bnn = BnnUnit(p.bnn_width, p.n_max)
        self.memo = MemoTable(p.neurons, act_bits, p.b_bits, p.cache_update)

    # ------------------------------------------------------------------ the front-end class methods
    @classmethod
    def memories(cls, params) -> dict[str, tuple[int, int]]:
        return {"predictor": (params.slots * params.neurons * params.sign_rows, params.bnn_width)}

    @classmethod
    def table_entry_bits(cls, params) -> int:
        """Memory bits per neuron of the front end's memo table."""
        return MemoTable.stored_bits(params.config.act.bits, params.b_bits, params.cache_update)

    @classmethod
    def context_shape(cls, params):
        return signed(params.b_bits)

    @classmethod
    def image_words(cls, params, slot: int, weights) -> dict[str, list[tuple[int, int]]]:
        return {"predictor": sign_words(params, slot, weights)}

    # ------------------------------------------------------------------ hardware
    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.bnn, m.submodules.memo = bnn, memo = self.bnn, self.memo
        sign_mem = self._predictor_memory(m, "sign_mem")
        memo_on = self._sample_controls(m, memo)
        feeder = self._feed_signs(m, sign_mem.read_port(), memo_on)
        # the feeder's beats pass a skid buffer (latency 0): the BNN unit's ready chain (its output's
        # room through its stages) ends there, not in the feeder's counters and the sign memory's enable;
        # the beat's sign word comes straight from the sign memory's output, so it gets the short path
        m.submodules.beat_skid = beat_skid = SkidBuffer(feeder.o.payload.shape(), late="payload")
        wiring.connect(m, feeder.o, beat_skid.i)
        wiring.connect(m, beat_skid.o, bnn.i)
        self._lookup(m, bnn, memo)
        self._queue_decisions(m, memo, memo_layouts(p.neurons, p.config.act.bits, p.b_bits)["response"], memo_on,
                              "b", {"index": "index", "y": "y", "b": "context"})
        return m

    def _lookup(self, m, bnn, memo):
        """BnnUnit.o -> a skid buffer -> MemoTable.lookup (index = neuron in issue order). The skid buffer
        (latency 0) ends the ready chain from the memo table's response register, through its stages,
        at its FIFO: without it that chain ran on through the BNN unit's stages and the feeder into the
        sign memory's address counter (the iCE40 memoizing tile's critical path, docs/synthesis.md)."""
        look_n = Signal(index_shape(self.params.neurons))
        m.submodules.lookup_skid = skid = SkidBuffer(bnn.o.payload.shape())
        wiring.connect(m, bnn.o, skid.i)
        m.d.comb += [
            memo.lookup.valid.eq(skid.o.valid),
            memo.lookup.payload.b.eq(skid.o.payload),
            memo.lookup.payload.index.eq(look_n),
            skid.o.ready.eq(memo.lookup.ready),
        ]
        with m.If(memo.lookup.valid & memo.lookup.ready):
            m.d.sync += look_n.eq(look_n + 1)
        with m.If(self.step_reset):
            m.d.sync += look_n.eq(0)
