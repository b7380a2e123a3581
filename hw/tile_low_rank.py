"""The low-rank predictor front end of the tile (golden_model.predictors.LowRank with the output rule;
docs/hw/low_rank.md): :class:`hw.low_rank.Projection` over the x and h elements, a neuron feeder,
:class:`hw.low_rank.LowRankScorer`, :class:`hw.output_rule.OutputRuleTable` and the decision FIFO, behind
the predictor interface of :mod:`hw.tile_front_end`.

The rank and factor width are class attributes: :meth:`LowRankFrontEnd.configure` gives the class of one
parameter set (the scheme registry's ``low-rank`` entry asks for it).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, signed
from amaranth.lib import wiring

from golden_model.predictors import LowRank

from .low_rank import LowRankScorer, Projection, projection_bits, score_bits
from .output_rule import SHIFT_BITS, OutputRuleTable
from .tile_params import TileParams
from .tile_rule_front_end import NeuronFeeder, OutputRuleFrontEnd

__all__ = ["LowRankFrontEnd"]


def _raw(value: int, bits: int) -> int:
    return int(value) & ((1 << bits) - 1)


class LowRankFrontEnd(OutputRuleFrontEnd):
    """Low-rank-predicted memoization under the output rule as a tile front end.

    Memory ``predictor`` (run-time loadable, ``rank * bits + SHIFT_BITS`` bits wide), per slot s at base
    ``s * (G*H + I_max + H)``: rows ``n`` = A row of neuron n (issue order; the slot's shift above the
    factors), rows ``G*H + i`` = B row of input element i (zero past the slot's input size), rows
    ``G*H + I_max + j`` = B row of h element j. A decision's ``context`` is the score s, cached with the
    neuron's y and p by the update. Decision k of a step is ready ``latency + 1 + k`` cycles after it starts.
    """

    golden = LowRank
    rank = 4
    bits = 8
    scorer_class = LowRankScorer

    def __init__(self, params: TileParams, image: dict | None = None):
        super().__init__(params, image)
        p = params
        depth = self._depth(p)
        self.projection = Projection(p.input_size, p.hidden, p.config.act.bits, self.rank, self.bits, depth)
        self.scorer = LowRankScorer(p.neurons, self.rank, self.bits, self.projection.z_bits, depth)
        self.table = OutputRuleTable(p.neurons, p.config, self.scorer.s_bits)
        self.feeder = NeuronFeeder(p.neurons, p.gates)

    # ------------------------------------------------------------------ the front-end class methods
    @classmethod
    def _rows_per_slot(cls, params) -> int:
        return params.neurons + params.input_size + params.hidden

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

        def word(factors, extra=0):
            return sum(_raw(f, bits) << (k * bits) for k, f in enumerate(factors)) | (extra << (cls.rank * bits))

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
        m.submodules.projection, m.submodules.scorer, m.submodules.table, m.submodules.feeder = \
            proj, scorer, table, feeder = self.projection, self.scorer, self.table, self.feeder
        mem = self._predictor_memory(m)
        memo_on = self._controls(m, table)
        base = self._slot_base(m)
        wiring.connect(m, wiring.flipped(self.x), proj.x)
        wiring.connect(m, wiring.flipped(self.h), proj.h)
        wiring.connect(m, proj.x_row, mem.read_port())
        wiring.connect(m, proj.h_row, mem.read_port())
        wiring.connect(m, scorer.a_row, mem.read_port())
        m.d.comb += [proj.x_base.eq(base + p.neurons), proj.h_base.eq(base + p.neurons + p.input_size),
                     proj.swap.eq(self.step_end), proj.first_step.eq(self.first_step),
                     scorer.z.eq(proj.z), scorer.a_base.eq(base)]
        # neurons in issue order, one beat each, to the scorer while the step computes
        m.d.comb += [feeder.run.eq(self.go & memo_on), feeder.step_reset.eq(self.step_reset),
                     scorer.i.valid.eq(feeder.o.valid), feeder.o.ready.eq(scorer.i.ready),
                     scorer.i.payload.index.eq(feeder.o.payload.index),
                     scorer.i.payload.func.eq(feeder.o.payload.func)]
        m.d.comb += [table.lookup.valid.eq(scorer.o.valid), scorer.o.ready.eq(table.lookup.ready)]
        m.d.comb += [table.lookup.payload[name].eq(scorer.o.payload[name]) for name in ("index", "s", "shift", "func")]
        self._decisions(m, table, memo_on)
        return m
