"""cocotb testbench of hw.memo_table.MemoTable (run through sim.runner; parameters in load_params()).

golden_steps   -- tile-like use, scored against golden_model.memo.MemoTable step by step: per sequence a
                  clear, then per step a lookup of every neuron (random order) and an update for each miss.
random_traffic -- lookups, updates, clears and control changes at random cycles on all ports at once
                  (hazards: update and lookup of one entry in the same or adjacent cycles), scored against
                  the cycle-ordered reference memo_ref.MemoTableRef built on intops.within_threshold.

params: seed, sequences, steps, phases ([valid_prob, ready_prob] ...), traffic (lookups of random_traffic)."""

from __future__ import annotations

import random

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

from golden_model import memo as gmemo
from sim.runner import load_design, load_params
from sim.scoreboard import Scoreboard
from sim.streams import CycleCounter, StreamDriver, StreamSink, start_clock_and_reset, stream_codec, wait_until
from sim.testbenches.checks import back_to_back
from sim.testbenches.memo_ref import FORMS, MemoTableRef
from sim.testbenches.memo_steps import MemoSteps, theta_choices


def _idle_inputs(dut) -> None:
    """Every input driven (idle) from time 0: the pipeline advances on ``response.ready`` combinationally,
    so an undriven (Z) ready or valid before the stream drivers start would reach its registers."""
    for name in ("clear", "enable", "theta", "form", "lookup__valid", "update__valid", "response__ready"):
        getattr(dut, name).value = 0


@cocotb.test()
async def golden_steps(dut):
    p, design = load_params(), load_design()
    cfg = design["config"]
    entries, y_bits, b_bits, cache_update = cfg["entries"], cfg["y_bits"], cfg["b_bits"], cfg["cache_update"]
    rng = random.Random(p.get("seed", 1))
    y_lo, y_hi = -(1 << (y_bits - 1)), (1 << (y_bits - 1)) - 1
    b_lo, b_hi = -(1 << (b_bits - 1)), (1 << (b_bits - 1)) - 1
    _idle_inputs(dut)
    await start_clock_and_reset(dut)
    bench = MemoSteps(dut, design, rng, f"memo_table({entries},{y_bits},{b_bits},{cache_update}).response",
                      p.get("phases", [[1.0, 1.0]]))
    async for seq, form, theta, enable in bench.sequences(p.get("sequences", 4)):
        kind = gmemo.PREDICTED if enable else gmemo.OFF
        golden = gmemo.MemoTable(gmemo.MemoPolicy(kind, 0.0, form, cache_update), 1, entries,
                                 np.array([[theta]]))
        b = np.array([min(b_hi, max(b_lo, rng.choice([0, 0, b_lo, b_hi, rng.randint(-8, 8),
                                                          rng.randint(b_lo, b_hi)])))
                      for _ in range(entries)], dtype=np.int64)
        for step in range(p.get("steps", 10)):
            # BNN outputs drift slowly (hits) with jumps (misses) and corners (0, most negative/positive)
            for j in range(entries):
                r = rng.random()
                if r < 0.1:
                    b[j] = rng.choice([0, b_lo, b_hi])
                elif r < 0.25:
                    b[j] = rng.randint(b_lo, b_hi)
                elif r < 0.7:
                    b[j] = min(b_hi, max(b_lo, b[j] + rng.randint(-2, 2)))
            y = np.array([rng.choice([y_lo, y_hi, 0, rng.randint(y_lo, y_hi)]) if rng.random() < 0.2
                          else rng.randint(y_lo, y_hi) for _ in range(entries)], dtype=np.int64)
            out, hit = golden.apply(slice(None), y[None], b[None], np.array([True]))
            bench.computed = {j: {"index": j, "y": int(y[j]), "b": int(b[j])} for j in range(entries)}
            for j in rng.sample(range(entries), entries):
                h = bool(hit[0, j])
                bench.lookup({"index": j, "b": int(b[j])},
                             {"hit": int(h), "y": int(out[0, j]) if h else 0, "index": j, "b": int(b[j])},
                             f"seq {seq} step {step} theta {theta} {form} enable {enable}")
            await bench.end_step(f"step {step}")
    await bench.finish("golden_steps")


def _expect_in_cycle_order(sb, ref, updates, lookups, controls) -> None:
    """Replay the transfers on the reference in cycle order (clear, then update, then lookup) and put
    every lookup's expected response on the scoreboard."""
    by_cycle: dict[int, list] = {}
    for c, item in updates:
        by_cycle.setdefault(c, []).append((1, item))
    for c, item in lookups:
        by_cycle.setdefault(c, []).append((2, item))
    last = max(by_cycle) if by_cycle else 0
    for c in range(min(controls), last + 1):
        ctl_c = controls[c]
        if ctl_c["clear"]:
            ref.clear()
        for kind, item in sorted(by_cycle.get(c, []), key=lambda e: e[0]):
            if kind == 1:
                ref.update(item["index"], item["y"], item["b"])
            else:
                sb.expect(ref.lookup(item["index"], item["b"], ctl_c["enable"], ctl_c["theta"], ctl_c["form"]),
                          f"cycle {c} {ctl_c}")


@cocotb.test()
async def random_traffic(dut):
    p, design = load_params(), load_design()
    cfg = design["config"]
    entries, y_bits, b_bits, cache_update = cfg["entries"], cfg["y_bits"], cfg["b_bits"], cfg["cache_update"]
    rng = random.Random(p.get("seed", 1) + 1000)
    index_max = (1 << max(1, (entries - 1).bit_length())) - 1    # out-of-range indices included
    y_lo, y_hi = -(1 << (y_bits - 1)), (1 << (y_bits - 1)) - 1
    b_lo, b_hi = -(1 << (b_bits - 1)), (1 << (b_bits - 1)) - 1
    hot = list(range(min(entries, 4)))                              # concentrate traffic for hazards

    def index():
        return rng.choice(hot) if rng.random() < 0.5 else rng.randint(0, index_max)

    def bval():
        if rng.random() < 0.7:
            return min(b_hi, max(b_lo, rng.randint(-3, 3)))
        return rng.choice([0, b_lo, b_hi, rng.randint(b_lo, b_hi)])

    _idle_inputs(dut)
    await start_clock_and_reset(dut)
    counter = CycleCounter(dut.clk)
    lookups, updates, controls, received = [], [], {}, []
    look = StreamDriver(dut, "lookup", dut.clk, stream_codec(design, "lookup"), rng=random.Random(rng.random()),
                        counter=counter, on_send=lambda item, c: lookups.append((c, item)))
    upd = StreamDriver(dut, "update", dut.clk, stream_codec(design, "update"), rng=random.Random(rng.random()),
                       counter=counter, on_send=lambda item, c: updates.append((c, item)))
    sink = StreamSink(dut, "response", dut.clk, stream_codec(design, "response"),
                      rng=random.Random(rng.random()), callback=received.append)
    n = p.get("traffic", 1000)
    done = False

    async def control():
        crng = random.Random(rng.random())
        state = {"clear": 0, "enable": 1, "theta": 64, "form": 0}
        edge, read_only = RisingEdge(dut.clk), ReadOnly()
        while not done:
            state["clear"] = int(crng.random() < 0.02)
            if crng.random() < 0.05:
                state["enable"] = int(crng.random() < 0.85)
            if crng.random() < 0.05:
                state["form"] = crng.randint(0, 1)
            if crng.random() < 0.3:   # theta is sampled with each lookup (the front ends give each gate its own)
                state["theta"] = crng.choice(theta_choices(FORMS[state["form"]]))
            for k, v in state.items():
                getattr(dut, k).value = v
            await read_only
            controls[counter.cycle] = dict(state)
            await edge

    # Reset does not invalidate the entries (the previous test's are still valid): clear first, as the
    # reference starts empty. Memories are not reset: with "always" b_m is written by lookups only, so
    # prime every entry's b_m to the reference's 0 first (a neuron is always looked up before an update).
    dut.clear.value = 1
    await RisingEdge(dut.clk)
    dut.clear.value = 0
    dut.enable.value = 0
    look.send_many({"index": j, "b": 0} for j in range(entries))
    await wait_until(dut, lambda: len(received) == entries, 20 * entries + 100, "priming")
    lookups.clear()
    received.clear()
    ctl = cocotb.start_soon(control())
    for lp, rp in p.get("phases", [[1.0, 1.0]]):
        look.valid_prob, upd.valid_prob, sink.ready_prob = lp, lp, rp
        for _ in range(n // len(p.get("phases", [[1, 1]]))):
            look.send({"index": index(), "b": bval()})
            if rng.random() < 0.6:
                upd.send({"index": index(), "y": rng.randint(y_lo, y_hi), "b": bval()})
        await wait_until(dut, lambda: look.idle and upd.idle and len(received) == len(lookups), 100 * n + 100,
                    "traffic")
    for _ in range(5):
        await RisingEdge(dut.clk)
    done = True
    await ctl

    sb = Scoreboard(f"memo_table({entries},{y_bits},{b_bits},{cache_update}).response random_traffic")
    _expect_in_cycle_order(sb, MemoTableRef(entries, cache_update), updates, lookups, controls)
    for item in received:
        sb.receive(item)
    assert not sink.protocol_errors, sink.protocol_errors
    sb.check()
    hits = sum(r["hit"] for r in received)
    dut._log.info("random_traffic: %d lookups (%d hits), %d updates checked", len(received), hits, len(updates))


@cocotb.test()
async def throughput(dut):
    """Back to back lookups, ready high: one decision per cycle, response LATENCY cycles after the lookup."""
    p, design = load_params(), load_design()
    _idle_inputs(dut)
    await start_clock_and_reset(dut)
    entries = design["config"]["entries"]
    # a sweep started by the previous test's clears (reset does not stop it) ends within `entries` cycles
    await wait_until(dut, lambda: dut.update__ready.value == 1, entries + 10, "the end of a sweep")
    await back_to_back(dut, design, "lookup", "response", [{"index": k % entries, "b": 0} for k in range(200)],
                       p["latency"])
