"""Delta change detector: every input of [x_t ; h_{t-1}] against its reference as it arrives, the result out
to the correction engine (docs/delta.md, *Hardware*).

Two lanes, one per part, each with its reference memory, compare one element per cycle: the x lane each
x element as the x row writer takes it (the input of the step that will read that x bank), the h lane
each new h element as the state update writes it (the recurrent input of the next step, whose h bank it
is written to). So the comparison of a step's inputs is done before the step starts, during the arrival
of x and the previous step. An element is changed when |v - ref| >= theta and v != ref
(``golden_model.intops.delta_update``; theta_x or theta_h), and then its reference moves to v.

A sequence's first step is a full computation: its x elements are compared with a cleared reference at
threshold 0 (changed when nonzero), and the h elements of the first step are compared with a cleared
reference (h_{-1} = 0); both write their reference whatever the outcome, so the memories need no
clearing. The h elements of a sequence's last step feed no step and are not passed on.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model.formats import THETA_BITS

from .shapes import index_shape
from .tile_params import TileParams, check_part_params
from .tile_rows import element_layout

__all__ = ["ChangeDetector", "change_layout", "THETA_PART_BITS"]

#: The tile's 16-bit ``theta`` input holds theta_x in its low and theta_h in its high half.
THETA_PART_BITS = THETA_BITS // 2


def change_layout(params: TileParams, elements: int) -> data.StructLayout:
    """One compared element of a part of ``elements`` inputs: ``index``, ``delta`` (v - ref, one bit
    wider than the activations), ``changed``, ``bank`` (of the step it is an input of)."""
    return data.StructLayout({"index": index_shape(elements), "delta": signed(params.config.act.bits + 1),
                              "changed": 1, "bank": 1})


class ChangeDetector(wiring.Component):
    """The change detector of a delta tile (module docstring). Parameters: ``params`` (a
    :class:`~hw.tile_params.TileParams` with ``delta``).

    Ports
    -----
    x : In(stream, always ready)   each x element as the x row writer takes it (``data``, ``index``, ``last``)
    x_bank : In(1)                 the x bank it is written to
    h : In(stream, always ready)   each new h element as the state update writes it
    h_bank : In(1)                 the running step's h bank (its new h go to the other one)
    seq_start, first_step, last_step : In(1)  step controls
    theta : In(THETA_BITS)         theta_x (low half) and theta_h (high half), sampled at ``seq_start``
    x_changes, h_changes : Out(stream, always ready)  every compared element (:func:`change_layout`)
    count_x, count_h : Out(1)      a changed element leaves in this cycle (the ``x_changed`` /
                                   ``h_changed`` counters)

    :attr:`latency` = 1: an element's comparison leaves the cycle after the element.
    """

    latency = 1

    def __init__(self, params: TileParams):
        self.params = p = check_part_params(self, params)
        if not p.delta:
            raise ValueError("ChangeDetector needs a delta tile (TileParams.delta)")
        act = signed(p.config.act.bits)
        super().__init__({
            "x": In(stream.Signature(element_layout(p.input_size, act), always_ready=True)), "x_bank": In(1),
            "h": In(stream.Signature(element_layout(p.hidden, act), always_ready=True)), "h_bank": In(1),
            "seq_start": In(1), "first_step": In(1), "last_step": In(1), "theta": In(THETA_BITS),
            "x_changes": Out(stream.Signature(change_layout(p, p.input_size), always_ready=True)),
            "h_changes": Out(stream.Signature(change_layout(p, p.hidden), always_ready=True)),
            "count_x": Out(1), "count_h": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        theta, x_first = Signal(THETA_BITS), Signal()
        with m.If(self.seq_start):
            m.d.sync += theta.eq(self.theta)
        # x elements of a sequence's first step: from its first element (seq_start) to its step's last
        first_x = self.seq_start | x_first
        with m.If(self.x.valid & self.x.payload.last):
            m.d.sync += x_first.eq(0)
        with m.If(self.seq_start & ~(self.x.valid & self.x.payload.last)):
            m.d.sync += x_first.eq(1)
        self._lane(m, "x", self.x, self.x_bank, first_x, Mux(first_x, 0, theta[:THETA_PART_BITS]), self.x_changes,
                   self.count_x)
        self._lane(m, "h", self.h, ~self.h_bank, self.first_step, theta[THETA_PART_BITS:], self.h_changes,
                   self.count_h, keep=~self.last_step)
        return m

    def _lane(self, m, name, elements, bank, first, threshold, out, count, keep=1):
        """Compare ``elements`` with their references: stage 0 reads the reference, stage 1 decides,
        moves the reference and sends the result on ``out``."""
        p = self.params
        depth = p.input_size if name == "x" else p.hidden
        m.submodules[f"{name}_refs"] = refs = memory.Memory(shape=signed(p.config.act.bits), depth=max(2, depth),
                                                            init=[])
        rd, wr = refs.read_port(), refs.write_port()
        s1 = {k: Signal.like(v, name=f"{name}_s1_{k}") for k, v in
              (("valid", elements.valid), ("index", elements.payload.index), ("v", elements.payload.data),
               ("bank", bank), ("first", first), ("threshold", threshold))}
        m.d.comb += [rd.addr.eq(elements.payload.index), rd.en.eq(1)]
        m.d.sync += [s1["valid"].eq(elements.valid & keep), s1["index"].eq(elements.payload.index),
                     s1["v"].eq(elements.payload.data), s1["bank"].eq(bank), s1["first"].eq(first),
                     s1["threshold"].eq(threshold)]
        ref = Mux(s1["first"], 0, rd.data)
        delta = Signal(signed(p.config.act.bits + 1), name=f"{name}_delta")
        m.d.comb += delta.eq(s1["v"] - ref)
        magnitude = Mux(delta[-1], -delta, delta)
        changed = Signal(name=f"{name}_changed")
        m.d.comb += [changed.eq(s1["valid"] & (magnitude >= s1["threshold"]) & (delta != 0)),
                     wr.addr.eq(s1["index"]), wr.data.eq(Mux(changed, s1["v"], ref)),
                     wr.en.eq(changed | (s1["valid"] & s1["first"])),
                     out.valid.eq(s1["valid"]), out.payload.index.eq(s1["index"]), out.payload.delta.eq(delta),
                     out.payload.changed.eq(changed), out.payload.bank.eq(s1["bank"]), count.eq(changed)]
