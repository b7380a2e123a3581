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


def check_stream_unit(dut, inputs, expected, *, seed: int = 0, gap: float = 0.3, stall: float = 0.3):
    """Drive ``inputs`` into ``dut.i`` with random valid gaps, take ``len(expected)`` items from ``dut.o``
    under random back-pressure, and assert every output equals the expected dict (field -> int)."""
    names = list(expected[0])
    result = {}

    def decode(payload):
        return {n: int(payload[n]) for n in names}

    async def producer(ctx):
        await drive(ctx, dut.i, inputs, random.Random(seed), gap)

    async def consumer(ctx):
        result["items"] = await collect(ctx, dut.o, len(expected), decode, random.Random(seed + 1), stall)

    run(dut, producer, consumer)
    items, cycles = result["items"]
    bad = [(k, want, got) for k, (want, got) in enumerate(zip(expected, items, strict=True)) if want != got]
    assert not bad, f"{len(bad)} of {len(expected)} outputs differ; first (index, expected, got): {bad[:5]}"
    return cycles


def transfer_cycles(dut, inputs, n_outputs: int, *, before=None, outputs: list | None = None, decode=None):
    """Drive ``inputs`` back to back with the output always ready; returns the cycle numbers of every
    input transfer and every output transfer (and asserts ``i.ready`` never drops). ``before(ctx)``, if
    given, runs first (e.g. loads the unit's memories; cycles count from its end); with ``outputs`` (a
    list), ``decode(payload)`` of every output is appended to it."""
    result = {}

    async def bench(ctx):
        in_cycles, out_cycles = [], []
        k, cycle = 0, 0
        ctx.set(dut.o.ready, 1)
        if before is not None:
            await before(ctx)
        while len(out_cycles) < n_outputs:
            if k < len(inputs):
                ctx.set(dut.i.payload, inputs[k])
                ctx.set(dut.i.valid, 1)
            else:
                ctx.set(dut.i.valid, 0)
            _, _, i_valid, i_ready, o_valid, o_payload = await ctx.tick().sample(dut.i.valid, dut.i.ready,
                                                                                 dut.o.valid, dut.o.payload)
            if i_valid:
                assert i_ready, f"i.ready dropped at cycle {cycle} with the output always ready"
                in_cycles.append(cycle)
                k += 1
            if o_valid:
                out_cycles.append(cycle)
                if outputs is not None:
                    outputs.append(decode(o_payload))
            cycle += 1
            assert cycle < 100 * (len(inputs) + 10), "timeout"
        result["cycles"] = in_cycles, out_cycles

    run(dut, bench)
    return result["cycles"]


async def send_step(ctx, port, values):
    """The elements of one step on an always-ready element port (:func:`hw.tile_rows.element_layout`),
    one per cycle: ``index`` k, ``last`` on the final one; ``valid`` low after them."""
    for k, value in enumerate(values):
        ctx.set(port.valid, 1)
        ctx.set(port.payload, {"data": value, "index": k, "last": int(k == len(values) - 1)})
        await ctx.tick()
    ctx.set(port.valid, 0)


def sign_bits_after_steps(dut, steps, swap_each: bool = True) -> list[int]:
    """Write each step's elements (``index``, ``last`` on the final one) into a ``hw.tile_bnn.SignBits``,
    one per cycle, then idle a cycle (with ``swap`` high when ``swap_each``) and read ``bits``; without
    swap_each one swap follows the last step and its ``bits`` are read too. Returns the bits read."""
    got = []

    async def bench(ctx):
        for step in steps:
            await send_step(ctx, dut.i, step)
            ctx.set(dut.swap, int(swap_each))
            await ctx.tick()
            ctx.set(dut.swap, 0)
            got.append(ctx.get(dut.bits))
        if not swap_each:
            ctx.set(dut.swap, 1)
            await ctx.tick()
            ctx.set(dut.swap, 0)
            got.append(ctx.get(dut.bits))

    run(dut, bench)
    return got
