"""Inside the simulator: the cocotb driver of the accelerator tile (``hw.tile``).

:class:`TileHost` drives the tile's ports. It streams x with ``first``/``last`` (sequences back to back:
the next sequence's first element follows the previous one's last element on the stream), sets
slot/n_x/memo_enable/theta/form with each ``first`` element, collects h with optional random back-pressure,
loads memories through ``wr`` and reads the performance counters. The stream drivers are event driven: with
no back-pressure the simulator runs without waking Python between stream transfers.
"""

from __future__ import annotations

import math
import random

import numpy as np

__all__ = ["TileHost"]


def _bit(signal) -> int:
    """A 1-bit signal's value, 0 while it is still X/Z (before the first clock edge on Icarus)."""
    v = signal.value
    return int(v) if v.is_resolvable else 0


def _geometric(rng: random.Random, p: float) -> int:
    """Idle cycles before an event of per-cycle probability p (0 when p >= 1)."""
    if p >= 1.0:
        return 0
    return int(math.log(1.0 - rng.random()) / math.log(1.0 - p))


class _XDriver:
    """Drives the ``x`` stream (or any input stream): items ``(payload_int, controls or None)``; the
    controls (a dict port -> value) are driven together with the beat that carries them and held.

    Event driven: a beat is presented, the driver sleeps until ``ready`` (a value-change trigger, not a
    per-cycle poll), and the transfer happens at the next clock edge. ``valid_prob`` < 1 inserts geometric
    gaps (the per-cycle Bernoulli process of :class:`sim.streams.StreamDriver`)."""

    def __init__(self, dut, name, clock, rng, valid_prob=1.0):
        self.dut, self.clock, self.rng, self.valid_prob = dut, clock, rng, valid_prob
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.valid.value = 0
        self.sent = 0

    async def send_all(self, items):
        """Send every item; returns after the clock edge of the last transfer (a writable phase)."""
        from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

        edge = RisingEdge(self.clock)
        for payload, controls in items:
            gap = _geometric(self.rng, self.valid_prob)
            if gap:
                self.valid.value = 0
                await ClockCycles(self.clock, gap)
            if controls:
                for port, value in controls.items():
                    getattr(self.dut, port).value = value
            self.payload.value = payload
            self.valid.value = 1
            await ReadOnly()
            while not _bit(self.ready):
                await RisingEdge(self.ready)
                await ReadOnly()
            await edge
            self.sent += 1
        self.valid.value = 0


class _HSink:
    """Takes the ``h`` stream: ``callback(data, last)`` per transfer. With ``ready_prob`` < 1, ``ready`` is
    redrawn every cycle while ``valid`` is high (random back-pressure, also before and between beats);
    while ``valid`` is low the sink sleeps until it rises."""

    def __init__(self, dut, name, clock, codec, rng, ready_prob=1.0, callback=None):
        self.clock, self.codec, self.rng, self.ready_prob = clock, codec, rng, ready_prob
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.callback = callback
        self.received = 0
        self.protocol_errors: list[str] = []
        self.ready.value = 1 if ready_prob >= 1.0 else 0
        self._task = None

    def start(self):
        import cocotb

        self._task = cocotb.start_soon(self._run())

    def stop(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self):
        from cocotb.triggers import ReadOnly, RisingEdge

        edge, read_only = RisingEdge(self.clock), ReadOnly()
        always = self.ready_prob >= 1.0
        driven = 1 if always else 0
        pending = None
        while True:
            if not always:
                want = 1 if self.rng.random() < self.ready_prob else 0
                if want != driven:
                    self.ready.value = want
                    driven = want
            await read_only
            if _bit(self.valid):
                raw = int(self.payload.value)
                if pending is not None and raw != pending and len(self.protocol_errors) < 10:
                    self.protocol_errors.append(f"h: payload changed from {pending:#x} to {raw:#x} while "
                                                f"valid and not ready")
                if driven:
                    pending = None
                    await edge
                    self.received += 1
                    if self.callback is not None:
                        item = self.codec.unpack(raw)
                        self.callback(item)
                else:
                    pending = raw
                    await edge
            else:
                if pending is not None and len(self.protocol_errors) < 10:
                    self.protocol_errors.append("h: valid dropped before the transfer")
                pending = None
                await RisingEdge(self.valid)


class TileHost:
    """cocotb driver of one tile instance (``dut``) built by :func:`tile_design`; ``design`` is
    :func:`sim.runner.load_design`'s description (ports, config)."""

    COUNTERS = ("cycles", "evaluations", "reuses", "stalls")

    def __init__(self, dut, design: dict, *, valid_prob: float = 1.0, ready_prob: float = 1.0, seed: int = 1):
        from .streams import stream_codec

        self.dut, self.design = dut, design
        self.clock = dut.clk
        rng = random.Random(seed)
        self.x_codec = stream_codec(design, "x")
        self.h_codec = stream_codec(design, "h")
        self.wr_codec = stream_codec(design, "wr") if "wr__payload" in design["ports"] else None
        self.x = _XDriver(dut, "x", self.clock, random.Random(rng.random()), valid_prob)
        self.wr = _XDriver(dut, "wr", self.clock, random.Random(rng.random()), valid_prob) \
            if self.wr_codec is not None else None
        self.h = _HSink(dut, "h", self.clock, self.h_codec, random.Random(rng.random()), ready_prob)
        self.ports = design["ports"]
        for port in ("slot", "n_x", "memo_enable", "theta", "form", "clear_counters"):
            if port in self.ports:
                getattr(dut, port).value = 0

    async def reset(self):
        from .streams import start_clock_and_reset

        await start_clock_and_reset(self.dut)
        self.h.start()

    def now_cycles(self) -> int:
        from cocotb.utils import get_sim_time

        return int(get_sim_time("ns")) // 10

    async def load(self, beats: list[dict]):
        """Write memories through the ``wr`` stream (the tile must be idle)."""
        if self.wr is None:
            raise RuntimeError("this tile has no wr stream")
        if _bit(self.dut.busy):
            raise RuntimeError("memories are written only while the tile is idle")
        await self.wr.send_all([(self.wr_codec.pack(b), None) for b in beats])

    async def clear_counters(self):
        from cocotb.triggers import RisingEdge

        self.dut.clear_counters.value = 1
        await RisingEdge(self.clock)
        self.dut.clear_counters.value = 0

    def read_counters(self) -> dict:
        return {name: int(getattr(self.dut, name).value) for name in self.COUNTERS if name in self.ports}

    def _controls(self, slot, n_x, memo_enable, theta, form) -> dict:
        controls = {"slot": slot, "n_x": n_x, "theta": theta, "form": form}
        if "memo_enable" in self.ports:
            controls["memo_enable"] = memo_enable
        return {k: v for k, v in controls.items() if k in self.ports}

    def x_beats(self, sequences, controls: dict) -> list:
        """The x stream of ``sequences`` (each (T, n_x) int): ``first`` on element 0 of step 0 (with the
        controls), ``last`` on the final element of the final step."""
        items = []
        pack = self.x_codec.pack
        for seq in sequences:
            flat = np.asarray(seq, dtype=np.int64).reshape(-1).tolist()
            end = len(flat) - 1
            for k, v in enumerate(flat):
                items.append((pack({"data": v, "first": int(k == 0), "last": int(k == end)}),
                              controls if k == 0 else None))
        return items

    async def run_pass(self, sequences, *, slot: int, n_x: int, memo_enable: int, theta: int, form: int,
                       on_output, timeout_cycles: int):
        """Stream ``sequences`` back to back through slot ``slot``; ``on_output(item)`` gets every h element
        ({"data", "last"}). Returns (counters, sim cycles of the pass). Counters are cleared first and
        read once the tile is idle again."""
        import cocotb
        from cocotb.triggers import Event, RisingEdge, with_timeout

        total = sum(int(np.asarray(s).shape[0]) for s in sequences) * self.design_hidden
        done = Event()
        got = [0]

        def receive(item):
            on_output(item)
            got[0] += 1
            if got[0] >= total:
                done.set()

        self.h.callback = receive
        await self.clear_counters()
        start = self.now_cycles()
        beats = self.x_beats(sequences, self._controls(slot, n_x, memo_enable, theta, form))
        sender = cocotb.start_soon(self.x.send_all(beats))
        await with_timeout(done.wait(), timeout_cycles * 10, "ns")
        await sender
        # idle again: busy falls after the last h element
        edge = RisingEdge(self.clock)
        for _ in range(1000):
            if not _bit(self.dut.busy):
                break
            await edge
        else:
            raise AssertionError("the tile stays busy after its last output")
        cycles = self.now_cycles() - start
        return self.read_counters(), cycles

    @property
    def design_hidden(self) -> int:
        return int(self.design["config"]["hidden"])
