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
from .pipeline import StreamPipeline, delayed

__all__ = ["LstmCellUnit"]


class LstmCellUnit(wiring.Component):
    """Stream unit: gate outputs ``i, f, g, o`` (activation format) and the old cell state ``c`` (cell
    format) in; ``h`` (activation format) and the new ``c`` out::

        c' = sat_C(rescale(f*c, a+cf, cf) + rescale(i*g, 2a, cf))
        h' = sat_A(rescale(o * tanh(to_preact(c', cf)), 2a, a))

    with the tanh from the same half-table machinery as :class:`hw.activation.ActivationUnit`
    (its own ROM holding the tanh half table only).

    Latency :attr:`latency` cycles, one element per cycle, back-pressure holds the pipeline. Stages: the
    products f*c and i*g; their rescales; c' (sum, saturate); the tanh argument to_preact(c'); the
    tanh lookup (:attr:`TableActivation.latency <hw.activation.TableActivation.latency>`); o*tanh;
    h' (rescale, saturate). No stage holds a multiply together with a rescale or saturate, or more than
    two carry chains, so every stage fits one cycle at the clock of docs/synthesis.md.
    """

    latency = 4 + TableActivation.latency + 2

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
        fc_r, ig_r = rescale(fc1, a + cf, cf), rescale(ig1, 2 * a, cf)
        fc2, ig2 = Signal(fc_r.shape()), Signal(ig_r.shape())
        c3, p4 = Signal(signed(cfg.cell.bits)), Signal(signed(cfg.preact.bits))
        prod = Signal(signed(2 * cfg.act.bits))
        en = pipe.advance
        # o waits for tanh(c'); c' travels to the output beside the lookup
        o = delayed(m, x.o, self.latency - 2, en, name="o")[-1]
        c = delayed(m, c3, self.latency - 4, en, name="c")[-1]
        with m.If(en):
            m.d.sync += [fc1.eq(x.f * x.c), ig1.eq(x.i * x.g),
                         fc2.eq(fc_r), ig2.eq(ig_r),
                         c3.eq(saturate(fc2 + ig2, cfg.cell.bits)),
                         p4.eq(to_preact(c3, cf, cfg.preact)),
                         prod.eq(o * tanh.y),
                         self.o.payload.h.eq(saturate(rescale(prod, 2 * a, a), cfg.act.bits)),
                         self.o.payload.c.eq(c)]
        m.d.comb += [tanh.en.eq(en), tanh.p.eq(p4)]
        return m
