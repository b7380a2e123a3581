"""Element-wise GRU units, exactly :func:`golden_model.intops.gru_candidate_acc` (+ :func:`neuron_preact`)
and :func:`golden_model.intops.gru_state_update`. See ``docs/hw/activation.md``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model.formats import FixedPointConfig

from .arith import rescale, round_shift, saturate, to_preact
from .checks import check_config, check_int, silence_unused
from .pipeline import StreamPipeline

__all__ = ["GruCandidateUnit", "GruStateUnit"]


class GruCandidateUnit(wiring.Component):
    """Stream unit for the candidate gate n's argument::

        acc     = intops.gru_candidate_acc(acc_x, acc_h, r)  = acc_x + round_shift(r * acc_h, act.frac)
        preact  = intops.neuron_preact(acc, 0)               (the table argument of tanh)

    ``acc_x`` = W_in x + b_in and ``acc_h`` = W_hn h + b_hn are exact accumulators (plus bias) as a
    :class:`hw.dot_product.DotProductUnit` with the same ``max_inputs`` produces them
    (``config.acc_bits(max_inputs)`` bits); ``r`` is the reset gate output (activation format).
    The output ``acc`` is exact (:attr:`cand_bits` bits).

    Latency 3 cycles (product; sum; requantize), one element per cycle, back-pressure holds the pipeline.
    """

    latency = 3

    def __init__(self, config: FixedPointConfig, max_inputs: int):
        try:
            self.config = cfg = check_config(config)
            self.max_inputs = check_int("max_inputs", max_inputs, 1)
            cfg.check_sizes(max_inputs)
        except (TypeError, ValueError):
            silence_unused(self)
            raise
        self.acc_bits = cfg.acc_bits(max_inputs)
        # |round_shift(r * acc_h, a)| <= 2**(act.bits-1-a) * 2**(acc_bits-1), plus acc_x: one more bit
        self.cand_bits = self.acc_bits + cfg.act.bits - cfg.act.frac + 1
        acc = signed(self.acc_bits)
        self.in_layout = data.StructLayout({"acc_x": acc, "acc_h": acc, "r": signed(cfg.act.bits)})
        self.out_layout = data.StructLayout({"acc": signed(self.cand_bits),
                                             "preact": signed(cfg.preact.bits)})
        super().__init__({
            "i": In(stream.Signature(self.in_layout)),
            "o": Out(stream.Signature(self.out_layout)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        x = self.i.payload
        pipe = StreamPipeline(m, self.i, self.o, self.latency, name="grucand")
        prod1 = Signal(signed(self.acc_bits + cfg.act.bits))
        accx1 = Signal(signed(self.acc_bits))
        cand2 = Signal(signed(self.cand_bits))
        with m.If(pipe.advance):
            m.d.sync += [prod1.eq(x.r * x.acc_h), accx1.eq(x.acc_x)]
            m.d.sync += cand2.eq(accx1 + round_shift(prod1, cfg.act.frac))
            m.d.sync += [self.o.payload.acc.eq(cand2),
                         self.o.payload.preact.eq(to_preact(cand2, cfg.acc_frac, cfg.preact))]
        return m


class GruStateUnit(wiring.Component):
    """Stream unit ``h' = intops.gru_state_update(z, n, h)`` = sat_A(n + rescale(z * (h - n), 2a, a)),
    all in the activation format.

    Latency 2 cycles (product; round, add, saturate), one element per cycle, back-pressure holds the
    pipeline.
    """

    latency = 2

    @staticmethod
    def layouts(config: FixedPointConfig):
        """(input, output) payload layouts for ``config``."""
        act = signed(config.act.bits)
        return data.StructLayout({"z": act, "n": act, "h": act}), data.StructLayout({"h": act})

    def __init__(self, config: FixedPointConfig):
        try:
            self.config = cfg = check_config(config)
        except TypeError:
            silence_unused(self)
            raise
        self.in_layout, self.out_layout = self.layouts(cfg)
        super().__init__({
            "i": In(stream.Signature(self.in_layout)),
            "o": Out(stream.Signature(self.out_layout)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        a = cfg.act.frac
        x = self.i.payload
        pipe = StreamPipeline(m, self.i, self.o, self.latency, name="grustate")
        prod1 = Signal(signed(2 * cfg.act.bits + 1))
        n1 = Signal(signed(cfg.act.bits))
        with m.If(pipe.advance):
            m.d.sync += [prod1.eq(x.z * (x.h - x.n)), n1.eq(x.n)]
            m.d.sync += self.o.payload.h.eq(saturate(n1 + rescale(prod1, 2 * a, a), cfg.act.bits))
        return m
