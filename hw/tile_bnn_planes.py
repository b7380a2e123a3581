"""The bit-plane BNN predictor front end of the tile (``bnn-planes``: golden_model.predictors.BitPlaneBnn with
the output rule; docs/hw/front_end.md): residual sign planes of [x ; h] (:class:`hw.tile_bnn.SignBits`),
the shared sign-weight rows and feeder (:class:`hw.tile_bnn.BnnFeeder`), :class:`hw.bnn_planes.BitPlaneUnit`
(one BNN unit per plane on the same weight beats), the prefetched gain rows, :class:`hw.output_rule.OutputRuleTable`
and the decision FIFO, behind the predictor interface of :mod:`hw.tile_front_end`.

The number of planes is a class attribute: :meth:`BitPlaneFrontEnd.configure` gives the class of one
parameter set (the scheme registry's ``bnn-planes`` entry asks for it).
"""

from __future__ import annotations

import functools

import numpy as np
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring

from golden_model.predictors import BitPlaneBnn

from .bnn_planes import BitPlaneUnit, plane_score_shape
from .output_rule import SHIFT_BITS, OutputRuleTable
from .shapes import index_shape
from .tile_bnn import BnnFeeder, SignFeed, sign_words
from .tile_front_end import DECISION_FIFO_LATENCY
from .tile_output_rule import OutputRuleFrontEnd
from .tile_params import TileParams

__all__ = ["BitPlaneFrontEnd"]


class BitPlaneFrontEnd(SignFeed, OutputRuleFrontEnd):
    """Bit-plane-BNN-predicted memoization under the output rule as a tile front end.

    Memory ``predictor`` (run-time loadable, max(B, weight.bits) bits wide): rows
    ``0..slots*G*H*KB-1`` are the sign-weight rows of :class:`hw.tile_bnn.BnnFrontEnd` (B bits each,
    :func:`hw.tile_bnn.sign_words`); row ``slots*G*H*KB + s*G*H + n`` is the gain row of neuron n (issue
    order) of slot s: the gain round(mean |w|) in ``weight.bits`` bits. The output-rule shift depends on
    the formats and P only (:meth:`rule_shift`), a constant of the table. A decision's ``context`` is the
    scaled score gain * s (the table's gain is 1), cached with the neuron's y and p by the update.
    Decision k of a step is ready ``latency + (k + 1)*kb - 1`` cycles after it starts, kb = ceil((n_x + H)
    / B), as the BNN front end (the planes are evaluated in parallel).
    """

    planes = 3
    #: Fixed decision lead: feeder, unit, output-rule table, decision FIFO (the gain rows are read ahead).
    latency = BnnFeeder.latency + BitPlaneUnit.latency + OutputRuleTable.latency + DECISION_FIFO_LATENCY

    @classmethod
    @functools.cache
    def configure(cls, planes: int) -> type:
        """The front-end class of ``planes`` residual sign planes (one class per parameter set)."""
        BitPlaneBnn(planes)   # the golden model's parameter check
        return type(f"BitPlaneFrontEnd_p{planes}", (cls,), {"planes": planes})

    def __init__(self, params: TileParams, image: dict | None = None):
        super().__init__(params, image)
        p = params
        if self.planes > p.config.act.frac:
            raise ValueError(f"{self.planes} bit planes need at least {self.planes} activation fraction bits; "
                             f"the format is {p.config.act}")
        if p.cache_update != "compute":
            raise ValueError("the output rule predicts from the step a neuron was computed: cache_update "
                             f"must be 'compute', not {p.cache_update!r}")
        self._sign_parts(p)
        self.unit = BitPlaneUnit(p.bnn_width, p.n_max, self.planes)
        # gain 1 in the table: the lookup's score is already gain * s (see _lookup)
        self.table = OutputRuleTable(p.neurons, p.config, self.context_shape(p).width, shift=self.rule_shift(p))

    # ------------------------------------------------------------------ the front-end class methods
    @classmethod
    def _sign_depth(cls, params) -> int:
        return params.slots * params.neurons * params.sign_rows

    @classmethod
    def rule_shift(cls, params) -> int:
        """The output rule's shift, P + weight.frac - preact.frac (the golden ``prepare``'s, which depends on
        no weight); a ValueError when it is outside 0..63 (the table's range)."""
        shift = BitPlaneBnn(cls.planes).prepare(np.zeros((1, 1), dtype=np.int64), params.config).shift
        if not 0 <= shift < 1 << SHIFT_BITS:
            raise ValueError(f"the bnn-planes output-rule shift {shift} is outside 0..{(1 << SHIFT_BITS) - 1} "
                             "(planes + weight.frac - preact.frac)")
        return shift

    @classmethod
    def memories(cls, params) -> dict[str, tuple[int, int]]:
        depth = cls._sign_depth(params) + params.slots * params.neurons
        return {"predictor": (depth, max(params.bnn_width, params.config.weight.bits))}

    @classmethod
    def context_shape(cls, params):
        """The scaled score gain * s (the gain is unsigned, at most 2**(weight.bits - 1))."""
        return signed(plane_score_shape(params.n_max, cls.planes).width + params.config.weight.bits)

    @classmethod
    def image_words(cls, params, slot: int, weights) -> dict[str, list[tuple[int, int]]]:
        weights = np.asarray(weights)
        prepared = BitPlaneBnn(cls.planes).prepare(weights, params.config)
        if prepared.shift != cls.rule_shift(params):   # the table's constant
            raise ValueError(f"slot {slot}: the bnn-planes output-rule shift {prepared.shift} depends on the weights")
        gain_bits, G, H = params.config.weight.bits, params.gates, params.hidden
        if not np.all((prepared.gain >= 0) & (prepared.gain < 1 << gain_bits)):   # round(mean |w|) <= 2**(wb-1)
            raise ValueError(f"slot {slot}: a bnn-planes gain does not fit {gain_bits} unsigned bits")
        base = cls._sign_depth(params) + slot * params.neurons
        gains = [(base + n, int(prepared.gain[(n % G) * H + n // G])) for n in range(params.neurons)]
        return {"predictor": sign_words(params, slot, weights) + gains}

    # ------------------------------------------------------------------ hardware
    def elaborate(self, platform):
        m = Module()
        m.submodules.unit, m.submodules.table = unit, table = self.unit, self.table
        mem = self._predictor_memory(m)
        memo_on = self._sample_controls(m, table)
        feeder = self._feed_signs(m, mem.read_port(), memo_on)
        wiring.connect(m, feeder.o, unit.i)
        self._lookup(m, unit, table, mem.read_port())
        self._decisions(m, table, memo_on)
        return m

    def _lookup(self, m, unit, table, gain_port):
        """unit.o (score s of neuron n, in issue order) -> table.lookup with the scaled score gain * s and the
        gate's activation. The table caches gain * s_m and predicts from gain*s - gain*s_m = gain*(s - s_m)
        (exact: the same neuron's gain, which changes only with the slot, at a clear), so its
        prediction stage has no multiplier after its memory read. The gain row is read ahead: the port's
        address is the neuron the next cycle's score belongs to (``n``, or n + 1 after a transfer, 0 after
        ``step_reset``), so its data is always the current neuron's row and the product goes to the
        table's lookup register without a stage of its own."""
        p = self.params
        gain_bits = p.config.weight.bits
        n, g = Signal(index_shape(p.neurons)), Signal(index_shape(p.gates))
        slot_base = Signal(index_shape(p.slots * p.neurons + 1))
        with m.If(self.seq_start):
            m.d.sync += slot_base.eq(self.slot * p.neurons)
        take = Signal()
        look = table.lookup.payload
        nxt = Mux(self.step_reset, 0, Mux(take, n + 1, n))
        base = Mux(self.seq_start, self.slot * p.neurons, slot_base)
        m.d.comb += [take.eq(unit.o.valid & table.lookup.ready),
                     table.lookup.valid.eq(unit.o.valid), unit.o.ready.eq(table.lookup.ready),
                     gain_port.addr.eq(self._sign_depth(p) + base + nxt), gain_port.en.eq(1),
                     look.s.eq(gain_port.data[:gain_bits] * unit.o.payload), look.index.eq(n),
                     look.func.eq(self.gate_func(g))]
        with m.If(take):
            m.d.sync += [n.eq(n + 1), g.eq(Mux(g == p.gates - 1, 0, g + 1))]
        with m.If(self.step_reset):
            m.d.sync += [n.eq(0), g.eq(0)]
