"""The low-precision predictor front end of the tile (golden_model.predictors.LowPrecision with the output
rule; docs/hw/front_end.md): :class:`hw.low_precision.NarrowBanks` of the x and h elements, a neuron feeder,
:class:`hw.low_precision.NarrowDot`, :class:`hw.output_rule.OutputRuleTable` and the decision FIFO, behind
the predictor interface of :mod:`hw.tile_front_end`.

The weight and input widths are class attributes: :meth:`LowPrecisionFrontEnd.configure` gives the class
of one parameter set (the scheme registry's ``low-precision`` entry asks for it).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring

from golden_model.predictors import LowPrecision

from .codes import thermometer
from .low_precision import NarrowBanks, NarrowDot, narrow_score_bits
from .output_rule import SHIFT_BITS, OutputRuleTable
from .shapes import count_shape
from .tile_front_end import beat_timing
from .tile_params import TileParams, ceil_div
from .tile_scored import NeuronFeeder, ScoredFrontEnd, rule_latency

__all__ = ["LowPrecisionFrontEnd"]

#: Widest score the output-rule table takes (OutputRuleTable s_bits).
MAX_SCORE_BITS = 64


class LowPrecisionFrontEnd(ScoredFrontEnd):
    """Low-precision-predicted memoization under the output rule as a tile front end.

    The predictor's own lanes Lp (:meth:`predictor_lanes`): a beat multiplies Lp narrow x elements and Lp
    narrow h elements (2*Lp narrow products), so a neuron takes max(ceil(n_x/Lp), ceil(H/Lp)) beats.

    Memory ``predictor`` (run-time loadable, ``2 * Lp * weight_bits`` bits wide), per slot s and neuron n
    (issue order) R = max(ceil(I_max/Lp), ceil(H/Lp)) rows at ``(s*G*H + n) * R``: row r holds in field k
    (k < Lp) w'[row, r*Lp + k] (zero past I_s) and in field Lp + k w'[row, I_s + r*Lp + k] (zero past H).
    The output-rule shift depends on the formats only (a constant of the build); a negative shift (a left
    shift in the golden rule) scales the score by 2**-shift before the table, which is exact. A decision's
    ``context`` is that score, cached with the neuron's y and p by the update.
    """

    golden = LowPrecision
    parameters = ("weight_bits", "input_bits")
    weight_bits = 4
    input_bits = 4
    #: Lp = LANE_FACTOR * L (capped at max(I_max, H)): a hit run is never paced below the dot product's L.
    LANE_FACTOR = 4
    #: Fixed decision lead: feeder, narrow dot product, output-rule table, decision FIFO.
    latency = rule_latency(NarrowDot.latency)

    def __init__(self, params: TileParams, image: dict | None = None):
        super().__init__(params, image)
        p = params
        lp, v_drop, shift = self.predictor_lanes(p), *self._narrowing(p)
        act = p.config.act.bits
        self.x_banks = NarrowBanks(p.input_size, act, self.input_bits, v_drop, first_bank=0)
        self.h_banks = NarrowBanks(p.hidden, act, self.input_bits, v_drop, first_bank=1)
        self.feeder = NeuronFeeder(p.neurons, p.gates, self._rows(p))
        self.dot = NarrowDot(p.neurons, 2 * lp, self.weight_bits, self.input_bits, p.n_max, self.depth(p))
        self.table = OutputRuleTable(p.neurons, p.config, self.score_width(p), shift=max(0, shift))

    # ------------------------------------------------------------------ parameters
    @classmethod
    def predictor_lanes(cls, params) -> int:
        """Lp, the narrow x (and h) elements of one beat: LANE_FACTOR * L, at most max(I_max, H)."""
        return min(cls.LANE_FACTOR * params.lanes, max(params.input_size, params.hidden))

    @classmethod
    def beats(cls, params, n_x: int) -> int:
        """Beats of one neuron: max(ceil(n_x / Lp), ceil(H / Lp))."""
        lp = cls.predictor_lanes(params)
        return max(ceil_div(n_x, lp), ceil_div(params.hidden, lp))

    @classmethod
    def _rows(cls, params) -> int:
        return cls.beats(params, params.input_size)

    @classmethod
    def rows_per_slot(cls, params) -> int:
        return params.neurons * cls._rows(params)

    @classmethod
    def _narrowing(cls, params) -> tuple[int, int]:
        """(v_drop, shift) of the golden LowPrecision in the tile's formats (they depend on no weight);
        a ValueError when the output rule's shift does not fit the table."""
        prepared = cls.golden(cls.weight_bits, cls.input_bits).prepare(np.zeros((1, 1), np.int64), params.config)
        shift = prepared.shift
        s_bits = narrow_score_bits(cls.weight_bits, cls.input_bits, params.n_max) + max(0, -shift)
        if shift >= 1 << SHIFT_BITS or s_bits > MAX_SCORE_BITS:
            raise ValueError(f"the low-precision output-rule shift {shift} does not fit the output-rule table "
                             f"(0..{(1 << SHIFT_BITS) - 1} bits dropped, a score of at most {MAX_SCORE_BITS} "
                             f"bits): the formats {params.config} are too far apart")
        return prepared.factors["v_drop"], shift

    # ------------------------------------------------------------------ the front-end class methods
    @classmethod
    def memories(cls, params) -> dict[str, tuple[int, int]]:
        return {"predictor": (cls.depth(params), 2 * cls.predictor_lanes(params) * cls.weight_bits)}

    @classmethod
    def score_width(cls, params) -> int:
        shift = cls._narrowing(params)[1]
        return narrow_score_bits(cls.weight_bits, cls.input_bits, params.n_max) + max(0, -shift)

    @classmethod
    def decision_timing(cls, params, n_x: int) -> tuple[int, int]:
        return beat_timing(cls.latency, cls.beats(params, n_x))

    @classmethod
    def image_words(cls, params, slot: int, weights) -> dict[str, list[tuple[int, int]]]:
        weights = np.asarray(weights)
        prepared = cls.golden(cls.weight_bits, cls.input_bits).prepare(weights, params.config)
        if prepared.shift != cls._narrowing(params)[1]:   # also raises when the shift does not fit
            raise ValueError(f"slot {slot}: the low-precision shift {prepared.shift} depends on the weights")
        w, wb, lp, rows = prepared.factors["w"], cls.weight_bits, cls.predictor_lanes(params), cls._rows(params)
        G, H = params.gates, params.hidden
        n_in = weights.shape[1] - H
        out = []
        for n in range(params.neurons):
            row = w[(n % G) * H + n // G]
            for r in range(rows):
                fields = [row[c] if c < n_in else 0 for c in range(r * lp, (r + 1) * lp)]
                fields += [row[n_in + c] if c < H else 0 for c in range(r * lp, (r + 1) * lp)]
                word = sum((int(f) & ((1 << wb) - 1)) << (k * wb) for k, f in enumerate(fields))
                out.append(((slot * params.neurons + n) * rows + r, word))
        return {"predictor": out}

    # ------------------------------------------------------------------ hardware
    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.x_banks, m.submodules.h_banks = xb, hb = self.x_banks, self.h_banks
        m.submodules.feeder, m.submodules.dot, m.submodules.table = feeder, dot, table = \
            self.feeder, self.dot, self.table
        mem = self.predictor_memory(m)
        memo_on = self._sample_controls(m, table)
        base = self._slot_base(m)
        wiring.connect(m, wiring.flipped(self.x), xb.i)
        wiring.connect(m, wiring.flipped(self.h), hb.i)
        wiring.connect(m, dot.w_row, mem.read_port())
        m.d.comb += [xb.swap.eq(self.step_end), hb.swap.eq(self.step_end)]
        self._feed_beats(m, feeder, dot, base, memo_on)
        shift = self._narrowing(p)[1]
        m.d.comb += [table.lookup.valid.eq(dot.o.valid), dot.o.ready.eq(table.lookup.ready),
                     table.lookup.payload.index.eq(dot.o.payload.index),
                     table.lookup.payload.func.eq(dot.o.payload.func),
                     table.lookup.payload.s.eq(dot.o.payload.s << max(0, -shift))]
        self._decisions(m, table, memo_on)
        return m

    def _feed_beats(self, m, feeder, dot, base, memo_on):
        """Feeder beats to the narrow dot product: row ``base + n*R + beat`` and the beat's Lp narrow x
        elements (zero past n_x, sampled at ``seq_start``) and Lp narrow h elements (zero on ``first_step``)."""
        p = self.params
        lp, rows = self.predictor_lanes(p), self._rows(p)
        beats, xmask = Signal(count_shape(rows)), Signal(p.input_size)
        now_beats = Const(0, count_shape(rows))
        for b in range(rows, 0, -1):   # max(ceil(n_x / Lp), ceil(H / Lp)) without a divider
            if b * lp >= p.hidden:     # n_x <= I_max: no compare past it (a constant one fails Verilator's lint)
                now_beats = Const(b, count_shape(rows)) if b * lp >= p.input_size else Mux(self.n_x <= b * lp, b,
                                                                                          now_beats)
        now_mask = thermometer(self.n_x, p.input_size)
        with m.If(self.seq_start):
            m.d.sync += [beats.eq(now_beats), xmask.eq(now_mask)]
        ib = self.input_bits
        zero = Const(0, rows * lp * ib)
        x_flat = Cat(*(Mux(xmask[k], self.x_banks.v[k], 0).as_unsigned()[:ib] for k in range(p.input_size)), zero)
        h_flat = Cat(*(Mux(self.first_step, 0, self.h_banks.v[k]).as_unsigned()[:ib] for k in range(p.hidden)), zero)
        beat = feeder.o.payload
        m.d.comb += [
            feeder.run.eq(self.go & memo_on), feeder.step_reset.eq(self.step_reset),
            feeder.beats.eq(Mux(self.seq_start, now_beats, beats)),
            dot.i.valid.eq(feeder.o.valid), feeder.o.ready.eq(dot.i.ready),
            dot.i.payload.index.eq(beat.index), dot.i.payload.func.eq(beat.func), dot.i.payload.last.eq(beat.last),
            dot.i.payload.row.eq(base + beat.index * rows + beat.beat),
            dot.i.payload.v.eq(Cat(x_flat.word_select(beat.beat, lp * ib), h_flat.word_select(beat.beat, lp * ib))),
        ]
