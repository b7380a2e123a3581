"""The accelerator tile in the Amaranth simulator: a thin transport of :mod:`sim.tile_protocol`.

:func:`run_sequences` loads memories through ``wr`` and runs sequences one after another, each with its
own controls and counters cleared first, with valid gaps on x and back-pressure on h from pause
generators (:func:`sim.harness.pauses`). Used by ``tests/test_hw_tile.py``.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field

import numpy as np
from amaranth.hdl import Elaboratable, Module, ResetInserter, Signal
from amaranth.lib import data

from hw.tile_counters import counter_names

from .harness import pauses
from .tile_protocol import chain_controls, controls, sequence_beats

__all__ = ["ChainRun", "SequenceRun", "TileSequence", "run_chain", "run_reset_mid_sequence", "run_sequences"]


@dataclass
class TileSequence:
    """One sequence and the controls it runs with."""
    x: np.ndarray                  # (steps, n_x) int
    slot: int = 0
    memo_enable: int = 0
    theta: int | tuple[int, ...] = 0   # one register value for every gate, or one per gate
    form: int = 0
    end: bool = True               # False: the final x element goes without `last` (a fault test)

    def beats(self) -> list[dict]:
        beats = sequence_beats(self.x)
        beats[-1]["last"] = int(self.end)
        return beats

    def controls(self, gates: int = 1) -> dict:
        """The controls for a tile whose ``theta`` holds ``gates`` thresholds (:func:`theta_gates`)."""
        return controls(slot=self.slot, n_x=self.x.shape[1], memo_enable=self.memo_enable, theta=self.theta,
                        form=self.form, gates=gates)


def theta_gates(top) -> int:
    """The thresholds a tile's (or a layer chain's per-layer) ``theta`` input holds."""
    return top.params.gates if isinstance(top.params.theta_shape, data.ArrayLayout) else 1


def set_controls(ctx, tile, seq: TileSequence) -> None:
    """Set a sequence's controls on the tile's inputs (``theta`` as its packed value)."""
    for name, value in seq.controls(theta_gates(tile)).items():
        port = getattr(tile, name)
        ctx.set(port.as_value() if isinstance(port, data.View) else port, value)


@dataclass
class SequenceRun:
    h: list = field(default_factory=list)          # per sequence: (steps, H) int array
    counters: list = field(default_factory=list)   # per sequence: every counter of the tile
    lasts: list = field(default_factory=list)      # per sequence: indices of outputs with `last`


async def _write(ctx, tile, words) -> None:
    """Write ``words`` (wr payload dicts) through the tile's ``wr``, each held until taken."""
    for w in words:
        ctx.set(tile.wr.payload, w)
        ctx.set(tile.wr.valid, 1)
        await ctx.tick().until(tile.wr.ready)
    ctx.set(tile.wr.valid, 0)


async def _send(ctx, x, beats, pause) -> None:
    """Offer ``beats`` on the stream ``x`` one after another, each held until taken, with valid gaps from
    the pause generator ``pause`` (None: back to back)."""
    for beat in beats:
        while pause is not None and next(pause):
            ctx.set(x.valid, 0)
            await ctx.tick()
        ctx.set(x.payload, beat)
        ctx.set(x.valid, 1)
        await ctx.tick().until(x.ready)
    ctx.set(x.valid, 0)


async def _receive(ctx, h, count: int, pause, timeout: int, what: str, why: str = "") -> tuple[list, list, int]:
    """Take ``count`` items from the stream ``h`` under back-pressure from ``pause``: (their data, the
    indices of those with ``last``, cycles taken); a TimeoutError after ``timeout`` cycles names ``what``
    (and the likely cause ``why``)."""
    items, lasts, cycles = [], [], 0
    while len(items) < count:
        ready = not (pause is not None and next(pause))
        ctx.set(h.ready, ready)
        _, _, valid, payload = await ctx.tick().sample(h.valid, h.payload)
        cycles += 1
        if cycles > timeout:
            raise TimeoutError(f"{what}: {len(items)} of {count} outputs after {cycles} cycles{why}")
        if ready and valid:
            if payload.last:
                lasts.append(len(items))
            items.append(int(payload.data))
    ctx.set(h.ready, 0)
    return items, lasts, cycles


def run_sequences(tile, sequences, *, writes=(), seed: int = 0, gap: float = 0.0, stall: float = 0.0,
                  timeout: int = 200_000, vcd: str | None = None, module=None, monitors=(),
                  x_pauses=None, h_pauses=None, writes_during=()) -> SequenceRun:
    """Load ``writes`` (wr payload dicts), then run ``sequences`` (:class:`TileSequence`) one after another
    on ``tile`` (an ``hw.tile.Tile``): valid gaps on x with probability ``gap`` per cycle, back-pressure on
    h with probability ``stall``. Returns each sequence's outputs, counters and ``last`` positions.

    x_pauses, h_pauses -- pause generators (one bool per cycle, True = pause) used instead of ``gap`` and
              ``stall``, e.g. a long starvation of x or back-pressure on h in the middle of a sequence
    writes_during -- wr payloads offered while the first sequence runs (the tile holds them off until it
              is idle); the next sequence starts once they are all written

    module -- what to simulate (default ``tile``; e.g. ``tile.elaborate(None)`` to probe its units)
    monitors -- more Amaranth testbenches run alongside in the background (e.g. probes sampling every cycle,
              looping for ever: the run ends with the sequences)"""
    from amaranth.sim import Simulator

    H = tile.params.hidden
    res = SequenceRun()
    valid_pause = x_pauses if x_pauses is not None else pauses(1.0 - gap, rng=random.Random(seed))
    ready_pause = h_pauses if h_pauses is not None else pauses(1.0 - stall, rng=random.Random(seed + 1))
    done = {"n": 0, "writes": not writes_during}

    async def writer(ctx):
        await _write(ctx, tile, writes)
        for k, seq in enumerate(sequences):
            while ctx.get(tile.busy) or done["n"] < len(res.h) or (k and not done["writes"]):
                await ctx.tick()                                    # idle, then clear and set the controls
            ctx.set(tile.clear_counters, 1)
            await ctx.tick()
            ctx.set(tile.clear_counters, 0)
            set_controls(ctx, tile, seq)
            res.h.append(None)
            await _send(ctx, tile.x, seq.beats(), valid_pause)
            while done["n"] < len(res.h):                               # the outputs are collected
                await ctx.tick()
            res.counters.append({n: ctx.get(getattr(tile, n)) for n in counter_names(tile.params)})

    async def reader(ctx):
        cycles = 0
        for k, seq in enumerate(sequences):
            steps = seq.x.shape[0]
            items, lasts, taken = await _receive(ctx, tile.h, steps * H, ready_pause, timeout - cycles,
                                                 f"h of sequence {k} (of {len(sequences)})",
                                                 " (the tile waits for x: input cut short?)")
            cycles += taken
            if lasts != [steps * H - 1]:   # the tile waits for more x: busy, it takes no new sequence or wr
                raise RuntimeError(f"h of sequence {k} (of {len(sequences)}): `last` on outputs {lasts}, not on "
                                   f"the final one ({steps * H - 1}): the x stream did not end the sequence; "
                                   f"the tile stays busy until a reset")
            res.h[done["n"]] = np.array(items, dtype=np.int64).reshape(steps, H)
            res.lasts.append(lasts)
            done["n"] += 1
        ctx.set(tile.h.ready, 1)                                        # nothing more may come
        for _ in range(20):
            _, _, valid = await ctx.tick().sample(tile.h.valid)
            assert not valid, "the tile produced more outputs than expected"

    async def mid_run_writer(ctx):
        await ctx.tick().until(tile.busy)                           # a sequence runs
        await _write(ctx, tile, writes_during)
        done["writes"] = True

    sim = Simulator(tile if module is None else module)
    sim.add_clock(1e-8)
    for bench in (writer, reader, *((mid_run_writer,) if writes_during else ())):
        sim.add_testbench(bench)
    for bench in monitors:
        sim.add_testbench(bench, background=True)
    with sim.write_vcd(vcd) if vcd else contextlib.nullcontext():
        sim.run()
    return res


class _WithReset(Elaboratable):
    """``tile`` with a synchronous reset input ``rst`` (as the board's reset command drives it)."""

    def __init__(self, tile):
        self.tile, self.rst = tile, Signal()

    def elaborate(self, platform):
        m = Module()
        m.submodules.tile = ResetInserter(self.rst)(self.tile)
        return m


def run_reset_mid_sequence(tile, cut: TileSequence, after_steps: int, then: TileSequence, *, writes=(),
                           timeout: int = 200_000) -> dict:
    """Load ``writes``, start ``cut`` and reset the tile once ``after_steps`` of its steps' h are out (its
    later x beats are not sent), then run ``then``, in one simulation. Returns ``cut_h`` (the h out before
    the reset, (after_steps, H)), ``busy_after_reset`` (any cycle of the 20 after it), ``then`` (a
    :class:`SequenceRun` of one sequence)."""
    from amaranth.sim import Simulator

    H = tile.params.hidden
    top = _WithReset(tile)
    out = {"cut_h": [], "busy_after_reset": False, "then": SequenceRun()}
    state = {"reset": False}

    async def send(ctx, seq: TileSequence):
        set_controls(ctx, tile, seq)
        for beat in seq.beats():
            ctx.set(tile.x.payload, beat)
            ctx.set(tile.x.valid, 1)
            while not (await ctx.tick().sample(tile.x.ready))[2]:
                if state["reset"]:                   # the host abandons the sequence
                    ctx.set(tile.x.valid, 0)
                    return
        ctx.set(tile.x.valid, 0)

    async def receive(ctx, n: int) -> tuple[list, list]:
        items, lasts = [], []
        ctx.set(tile.h.ready, 1)
        for _ in range(timeout):
            if len(items) == n:
                return items, lasts
            _, _, valid, payload = await ctx.tick().sample(tile.h.valid, tile.h.payload)
            if valid:
                lasts += [len(items)] if payload.last else []
                items.append(int(payload.data))
        raise TimeoutError(f"h: {len(items)} of {n} outputs after {timeout} cycles")

    async def host(ctx):
        await _write(ctx, tile, writes)
        state["loaded"] = True
        cut_h, _ = await receive(ctx, after_steps * H)
        ctx.set(top.rst, 1)
        state["reset"] = True
        await ctx.tick()
        ctx.set(top.rst, 0)
        for _ in range(20):
            _, _, busy, valid = await ctx.tick().sample(tile.busy, tile.h.valid)
            out["busy_after_reset"] |= bool(busy or valid)
        out["cut_h"] = np.array(cut_h, dtype=np.int64).reshape(after_steps, H)
        state["reset"] = False
        ctx.set(tile.clear_counters, 1)
        await ctx.tick()
        ctx.set(tile.clear_counters, 0)
        run = out["then"]
        run.h.append(None)
        state["then"] = True
        items, lasts = await receive(ctx, then.x.shape[0] * H)
        run.h[0] = np.array(items, dtype=np.int64).reshape(-1, H)
        run.lasts.append(lasts)
        run.counters.append({n: ctx.get(getattr(tile, n)) for n in counter_names(tile.params)})

    async def sender(ctx):
        while not state.get("loaded"):               # a sequence started now would hold wr off
            await ctx.tick()
        await send(ctx, cut)
        while not state.get("then"):
            await ctx.tick()
        await send(ctx, then)

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(host)
    sim.add_testbench(sender, background=True)
    sim.run()
    return out


@dataclass
class ChainRun:
    h: np.ndarray          # (steps, D*H) the last layer's outputs
    counters: dict         # the tile's counters, summed over the passes
    cycles: int            # from the first x beat offered to the final h taken


def run_chain(chain, sequences, *, writes=(), memo_enable: int = 0, theta=(), form: int = 0, seed: int = 0,
              gap: float = 0.0, stall: float = 0.0, timeout: int = 400_000) -> list[ChainRun]:
    """Run layer-0 ``sequences`` (each (steps, n_x) ints) one after another through a
    :class:`hw.layer_chain.LayerChain`: load ``writes``, set the controls (``theta`` one entry per layer,
    as :func:`sim.tile_protocol.chain_controls` takes it), then per sequence clear the counters, stream x
    with valid gaps (probability ``gap``) and take h with back-pressure (probability ``stall``)."""
    from amaranth.sim import Simulator

    width = chain.shape.directions * chain.params.hidden
    valid_pause = pauses(1.0 - gap, rng=random.Random(seed))
    ready_pause = pauses(1.0 - stall, rng=random.Random(seed + 1))
    runs: list[ChainRun] = []
    started = {"n": 0}

    async def host(ctx):
        await _write(ctx, chain, writes)
        for name, value in (("memo_enable", memo_enable), ("form", form)):
            ctx.set(getattr(chain, name), value)
        packed = chain_controls(memo_enable=memo_enable, theta=list(theta) or [0] * chain.shape.layers,
                                gates=theta_gates(chain))["theta"]
        ctx.set(chain.theta.as_value(), packed)
        for k, x in enumerate(sequences):
            while len(runs) < k:                   # the previous sequence's outputs are all taken
                await ctx.tick()
            ctx.set(chain.clear_counters, 1)
            await ctx.tick()
            ctx.set(chain.clear_counters, 0)
            started["n"] += 1
            await _send(ctx, chain.x, sequence_beats(x), valid_pause)

    async def reader(ctx):
        for k, x in enumerate(sequences):
            total = x.shape[0] * width
            while started["n"] <= k or not ctx.get(chain.x.valid):
                await ctx.tick()
            items, lasts, cycles = await _receive(ctx, chain.h, total, ready_pause, timeout, f"chain h of sequence {k}")
            assert lasts == [total - 1], f"`last` on outputs {lasts}, not on the final one only"
            while ctx.get(chain.busy):
                await ctx.tick()
            counters = {n: ctx.get(getattr(chain, n)) for n in chain.counter_outputs()}
            runs.append(ChainRun(np.array(items, dtype=np.int64).reshape(x.shape[0], width), counters, cycles))

    sim = Simulator(chain)
    sim.add_clock(1e-8)
    sim.add_testbench(host)
    sim.add_testbench(reader)
    sim.run()
    return runs
