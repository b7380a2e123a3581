"""The low-rank predictor front end of the tile (golden_model.predictors.LowRank with the output rule;
docs/hw/low_rank.md): :class:`hw.low_rank.Projection` over the x and h elements, a neuron feeder,
:class:`hw.low_rank.LowRankScorer`, :class:`hw.output_rule.OutputRuleTable` and the decision FIFO, behind
the predictor interface of :mod:`hw.tile_front_end`.

The rank and factor width are class attributes: :meth:`LowRankFrontEnd.configure` gives the class of one
parameter set (the scheme registry's ``low-rank`` entry asks for it).
"""

from __future__ import annotations

import functools

import numpy as np
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring

from golden_model.predictors import LowRank

from .low_rank import LowRankScorer, Projection, factor_word, projection_bits, score_bits
from .output_rule import SHIFT_BITS, OutputRuleTable
from .shapes import index_shape
from .tile_front_end import DECISION_FIFO_LATENCY
from .tile_output_rule import OutputRuleFrontEnd
from .tile_params import TileParams

__all__ = ["LowRankFrontEnd"]

#: Cycles from a step's start to the feeder's first neuron (its output register).
FEEDER_LATENCY = 1


@functools.cache
def _configured(cls, rank: int, bits: int) -> type:
    LowRank(rank, bits)   # the golden model's parameter checks
    return type(f"LowRankFrontEnd_r{rank}_b{bits}", (cls,), {"rank": rank, "bits": bits})


class LowRankFrontEnd(OutputRuleFrontEnd):
    """Low-rank-predicted memoization under the output rule as a tile front end.

    Memory ``predictor`` (run-time loadable, ``rank * bits + SHIFT_BITS`` bits wide), per slot s at base
    ``s * (G*H + I_max + H)``: rows ``n`` = A row of neuron n (issue order; the slot's shift above the
    factors), rows ``G*H + i`` = B row of input element i (zero past the slot's input size), rows
    ``G*H + I_max + j`` = B row of h element j. A decision's ``context`` is the score s, cached with the
    neuron's y and p by the update. Decision k of a step is ready ``latency + 1 + k`` cycles after it starts.
    """

    rank = 4
    bits = 8
    #: Fixed decision lead: feeder, scorer, output-rule table, decision FIFO.
    latency = FEEDER_LATENCY + LowRankScorer.latency + OutputRuleTable.latency + DECISION_FIFO_LATENCY

    @classmethod
    def configure(cls, rank: int, bits: int) -> type:
        """The front-end class of ``rank`` and factor ``bits`` (one class per parameter set, however the
        parameters are passed: positionally or by name)."""
        return _configured(cls, rank, bits)

    def __init__(self, params: TileParams, image: dict | None = None):
        super().__init__(params, image)
        p = params
        depth = self._depth(p)
        self.projection = Projection(p.input_size, p.hidden, p.config.act.bits, self.rank, self.bits, depth)
        self.scorer = LowRankScorer(p.neurons, self.rank, self.bits, self.projection.z_bits, depth)
        self.table = OutputRuleTable(p.neurons, p.config, self.scorer.s_bits)

    # ------------------------------------------------------------------ the front-end class methods
    @classmethod
    def _rows_per_slot(cls, params) -> int:
        return params.neurons + params.input_size + params.hidden

    @classmethod
    def _depth(cls, params) -> int:
        return max(2, params.slots * cls._rows_per_slot(params))

    @classmethod
    def memories(cls, params) -> dict[str, tuple[int, int]]:
        return {"predictor": (cls._depth(params), cls.rank * cls.bits + SHIFT_BITS)}

    @classmethod
    def context_shape(cls, params):
        z_bits = projection_bits(params.config.act.bits, cls.bits, params.n_max)
        return signed(score_bits(z_bits, cls.bits, cls.rank))

    @classmethod
    def decision_timing(cls, params, n_x: int) -> tuple[int, int]:
        # + 1: the feeder's one beat of a neuron (as a BNN neuron's kb beats in hw.tile_bnn)
        return cls.latency + 1, 1

    @classmethod
    def image_words(cls, params, slot: int, weights) -> dict[str, list[tuple[int, int]]]:
        prepared = LowRank(cls.rank, cls.bits).prepare(np.asarray(weights), params.config)
        if not 0 <= prepared.shift < 1 << SHIFT_BITS:
            raise ValueError(f"slot {slot}: the low-rank output-rule shift {prepared.shift} is outside "
                             f"0..{(1 << SHIFT_BITS) - 1} (the formats are too far apart)")
        a, b, bits = prepared.factors["a"], prepared.factors["b"], cls.bits

        def word(factors, extra=0):   # rank fields always (a rank above the weights' is zero-padded)
            return factor_word([*factors, *[0] * (cls.rank - len(factors))], bits, extra)

        base, G, H = slot * cls._rows_per_slot(params), params.gates, params.hidden
        n_in = weights.shape[1] - H
        words = [(base + n, word(a[(n % G) * H + n // G], prepared.shift)) for n in range(params.neurons)]
        words += [(base + params.neurons + i, word(b[i])) for i in range(n_in)]
        words += [(base + params.neurons + params.input_size + j, word(b[n_in + j])) for j in range(H)]
        return {"predictor": words}

    # ------------------------------------------------------------------ hardware
    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.projection, m.submodules.scorer, m.submodules.table = proj, scorer, table = \
            self.projection, self.scorer, self.table
        mem = self._predictor_memory(m, "factors")
        memo_on = self._sample_controls(m, table)
        base = self._slot_base(m)
        wiring.connect(m, wiring.flipped(self.x), proj.x)
        wiring.connect(m, wiring.flipped(self.h), proj.h)
        wiring.connect(m, proj.x_row, mem.read_port())
        wiring.connect(m, proj.h_row, mem.read_port())
        wiring.connect(m, scorer.a_row, mem.read_port())
        m.d.comb += [proj.x_base.eq(base + p.neurons), proj.h_base.eq(base + p.neurons + p.input_size),
                     proj.swap.eq(self.step_end), proj.first_step.eq(self.first_step),
                     scorer.z.eq(proj.z), scorer.a_base.eq(base)]
        self._feed(m, scorer, memo_on)
        m.d.comb += [table.lookup.valid.eq(scorer.o.valid), scorer.o.ready.eq(table.lookup.ready)]
        m.d.comb += [table.lookup.payload[name].eq(scorer.o.payload[name]) for name in ("index", "s", "shift", "func")]
        self._decisions(m, table, memo_on)
        return m

    def _slot_base(self, m):
        """The factor rows of the sequence's slot (valid from its ``seq_start`` cycle on)."""
        rows = self._rows_per_slot(self.params)
        held = Signal(index_shape(self._depth(self.params)))
        with m.If(self.seq_start):
            m.d.sync += held.eq(self.slot * rows)
        return Mux(self.seq_start, self.slot * rows, held)

    def _feed(self, m, scorer, memo_on):
        """Neurons 0..G*H-1 of each step, in issue order, to the scorer while the step computes."""
        p = self.params
        n, g, done = Signal(index_shape(p.neurons)), Signal(index_shape(p.gates)), Signal()
        out = scorer.i
        advance = ~out.valid | out.ready
        with m.If(self.go & memo_on & ~done & advance):
            m.d.sync += [out.valid.eq(1), out.payload.index.eq(n),
                         out.payload.func.eq(self.gate_func(g)),
                         n.eq(n + 1), g.eq(Mux(g == p.gates - 1, 0, g + 1))]
            with m.If(n == p.neurons - 1):
                m.d.sync += done.eq(1)
        with m.Elif(advance):
            m.d.sync += out.valid.eq(0)
        with m.If(self.step_reset):
            m.d.sync += [n.eq(0), g.eq(0), done.eq(0)]
