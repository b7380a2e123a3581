"""Dot-product unit: L signed multiply-accumulates per cycle, exact wide accumulator, bias, requantize.

Arithmetic (bit-exact with the golden model): ``acc = bias + sum_k w[k] * x[k]`` held exactly in
``config.acc_bits(max_inputs)`` bits (fraction ``config.acc_frac``), then
``preact = intops.neuron_preact(sum_k w[k] * x[k], bias, config)``. See ``docs/hw/dot_product.md``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model.formats import FixedPointConfig

from .arith import balanced_sum, rounding_offset, to_preact_offset
from .checks import check_config, check_int, silence_unused
from .pipeline import StreamPipeline, delayed

__all__ = ["MAX_LANES", "DotProductUnit", "dot_layouts"]

#: Largest number of lanes accepted (a sanity bound, not a hardware limit).
MAX_LANES = 1024


def dot_layouts(lanes: int, max_inputs: int, config: FixedPointConfig):
    """(input beat, output) payload layouts of a :class:`DotProductUnit` of these parameters."""
    in_layout = data.StructLayout({
        "weights": data.ArrayLayout(signed(config.weight.bits), lanes),
        "acts": data.ArrayLayout(signed(config.act.bits), lanes),
        "bias": signed(config.bias_bits),
        "last": 1,
    })
    out_layout = data.StructLayout({
        "acc": signed(config.acc_bits(max_inputs)),
        "preact": signed(config.preact.bits),
    })
    return in_layout, out_layout


class DotProductUnit(wiring.Component):
    """Streams one neuron's row over ``ceil(N / lanes)`` beats and returns its accumulator and preactivation.

    Parameters
    ----------
    lanes : int
        L, multiply-accumulates per beat (1..:data:`MAX_LANES`).
    max_inputs : int
        N_max, the longest row the unit is elaborated for; sets the accumulator width
        ``config.acc_bits(max_inputs)``. Rows longer than N_max may overflow the accumulator.
    config : FixedPointConfig
        Number formats: weights ``config.weight``, activations ``config.act``, bias ``config.bias``,
        output table argument ``config.preact``.

    Ports
    -----
    i : In(stream)
        One beat: ``weights`` and ``acts`` (L lanes each; lanes past N on the final beat must be zero in
        at least one of the two), ``bias`` (taken on the FIRST beat of a neuron, ignored on the others),
        ``last`` (marks the neuron's final beat; a one-beat neuron has ``last`` on its only beat).
    o : Out(stream)
        One item per neuron: ``acc`` = bias + sum of products, exact (``config.acc_bits(max_inputs)``
        bits, fraction ``config.acc_frac``), and ``preact`` = ``intops.neuron_preact`` of it.

    Timing: :attr:`latency` = 5 cycles from the cycle the last beat transfers to the cycle the result is
    valid (operands, multiply, adder tree, accumulate, requantize: the beat's operands come straight from
    block RAM, so they are registered before the multipliers, whose products are registered before the
    adders); one beat per cycle, back to back across neurons; the whole pipeline holds while
    ``o.valid & ~o.ready``.
    """

    latency = 5
    #: Stages up to the registered products (:meth:`products`); the adder tree is the next one.
    product_stages = 2

    def __init__(self, lanes: int, max_inputs: int, config: FixedPointConfig):
        try:
            self.lanes = check_int("lanes", lanes, 1, MAX_LANES)
            self.max_inputs = check_int("max_inputs", max_inputs, 1)
            self.config = check_config(config)
            config.check_sizes(max_inputs)
        except (TypeError, ValueError):
            silence_unused(self)
            raise
        self.acc_bits = config.acc_bits(max_inputs)
        self.in_layout, self.out_layout = self.layouts()
        super().__init__({
            "i": In(stream.Signature(self.in_layout)),
            "o": Out(stream.Signature(self.out_layout)),
            **self.extra_ports(),
        })

    def layouts(self):
        """(input beat, output) payload layouts."""
        return dot_layouts(self.lanes, self.max_inputs, self.config)

    def extra_ports(self) -> dict:
        """Signature members beside ``i`` and ``o`` (a subclass that fetches its products adds its own)."""
        return {}

    def products(self, m, pipe) -> list:
        """Stages 1-2: the beat's operands on ``i`` registered, then their L products, each register
        loaded when ``pipe.advance`` is high."""
        cfg, beat = self.config, self.i.payload
        wts = delayed(m, beat.weights, 1, pipe.advance, name="weights")[0]
        acts = delayed(m, beat.acts, 1, pipe.advance, name="acts")[0]
        prod = [Signal(signed(cfg.weight.bits + cfg.act.bits), name=f"prod{k}") for k in range(self.lanes)]
        with m.If(pipe.advance):
            m.d.sync += [prod[k].eq(wts[k] * acts[k]) for k in range(self.lanes)]
        return prod

    def beats(self, n_inputs: int) -> int:
        """Beats a neuron of ``n_inputs`` inputs takes: ceil(n_inputs / lanes)."""
        return -(-n_inputs // self.lanes)

    def elaborate(self, platform):
        m = Module()
        cfg, L = self.config, self.lanes
        i, o = self.i, self.o

        # Stages 1-2: L products (:meth:`products`).  Stage 3: adder tree.  Stage 4: accumulate.
        # Stage 5: requantize (o).
        P = self.product_stages
        first = Signal(init=1)  # the next beat to transfer starts a neuron
        beat_sum = Signal(signed(cfg.weight.bits + cfg.act.bits + (L - 1).bit_length()))
        acc = Signal(signed(self.acc_bits))
        en = Signal()
        # the beat's bias, first and last travel beside its products and its sum
        bias = delayed(m, i.payload.bias, P + 1, en, name="bias")
        # a second accumulator starts at bias + the requantizer's rounding offset, so the output stage
        # is a shift and a saturation without an adder
        offset = rounding_offset(cfg.acc_frac - cfg.preact.frac)
        bias_r = delayed(m, bias[0] + offset, P, en, name="bias_r")
        acc_r = Signal(signed(self.acc_bits + 1))
        start = delayed(m, first, P + 1, en, name="first")
        last = delayed(m, i.payload.last, P + 1, en, name="last")

        # the accumulate stage (index P + 1) forwards an item only on a neuron's last beat
        pipe = StreamPipeline(m, i, o, self.latency, name="dot", gates={P + 1: last[P]})
        m.d.comb += en.eq(pipe.advance)

        with m.If(pipe.take):
            m.d.sync += first.eq(i.payload.last)

        prod = self.products(m, pipe)
        with m.If(pipe.advance):
            m.d.sync += beat_sum.eq(balanced_sum(prod))
            with m.If(pipe.valid[P]):
                # the bias initialises the accumulator on a neuron's first beat
                m.d.sync += [acc.eq(Mux(start[P], bias[P], acc) + beat_sum),
                             acc_r.eq(Mux(start[P], bias_r[P - 1], acc_r) + beat_sum)]
            m.d.sync += [o.payload.acc.eq(acc),
                         o.payload.preact.eq(to_preact_offset(acc_r, cfg.acc_frac, cfg.preact))]
        return m
