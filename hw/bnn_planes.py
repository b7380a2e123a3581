"""Bit-plane BNN hardware (``bnn-planes``, golden_model.predictors.BitPlaneBnn): the residual sign planes of
an element and the P-plane XNOR-popcount unit.

Plane l of an element v (activation format, ``frac`` fraction bits) is bit_l = (r_l >= 0), r_0 = v,
r_{l+1} = r_l - (2*bit_l - 1) * 2**(frac - 1 - l): a pure function of the element's value, computed when
the element is written (:func:`plane_bits`). The score of a neuron over N inputs is
s = sum_l b_l * 2**(P - 1 - l), b_l = 2 * popcount(XNOR(plane l, sign w)) - N (:class:`BitPlaneUnit`).
See ``docs/hw/front_end.md``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .bnn import MAX_INPUTS, MAX_WIDTH, BnnUnit, bnn_input_layout, bnn_output_shape
from .checks import check_int, silence_unused

__all__ = ["BitPlaneUnit", "MAX_PLANES", "plane_bits", "plane_bits_of", "plane_score_shape"]

#: Most residual planes (as golden_model.predictors.BitPlaneBnn).
MAX_PLANES = 8


def _residual_step(frac: int, level: int) -> int:
    return 1 << (frac - 1 - level)


def plane_bits(value, planes: int, frac: int | None):
    """The ``planes`` residual sign bits of a signed Amaranth ``value`` (bit l = plane l), combinational.
    ``frac`` (the activation fraction bits, >= planes) is unused for one plane (bit 0 = value >= 0)."""
    residual, bits = value, []
    for level in range(planes):
        bit = residual >= 0
        bits.append(bit)
        if level < planes - 1:
            step = _residual_step(frac, level)
            residual = Mux(bit, residual - step, residual + step)
    return Cat(*bits)


def plane_bits_of(value: int, planes: int, frac: int) -> list[int]:
    """The residual sign bits of the integer ``value`` (the golden definition, one element)."""
    residual, bits = int(value), []
    for level in range(planes):
        bit = int(residual >= 0)
        bits.append(bit)
        if level < planes - 1:
            residual -= (2 * bit - 1) * _residual_step(frac, level)
    return bits


def plane_score_shape(max_inputs: int, planes: int):
    """A signed shape holding every score of ``planes`` planes over up to ``max_inputs`` inputs."""
    return bnn_output_shape(max_inputs * ((1 << planes) - 1))


class BitPlaneUnit(wiring.Component):
    """XNOR-popcount over ``planes`` residual sign planes sharing the weight beats: ``planes``
    :class:`~hw.bnn.BnnUnit` in lockstep on the same beats (plane l's x word = bits l*B..(l+1)*B-1 of the
    beat's ``x``), and the score s = sum_l b_l << (planes - 1 - l) of their outputs (combinational).

    Parameters: ``width`` (B, 1..4096), ``max_inputs`` (N_max), ``planes`` (1..:data:`MAX_PLANES`).

    Ports: ``i`` In(stream of :func:`hw.bnn.bnn_input_layout` (width, planes)); ``o`` Out(stream of
    :func:`plane_score_shape`), one score per neuron. Timing as :class:`~hw.bnn.BnnUnit`: :attr:`latency`
    cycles from the transfer of a neuron's last beat to ``o.valid``; one beat per cycle back to back.
    """

    latency = BnnUnit.LATENCY

    def __init__(self, width: int, max_inputs: int, planes: int):
        try:
            self.planes = check_int("BitPlaneUnit planes", planes, 1, MAX_PLANES)
            self.width = check_int("BitPlaneUnit width", width, 1, MAX_WIDTH)
            check_int("BitPlaneUnit max_inputs", max_inputs, 1, MAX_INPUTS)
        except (TypeError, ValueError):
            silence_unused(self)
            raise
        self.units = [BnnUnit(width, max_inputs) for _ in range(planes)]
        super().__init__({
            "i": In(stream.Signature(bnn_input_layout(width, planes))),
            "o": Out(stream.Signature(plane_score_shape(max_inputs, planes))),
        })

    def elaborate(self, platform):
        m = Module()
        beat, P, B = self.i.payload, self.planes, self.width
        for level, unit in enumerate(self.units):
            m.submodules[f"plane{level}"] = unit
            m.d.comb += [unit.i.valid.eq(self.i.valid), unit.i.payload.x.eq(beat.x.word_select(level, B)),
                         unit.i.payload.w.eq(beat.w), unit.i.payload.count.eq(beat.count),
                         unit.i.payload.last.eq(beat.last), unit.o.ready.eq(self.o.ready)]
        # identical units on identical beats: every handshake is the same as unit 0's
        lead = self.units[0]
        m.d.comb += [self.i.ready.eq(lead.i.ready), self.o.valid.eq(lead.o.valid),
                     self.o.payload.eq(sum(unit.o.payload << (P - 1 - level)
                                           for level, unit in enumerate(self.units)))]
        return m
