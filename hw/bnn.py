"""BNN predictor unit: XNOR-popcount of packed sign bits, ``B`` bits per cycle.

See ``docs/hw/bnn.md``. The numeric contract is :func:`golden_model.intops.bnn_output` (and its packed
form :func:`golden_model.intops.popcount_xnor_words`): for one neuron of ``N`` valid input bits the
unit outputs ``b = 2 * popcount(XNOR(input bits, weight bits)) - N``.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .checks import check_int

__all__ = ["BnnUnit", "bnn_input_layout", "bnn_output_shape", "popcount"]

#: Largest supported beat width (bits per cycle); wider popcount trees are not a sensible single cycle.
MAX_WIDTH = 4096
#: Largest supported number of inputs of one neuron.
MAX_INPUTS = 1 << 24


def bnn_input_layout(width: int, planes: int = 1) -> data.StructLayout:
    """Payload of one input beat of a :class:`BnnUnit` of ``width`` bits per beat (``planes`` > 1: of a
    :class:`hw.bnn_planes.BitPlaneUnit`, ``x`` holding one ``width``-bit word per plane, plane l at bits
    l*width..(l+1)*width-1).

    x     -- packed input sign bits (bit k = element k of the beat; 1 means >= 0)
    w     -- packed weight sign bits, same order
    count -- number of valid bits of the beat, 0..width (bits k >= count are ignored)
    last  -- this beat ends the neuron: the output for the neuron follows
    """
    return data.StructLayout({
        "x": unsigned(width * planes),
        "w": unsigned(width),
        "count": unsigned(width.bit_length()),
        "last": unsigned(1),
    })


def bnn_output_shape(max_inputs: int):
    """Output shape: a signed integer holding -max_inputs..max_inputs."""
    return signed(max_inputs.bit_length() + 1)


def popcount(value):
    """A balanced adder tree counting the set bits of ``value`` (combinational)."""
    terms = [value[k] for k in range(len(value))]
    if not terms:
        return Const(0, 1)
    while len(terms) > 1:
        nxt = [terms[k] + terms[k + 1] for k in range(0, len(terms) - 1, 2)]
        if len(terms) % 2:
            nxt.append(terms[-1])
        terms = nxt
    return terms[0]


class BnnUnit(wiring.Component):
    """XNOR-popcount BNN neuron evaluator.

    Parameters
    ----------
    width : int
        B, sign bits of input and weights consumed per cycle (1..4096).
    max_inputs : int
        N_max, the largest number of valid bits of one neuron (sum of ``count`` over its beats); sizes
        the accumulators and the output. Feeding more bits to one neuron is outside the contract.

    Ports
    -----
    i : In(stream.Signature(bnn_input_layout(width)))
        Input beats, see :func:`bnn_input_layout`. A neuron is the beats up to and including the one
        with ``last`` set; ``count`` may be anything in 0..width on any beat (so N need not be a
        multiple of B).
    o : Out(stream.Signature(signed(...)))
        One beat per neuron: ``b = 2 * popcount - N``, in neuron order.

    Timing: ``i.ready`` is high unless the output register holds an unaccepted result and the
    neuron in the pipeline needs it, so beats are consumed one per cycle back to back across
    neurons. The result of a neuron whose ``last`` beat is transferred in cycle ``t`` is offered on
    ``o`` from cycle ``t + LATENCY``. ``i.ready`` depends combinationally on ``o.ready``.
    """

    #: Cycles from the transfer of a neuron's last input beat to ``o.valid`` for its result: the input
    #: register (the sign weights come straight from a block RAM read), the popcount, the accumulator.
    LATENCY = 3

    def __init__(self, width: int, max_inputs: int):
        self.width = check_int("BnnUnit width", width, 1, MAX_WIDTH)
        self.max_inputs = check_int("BnnUnit max_inputs", max_inputs, 1, MAX_INPUTS)
        super().__init__({
            "i": In(stream.Signature(bnn_input_layout(self.width))),
            "o": Out(stream.Signature(bnn_output_shape(self.max_inputs))),
        })

    @property
    def latency(self) -> int:
        """Cycles from the last beat's transfer to the result's ``o.valid`` (without back-pressure)."""
        return self.LATENCY

    def elaborate(self, platform):
        m = Module()
        width, n_max = self.width, self.max_inputs
        acc_shape = unsigned(n_max.bit_length())

        # Stage 0: the accepted beat is registered first, so that the block RAM read of the sign weights
        # that feeds it is not in the same cycle as the popcount tree (the memoizing tile's critical path).
        beat = Signal(bnn_input_layout(width), name="s0_beat")
        s0_valid, s0_advance = Signal(name="s0_valid"), Signal(name="s0_advance")
        # Stage 0 -> 1: masked XNOR popcount of the registered beat. The mask (bits k < count) is decoded
        # from the incoming count by a case (LUTs, not width compares) and registered with the beat, so
        # the popcount tree starts at flip-flops.
        mask, s0_mask = Signal(width), Signal(width, name="s0_mask")
        with m.Switch(self.i.payload.count):
            for c in range(width):
                with m.Case(c):
                    m.d.comb += mask.eq((1 << c) - 1)
            with m.Default():   # count = width (a larger count is outside the contract)
                m.d.comb += mask.eq((1 << width) - 1)
        score = popcount(~(beat.x ^ beat.w) & s0_mask)

        s1_valid = Signal()
        s1_pop = Signal(unsigned(width.bit_length()))
        s1_count = Signal(unsigned(width.bit_length()))
        s1_last = Signal()

        # Stage 1: accumulate; on the last beat, produce the output.
        acc_pop = Signal(acc_shape)
        acc_n = Signal(acc_shape)
        total_pop = Signal(acc_shape)
        total_n = Signal(acc_shape)
        m.d.comb += [
            total_pop.eq(acc_pop + s1_pop),
            total_n.eq(acc_n + s1_count),
        ]

        out_free = Signal()
        s1_advance = Signal()
        m.d.comb += [
            out_free.eq(~self.o.valid | self.o.ready),
            # A non-last beat never needs the output register.
            s1_advance.eq(s1_valid & (~s1_last | out_free)),
            s0_advance.eq(s0_valid & (~s1_valid | s1_advance)),
            self.i.ready.eq(~s0_valid | s0_advance),
        ]

        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [s0_valid.eq(1), beat.eq(self.i.payload), s0_mask.eq(mask)]
        with m.Elif(s0_advance):
            m.d.sync += s0_valid.eq(0)

        with m.If(s0_advance):
            m.d.sync += [
                s1_valid.eq(1),
                s1_pop.eq(score),
                s1_count.eq(beat.count),
                s1_last.eq(beat.last),
            ]
        with m.Elif(s1_advance):
            m.d.sync += s1_valid.eq(0)

        with m.If(s1_advance):
            with m.If(s1_last):
                m.d.sync += [acc_pop.eq(0), acc_n.eq(0)]
            with m.Else():
                m.d.sync += [acc_pop.eq(total_pop), acc_n.eq(total_n)]

        with m.If(s1_advance & s1_last):
            m.d.sync += [
                self.o.valid.eq(1),
                # modular arithmetic: exact because -max_inputs <= b <= max_inputs fits the output
                self.o.payload.eq((total_pop << 1) - total_n),
            ]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        return m
