"""cocotb 2.x drivers for Amaranth ``lib.stream`` ports as they appear in the generated Verilog.

Amaranth flattens a stream member ``i`` into the ports ``i__valid``, ``i__ready`` and ``i__payload``; a
struct payload is one packed vector. :class:`sim.codec.PayloadCodec` (re-exported here) packs and unpacks
payloads from the component's layout (directly from an Amaranth shape, or from the JSON description that
:func:`sim.runner.port_info` writes into the build directory), so tests never hand-code bit offsets.

* :class:`StreamDriver` -- sends items on an input stream (the DUT's ``In(stream.Signature)``), with
  valid gaps; ``valid`` and the payload are held until the transfer.
* :class:`StreamSink` -- takes items from an output stream with back-pressure on ``ready`` and
  hands each transferred payload to a callback (e.g. :meth:`sim.scoreboard.Scoreboard.receive`).
* Gaps and back-pressure are *pause generators* (as cocotbext-axi's ``set_pause_generator``): an
  iterator giving one bool per cycle, True = pause (no new beat presented / ``ready`` low).
  :func:`sim.harness.pauses` (re-exported here) makes the one the Verilog harness also implements: random with a
  probability of moving, and a periodic mask; any other iterator works (``itertools.cycle([0, 0, 1])``).

Sampling convention: signals are driven right after a rising edge and the transfer condition
``valid & ready`` is sampled in the ``ReadOnly`` phase before the next edge, which is race-free on both
Icarus and Verilator and lets ``ready`` depend combinationally on ``valid``.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from .codec import PayloadCodec, stream_codec
from .harness import pauses

__all__ = [
    "CycleCounter",
    "pauses",
    "PayloadCodec",
    "StreamDriver",
    "StreamSink",
    "start_clock_and_reset",
    "stream_codec",
]


async def start_clock_and_reset(dut, *, period_ns: int = 10, reset_cycles: int = 2, clk: str = "clk",
                                rst: str = "rst"):
    """Start the clock of an Amaranth top (``clk``, ``rst`` ports) and pulse reset; returns after the
    rising edge that ends reset (a writable phase)."""
    clock = getattr(dut, clk)
    cocotb.start_soon(Clock(clock, period_ns, unit="ns").start())
    reset = getattr(dut, rst)
    reset.value = 1
    for _ in range(reset_cycles):
        await RisingEdge(clock)
    reset.value = 0
    await RisingEdge(clock)


async def wait_until(dut, cond, limit: int, what: str, clk: str = "clk") -> None:
    """Wait for ``cond()`` on rising edges of ``clk``; fail after ``limit`` cycles naming ``what``."""
    edge = RisingEdge(getattr(dut, clk))
    for _ in range(limit):
        if cond():
            return
        await edge
    raise AssertionError(f"timeout after {limit} cycles waiting for {what}")


class CycleCounter:
    """Counts rising edges of ``clock`` (a cycle stamp for transactions)."""

    def __init__(self, clock):
        self.clock = clock
        self.cycle = 0
        self._task = cocotb.start_soon(self._run())

    async def _run(self):
        edge = RisingEdge(self.clock)
        while True:
            await edge
            self.cycle += 1


class _Rate:
    """A probability attribute (``valid_prob``, ``ready_prob``): assigning it replaces the pause generator
    by random pauses at that rate (from the driver's or sink's ``rng``), from the next cycle on."""

    def __get__(self, obj, owner=None):
        return self if obj is None else obj._prob

    def __set__(self, obj, prob: float) -> None:
        obj._prob = prob
        obj.pause = pauses(prob, rng=obj.rng)


class StreamDriver:
    """Drives the input stream ``<name>__{valid,ready,payload}`` of ``dut``.

    ``valid_prob`` is the probability that a queued item is presented in a cycle (1.0: back to back;
    lower values insert random valid gaps); ``pause`` a pause generator instead (see :func:`pauses`,
    :meth:`set_pause_generator`). ``on_send(item, cycle)`` is called for every transfer, with the cycle
    stamp of ``counter`` (a :class:`CycleCounter`) if one is given."""

    valid_prob = _Rate()

    def __init__(self, dut, name: str, clock, codec: PayloadCodec, *, rng: random.Random | None = None,
                 valid_prob: float = 1.0, pause: Iterator[bool] | None = None,
                 on_send: Callable[[Any, int | None], None] | None = None, counter: CycleCounter | None = None):
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.name, self.clock, self.codec = name, clock, codec
        self.rng = rng or random.Random(0)
        self._prob = valid_prob
        self.pause = pause if pause is not None else pauses(valid_prob, rng=self.rng)
        self.on_send = on_send
        self.counter = counter
        self.queue: deque = deque()
        self.sent = 0
        self.valid.value = 0
        self._task = cocotb.start_soon(self._run())

    def set_pause_generator(self, pause: Iterator[bool] | None) -> None:
        """Valid gaps from ``pause`` (one bool per cycle, True = no new beat; None: back to back)."""
        self.pause = pause

    def send(self, item) -> None:
        """Queue one item (packed immediately, so a bad item fails here, not in the simulation)."""
        self.queue.append((item, self.codec.pack(item)))

    def send_many(self, items) -> None:
        for item in items:
            self.send(item)

    @property
    def idle(self) -> bool:
        return not self.queue and self._current is None

    async def wait_idle(self) -> None:
        edge = RisingEdge(self.clock)
        while not self.idle:
            await edge

    _current = None

    async def _run(self):
        edge, read_only = RisingEdge(self.clock), ReadOnly()
        driven_valid = 0
        while True:
            paused = self.pause is not None and next(self.pause)
            if self._current is None and self.queue and not paused:
                self._current = self.queue.popleft()
                self.payload.value = self._current[1]
            want = 1 if self._current is not None else 0
            if want != driven_valid:
                self.valid.value = want
                driven_valid = want
            await read_only
            fired = want and int(self.ready.value)
            stamp = self.counter.cycle if self.counter is not None else None
            await edge
            if fired:
                item = self._current[0]
                self._current = None
                self.sent += 1
                if self.on_send is not None:
                    self.on_send(item, stamp)


class StreamSink:
    """Takes items from the output stream ``<name>__{valid,ready,payload}`` of ``dut``.

    ``ready_prob`` is the probability that ``ready`` is high in a cycle (random back-pressure); ``pause``
    a pause generator instead (True = ``ready`` low; see :func:`pauses`, :meth:`set_pause_generator`).
    Every transfer is unpacked and passed to ``callback(item)`` (and appended to :attr:`items` when no
    callback is given). ``check_stable`` asserts the stream rule: once ``valid`` is high, it stays high
    with the same payload until the transfer."""

    ready_prob = _Rate()

    def __init__(self, dut, name: str, clock, codec: PayloadCodec, *, rng: random.Random | None = None,
                 ready_prob: float = 1.0, pause: Iterator[bool] | None = None,
                 callback: Callable[[Any], None] | None = None,
                 check_stable: bool = True, counter: CycleCounter | None = None):
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.name, self.clock, self.codec = name, clock, codec
        self.rng = rng or random.Random(1)
        self._prob = ready_prob
        self.pause = pause if pause is not None else pauses(ready_prob, rng=self.rng)
        self.callback = callback
        self.check_stable = check_stable
        self.items: list = []
        self.received = 0
        self.protocol_errors: list[str] = []
        self.counter = counter
        #: transfer cycles (``counter`` stamps), when a counter is given
        self.cycles: list[int] = []
        self.ready.value = 0
        self._task = cocotb.start_soon(self._run())

    def set_pause_generator(self, pause: Iterator[bool] | None) -> None:
        """Back-pressure from ``pause`` (one bool per cycle, True = ``ready`` low; None: always ready)."""
        self.pause = pause

    async def _run(self):
        edge, read_only = RisingEdge(self.clock), ReadOnly()
        driven_ready = 0
        pending = None  # (raw payload) offered but not taken in the previous cycle
        while True:
            want = 0 if self.pause is not None and next(self.pause) else 1
            if want != driven_ready:
                self.ready.value = want
                driven_ready = want
            await read_only
            item = None
            if int(self.valid.value):
                raw = int(self.payload.value)
                if self.check_stable and pending is not None and raw != pending and len(self.protocol_errors) < 10:
                    self.protocol_errors.append(f"{self.name}: payload changed from {pending:#x} to {raw:#x} "
                                                f"while valid and not ready")
                if want:
                    item = self.codec.unpack(raw)
                    pending = None
                    if self.counter is not None:
                        self.cycles.append(self.counter.cycle)
                else:
                    pending = raw
            elif pending is not None:
                if len(self.protocol_errors) < 10:
                    self.protocol_errors.append(f"{self.name}: valid dropped before the transfer")
                pending = None
            await edge
            if item is not None:
                self.received += 1
                if self.callback is not None:
                    self.callback(item)
                else:
                    self.items.append(item)
