"""Memo table of the output rule (docs/predictors.md, docs/hw/output_rule.md): a reuse is decided in output
space, from the predictor's score change since the neuron was last computed.

Per neuron it holds the last computed output y_m, preactivation p_m and predictor score s_m, and a valid
bit. A lookup ``(index, s, shift, gain, func)`` computes, exactly as :class:`golden_model.memo.MemoTable`
(``predicted_preact``, then the activation, then ``within_threshold``)::

    p^ = clip(p_m + round_shift(gain * (s - s_m), shift), +-preact_limit)
    y^ = act_func(p^)
    hit = enable & valid & within_threshold(y^, y_m, theta, form)

and answers ``hit`` with the cached y_m. An update ``(index, y, p, s)`` (a computed neuron) stores all
three and sets valid.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model import intops
from golden_model.formats import THETA_BITS, FixedPointConfig

from .activation import Activation, TableActivation
from .checks import check_config, check_int, silence_unused
from .memo_table import MAX_ENTRIES, ThresholdForm, threshold_hit, valid_flags
from .pipeline import StreamPipeline

__all__ = ["OutputRuleTable", "SHIFT_BITS", "output_rule_layouts"]

#: Width of the ``shift`` of a lookup (0..63 bits dropped).
SHIFT_BITS = 6


def output_rule_layouts(entries: int, config: FixedPointConfig, s_bits: int, gain_bits: int,
                        shift: int | None = None):
    """Payload layouts of the ``lookup``, ``response`` and ``update`` streams (a lookup carries its
    ``shift`` unless the table's is a constant)."""
    index = unsigned(max(1, (entries - 1).bit_length()))
    lookup = {"index": index, "s": signed(s_bits), "func": Activation}
    if shift is None:
        lookup["shift"] = unsigned(SHIFT_BITS)
    if gain_bits:
        lookup["gain"] = unsigned(gain_bits)
    return {
        "lookup": data.StructLayout(lookup),
        "response": data.StructLayout({"hit": 1, "y": signed(config.act.bits), "index": index, "s": signed(s_bits)}),
        "update": data.StructLayout({"index": index, "y": signed(config.act.bits), "p": signed(config.preact.bits),
                                     "s": signed(s_bits)}),
    }


class OutputRuleTable(wiring.Component):
    """The output rule's memo table, one lookup per cycle, :attr:`latency` cycles to the response.

    Parameters: ``entries`` (neurons, 2..65536), ``config`` (number formats), ``s_bits`` (width of a score,
    2..64), ``gain_bits`` (0: gain 1, no multiplier; else the width of the unsigned per-lookup gain),
    ``shift`` (None: each lookup carries its shift; an int in 0..63: the constant shift of every lookup,
    wired, so no barrel shifter follows the multiplier).

    Ports: ``lookup`` In(stream), ``response`` Out(stream) (``hit``, ``y`` = y_m on a hit else 0, ``index``,
    ``s`` echoed), ``update`` In(stream, always ready), ``clear``, ``enable``, ``theta``, ``form`` as in
    :class:`hw.memo_table.MemoTable`, with its ordering: a lookup transferred in cycle t sees the clears and
    updates of cycles <= t. Stages: memory read, prediction (p^), activation (2), compare.
    """

    latency = 1 + 1 + TableActivation.latency + 1

    def __init__(self, entries: int, config: FixedPointConfig, s_bits: int, gain_bits: int = 0,
                 shift: int | None = None):
        try:
            self.entries = check_int("OutputRuleTable entries", entries, 2, MAX_ENTRIES)
            self.config = check_config(config)
            self.s_bits = check_int("OutputRuleTable s_bits", s_bits, 2, 64)
            self.gain_bits = check_int("OutputRuleTable gain_bits", gain_bits, 0, 32)
            self.shift = None if shift is None else check_int("OutputRuleTable shift", shift, 0, (1 << SHIFT_BITS) - 1)
        except (TypeError, ValueError):
            silence_unused(self)
            raise
        layouts = output_rule_layouts(entries, config, s_bits, gain_bits, self.shift)
        super().__init__({
            "lookup": In(stream.Signature(layouts["lookup"])),
            "response": Out(stream.Signature(layouts["response"])),
            "update": In(stream.Signature(layouts["update"], always_ready=True)),
            "clear": In(1), "enable": In(1), "theta": In(THETA_BITS), "form": In(ThresholdForm),
        })

    @staticmethod
    def stored_bits(config: FixedPointConfig, s_bits: int) -> int:
        """Memory bits of one entry: y_m, p_m and s_m (the memories :meth:`elaborate` builds; the valid bits
        are flip-flops beside them). The energy model reads it."""
        return config.act.bits + config.preact.bits + s_bits

    @property
    def entry_bits(self) -> int:
        """:meth:`stored_bits` of this table."""
        return self.stored_bits(self.config, self.s_bits)

    def elaborate(self, platform):
        m = Module()
        cfg, n = self.config, self.entries
        look, upd = self.lookup.payload, self.update.payload
        pipe = StreamPipeline(m, self.lookup, self.response, self.latency, name="rule")
        upd_fire = Signal()
        m.d.comb += upd_fire.eq(self.update.valid & (upd.index < n))
        cached = {}
        for name, shape in (("y", signed(cfg.act.bits)), ("p", signed(cfg.preact.bits)), ("s", signed(self.s_bits))):
            mem = memory.Memory(shape=shape, depth=n, init=[])
            m.submodules[f"{name}_mem"] = mem
            wp = mem.write_port()
            m.d.comb += [wp.addr.eq(upd.index), wp.data.eq(upd[name]), wp.en.eq(upd_fire)]
            rp = mem.read_port(transparent_for=(wp,))   # read in the lookup's cycle, held while stalled
            m.d.comb += [rp.addr.eq(look.index), rp.en.eq(pipe.advance)]
            cached[name] = rp.data
        valid_seen = valid_flags(m, n, self.clear, upd_fire, upd.index)
        carried = self._carry(m, pipe, look, valid_seen, cached["y"])
        p_hat = self._predict(m, pipe, carried[0], cached)   # stage 2
        m.submodules.act = act = TableActivation(cfg)
        m.d.comb += [act.en.eq(pipe.advance), act.p.eq(p_hat), act.kind.eq(carried[1]["func"])]
        last = carried[-1]
        hit = last["enable"] & last["vbit"] & threshold_hit(act.y, last["y_m"], last["theta"], last["form"])
        resp = self.response.payload
        with m.If(pipe.advance):
            m.d.sync += [resp.hit.eq(hit), resp.y.eq(Mux(hit, last["y_m"], 0)), resp.index.eq(last["index"]),
                         resp.s.eq(last["s"])]
        return m

    def _carry(self, m, pipe, look, valid_seen, y_m) -> list[dict]:
        """The lookup's fields and the controls of its cycle, registered stage by stage (stages 1 to
        latency - 1); the cached y_m joins at stage 2 (the read data is stage 1)."""
        prev = {"index": look.index, "s": look.s, "func": look.func,
                "vbit": valid_seen(look.index) & (look.index < self.entries), "enable": self.enable,
                "theta": self.theta, "form": self.form}
        if self.gain_bits:
            prev["gain"] = look.gain
        if self.shift is None:
            prev["shift"] = look.shift
        stages = []
        for k in range(1, self.latency):
            if k == 2:
                prev = {**prev, "y_m": y_m}
            regs = {name: Signal.like(value, name=f"{name}{k}") for name, value in prev.items()}
            with m.If(pipe.advance):
                m.d.sync += [regs[name].eq(value) for name, value in prev.items()]
            stages.append(regs)
            prev = regs
        return stages

    def _predict(self, m, pipe, s1, cached):
        """Stage 2: p^ = clip(p_m + round_shift(gain * (s - s_m), shift), +-limit), registered."""
        limit = intops.preact_limit(self.config.preact)
        change = s1["s"] - cached["s"]
        if self.gain_bits:
            change = s1["gain"] * change
        # round_shift(d, k) = floor((2d + 2**k) / 2**(k+1)): one expression for every k >= 0
        k = s1["shift"] if self.shift is None else self.shift
        rounded = ((change << 1) + (Const(1, 1) << k)) >> (k + 1)
        total = cached["p"] + rounded
        p_hat = Signal(signed(self.config.preact.bits), name="p_hat")
        with m.If(pipe.advance):
            m.d.sync += p_hat.eq(Mux(total > limit, limit, Mux(total < -limit, -limit, total)))
        return p_hat
