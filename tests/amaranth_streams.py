"""Stream driver / sink for Amaranth-simulator testbenches (random valid gaps and back-pressure)."""

from __future__ import annotations

import random

from amaranth.sim import Simulator


async def drive(ctx, port, payloads, rng: random.Random | None = None, gap: float = 0.0):
    """Send each payload (a dict/list/int accepted by the payload layout's ``const``) on ``port``;
    before each item, idle for a random number of cycles with probability ``gap``."""
    for payload in payloads:
        while rng is not None and rng.random() < gap:
            await ctx.tick()
        ctx.set(port.payload, payload)
        ctx.set(port.valid, 1)
        await ctx.tick().until(port.ready)
        ctx.set(port.valid, 0)


async def collect(ctx, port, count: int, decode, rng: random.Random | None = None, stall: float = 0.0,
                  timeout: int = 1_000_000):
    """Take ``count`` items from ``port`` (``decode(payload_const)`` of each), holding ``ready`` low on
    a random fraction ``stall`` of the cycles; returns ``(items, cycles)``."""
    items, cycles = [], 0
    while len(items) < count:
        ready = not (rng is not None and rng.random() < stall)
        ctx.set(port.ready, ready)
        _, _, valid, payload = await ctx.tick().sample(port.valid, port.payload)
        cycles += 1
        if ready and valid:
            items.append(decode(payload))
        if cycles > timeout:
            raise TimeoutError(f"only {len(items)} of {count} items after {cycles} cycles")
    ctx.set(port.ready, 0)
    # nothing extra may follow
    for _ in range(8):
        ctx.set(port.ready, 1)
        _, _, valid = await ctx.tick().sample(port.valid)
        assert not valid, "the unit produced more items than it was given"
    return items, cycles


def run(dut, *testbenches, vcd: str | None = None):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for tb in testbenches:
        sim.add_testbench(tb)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
