"""cocotb testbench of the CREW blocks (run through sim.runner; see tests/test_hw_crew_cocotb.py).

On a :class:`hw.crew_sum.CrewSumUnit` (run with ``testcase="crew_sum_random,crew_sum_back_to_back"``):

crew_sum_random      -- the phases of :func:`sim.crew_vectors.crew_sum_phases` (params ``cfg``, ``lanes``,
                        ``multipliers``, ``unique_max``, ``rows``, ``neurons``, ``phases``, ``seed``): each
                        phase's bank writes with random gaps, then its beats with random valid gaps while
                        its ``during`` writes go to the rows it does not read; ``o`` under random
                        back-pressure (``valid_prob``, ``ready_prob``); every output bit-exact in order.
crew_sum_back_to_back -- the banks filled, then beats back to back with ``o`` always ready: no input stall,
                        every result ``latency`` cycles after its neuron's last beat.

On a :class:`sim.crew_vectors.ProductHarness` (``testcase="product_stage_steps"``):

product_stage_steps  -- per step of ``params["steps"]``: its ``wr`` writes (random gaps), the controls, a
                        ``start`` pulse; every ``writes`` transfer until ``done`` must be exactly the
                        step's ``expected`` [addr, lane, product] (each written once), ``done`` must rise
                        ``latency + slots * groups`` cycles after ``start``, ``count_products`` must
                        follow ``writes.valid``, and ``step_reset`` must drop ``done``.
"""

from __future__ import annotations

import random

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from hw.tile_params import CrewShape
from sim.crew_vectors import crew_sum_phases
from sim.runner import load_design, load_params
from sim.scoreboard import Scoreboard
from sim.streams import CycleCounter, StreamDriver, StreamSink, start_clock_and_reset, stream_codec, wait_until
from sim.unit_vectors import config_by_name


async def _write(dut, port: str, codec, items, rng: random.Random | None = None, gap: float = 0.0) -> None:
    """Each item on the always-ready input stream ``port`` (valid and payload, no ready) for one cycle,
    with random idle cycles (probability ``gap``) before it."""
    valid, payload = getattr(dut, f"{port}__valid"), getattr(dut, f"{port}__payload")
    for item in items:
        while rng is not None and rng.random() < gap:
            await RisingEdge(dut.clk)
        payload.value = codec.pack(item)
        valid.value = 1
        await RisingEdge(dut.clk)
        valid.value = 0


def _phases(params):
    crew = CrewShape(params["unique_max"], params["multipliers"])
    return crew_sum_phases(config_by_name(params["cfg"]), params["lanes"], crew, params["rows"],
                           params["neurons"], params["phases"], params["seed"])


async def _reset_sum(dut) -> None:
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    dut.writes__valid.value = 0
    await start_clock_and_reset(dut)


@cocotb.test()
async def crew_sum_random(dut):
    params, design = load_params(), load_design()
    phases = _phases(params)
    await _reset_sum(dut)
    rng = random.Random(params["seed"])
    sb = Scoreboard("crew_sum.o")
    sb.expect_many([e for ph in phases for e in ph["expected"]])
    sink = StreamSink(dut, "o", dut.clk, stream_codec(design, "o"), rng=random.Random(rng.random()),
                      ready_prob=params["ready_prob"], callback=sb.receive)
    driver = StreamDriver(dut, "i", dut.clk, stream_codec(design, "i"), rng=random.Random(rng.random()),
                          valid_prob=params["valid_prob"])
    writes = stream_codec(design, "writes")
    gap = 1.0 - params["valid_prob"]
    for ph in phases:
        await _write(dut, "writes", writes, ph["before"], rng, gap)
        during = cocotb.start_soon(_write(dut, "writes", writes, ph["during"], random.Random(rng.random()), 0.5))
        driver.send_many(ph["beats"])
        await driver.wait_idle()
        await during
    total = sum(len(ph["expected"]) for ph in phases)
    await wait_until(dut, lambda: sb.received >= total, 100 * sum(len(ph["beats"]) for ph in phases) + 100,
                     "the outputs")
    for _ in range(16):   # anything extra would show up here
        await RisingEdge(dut.clk)
    assert not sink.protocol_errors, sink.protocol_errors
    sb.check()
    dut._log.info("crew_sum: %d phases, %d outputs bit-exact", len(phases), sb.matched)


@cocotb.test()
async def crew_sum_back_to_back(dut):
    params, design = load_params(), load_design()
    ph = _phases(dict(params, phases=1))[0]
    await _reset_sum(dut)
    await _write(dut, "writes", stream_codec(design, "writes"), ph["before"])
    sb = Scoreboard("crew_sum.o back to back")
    sb.expect_many(ph["expected"])
    counter, in_cycles = CycleCounter(dut.clk), []
    sink = StreamSink(dut, "o", dut.clk, stream_codec(design, "o"), ready_prob=1.0, callback=sb.receive,
                      counter=counter)
    driver = StreamDriver(dut, "i", dut.clk, stream_codec(design, "i"), valid_prob=1.0, counter=counter,
                          on_send=lambda item, cycle: in_cycles.append(cycle))
    driver.send_many(ph["beats"])
    await wait_until(dut, lambda: sb.received >= len(ph["expected"]), 4 * len(ph["beats"]) + 100, "the outputs")
    for _ in range(16):
        await RisingEdge(dut.clk)
    sb.check()
    assert len(in_cycles) == len(ph["beats"])
    assert in_cycles == list(range(in_cycles[0], in_cycles[0] + len(in_cycles))), "input stalled"
    ends = [in_cycles[k] for k, beat in enumerate(ph["beats"]) if beat["last"]]
    out_cycles = sink.cycles
    latencies = {o - e for o, e in zip(out_cycles, ends, strict=True)}
    assert latencies == {params["latency"]}, f"latencies {sorted(latencies)}, documented {params['latency']}"


@cocotb.test()
async def product_stage_steps(dut):
    params, design = load_params(), load_design()
    rng = random.Random(params["seed"])
    for name in ("start", "step_reset", "first_step", "read_bank", "h_bank", "n_x", "slot", "wr__valid"):
        getattr(dut, name).value = 0
    await start_clock_and_reset(dut)
    wr_codec, out_codec = stream_codec(design, "wr"), stream_codec(design, "writes")
    M, groups, latency = params["multipliers"], params["groups"], params["latency"]
    for k, st in enumerate(params["steps"]):
        what = f"step {k} ({ {n: st[n] for n in ('slot', 'n_x', 'read_bank', 'h_bank', 'first_step')} })"
        await _write(dut, "wr", wr_codec, st.get("wr", ()), rng, 0.3)
        for name in ("slot", "n_x", "read_bank", "h_bank", "first_step"):
            getattr(dut, name).value = st[name]
        dut.start.value = 1
        await RisingEdge(dut.clk)
        dut.start.value = 0
        products, done_at, counted, cycle = {}, None, 0, 1
        limit = latency + st["slots"] * groups + 64
        while done_at is None or cycle <= done_at + 6:
            await ReadOnly()
            valid, count, done = int(dut.writes__valid.value), int(dut.count_products.value), int(dut.done.value)
            assert count == valid, f"{what}: count_products {count} with writes.valid {valid} at cycle {cycle}"
            counted += count
            if valid:
                assert done_at is None, f"{what}: a product write after done"
                wr = out_codec.unpack(int(dut.writes__payload.value))
                for j, v in enumerate(wr["products"]):
                    key = (wr["addr"], wr["group"] * M + j)
                    assert key not in products, f"{what}: bank address {key[0]} lane {key[1]} written twice"
                    products[key] = v
            if done and done_at is None:
                done_at = cycle
            elif done_at is not None:
                assert done, f"{what}: done fell at cycle {cycle} before step_reset"
            await RisingEdge(dut.clk)
            cycle += 1
            assert cycle < limit, f"{what}: no done after {cycle} cycles"
        assert done_at == latency + st["slots"] * groups, \
            f"{what}: done {done_at} cycles after start, expected {latency} + {st['slots']} * {groups}"
        assert counted == st["slots"] * groups, f"{what}: {counted} product groups, expected {st['slots'] * groups}"
        expected = {(a, lane): v for a, lane, v in st["expected"]}
        extra, missing = sorted(set(products) - set(expected))[:6], sorted(set(expected) - set(products))[:6]
        assert not extra and not missing, f"{what}: unexpected writes {extra}, missing {missing}"
        bad = [(key, expected[key], products[key]) for key in expected if products[key] != expected[key]]
        assert not bad, f"{what}: {len(bad)} products differ; first ((addr, lane), expected, got): {bad[:5]}"
        dut.step_reset.value = 1
        await RisingEdge(dut.clk)
        dut.step_reset.value = 0
        await RisingEdge(dut.clk)
        await ReadOnly()
        assert not int(dut.done.value), f"{what}: done stayed high after step_reset"
        await RisingEdge(dut.clk)
        dut._log.info("%s: %d products in %d cycles", what, len(products), done_at)
