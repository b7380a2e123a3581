"""Inside the simulator: the cocotb transports of the accelerator tile (``hw.tile``).

Both do only the I/O of :mod:`sim.tile_protocol` (which owns the beat rules, the controls, the counters
and the network's pass order): ``run_pass(sequences, controls, timeout_cycles)`` streams the sequences back
to back through the tile with the pass's controls (set before the pass; the tile latches them with each
``first`` beat), clears the counters first and returns ``(h items, counters, cycles)`` once the tile is
idle again; ``load(words)`` writes memories through ``wr``.

* :class:`HarnessTransport` (mode ``harness``, the default of :func:`sim.tile_host.tile_design`): the tile
  inside the Verilog harness of :mod:`sim.harness`; a pass is one source-buffer batch (or a few, for
  passes longer than the buffers, split between sequences) and one await each.
* :class:`TileHost` (mode ``python``): cocotb drivers of :mod:`sim.streams` on the tile's own ports, woken
  every cycle; slower, with the stream protocol checked from Python.

Valid gaps on x (and wr) and back-pressure on h follow the job's probabilities and pause masks in both.
"""

from __future__ import annotations

import random

from .harness import HARNESS_TOP, HarnessDriver, HarnessSpec
from .job import TileJob
from .streams import StreamDriver, StreamSink, pauses, start_clock_and_reset, stream_codec, wait_until
from .tile_protocol import sequence_beats

__all__ = ["HarnessTransport", "TileHost", "transport_for"]

#: Cycles after a pass in which nothing more may come out of the tile.
DRAIN_CYCLES = 8


def _seeds(seed: int) -> tuple[int, int]:
    rng = random.Random(seed)
    return rng.getrandbits(32), rng.getrandbits(32)


def transport_for(dut, design: dict, job: TileJob):
    """The transport of ``job.mode`` for the build ``design`` (:func:`sim.runner.load_design`)."""
    harness = design["toplevel"] == HARNESS_TOP
    if (job.mode == "harness") != harness:
        raise ValueError(f"a {job.mode!r} job on a {'harness' if harness else 'bare tile'} build")
    return HarnessTransport(dut, design, job) if harness else TileHost(dut, design, job)


class HarnessTransport:
    """The tile in the Verilog harness: beats go through the source buffer, h comes back from the sink."""

    def __init__(self, dut, design: dict, job: TileJob):
        self.spec = HarnessSpec.from_design(design)
        self.driver = HarnessDriver(dut, self.spec)
        self.h_per_step, self.counter_names = job.h_per_step, job.counters
        self.codecs = {s: stream_codec(design, s) for s in (*self.spec.sources, self.spec.sink)}
        valid_seed, ready_seed = _seeds(job.seed)
        self.driver.set_pauses("valid", job.valid.prob, valid_seed, job.valid.mask, job.valid.mask_len)
        self.driver.set_pauses("ready", job.ready.prob, ready_seed, job.ready.mask, job.ready.mask_len)
        self.protocol_errors: list[str] = []

    async def start(self) -> None:
        """Nothing to do: the harness generates its clock and reset, and starts a batch after the reset."""

    def now_cycles(self) -> int:
        return self.driver.read("now_cycles")

    def _check(self, what: str, status, beats: int) -> None:
        if status.timed_out:
            self.protocol_errors.append(f"{what}: timed out after {status.cycles} cycles")
        if status.sent != beats:
            self.protocol_errors.append(f"{what}: the tile took {status.sent} of {beats} beats")
        if status.proto_errors:
            self.protocol_errors.append(f"h: {status.proto_errors} cycles with a beat changed or withdrawn "
                                        f"while valid and not ready")
        if status.got > len(status.received):
            self.protocol_errors.append(f"h: {status.got - len(status.received)} beats beyond the sink buffer")

    async def load(self, words: list[dict]) -> None:
        pack = self.codecs["wr"].pack
        raw = [pack(w) for w in words]
        depth = self.spec.src_depth
        for start in range(0, len(raw), depth):
            chunk = raw[start:start + depth]
            status = await self.driver.batch(chunk, target="wr", expect=0, timeout=100 * len(chunk) + 1000,
                                             drain=DRAIN_CYCLES)
            self._check("wr", status, len(chunk))

    def _chunks(self, sequences) -> list[list]:
        """Runs of whole sequences that fit the harness's buffers (one batch each)."""
        chunks, current, beats_in, beats_out = [], [], 0, 0
        for seq in sequences:
            n_in, n_out = seq.shape[0] * seq.shape[1], seq.shape[0] * self.h_per_step
            if n_in > self.spec.src_depth or n_out > self.spec.sink_depth:
                raise ValueError(f"a sequence of {seq.shape[0]} steps exceeds the harness buffers")
            if current and (beats_in + n_in > self.spec.src_depth or beats_out + n_out > self.spec.sink_depth):
                chunks.append(current)
                current, beats_in, beats_out = [], 0, 0
            current.append(seq)
            beats_in, beats_out = beats_in + n_in, beats_out + n_out
        if current:
            chunks.append(current)
        return chunks

    async def run_pass(self, sequences, controls: dict, *, timeout_cycles: int):
        self.driver.set_controls({k: v for k, v in controls.items() if k in self.spec.controls})
        pack, unpack = self.codecs["x"].pack, self.codecs[self.spec.sink].unpack
        items, cycles = [], 0
        for k, chunk in enumerate(self._chunks(sequences)):
            raw = [pack(b) for seq in chunk for b in sequence_beats(seq)]
            expect = sum(seq.shape[0] for seq in chunk) * self.h_per_step
            status = await self.driver.batch(raw, target="x", expect=expect, clear=k == 0, drain=DRAIN_CYCLES,
                                             timeout=max(1000, timeout_cycles - cycles))
            self._check("x", status, len(raw))
            items += [unpack(r) for r in status.received]
            cycles += status.cycles
        counters = {name: self.driver.read(name) for name in self.counter_names}
        return items, counters, cycles


class TileHost:
    """The bare tile (``dut``, toplevel of :func:`sim.tile_host.tile_design` with ``harness=False``) driven
    from Python: a :class:`sim.streams.StreamDriver` on x and wr, a :class:`sim.streams.StreamSink` on h."""

    def __init__(self, dut, design: dict, job: TileJob):
        self.dut, self.design = dut, design
        self.ports = design["ports"]
        self.h_per_step, self.counter_names = job.h_per_step, job.counters
        self.clock = dut.clk
        valid_seed, ready_seed = _seeds(job.seed)
        self._valid = pauses(job.valid.prob, rng=random.Random(valid_seed), mask=job.valid.mask,
                             mask_len=job.valid.mask_len)
        self._ready = pauses(job.ready.prob, rng=random.Random(ready_seed), mask=job.ready.mask,
                             mask_len=job.ready.mask_len)
        self.received: list[dict] = []
        self._errors: list[str] = []
        for port in ("slot", "n_x", "memo_enable", "theta", "form", "clear_counters"):
            if port in self.ports:
                getattr(dut, port).value = 0
        self.x = self.wr = self.h = None

    @property
    def protocol_errors(self) -> list[str]:
        return self._errors + (list(self.h.protocol_errors) if self.h is not None else [])

    async def start(self) -> None:
        await start_clock_and_reset(self.dut)
        self.x = StreamDriver(self.dut, "x", self.clock, stream_codec(self.design, "x"), pause=self._valid)
        self.wr = StreamDriver(self.dut, "wr", self.clock, stream_codec(self.design, "wr"), pause=self._valid)
        self.h = StreamSink(self.dut, "h", self.clock, stream_codec(self.design, "h"), pause=self._ready,
                            callback=self.received.append)

    def now_cycles(self) -> int:
        from cocotb.utils import get_sim_time

        return int(get_sim_time("ns")) // 10

    def _busy(self) -> bool:
        v = self.dut.busy.value
        return bool(int(v)) if v.is_resolvable else False

    async def load(self, words: list[dict]) -> None:
        if self._busy():
            raise RuntimeError("memories are written only while the tile is idle")
        self.wr.send_many(words)
        await self.wr.wait_idle()
        await self._cycles(DRAIN_CYCLES)

    async def _cycles(self, n: int) -> None:
        from cocotb.triggers import ClockCycles

        await ClockCycles(self.clock, n)

    def read_counters(self) -> dict:
        return {name: int(getattr(self.dut, name).value) for name in self.counter_names}

    async def run_pass(self, sequences, controls: dict, *, timeout_cycles: int):
        for name, value in controls.items():
            if name in self.ports:
                getattr(self.dut, name).value = value
        self.dut.clear_counters.value = 1
        await self._cycles(1)
        self.dut.clear_counters.value = 0
        start = self.now_cycles()
        self.received.clear()
        expect = sum(seq.shape[0] for seq in sequences) * self.h_per_step
        for seq in sequences:
            self.x.send_many(sequence_beats(seq))
        try:
            await wait_until(self.dut, lambda: len(self.received) >= expect and self.x.idle and not self._busy(),
                             timeout_cycles, f"{expect} h beats and an idle tile")
        except AssertionError as e:     # recorded in the result (the lost beats are the scoreboard's)
            self._errors.append(str(e))
        await self._cycles(DRAIN_CYCLES)   # anything more is extra
        return list(self.received), self.read_counters(), self.now_cycles() - start
