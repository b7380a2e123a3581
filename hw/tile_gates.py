"""From the dot-product unit to the activation unit: the LSTM gate feed and the GRU pairing (with the
candidate unit). See ``docs/hw/tile_parts.md``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .activation import Activation, activation_layouts
from .checks import silence_unused
from .dot_product import dot_layouts
from .gru import GruCandidateUnit
from .pipeline import SkidBuffer
from .shapes import index_shape
from .tile_issue import tag_layout
from .tile_params import TileParams, check_part_params

__all__ = ["LstmGateFeed", "GruPairing", "gate_feed_class"]


def _signature(params: TileParams) -> dict:
    return {
        "dot": In(stream.Signature(dot_layouts(params.lanes, params.n_max, params.config)[1])),
        "tags": In(stream.Signature(tag_layout(params))),
        "act": Out(stream.Signature(activation_layouts(params.config)[0])),
    }


def _check(component, params, cell):
    check_part_params(component, params)
    if params.cell != cell:
        silence_unused(component)
        raise ValueError(f"{type(component).__name__} is for the {cell.upper()} cell, params are {params.cell!r}")


class LstmGateFeed(wiring.Component):
    """LSTM: every dot product's preactivation goes to the activation unit with its function (tanh for
    the g gate, sigmoid otherwise) taken from its tag.

    Ports: ``dot`` In(stream) DotProductUnit output; ``tags`` In(stream) :func:`hw.tile_issue.tag_layout`,
    one per dot product (taken with it; always there when ``dot`` is); ``act`` Out(stream)
    ActivationUnit input. :attr:`latency` = 0 (combinational; the dot results pass a
    :class:`~hw.pipeline.SkidBuffer`, latency 0, that breaks the ready chain).
    """

    latency = 0

    def __init__(self, params: TileParams):
        _check(self, params, "lstm")
        self.params = params
        super().__init__(_signature(params))

    def elaborate(self, platform):
        m = Module()
        p = self.params
        # the dot-product results pass a skid buffer: the dot-product unit (and so the issue stage's beat
        # enable) never waits combinationally on the activation unit's ready
        m.submodules.dot_skid = skid = SkidBuffer(dot_layouts(p.lanes, p.n_max, p.config)[1])
        wiring.connect(m, wiring.flipped(self.dot), skid.i)
        tag, dot = self.tags.payload, skid.o
        m.d.comb += [
            self.act.valid.eq(dot.valid),
            self.act.payload.preact.eq(dot.payload.preact),
            self.act.payload.func.eq(Mux(tag.g == 2, Activation.TANH, Activation.SIGMOID)),
            dot.ready.eq(self.act.ready),
            self.tags.ready.eq(dot.valid & dot.ready),
        ]
        return m


class GruPairing(wiring.Component):
    """GRU: r and z pass (acc, 0, r=0) through the :class:`~hw.gru.GruCandidateUnit`, so its preact equals
    the plain neuron's; the n gate pairs its input-part accumulator acc_x (held) with its recurrent-part
    acc_h and the r of the same hidden unit, which the merge stage holds (``r``, ``r_unit``, ``r_held``).
    The function (tanh for n, sigmoid otherwise) travels beside the candidate unit in a small FIFO.

    Ports: ``dot``, ``tags``, ``act`` as :class:`LstmGateFeed`; ``r`` In (activation format), ``r_unit``
    In (hidden unit whose r is held), ``r_held`` In(1) (``r`` is valid for ``r_unit``).
    :attr:`latency` = ``GruCandidateUnit.latency`` (the pairing itself is combinational).
    """

    latency = GruCandidateUnit.latency

    def __init__(self, params: TileParams):
        _check(self, params, "gru")
        self.params = params
        super().__init__({**_signature(params), "r": In(signed(params.config.act.bits)),
                          "r_unit": In(index_shape(params.hidden)), "r_held": In(1)})
        self.candidate = GruCandidateUnit(params.config, params.n_max)

    def elaborate(self, platform):
        m = Module()
        m.submodules.cand = cand = self.candidate
        m.submodules.funcs = funcs = fifo.SyncFIFO(width=1, depth=4)
        # no skid buffer here: a recurrent part waiting for its r must hold the beats behind it at once,
        # as the cycle model has it (a skid would let them run ahead by its depth)
        dot, tag = self.dot, self.tags.payload
        px = Signal(signed(self.params.acc_bits))
        kind_nx = (tag.g == 2) & ~tag.part
        kind_nh = (tag.g == 2) & tag.part
        r_ok = (self.r_unit == tag.j) & self.r_held
        cand_go = ~kind_nx & (~kind_nh | r_ok) & funcs.w_rdy
        dot_fire = dot.valid & dot.ready
        m.d.comb += [
            cand.i.valid.eq(dot.valid & cand_go),
            cand.i.payload.acc_x.eq(Mux(kind_nh, px, dot.payload.acc)),
            cand.i.payload.acc_h.eq(Mux(kind_nh, dot.payload.acc, 0)),
            cand.i.payload.r.eq(Mux(kind_nh, self.r, 0)),
            dot.ready.eq(kind_nx | (cand_go & cand.i.ready)),
            self.tags.ready.eq(dot_fire),
            funcs.w_en.eq(cand.i.valid & cand.i.ready),
            funcs.w_data.eq(kind_nh),
            self.act.valid.eq(cand.o.valid),
            self.act.payload.preact.eq(cand.o.payload.preact),
            self.act.payload.func.eq(Mux(funcs.r_data[0], Activation.TANH, Activation.SIGMOID)),
            cand.o.ready.eq(self.act.ready),
            funcs.r_en.eq(cand.o.valid & self.act.ready),
        ]
        with m.If(dot_fire & kind_nx):
            m.d.sync += px.eq(dot.payload.acc)
        return m


def gate_feed_class(cell: str) -> type:
    """The gate feed component of a cell type."""
    return GruPairing if cell == "gru" else LstmGateFeed
