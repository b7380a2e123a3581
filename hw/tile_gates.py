"""From the dot-product unit to the activation unit: the LSTM gate feed and the GRU pairing (with the
candidate unit). See ``docs/hw/tile_parts.md``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .activation import Activation, activation_layouts
from .checks import silence_unused
from .dot_product import dot_layouts
from .gru import GruCandidateUnit
from .pipeline import SkidBuffer
from .tile_issue import tag_layout
from .tile_merge import r_port_layouts
from .tile_params import TileParams, check_part_params

__all__ = ["LstmGateFeed", "GruPairing", "dot_result_layout", "gate_feed_class", "whole_candidates"]


def whole_candidates(params: TileParams) -> bool:
    """A GRU candidate reaches the gate feed as one result carrying both parts (``acc`` = W_in x + b_in,
    ``acc_h`` = W_hn h + b_hn): the delta tile's emitter reads both accumulators at once. The
    neuron-major tiles' dot product gives the input part, then the recurrent part."""
    return params.delta and params.cell == "gru"


def dot_result_layout(params: TileParams) -> data.StructLayout:
    """The results the gate feed takes: :func:`hw.dot_product.dot_layouts`' output, plus ``acc_h`` with
    :func:`whole_candidates`."""
    out = dot_layouts(params.lanes, params.n_max, params.config)[1]
    if not whole_candidates(params):
        return out
    return data.StructLayout({**{name: field.shape for name, field in out}, "acc_h": out["acc"].shape})


def _signature(params: TileParams) -> dict:
    return {
        "dot": In(stream.Signature(dot_result_layout(params))),
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
        m.submodules.dot_skid = skid = SkidBuffer(dot_result_layout(p))
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
    the plain neuron's; the n gate pairs its input part acc_x and its recurrent part acc_h with the r of
    the same hidden unit, which the merge holds in one of its slots (``r``, ``r_unit``, ``r_held``:
    :func:`hw.tile_merge.r_port_layouts`). The two parts come one after the other (the input part is held
    here), or as one result (:func:`whole_candidates`). The function (tanh for n, sigmoid otherwise) travels
    beside the candidate unit in a small FIFO.

    Ports: ``dot`` (:func:`dot_result_layout`), ``tags``, ``act`` as :class:`LstmGateFeed`; ``r``,
    ``r_unit``, ``r_held`` In, per slot (``r_held[s]``: ``r[s]`` is the r of unit ``r_unit[s]``).
    :attr:`latency` = ``GruCandidateUnit.latency`` (the pairing itself is combinational).
    """

    latency = GruCandidateUnit.latency

    def __init__(self, params: TileParams):
        _check(self, params, "gru")
        self.params = params
        super().__init__({**_signature(params), **{name: In(shape) for name, shape in r_port_layouts(params).items()}})
        self.candidate = GruCandidateUnit(params.config, params.n_max)

    def _held_r(self, j):
        """(the merge holds unit ``j``'s r, that r)."""
        slots = len(self.r_held)
        match = [self.r_held[s] & (self.r_unit[s] == j) for s in range(slots)]
        r = self.r[0]
        for s in range(1, slots):
            r = Mux(match[s], self.r[s], r)
        return Cat(*match).any(), r

    def elaborate(self, platform):
        m = Module()
        m.submodules.cand = cand = self.candidate
        m.submodules.funcs = funcs = fifo.SyncFIFO(width=1, depth=4)
        # no skid buffer here: a recurrent part waiting for its r must hold the beats behind it at once,
        # as the cycle model has it (a skid would let them run ahead by its depth)
        dot, tag = self.dot, self.tags.payload
        whole = whole_candidates(self.params)
        px = Signal(signed(self.params.acc_bits))
        # an input part, held here for its recurrent part (none when the candidates come whole)
        kind_nx = Const(0) if whole else (tag.g == 2) & ~tag.part
        waits = (tag.g == 2) & tag.part                     # the recurrent part (or the whole candidate)
        r_ok, r = self._held_r(tag.j)
        cand_go = ~kind_nx & (~waits | r_ok) & funcs.w_rdy
        dot_fire = dot.valid & dot.ready
        m.d.comb += [
            cand.i.valid.eq(dot.valid & cand_go),
            cand.i.payload.acc_x.eq(dot.payload.acc if whole else Mux(waits, px, dot.payload.acc)),
            cand.i.payload.acc_h.eq(Mux(waits, dot.payload.acc_h if whole else dot.payload.acc, 0)),
            cand.i.payload.r.eq(Mux(waits, r, 0)),
            dot.ready.eq(kind_nx | (cand_go & cand.i.ready)),
            self.tags.ready.eq(dot_fire),
            funcs.w_en.eq(cand.i.valid & cand.i.ready),
            funcs.w_data.eq(waits),
            self.act.valid.eq(cand.o.valid),
            self.act.payload.preact.eq(cand.o.payload.preact),
            self.act.payload.func.eq(Mux(funcs.r_data[0], Activation.TANH, Activation.SIGMOID)),
            cand.o.ready.eq(self.act.ready),
            funcs.r_en.eq(cand.o.valid & self.act.ready),
        ]
        if not whole:
            with m.If(dot_fire & kind_nx):
                m.d.sync += px.eq(dot.payload.acc)
        return m


def gate_feed_class(cell: str) -> type:
    """The gate feed component of a cell type."""
    return GruPairing if cell == "gru" else LstmGateFeed
