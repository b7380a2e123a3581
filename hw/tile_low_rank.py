"""The low-rank predictor front end of the tile (golden_model.predictors.LowRank with the output rule;
docs/hw/low_rank.md): :class:`hw.low_rank.Projection` over the x and h elements, then the scored path of
:class:`hw.tile_scored.ScoredFrontEnd` (neuron feeder, :class:`hw.low_rank.LowRankScorer`,
:class:`hw.output_rule.OutputRuleTable`, decision FIFO), behind the predictor interface of
:mod:`hw.tile_front_end`.

The rank and factor width are class attributes: :meth:`LowRankFrontEnd.configure` gives the class of one
parameter set (the scheme registry's ``low-rank`` entry asks for it).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import wiring

from golden_model.predictors import LowRank

from .low_rank import LowRankScorer, Projection, factor_word, projection_bits, score_bits
from .output_rule import SHIFT_BITS, OutputRuleTable
from .tile_params import TileParams
from .tile_scored import ScoredFrontEnd, check_shift, rule_latency

__all__ = ["LowRankFrontEnd"]


class LowRankFrontEnd(ScoredFrontEnd):
    """Low-rank-predicted memoization under the output rule as a tile front end.

    Memory ``predictor`` (run-time loadable, ``rank * bits + SHIFT_BITS`` bits wide), per slot s at base
    ``s * (G*H + I_max + H)``: rows ``n`` = A row of neuron n (issue order; the slot's shift above the
    factors), rows ``G*H + i`` = B row of input element i (zero past the slot's input size), rows
    ``G*H + I_max + j`` = B row of h element j. A decision's ``context`` is the score s, cached with the
    neuron's y and p by the update. Decision k of a step is ready ``latency + k`` cycles after it starts.
    """

    rank = 4
    bits = 8
    #: Fixed decision lead: feeder, scorer, output-rule table, decision FIFO.
    latency = rule_latency(LowRankScorer.latency)

    golden = LowRank
    parameters = ("rank", "bits")

    def __init__(self, params: TileParams, image: dict | None = None):
        super().__init__(params, image)
        p = params
        depth = self.depth(p)
        self.projection = Projection(p.input_size, p.hidden, p.config.act.bits, self.rank, self.bits, depth)
        self.scorer = LowRankScorer(p.neurons, self.rank, self.bits, self.projection.z_bits, depth)
        self.table = OutputRuleTable(p.neurons, p.config, self.scorer.s_bits)

    # ------------------------------------------------------------------ the front-end class methods
    @classmethod
    def rows_per_slot(cls, params) -> int:
        return params.neurons + params.input_size + params.hidden

    @classmethod
    def memories(cls, params) -> dict[str, tuple[int, int]]:
        return {"predictor": (cls.depth(params), cls.rank * cls.bits + SHIFT_BITS)}

    @classmethod
    def score_width(cls, params) -> int:
        z_bits = projection_bits(params.config.act.bits, cls.bits, params.n_max)
        return score_bits(z_bits, cls.bits, cls.rank)

    @classmethod
    def image_words(cls, params, slot: int, weights) -> dict[str, list[tuple[int, int]]]:
        prepared = LowRank(cls.rank, cls.bits).prepare(np.asarray(weights), params.config)
        shift = check_shift("low-rank", slot, prepared.shift)
        a, b, bits = prepared.factors["a"], prepared.factors["b"], cls.bits

        def word(factors, extra=0):   # rank fields always (a rank above the weights' is zero-padded)
            return factor_word([*factors, *[0] * (cls.rank - len(factors))], bits, extra)

        base, G, H = slot * cls.rows_per_slot(params), params.gates, params.hidden
        n_in = weights.shape[1] - H
        words = [(base + n, word(a[(n % G) * H + n // G], shift)) for n in range(params.neurons)]
        words += [(base + params.neurons + i, word(b[i])) for i in range(n_in)]
        words += [(base + params.neurons + params.input_size + j, word(b[n_in + j])) for j in range(H)]
        return {"predictor": words}

    # ------------------------------------------------------------------ hardware
    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.projection, m.submodules.scorer, m.submodules.table = proj, scorer, table = \
            self.projection, self.scorer, self.table
        mem = self.predictor_memory(m)
        _, base = self.scored_path(m, scorer, table)
        wiring.connect(m, wiring.flipped(self.x), proj.x)
        wiring.connect(m, wiring.flipped(self.h), proj.h)
        wiring.connect(m, proj.x_row, mem.read_port())
        wiring.connect(m, proj.h_row, mem.read_port())
        wiring.connect(m, scorer.a_row, mem.read_port())
        m.d.comb += [proj.x_base.eq(base + p.neurons), proj.h_base.eq(base + p.neurons + p.input_size),
                     proj.swap.eq(self.step_end), proj.first_step.eq(self.first_step),
                     scorer.z.eq(proj.z), scorer.a_base.eq(base)]
        return m
