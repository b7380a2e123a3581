"""Parts shared by the front ends that decide under the output rule (:class:`hw.output_rule.OutputRuleTable`):
the neuron feeder, the memoization controls, the slot base of the predictor memory and the decision FIFO
(docs/hw/front_end.md). :class:`hw.tile_low_rank.LowRankFrontEnd` and
:class:`hw.tile_low_precision.LowPrecisionFrontEnd` are :class:`OutputRuleFrontEnd` subclasses.
"""

from __future__ import annotations

import dataclasses
import functools

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .activation import Activation
from .checks import check_int, silence_unused
from .memo_table import ThresholdForm
from .output_rule import OutputRuleTable, output_rule_layouts
from .shapes import count_shape, index_shape
from .tile_front_end import FrontEnd, drive_decisions
from .tile_memories import write_from

__all__ = ["DECISION_DEPTH", "DECISION_FIFO_LATENCY", "NeuronFeeder", "OutputRuleFrontEnd", "feeder_layout"]

#: Depth of the decision FIFO (decisions queued ahead of the dot-product unit).
DECISION_DEPTH = 16
#: Cycles the decision FIFO (SyncFIFOBuffered) adds to the decision lead.
DECISION_FIFO_LATENCY = 1


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
                         out.payload.func.eq(Mux(g == 2, Activation.TANH, Activation.SIGMOID))]
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


@functools.cache
def _configured(cls, params: tuple) -> type:
    suffix = "_".join(f"{name}{value}" for name, value in params)
    return type(f"{cls.__name__}_{suffix}", (cls,), {**dict(params), "__module__": cls.__module__})


class OutputRuleFrontEnd(FrontEnd):
    """Base of the output-rule front ends: the predictor memory (``predictor``, ``_rows_per_slot(params)``
    rows per slot, loaded through ``wr``), the controls sampled at ``seq_start``, the slot's row base and
    the decision FIFO between the :class:`~hw.output_rule.OutputRuleTable` and the issue stage.
    Subclasses define ``_rows_per_slot``, ``memories`` (one memory, ``predictor``) and ``golden``, the
    golden-model predictor class whose fields (class attributes of the front end) :meth:`configure` sets,
    and ``scorer_class``, the class of the score unit (``latency`` is then the fixed decision lead, feeder +
    scorer + table + decision FIFO)."""

    golden: type
    #: the scorer between the feeder and the table (its ``latency`` enters the decision lead)
    scorer_class: type

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "scorer_class" in cls.__dict__:
            #: Fixed decision lead: feeder, scorer, output-rule table, decision FIFO.
            cls.latency = (NeuronFeeder.latency + cls.scorer_class.latency + OutputRuleTable.latency
                           + DECISION_FIFO_LATENCY)

    @classmethod
    def configure(cls, *args, **kwargs) -> type:
        """The front-end class of one parameter set of ``golden`` (positional or by name; one class per set),
        checked by the golden model's own constructor."""
        return _configured(cls, tuple(dataclasses.asdict(cls.golden(*args, **kwargs)).items()))

    @classmethod
    def _rows_per_slot(cls, params) -> int:
        raise NotImplementedError

    @classmethod
    def _depth(cls, params) -> int:
        return max(2, params.slots * cls._rows_per_slot(params))

    def _predictor_memory(self, m):
        """The ``predictor`` memory (init from the image, written by ``wr``)."""
        (depth, width), = self.memories(self.params).values()
        m.submodules.factors = mem = memory.Memory(shape=unsigned(width), depth=depth,
                                                   init=self.image.get("predictor", []))
        write_from(m, mem, "predictor", self.wr)
        return mem

    def _controls(self, m, table):
        """The memoization controls sampled at ``seq_start`` (which also clears the table)."""
        memo_on, theta, form = Signal(), Signal.like(self.theta), Signal()
        with m.If(self.seq_start):
            m.d.sync += [memo_on.eq(self.enable), theta.eq(self.theta), form.eq(self.form)]
        m.d.comb += [table.clear.eq(self.seq_start), table.enable.eq(memo_on), table.theta.eq(theta),
                     table.form.eq(Mux(form, ThresholdForm.ABSOLUTE, ThresholdForm.RELATIVE))]
        return memo_on

    def _slot_base(self, m):
        """The predictor rows of the sequence's slot (valid from its ``seq_start`` cycle on)."""
        rows = self._rows_per_slot(self.params)
        held = Signal(index_shape(self._depth(self.params)))
        with m.If(self.seq_start):
            m.d.sync += held.eq(self.slot * rows)
        return Mux(self.seq_start, self.slot * rows, held)

    def _decisions(self, m, table, memo_on):
        """Responses through the decision FIFO to the issue stage (every neuron a miss while memoization
        is off); updates of computed neurons to the table (``context`` = the score s)."""
        layout = output_rule_layouts(self.params.neurons, self.params.config, table.s_bits, 0)["response"]
        m.submodules.decisions = dec = fifo.SyncFIFOBuffered(width=layout.size, depth=DECISION_DEPTH)
        wiring.connect(m, table.response, dec.w_stream)
        view = layout(dec.r_data)
        upd = self.update.payload
        drive_decisions(m, self, dec, memo_on, view.hit, view.y, view.s)
        m.d.comb += [
            table.update.valid.eq(self.update.valid & memo_on),
            table.update.payload.index.eq(upd.index), table.update.payload.y.eq(upd.y),
            table.update.payload.p.eq(upd.p), table.update.payload.s.eq(upd.context),
        ]
