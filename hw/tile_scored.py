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

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .activation import Activation
from .checks import check_int, silence_unused
from .output_rule import SHIFT_BITS, OutputRuleTable
from .shapes import count_shape, index_shape
from .tile_front_end import DECISION_FIFO_LATENCY, beat_timing
from .tile_output_rule import OutputRuleFrontEnd

__all__ = ["ScoredFrontEnd", "FEEDER_LATENCY", "NeuronFeeder", "check_shift", "feeder_layout", "raw_field",
           "rule_latency"]


def feeder_layout(neurons: int, max_beats: int) -> data.StructLayout:
    """A :class:`NeuronFeeder` beat: neuron ``index`` (issue order), its gate's ``func``, ``beat`` of the
    neuron and ``last`` (its final beat)."""
    return data.StructLayout({"index": index_shape(neurons), "func": Activation, "beat": index_shape(max_beats),
                              "last": 1})


class NeuronFeeder(wiring.Component):
    """Neurons 0..G*H-1 of a step in issue order (n = j*G + g; ``func`` tanh for gate 2, else sigmoid),
    ``beats`` beats each (1..``max_beats``), while ``run`` is high; ``step_reset`` returns to neuron 0.
    The output register is the ``o`` stream: :attr:`latency` = 1 cycle from ``run`` to the first beat.

    Parameters: ``neurons`` (G*H), ``gates`` (G), ``max_beats``.
    """

    latency = 1

    def __init__(self, neurons: int, gates: int, max_beats: int = 1):
        try:
            self.neurons = check_int("NeuronFeeder neurons", neurons, 1, 1 << 16)
            self.gates = check_int("NeuronFeeder gates", gates, 1, 4)
            self.max_beats = check_int("NeuronFeeder max_beats", max_beats, 1, 1 << 16)
        except (TypeError, ValueError):
            silence_unused(self)
            raise
        super().__init__({
            "run": In(1), "step_reset": In(1), "beats": In(count_shape(max_beats), init=1),
            "o": Out(stream.Signature(feeder_layout(neurons, max_beats))),
        })

    def elaborate(self, platform):
        m = Module()
        n, g = Signal(index_shape(self.neurons)), Signal(index_shape(self.gates))
        beat, done = Signal(index_shape(self.max_beats)), Signal()
        out = self.o
        advance = ~out.valid | out.ready
        last = beat == self.beats - 1
        with m.If(self.run & ~done & advance):
            m.d.sync += [out.valid.eq(1), out.payload.index.eq(n), out.payload.beat.eq(beat),
                         out.payload.last.eq(last),
                         out.payload.func.eq(OutputRuleFrontEnd.gate_func(g))]
            with m.If(last):
                m.d.sync += [beat.eq(0), n.eq(n + 1), g.eq(Mux(g == self.gates - 1, 0, g + 1))]
                with m.If(n == self.neurons - 1):
                    m.d.sync += done.eq(1)
            with m.Else():
                m.d.sync += beat.eq(beat + 1)
        with m.Elif(advance):
            m.d.sync += out.valid.eq(0)
        with m.If(self.step_reset):
            m.d.sync += [n.eq(0), g.eq(0), beat.eq(0), done.eq(0)]
        return m


#: Cycles from a step's start to the feeder's first neuron (its output register).
FEEDER_LATENCY = NeuronFeeder.latency


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
    docstring). Decision k of a step is ready ``latency + k`` cycles after it starts (the feeder's one beat
    per neuron: :func:`hw.tile_front_end.beat_timing`, as a BNN neuron's kb beats in hw.tile_bnn)."""

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
        return beat_timing(cls.latency, 1)

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
        """Neurons 0..G*H-1 of each step, in issue order, to the scorer while the step computes (one
        :class:`NeuronFeeder` beat each)."""
        p = self.params
        m.submodules.feeder = feeder = NeuronFeeder(p.neurons, p.gates)
        m.d.comb += [feeder.run.eq(self.go & memo_on), feeder.step_reset.eq(self.step_reset),
                     scorer.i.valid.eq(feeder.o.valid), feeder.o.ready.eq(scorer.i.ready),
                     scorer.i.payload.index.eq(feeder.o.payload.index),
                     scorer.i.payload.func.eq(feeder.o.payload.func)]


@functools.cache
def _configured(cls, values: tuple) -> type:
    name = "_".join([cls.__name__] + [f"{key}{value}" for key, value in values])
    return type(name, (cls,), {**dict(values), "__module__": cls.__module__})
