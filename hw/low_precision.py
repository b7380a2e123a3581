"""The low-precision predictor's arithmetic (golden_model.predictors.LowPrecision; docs/hw/front_end.md):
the narrowed inputs v' = narrow(v, input_bits, v_drop) kept per element in two banks, and the score
s = W' . v' accumulated over beats of ``lanes`` narrow products.

Weight rows are words of ``lanes`` two's-complement fields of ``weight_bits`` bits (field k at bits
k*weight_bits..).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .activation import Activation
from .checks import check_int, silence_unused
from .pipeline import StreamPipeline
from .shapes import index_shape, read_port
from .tile_rows import element_layout

__all__ = ["NarrowBanks", "NarrowDot", "narrow_value", "narrow_score_bits"]


def narrow_value(value, bits: int, drop: int):
    """golden_model.predictors.narrow of one value: ``drop`` low bits rounded away (half up; a negative
    ``drop`` is a left shift), then saturated to ``bits`` bits."""
    shifted = (value + (1 << (drop - 1))) >> drop if drop > 0 else value << -drop
    top, bottom = (1 << (bits - 1)) - 1, -(1 << (bits - 1))
    return Mux(shifted > top, top, Mux(shifted < bottom, bottom, shifted))


def narrow_score_bits(weight_bits: int, input_bits: int, inputs: int) -> int:
    """Width of a signed s = sum over ``inputs`` of w' * v' (|w'| <= 2**(weight_bits-1), |v'| <= 2**(input_bits-1))."""
    return weight_bits + input_bits + inputs.bit_length()


class NarrowBanks(wiring.Component):
    """Two banks of ``size`` narrowed elements v' = narrow(data, input_bits, drop): element ``index`` of the
    step is written into the write bank (narrowed as it is written), which flips after the step's ``last``
    element; ``v`` shows the read bank, which flips on ``swap``. :attr:`latency` = 1.

    Parameters: ``size`` (1..65536), ``act_bits`` (element width), ``input_bits`` (2..16), ``drop``
    (bits dropped, -32..32), ``first_bank`` (0 or 1; the read bank starts at 0).
    """

    latency = 1

    def __init__(self, size: int, act_bits: int, input_bits: int, drop: int, first_bank: int = 0):
        try:
            self.size = check_int("NarrowBanks size", size, 1, 1 << 16)
            check_int("NarrowBanks act_bits", act_bits, 2, 32)
            self.input_bits = check_int("NarrowBanks input_bits", input_bits, 2, 16)
            self.drop = check_int("NarrowBanks drop", drop, -32, 32)
            self.first_bank = check_int("NarrowBanks first_bank", first_bank, 0, 1)
        except (TypeError, ValueError):
            silence_unused(self)
            raise
        super().__init__({
            "i": In(stream.Signature(element_layout(size, signed(act_bits)), always_ready=True)),
            "swap": In(1),
            "v": Out(data.ArrayLayout(signed(input_bits), size)),
        })

    def elaborate(self, platform):
        m = Module()
        shape = signed(self.input_bits)
        banks = [[Signal(shape, name=f"bank{b}_{k}") for k in range(self.size)] for b in range(2)]
        wbank, rbank = Signal(init=self.first_bank), Signal()
        e = self.i.payload
        narrowed = Signal(shape)
        m.d.comb += narrowed.eq(narrow_value(e.data, self.input_bits, self.drop))
        with m.If(self.i.valid):
            for b in range(2):
                for k in range(self.size):   # explicit elements: no incomplete case over the index
                    with m.If((wbank == b) & (e.index == k)):
                        m.d.sync += banks[b][k].eq(narrowed)
            with m.If(e.last):
                m.d.sync += wbank.eq(~wbank)
        with m.If(self.swap):
            m.d.sync += rbank.eq(~rbank)
        m.d.comb += [self.v[k].eq(Mux(rbank, banks[1][k], banks[0][k])) for k in range(self.size)]
        return m


def narrow_dot_layouts(neurons: int, lanes: int, input_bits: int, depth: int, s_bits: int):
    """(input, output) payloads of a :class:`NarrowDot`."""
    index = index_shape(neurons)
    return (data.StructLayout({"index": index, "func": Activation, "row": index_shape(depth),
                               "v": data.ArrayLayout(signed(input_bits), lanes), "last": 1}),
            data.StructLayout({"index": index, "func": Activation, "s": signed(s_bits)}))


class NarrowDot(wiring.Component):
    """s = sum over a neuron's beats of the ``lanes`` products v'_k * w'_k, w' the fields of weight row
    ``row`` (read through ``w_row``); one beat per cycle, the neuron's beats up to ``last``. Stages: row
    read (1), products (2), sum and accumulation (3): a neuron's s is on ``o`` :attr:`latency` = 3 cycles
    after its last beat transferred; ``index`` and ``func`` travel with it.

    Parameters: ``neurons``, ``lanes`` (1..256), ``weight_bits`` and ``input_bits`` (2..16), ``max_inputs``
    (the most products of one neuron, sizes ``s``), ``depth`` (weight memory rows).
    """

    latency = 3

    def __init__(self, neurons: int, lanes: int, weight_bits: int, input_bits: int, max_inputs: int, depth: int):
        try:
            check_int("NarrowDot neurons", neurons, 1, 1 << 16)
            self.lanes = check_int("NarrowDot lanes", lanes, 1, 256)
            self.weight_bits = check_int("NarrowDot weight_bits", weight_bits, 2, 16)
            self.input_bits = check_int("NarrowDot input_bits", input_bits, 2, 16)
            check_int("NarrowDot max_inputs", max_inputs, 1, 1 << 20)
            check_int("NarrowDot depth", depth, 2, 1 << 24)
        except (TypeError, ValueError):
            silence_unused(self)
            raise
        self.s_bits = narrow_score_bits(weight_bits, input_bits, max_inputs)
        i_layout, o_layout = narrow_dot_layouts(neurons, lanes, input_bits, depth, self.s_bits)
        super().__init__({
            "i": In(stream.Signature(i_layout)), "o": Out(stream.Signature(o_layout)),
            "w_row": read_port(depth, lanes * weight_bits),
        })

    def elaborate(self, platform):
        m = Module()
        item2 = Signal(self.i.payload.shape(), name="item2")
        pipe = StreamPipeline(m, self.i, self.o, self.latency, name="narrow", gates={2: item2.last})
        m.d.comb += [self.w_row.addr.eq(self.i.payload.row), self.w_row.en.eq(pipe.advance)]
        item1 = Signal(self.i.payload.shape(), name="item1")
        products = [Signal(signed(self.weight_bits + self.input_bits), name=f"product{k}") for k in range(self.lanes)]
        wb = self.weight_bits
        with m.If(pipe.advance):
            m.d.sync += [item1.eq(self.i.payload), item2.eq(item1)]
            m.d.sync += [p.eq(self.w_row.data[k * wb:(k + 1) * wb].as_signed() * item1.v[k])
                         for k, p in enumerate(products)]
        acc = Signal(signed(self.s_bits))
        total = Signal(signed(self.s_bits))
        m.d.comb += total.eq(acc + sum(products))
        with m.If(pipe.advance & pipe.valid[1]):
            m.d.sync += acc.eq(Mux(item2.last, 0, total))
        with m.If(pipe.advance):
            m.d.sync += [self.o.payload.s.eq(total), self.o.payload.index.eq(item2.index),
                         self.o.payload.func.eq(item2.func)]
        return m
