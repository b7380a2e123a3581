"""Performance counters of the tile (docs/tile.md, *Ports*): cycles, evaluations, reuses, stalls."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .checks import check_int, silence_unused

__all__ = ["PerfCounters", "COUNTER_BITS", "COUNTERS"]

#: Width of the performance counters.
COUNTER_BITS = 32
#: Counter name -> the event input that increments it.
COUNTERS = {"cycles": "active", "evaluations": "evaluated", "reuses": "reused", "stalls": "stalled"}


class PerfCounters(wiring.Component):
    """One ``bits``-bit counter per entry of :data:`COUNTERS`, incremented in every cycle its event input
    is high; ``clear`` (priority over counting) zeroes them all. :attr:`latency` = 1 (an event shows in
    the counter the cycle after)."""

    latency = 1

    def __init__(self, bits: int = COUNTER_BITS):
        try:
            self.bits = check_int("PerfCounters bits", bits, 1, 64)
        except (TypeError, ValueError):
            silence_unused(self)
            raise
        super().__init__({"clear": In(1), **{event: In(1) for event in COUNTERS.values()},
                          **{name: Out(bits) for name in COUNTERS}})

    def elaborate(self, platform):
        m = Module()
        pairs = [(getattr(self, name), getattr(self, event)) for name, event in COUNTERS.items()]
        with m.If(self.clear):
            m.d.sync += [c.eq(0) for c, _ in pairs]
        with m.Else():
            for c, inc in pairs:
                with m.If(inc):
                    m.d.sync += c.eq(c + 1)
        return m
