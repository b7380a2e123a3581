"""The top-k predictor front end of the tile (golden_model.predictors.TopK with the output rule;
docs/hw/top_k.md): :class:`hw.top_k.InputChanges` and :class:`hw.top_k.TopKList` over the x and h elements
as they are written, then the scored path of :class:`hw.tile_scored.ScoredFrontEnd` with
:class:`hw.top_k.TopKScorer` (neuron feeder, scorer, :class:`hw.output_rule.OutputRuleTable`, decision FIFO),
behind the predictor interface of :mod:`hw.tile_front_end`.

k and the weight width are class attributes: :meth:`TopKFrontEnd.configure` gives the class of one
parameter set (the scheme registry's ``top-k`` entry asks for it).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import wiring

from golden_model.predictors import TopK

from .output_rule import SHIFT_BITS, OutputRuleTable
from .tile_params import TileParams
from .tile_scored import ScoredFrontEnd, check_shift, raw_field, rule_latency
from .top_k import InputChanges, TopKList, TopKScorer, topk_score_bits

__all__ = ["TopKFrontEnd"]


class TopKFrontEnd(ScoredFrontEnd):
    """Top-k-predicted memoization under the output rule as a tile front end.

    Memory ``predictor`` (run-time loadable, ``(I_max + H) * weight_bits + SHIFT_BITS`` bits wide), per slot
    s at base ``s * G*H``: row n = the narrow weights w' of neuron n (issue order n = j*G + g): field i (bits
    i*weight_bits..) for x element i (zero past the slot's input size), field I_max + j for h element j, the
    slot's output-rule shift above them. A decision's ``context`` is the running score s, cached with the
    neuron's y and p by the update. Decision k of a step is ready ``latency + k`` cycles after it starts:
    the selection is done as the elements arrive, so it adds nothing to the lead.
    """

    k = 4
    weight_bits = 4
    #: Fixed decision lead: feeder, scorer, output-rule table, decision FIFO.
    latency = rule_latency(TopKScorer.latency)

    golden = TopK
    parameters = ("k", "weight_bits")

    @classmethod
    def entries(cls, params) -> int:
        """Entries of the selection: k, at most N_max (the golden model takes min(k, N))."""
        return min(cls.k, params.n_max)

    def __init__(self, params: TileParams, image: dict | None = None):
        super().__init__(params, image)
        p, act_bits, entries = params, params.config.act.bits, self.entries(params)
        self.changes = InputChanges(p.input_size, p.hidden, act_bits)
        self.selection = TopKList(entries, p.n_max, act_bits)
        self.scorer = TopKScorer(p.neurons, entries, p.n_max, act_bits, self.weight_bits, self.score_width(p),
                                 self.depth(p))
        self.table = OutputRuleTable(p.neurons, p.config, self.scorer.s_bits)

    # ------------------------------------------------------------------ the front-end class methods
    @classmethod
    def rows_per_slot(cls, params) -> int:
        return params.neurons

    @classmethod
    def memories(cls, params) -> dict[str, tuple[int, int]]:
        return {"predictor": (cls.depth(params), params.n_max * cls.weight_bits + SHIFT_BITS)}

    @classmethod
    def score_width(cls, params) -> int:
        return topk_score_bits(params.config.act.bits, cls.weight_bits, cls.entries(params), params.max_steps)

    @classmethod
    def image_words(cls, params, slot: int, weights) -> dict[str, list[tuple[int, int]]]:
        prepared = TopK(cls.k, cls.weight_bits).prepare(np.asarray(weights), params.config)
        shift = check_shift("top-k", slot, prepared.shift)
        w, wb, G, H = prepared.factors["w"], cls.weight_bits, params.gates, params.hidden
        n_in = weights.shape[1] - H
        fields = list(range(n_in)) + [params.input_size + j for j in range(H)]   # column -> field
        words = []
        for n in range(params.neurons):
            row = w[(n % G) * H + n // G]
            word = sum(raw_field(v, wb) << (f * wb) for f, v in zip(fields, row, strict=True))
            words.append((slot * params.neurons + n, word | (shift << (params.n_max * wb))))
        return {"predictor": words}

    # ------------------------------------------------------------------ hardware
    def elaborate(self, platform):
        m = Module()
        m.submodules.changes, m.submodules.selection, m.submodules.scorer, m.submodules.table = \
            changes, selection, scorer, table = self.changes, self.selection, self.scorer, self.table
        mem = self.predictor_memory(m)
        _, base = self.scored_path(m, scorer, table)
        wiring.connect(m, wiring.flipped(self.x), changes.x)
        wiring.connect(m, wiring.flipped(self.h), changes.h)
        wiring.connect(m, changes.xo, selection.a)
        wiring.connect(m, changes.ho, selection.b)
        wiring.connect(m, scorer.w_row, mem.read_port())
        m.d.comb += [changes.seq_start.eq(self.seq_start), selection.clear.eq(self.seq_start),
                     selection.swap.eq(self.step_end), scorer.chosen.eq(selection.chosen),
                     scorer.clear.eq(self.seq_start), scorer.w_base.eq(base)]
        return m
