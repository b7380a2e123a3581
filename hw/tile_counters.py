"""Performance counters of the tile (docs/tile.md, *Ports*): cycles, evaluations, reuses, stalls, and the
front end's own (``FrontEnd.counters``)."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .checks import check_int, silence_unused

__all__ = ["PerfCounters", "COUNTER_BITS", "COUNTERS", "counter_names"]

#: Width of the performance counters.
COUNTER_BITS = 32
#: Counter name -> the event input that increments it.
COUNTERS = {"cycles": "active", "evaluations": "evaluated", "reuses": "reused", "stalls": "stalled"}


def counter_names(params) -> tuple[str, ...]:
    """Every counter output of a tile of ``params``: :data:`COUNTERS` and the front end's own."""
    if params.crew is not None:
        own = ("products",)   # groups of M products the CREW product stage makes
    elif params.delta:
        own = ("x_changed", "h_changed", "corrections")   # changed inputs; (input, group of L neurons) updates
    else:
        own = params.front_end.counters(params) if params.front_end is not None else ()
    return (*COUNTERS, *own)


class PerfCounters(wiring.Component):
    """One ``bits``-bit counter per entry of :data:`COUNTERS` and per name of ``extra`` (event input
    ``<name>_event``), incremented in every cycle its event input is high; ``clear`` (priority over
    counting) zeroes them all. :attr:`latency` = 1 (an event shows in the counter the cycle after)."""

    latency = 1

    def __init__(self, bits: int = COUNTER_BITS, extra: tuple[str, ...] = ()):
        try:
            self.bits = check_int("PerfCounters bits", bits, 1, 64)
            bad = [n for n in extra if not (isinstance(n, str) and n.isidentifier()) or n in COUNTERS
                   or n in ("clear", *COUNTERS.values())]
            if bad or len(set(extra)) != len(extra):
                raise ValueError(f"extra counter names must be distinct identifiers other than the tile's own "
                                 f"{tuple(COUNTERS)}, not {list(extra)}")
        except (TypeError, ValueError):
            silence_unused(self)
            raise
        self.events = {**COUNTERS, **{name: f"{name}_event" for name in extra}}
        super().__init__({"clear": In(1), **{event: In(1) for event in self.events.values()},
                          **{name: Out(bits) for name in self.events}})

    def elaborate(self, platform):
        m = Module()
        pairs = [(getattr(self, name), getattr(self, event)) for name, event in self.events.items()]
        with m.If(self.clear):
            m.d.sync += [c.eq(0) for c, _ in pairs]
        with m.Else():
            for c, inc in pairs:
                with m.If(inc):
                    m.d.sync += c.eq(c + 1)
        return m
