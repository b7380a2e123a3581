"""The shared half of the output-rule front ends (low-rank, top-k): a neuron feeder, a scorer of the
subclass's own (a stream of ``(index, func)`` in, ``(index, func, s, shift)`` out), the
:class:`hw.output_rule.OutputRuleTable` and the decision FIFO, behind the interface of
:mod:`hw.tile_front_end` (docs/hw/front_end.md).

A subclass defines ``latency`` (:func:`rule_latency` of its scorer), ``golden`` and ``parameters`` (for
:meth:`ScoredFrontEnd.configure`), ``rows_per_slot(params)`` (rows of the ``predictor`` memory per slot),
``memories``, ``image_words``, ``score_width(params)`` (width of s, the decision's ``context``) and
``elaborate``, which calls :meth:`ScoredFrontEnd.scored_path`.
"""

from __future__ import annotations

import functools

from amaranth.hdl import Mux, Signal, signed

from .output_rule import SHIFT_BITS, OutputRuleTable
from .shapes import index_shape
from .tile_front_end import DECISION_FIFO_LATENCY
from .tile_output_rule import OutputRuleFrontEnd

__all__ = ["ScoredFrontEnd", "FEEDER_LATENCY", "raw_field", "check_shift", "rule_latency"]
#: Cycles from a step's start to the feeder's first neuron (its output register).
FEEDER_LATENCY = 1


def raw_field(value: int, bits: int) -> int:
    """``value`` as a ``bits``-bit two's-complement field."""
    return int(value) & ((1 << bits) - 1)


def check_shift(name: str, slot: int, shift: int) -> int:
    """The output-rule ``shift`` of a slot, checked to fit its :data:`SHIFT_BITS` field."""
    if not 0 <= shift < 1 << SHIFT_BITS:
        raise ValueError(f"slot {slot}: the {name} output-rule shift {shift} is outside "
                         f"0..{(1 << SHIFT_BITS) - 1} (the formats are too far apart)")
    return shift


def rule_latency(scorer_latency: int) -> int:
    """Fixed decision lead of a scored front end: feeder, scorer, output-rule table, decision FIFO."""
    return FEEDER_LATENCY + scorer_latency + OutputRuleTable.latency + DECISION_FIFO_LATENCY


class ScoredFrontEnd(OutputRuleFrontEnd):
    """Base of the front ends deciding by the output rule from a per-neuron score (see the module
    docstring). Decision k of a step is ready ``latency + 1 + k`` cycles after it starts (+ 1: the
    feeder's one beat of a neuron, as a BNN neuron's kb beats in hw.tile_bnn)."""

    latency = rule_latency(0)
    #: The golden predictor class (golden_model.predictors) and its parameters, class attributes of a
    #: configured class (:meth:`configure`).
    golden = None
    parameters: tuple[str, ...] = ()

    @classmethod
    def configure(cls, *args, **kwargs) -> type:
        """The front-end class of one parameter set of the golden predictor (checked by it); one class per
        set, named after it (e.g. ``LowRankFrontEnd_rank4_bits8``)."""
        predictor = cls.golden(*args, **kwargs)
        return _configured(cls, tuple((name, getattr(predictor, name)) for name in cls.parameters))

    @classmethod
    def rows_per_slot(cls, params) -> int:
        raise NotImplementedError

    @classmethod
    def score_width(cls, params) -> int:
        raise NotImplementedError

    @classmethod
    def depth(cls, params) -> int:
        """Rows of the ``predictor`` memory (at least 2: no zero-width address)."""
        return max(2, params.slots * cls.rows_per_slot(params))

    @classmethod
    def context_shape(cls, params):
        return signed(cls.score_width(params))

    @classmethod
    def decision_timing(cls, params, n_x: int) -> tuple[int, int]:
        return cls.latency + 1, 1

    def predictor_memory(self, m):
        """The run-time-loadable ``predictor`` memory (image words as its init, written through ``wr``)."""
        return self._predictor_memory(m, "factors")

    def scored_path(self, m, scorer, table):
        """Controls, the feeder into ``scorer``, its scores into ``table``, the decisions out and the
        updates in. Returns (memo_on, slot base row)."""
        memo_on = self._sample_controls(m, table)
        base = self._slot_base(m)
        self._feed(m, scorer, memo_on)
        m.d.comb += [table.lookup.valid.eq(scorer.o.valid), scorer.o.ready.eq(table.lookup.ready)]
        m.d.comb += [table.lookup.payload[name].eq(scorer.o.payload[name]) for name in ("index", "s", "shift", "func")]
        self._decisions(m, table, memo_on)
        return memo_on, base

    def _slot_base(self, m):
        """The first row of the sequence's slot (valid from its ``seq_start`` cycle on)."""
        rows = self.rows_per_slot(self.params)
        held = Signal(index_shape(self.depth(self.params)))
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


@functools.cache
def _configured(cls, values: tuple) -> type:
    name = "_".join([cls.__name__] + [f"{key}{value}" for key, value in values])
    return type(name, (cls,), {**dict(values), "__module__": cls.__module__})
