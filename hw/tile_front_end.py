"""The predictor front end's interface: what the tile gives a predictor and what it gets back.

A front end decides, per neuron of a step and in issue order (n = j*G + g), whether the neuron is reused
(hit, with the cached output y) or computed; it sees the data it predicts from (the x elements of each
step as they are written and the new h elements as the state update writes them, so it keeps its own
view of [x_t ; h_{t-1}]), the sequence/step controls, the run-time memory writes, and gets back the
update of every computed neuron. The tile never knows which predictor it runs: it takes the class from
``TileParams.front_end``. See ``docs/hw/front_end.md``; :class:`hw.tile_bnn.BnnFrontEnd` is the BNN one.

A front end is a :class:`FrontEnd` subclass (a ``wiring.Component``) with the signature
:func:`front_end_signature` and these class methods (computable from the parameters alone):

``memories(params) -> {name: (depth, width)}``
    its run-time-loadable memories (names of :data:`hw.tile_memories.MEM_NAMES`, written through ``wr``);
``context_shape(params)``
    the shape of the ``context`` a decision carries and its update returns (e.g. the BNN output b);
``decision_timing(params, n_x) -> (lead, interval)``
    decision k of a step is ready for the issue stage ``lead + k*interval`` cycles after the step
    starts (no back-pressure); the tile's cycle model uses it;
``image_words(params, slot, weights) -> {name: [(addr, word), ...]}``
    the words of its memories for one slot (``weights`` = the slot's golden ``W[:, :I_s + H]``, rows in
    gate order g*H + j), used by :func:`hw.tile_image.memory_image`;
``counters(params) -> (name, ...)``
    its own performance counters (default none): the front end drives an event ``count_<name>`` (Out(1))
    and the tile counts it beside its own counters in an output of that name;

and ``__init__(self, params, image=None)`` (image: :func:`hw.tile_image.memory_image` words for the
elaboration-time ``init`` of its memories).
"""

from __future__ import annotations

from amaranth.hdl import Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .memo_table import ThresholdForm
from .pipeline import HeadRegisterFIFO
from .shapes import count_shape, index_shape
from .tile_memories import wr_layout, write_from
from .tile_params import FRONT_END_METHODS, check_part_params
from .tile_rows import element_layout

__all__ = ["FrontEnd", "front_end_signature", "decision_layout", "update_layout", "FRONT_END_METHODS",
           "DECISION_DEPTH", "DECISION_FIFO_LATENCY", "beat_timing"]

#: Depth of a front end's decision FIFO (decisions queued ahead of the dot-product unit).
DECISION_DEPTH = 16
#: Cycles the decision FIFO adds to the decision lead: every response passes through it into a head
#: register (:class:`hw.pipeline.HeadRegisterFIFO`), so ``decision`` comes from flip-flops and neither
#: the FIFO's write nor its storage waits on the issue stage's take (the lead is paid once per step).
DECISION_FIFO_LATENCY = HeadRegisterFIFO.latency


def beat_timing(latency: int, beats: int) -> tuple[int, int]:
    """``decision_timing`` of a front end whose feeder issues ``beats`` beats per neuron back to back and
    whose decision follows a neuron's last beat by a fixed pipeline: decision k is ready
    ``latency + (k + 1)*beats - 1`` cycles after the step starts (``latency`` counts the feeder's output
    register, so the first beat is on the feeder's output 1 cycle after the start)."""
    return latency + beats - 1, beats


def decision_layout(params, context_shape) -> data.StructLayout:
    """One decision: ``hit`` (reuse), ``y`` (the cached output on a hit), ``context`` (returned with the
    neuron's update)."""
    return data.StructLayout({"hit": 1, "y": signed(params.config.act.bits), "context": context_shape})


def update_layout(params, context_shape) -> data.StructLayout:
    """The update of a computed neuron: ``index`` (n in issue order), ``y`` (its output), ``p`` (its
    preactivation), ``context`` (of its decision)."""
    return data.StructLayout({"index": index_shape(params.neurons), "y": signed(params.config.act.bits),
                              "p": signed(params.config.preact.bits), "context": context_shape})


def front_end_signature(params, context_shape, counters=()) -> dict:
    """The members of a front end (``wiring.Component`` signature dict), from the front end's view:

    ``x``, ``h``         In(stream, always ready): each x element (``data``, ``index`` in the step, ``last``
                         of the step) in the cycle it is written; each new h element likewise
    ``seq_start``        In(1): a sequence starts (clear predictor state; ``enable``, ``theta``, ``form``,
                         ``n_x``, ``slot`` are valid and sampled in this cycle)
    ``step_reset``       In(1): the next decision is neuron 0 of a step (step end or sequence start)
    ``step_end``         In(1): the step's last h is written (the x and h views move to the next step)
    ``go``               In(1): a step computes in this cycle
    ``first_step``       In(1): the running step is the sequence's first (h_{t-1} = 0)
    ``n_x``, ``slot``    In: the sequence's input count and slot
    ``enable``, ``theta``, ``form``  In: the tile's memoization controls
    ``wr``               In(stream, always ready): every run-time memory write (``mem``, ``addr``, ``data``)
    ``decision``         Out(stream): one per neuron, in issue order; with ``enable`` off: valid, no hit
    ``update``           In(stream, always ready): every computed neuron (``index``, ``y``, ``p``, ``context``)
    ``count_<name>``     Out(1) per extra counter: the tile's counter ``name`` counts the cycles it is high
    """
    act = signed(params.config.act.bits)
    return {
        "x": In(stream.Signature(element_layout(params.input_size, act), always_ready=True)),
        "h": In(stream.Signature(element_layout(params.hidden, act), always_ready=True)),
        "seq_start": In(1), "step_reset": In(1), "step_end": In(1), "go": In(1), "first_step": In(1),
        "n_x": In(count_shape(params.input_size)),
        "slot": In(index_shape(params.slots)),
        "enable": In(1),
        "theta": In(params.theta_shape),
        "form": In(1),
        "wr": In(stream.Signature(wr_layout(params), always_ready=True)),
        "decision": Out(stream.Signature(decision_layout(params, context_shape))),
        "update": In(stream.Signature(update_layout(params, context_shape), always_ready=True)),
        **{f"count_{name}": Out(1) for name in counters},
    }


class FrontEnd(wiring.Component):
    """Base class of the tile's predictor front ends: builds the :func:`front_end_signature` for
    ``params`` with the subclass's ``context_shape``. Subclasses define the :data:`FRONT_END_METHODS`
    and ``elaborate``."""

    def __init__(self, params, image: dict | None = None):
        self.params = check_part_params(self, params)
        self.image = image or {}
        cls = type(self)
        super().__init__(front_end_signature(params, cls.context_shape(params), cls.counters(params)))

    def _predictor_memory(self, m, name: str = "predictor_mem"):
        """The front end's ``predictor`` memory (``memories(params)["predictor"]``, ``init`` from the image),
        written by the ``wr`` transfers addressed to it; the caller adds its read ports."""
        depth, width = self.memories(self.params)["predictor"]
        m.submodules[name] = mem = memory.Memory(shape=unsigned(width), depth=depth,
                                                 init=self.image.get("predictor", []))
        write_from(m, mem, "predictor", self.wr)
        return mem

    def _queue_decisions(self, m, table, layout, memo_on, context: str, update_fields: dict):
        """A memo table's responses (``layout``: ``hit``, ``y``, ``context``) through the decision FIFO
        (:data:`DECISION_DEPTH`) to ``decision``: every neuron a miss while memoization is off; each
        ``update`` to the table's while it is on (``update_fields``: table field -> update field).

        Every response passes through the FIFO into its head register (:data:`DECISION_FIFO_LATENCY`
        = 2), so ``decision`` is flip-flops and the FIFO's write does not depend on the issue stage's
        take; ``response.ready`` is the FIFO's room only, so no ready path runs from the issue stage into
        the table."""
        m.submodules.decisions = dec = HeadRegisterFIFO(layout, DECISION_DEPTH)
        resp, head = table.response, dec.o
        view, upd = layout(head.payload.as_value()), self.update.payload
        m.d.comb += [
            self.decision.valid.eq(~memo_on | head.valid),
            self.decision.payload.hit.eq(memo_on & view.hit),
            self.decision.payload.y.eq(view.y),
            self.decision.payload.context.eq(view[context]),
            head.ready.eq(self.decision.ready & memo_on),
            dec.i.payload.eq(resp.payload),
            dec.i.valid.eq(resp.valid),
            resp.ready.eq(dec.i.ready),
            table.update.valid.eq(self.update.valid & memo_on),
        ]
        m.d.comb += [table.update.payload[name].eq(upd[field]) for name, field in update_fields.items()]

    def _sample_controls(self, m, table):
        """The memoization controls (``enable``, ``theta``, ``form``) sampled at ``seq_start``, driving a
        memo table's ``clear``, ``enable``, ``theta`` (the looked-up neuron's gate's, from the sampled
        registers: the table samples it with the lookup) and ``form``; returns the sampled enable
        (memoization on for the running sequence). The table's clear is ``seq_start`` registered, so no
        path runs from the x stream (``seq_start``) into the table's theta * |b| product or its valid bits.
        The cycle after ``seq_start`` has no lookup or update yet (the first step starts at the earliest
        then, and its first lookup comes a feeder and a BNN latency later)."""
        memo_on, theta, form, clear = Signal(), Signal(self.params.theta_shape), Signal(), Signal()
        with m.If(self.seq_start):
            m.d.sync += [memo_on.eq(self.enable), theta.eq(self.theta), form.eq(self.form)]
        m.d.sync += clear.eq(self.seq_start)
        # each lookup compares with its neuron's gate's threshold (issue order n = j*G + g), sampled with it
        gate = table.lookup.payload.index % self.params.gates
        m.d.comb += [table.clear.eq(clear), table.enable.eq(memo_on), table.theta.eq(theta[gate]),
                     table.form.eq(Mux(form, ThresholdForm.ABSOLUTE, ThresholdForm.RELATIVE))]
        return memo_on

    @classmethod
    def counters(cls, params) -> tuple[str, ...]:
        """The front end's own performance counters (none by default; see the module docstring)."""
        return ()
