"""The low-rank predictor's arithmetic (golden_model.predictors.LowRank; docs/hw/low_rank.md): the
projection z = B^T [x ; h], accumulated element by element as the inputs arrive, and the per-neuron score
s = A_n . z, one neuron per cycle.

Factor rows are words of ``rank`` two's-complement fields of ``bits`` bits (field k at bits k*bits..):
row i of B for input element i, row n of A for neuron n (the A rows also carry the slot's output-rule
shift above the factors, :data:`hw.output_rule.SHIFT_BITS` bits).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .activation import Activation
from .checks import check_int, silence_unused
from .output_rule import SHIFT_BITS
from .pipeline import StreamPipeline
from .shapes import index_shape, read_port
from .tile_rows import element_layout

__all__ = ["Projection", "LowRankScorer", "factor_fields", "factor_word", "projection_bits", "score_bits"]


def projection_bits(act_bits: int, bits: int, inputs: int) -> int:
    """Width of a signed z_k = sum over ``inputs`` of v_i * B_ik (|v| < 2**(act_bits-1), |B| < 2**(bits-1))."""
    return act_bits + bits - 2 + inputs.bit_length() + 1


def score_bits(z_bits: int, bits: int, rank: int) -> int:
    """Width of a signed s = sum over ``rank`` of A_k * z_k."""
    return z_bits + bits - 1 + rank.bit_length()


def factor_word(factors, bits: int, extra: int = 0) -> int:
    """The memory word of a factor row (integers ``factors``, field k at bits k*bits..) with ``extra``
    (e.g. the output-rule shift) above the fields: the inverse of :func:`factor_fields`."""
    mask = (1 << bits) - 1
    return sum((int(f) & mask) << (k * bits) for k, f in enumerate(factors)) | (int(extra) << (len(factors) * bits))


def factor_fields(word, rank: int, bits: int) -> list:
    """The ``rank`` signed factor fields of a memory word."""
    return [word[k * bits:(k + 1) * bits].as_signed() for k in range(rank)]


class Projection(wiring.Component):
    """z = B^T v for v = [x_t ; h_{t-1}], from the x and h elements as the tile writes them.

    Two banks of ``rank`` accumulators for the x part and two for the h part, like :class:`hw.tile_bnn.SignBits`:
    an element adds v_i * B_i (its B row read through ``x_row`` / ``h_row`` at ``x_base + index`` /
    ``h_base + index``) into the write bank, restarting it at element 0 of a step; the x write bank flips
    after the step's ``last`` element, the h one starts at bank 1; both read banks flip on ``swap``.
    ``z`` is the read banks' sum (the h part zero on ``first_step``). :attr:`latency` = 2: an element seen
    in cycle c is in ``z`` from cycle c + 2 (read, then accumulate).

    Parameters: ``inputs`` (I_max), ``hidden`` (H), ``act_bits``, ``rank``, ``bits`` (factor width), ``depth``
    (rows of the factor memory, each ``rank * bits + SHIFT_BITS`` bits).
    """

    latency = 2

    def __init__(self, inputs: int, hidden: int, act_bits: int, rank: int, bits: int, depth: int):
        try:
            for name, value, low, high in (("inputs", inputs, 1, 1 << 16), ("hidden", hidden, 1, 1 << 16),
                                           ("act_bits", act_bits, 2, 32), ("rank", rank, 1, 64),
                                           ("bits", bits, 2, 16), ("depth", depth, 2, 1 << 24)):
                check_int(f"Projection {name}", value, low, high)
        except (TypeError, ValueError):
            silence_unused(self)
            raise
        self.inputs, self.hidden, self.rank, self.bits = inputs, hidden, rank, bits
        self.z_bits = projection_bits(act_bits, bits, inputs + hidden)
        act = signed(act_bits)
        super().__init__({
            "x": In(stream.Signature(element_layout(inputs, act), always_ready=True)),
            "h": In(stream.Signature(element_layout(hidden, act), always_ready=True)),
            "x_base": In(index_shape(depth)), "h_base": In(index_shape(depth)),
            "x_row": read_port(depth, rank * bits + SHIFT_BITS), "h_row": read_port(depth, rank * bits + SHIFT_BITS),
            "swap": In(1), "first_step": In(1),
            "z": Out(data.ArrayLayout(signed(self.z_bits), rank)),
        })

    def elaborate(self, platform):
        m = Module()
        parts = {}
        for name, first_bank in (("x", 0), ("h", 1)):
            parts[name] = self._part(m, name, getattr(self, name), getattr(self, f"{name}_row"),
                                     getattr(self, f"{name}_base"), first_bank)
        for k in range(self.rank):
            m.d.comb += self.z[k].eq(parts["x"][k] + Mux(self.first_step, 0, parts["h"][k]))
        return m

    def _part(self, m, name, elements, row, base, first_bank):
        """The two accumulator banks of one part; returns its read bank's ``rank`` values."""
        z = signed(self.z_bits)
        banks = [[Signal(z, name=f"{name}_acc{b}_{k}") for k in range(self.rank)] for b in range(2)]
        wbank, rbank = Signal(init=first_bank, name=f"{name}_wbank"), Signal(name=f"{name}_rbank")
        e = elements.payload
        m.d.comb += [row.addr.eq(base + e.index), row.en.eq(1)]
        seen, value, restart, bank = (Signal(name=f"{name}_seen"), Signal.like(e.data, name=f"{name}_value"),
                                      Signal(name=f"{name}_restart"), Signal(name=f"{name}_bank"))
        m.d.sync += [seen.eq(elements.valid), value.eq(e.data), restart.eq(e.index == 0), bank.eq(wbank)]
        with m.If(elements.valid & e.last):
            m.d.sync += wbank.eq(~wbank)
        with m.If(self.swap):
            m.d.sync += rbank.eq(~rbank)
        with m.If(seen):
            for b in range(2):
                with m.If(bank == b):
                    for k, factor in enumerate(factor_fields(row.data, self.rank, self.bits)):
                        m.d.sync += banks[b][k].eq(Mux(restart, 0, banks[b][k]) + value * factor)
        return [Mux(rbank, banks[1][k], banks[0][k]) for k in range(self.rank)]


def scorer_layouts(neurons: int, s_bits: int):
    """(input, output) payloads of a :class:`LowRankScorer`."""
    index = index_shape(neurons)
    return (data.StructLayout({"index": index, "func": Activation}),
            data.StructLayout({"index": index, "func": Activation, "s": signed(s_bits),
                               "shift": unsigned(SHIFT_BITS)}))


class LowRankScorer(wiring.Component):
    """s = A_n . z for neuron ``index`` (its A row read through ``a_row`` at ``a_base + index``), one neuron
    per cycle, :attr:`latency` = 3 (read, products, sum); ``func`` and the row's shift travel with it.

    Parameters: ``neurons`` (G*H), ``rank``, ``bits``, ``z_bits`` (width of ``z``), ``depth`` (factor memory
    rows). The output rule's ``shift`` is the A row's field above the factors.
    """

    latency = 3

    def __init__(self, neurons: int, rank: int, bits: int, z_bits: int, depth: int):
        try:
            self.neurons = check_int("LowRankScorer neurons", neurons, 1, 1 << 16)
            self.rank = check_int("LowRankScorer rank", rank, 1, 64)
            self.bits = check_int("LowRankScorer bits", bits, 2, 16)
            self.z_bits = check_int("LowRankScorer z_bits", z_bits, 2, 64)
            check_int("LowRankScorer depth", depth, 2, 1 << 24)
        except (TypeError, ValueError):
            silence_unused(self)
            raise
        self.s_bits = score_bits(z_bits, bits, rank)
        i_layout, o_layout = scorer_layouts(neurons, self.s_bits)
        super().__init__({
            "i": In(stream.Signature(i_layout)), "o": Out(stream.Signature(o_layout)),
            "z": In(data.ArrayLayout(signed(z_bits), rank)),
            "a_base": In(index_shape(depth)), "a_row": read_port(depth, rank * bits + SHIFT_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        pipe = StreamPipeline(m, self.i, self.o, self.latency, name="score")
        m.d.comb += [self.a_row.addr.eq(self.a_base + self.i.payload.index), self.a_row.en.eq(pipe.advance)]
        carried = [self.i.payload]
        for k in (1, 2):   # index and func beside the read (stage 1) and the products (stage 2)
            regs = Signal(self.i.payload.shape(), name=f"item{k}")
            with m.If(pipe.advance):
                m.d.sync += regs.eq(carried[-1])
            carried.append(regs)
        products = [Signal(signed(self.z_bits + self.bits), name=f"product{k}") for k in range(self.rank)]
        shift = Signal(SHIFT_BITS)
        row = self.a_row.data
        with m.If(pipe.advance):
            m.d.sync += [p.eq(a * self.z[k]) for k, (p, a) in
                         enumerate(zip(products, factor_fields(row, self.rank, self.bits), strict=True))]
            m.d.sync += shift.eq(row[self.rank * self.bits:])
            m.d.sync += [self.o.payload.s.eq(sum(products)), self.o.payload.shift.eq(shift),
                         self.o.payload.index.eq(carried[2].index), self.o.payload.func.eq(carried[2].func)]
        return m
