"""Element-wise LSTM state update, exactly :func:`golden_model.intops.lstm_cell_update`.

See ``docs/hw/activation.md``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model.formats import FixedPointConfig

from .activation import Activation, TableActivation
from .arith import rescale, saturate, to_preact
from .checks import check_config, silence_unused
from .pipeline import StreamPipeline

__all__ = ["LstmCellUnit"]


class LstmCellUnit(wiring.Component):
    """Stream unit: gate outputs ``i, f, g, o`` (activation format) and the old cell state ``c`` (cell
    format) in; ``h`` (activation format) and the new ``c`` out::

        c' = sat_C(rescale(f*c, a+cf, cf) + rescale(i*g, 2a, cf))
        h' = sat_A(rescale(o * tanh(to_preact(c', cf)), 2a, a))

    with the tanh from the same half-table machinery as :class:`hw.activation.ActivationUnit`
    (its own ROM holding the tanh half table only).

    Latency 5 cycles (products; c'; tanh ROM read; tanh sign; o*tanh and saturate), one element per
    cycle, back-pressure holds the pipeline.
    """

    latency = 5

    @staticmethod
    def layouts(config: FixedPointConfig):
        """(input, output) payload layouts for ``config``."""
        act, cell = signed(config.act.bits), signed(config.cell.bits)
        return (data.StructLayout({"i": act, "f": act, "g": act, "o": act, "c": cell}),
                data.StructLayout({"h": act, "c": cell}))

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
        a, cf = cfg.act.frac, cfg.cell.frac
        x = self.i.payload
        pipe = StreamPipeline(m, self.i, self.o, self.latency, name="lstm")
        m.submodules.tanh = tanh = TableActivation(cfg, kinds=(Activation.TANH,))

        prod_bits = cfg.act.bits + max(cfg.act.bits, cfg.cell.bits)
        fc1, ig1 = Signal(signed(prod_bits)), Signal(signed(prod_bits))
        o1, o2, o3, o4 = (Signal(signed(cfg.act.bits), name=f"o{k}") for k in range(1, 5))
        c2, c3, c4 = (Signal(signed(cfg.cell.bits), name=f"c{k}") for k in range(2, 5))
        with m.If(pipe.advance):
            # stage 1: products
            m.d.sync += [fc1.eq(x.f * x.c), ig1.eq(x.i * x.g), o1.eq(x.o)]
            # stage 2: new cell state
            m.d.sync += [c2.eq(saturate(rescale(fc1, a + cf, cf) + rescale(ig1, 2 * a, cf), cfg.cell.bits)),
                         o2.eq(o1)]
            # stages 3-4: tanh(c') in the lookup pipeline
            m.d.sync += [c3.eq(c2), o3.eq(o2), c4.eq(c3), o4.eq(o3)]
            # stage 5: h'
            m.d.sync += [self.o.payload.h.eq(saturate(rescale(o4 * tanh.y, 2 * a, a), cfg.act.bits)),
                         self.o.payload.c.eq(c4)]
        m.d.comb += [tanh.en.eq(pipe.advance), tanh.p.eq(to_preact(c2, cf, cfg.preact))]
        return m
