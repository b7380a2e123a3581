# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the CREW blocks alone (docs/crew.md, *Hardware*): the adder lanes
(hw.crew_sum.CrewSumUnit) against bias + the fetched products under random valid gaps and back-pressure
and at full throughput; the product stage (hw.crew_products.ProductStage, in sim.crew_vectors.ProductHarness)
against v_i * unique_i[u] of random networks' memory images and of hand-made tables: the bank writes, the
cycles start -> done, first steps, short inputs (n_x < I_max), run-time table writes; bad parameters.
(The cocotb runs on Icarus and Verilator are in test_hw_crew_cocotb.py.)"""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth_streams import collect, run, transfer_cycles
from support import normal_network

from golden_model.crew import crew_tables
from golden_model.fixed_model import FixedPointNetwork
from hw.crew_products import ProductStage
from hw.crew_sum import CrewSumUnit
from hw.dot_product import DotProductUnit
from hw.tile_image import memory_image, product_slots
from hw.tile_memories import MemId
from hw.tile_params import CrewShape, TileParams
from sim.crew_vectors import ProductHarness, crew_sum_phases, decode_writes, product_reference, row_words
from sim.unit_vectors import CONFIGS

# ------------------------------------------------------------------------------------------- adder lanes

SUM_CASES = [  # (config, lanes, multipliers, U_max, rows)
    ("default", 2, 1, 3, 3),
    ("narrow", 1, 1, 1, 1),
    ("wide", 4, 2, 5, 2),
    ("shifts", 3, 3, 4, 4),
    ("default", 6, 2, 2, 5),
]


def _sum_id(c):
    return f"{c[0]}-L{c[1]}-M{c[2]}-U{c[3]}-R{c[4]}"


def _sum_unit(case):
    cfg_name, lanes, mult, unique, rows = case
    crew = CrewShape(unique, mult)
    return CrewSumUnit(lanes, rows * lanes, CONFIGS[cfg_name], crew, rows), crew


def _decode_out(payload):
    return {"acc": int(payload.acc), "preact": int(payload.preact)}


def _run_crew_sum(dut, phases, seed, gap, stall):
    """Every phase's ``before`` writes, then its beats with its ``during`` writes interleaved (random
    gaps on both), the output under random back-pressure; returns the outputs."""
    rng, expected = random.Random(seed), [e for ph in phases for e in ph["expected"]]
    result = {}

    async def producer(ctx):
        for ph in phases:
            for wr in ph["before"]:
                while rng.random() < gap:
                    await ctx.tick()
                ctx.set(dut.writes.payload, wr)
                ctx.set(dut.writes.valid, 1)
                await ctx.tick()
                ctx.set(dut.writes.valid, 0)
            beats, during, k, held = ph["beats"], list(ph["during"]), 0, False
            while k < len(beats) or during:
                if not held and k < len(beats) and rng.random() >= gap:
                    ctx.set(dut.i.payload, beats[k])
                    held = True
                ctx.set(dut.i.valid, held)
                write = bool(during) and rng.random() < 0.5
                if write:
                    ctx.set(dut.writes.payload, during.pop(0))
                ctx.set(dut.writes.valid, write)
                _, _, ready = await ctx.tick().sample(dut.i.ready)
                if held and ready:
                    held, k = False, k + 1
            ctx.set(dut.i.valid, 0)
            ctx.set(dut.writes.valid, 0)

    async def consumer(ctx):
        result["items"], _ = await collect(ctx, dut.o, len(expected), _decode_out, random.Random(seed + 1), stall)

    run(dut, producer, consumer)
    return result["items"], expected


@pytest.mark.parametrize("case", SUM_CASES, ids=[_sum_id(c) for c in SUM_CASES])
def test_crew_sum_bit_exact_with_gaps_and_backpressure(case):
    dut, crew = _sum_unit(case)
    phases = crew_sum_phases(CONFIGS[case[0]], case[1], crew, case[4], neurons=60, phases=3,
                             seed=case[1] * 10 + case[3])
    items, expected = _run_crew_sum(dut, phases, seed=case[3], gap=0.3, stall=0.35)
    bad = [(k, want, got) for k, (want, got) in enumerate(zip(expected, items, strict=True)) if want != got]
    assert not bad, f"{len(bad)} of {len(expected)} outputs differ; first (index, expected, got): {bad[:5]}"


@pytest.mark.parametrize("case", SUM_CASES[:3], ids=[_sum_id(c) for c in SUM_CASES[:3]])
def test_crew_sum_full_throughput_and_latency(case):
    dut, crew = _sum_unit(case)
    ph = crew_sum_phases(CONFIGS[case[0]], case[1], crew, case[4], neurons=40, phases=1, seed=5)[0]
    beats, expected, items = ph["beats"], ph["expected"], []

    async def fill(ctx):
        for wr in ph["before"]:
            ctx.set(dut.writes.payload, wr)
            ctx.set(dut.writes.valid, 1)
            await ctx.tick()
        ctx.set(dut.writes.valid, 0)

    ins, outs = transfer_cycles(dut, beats, len(expected), before=fill, outputs=items, decode=_decode_out)
    assert ins == list(range(len(beats))), "a bubble between beats"
    last = [k for k, b in enumerate(beats) if b["last"]]
    assert [o - ins[k] for o, k in zip(outs, last, strict=True)] == [dut.latency] * len(expected)
    assert dut.latency == DotProductUnit.latency
    assert items == expected


def test_crew_sum_layouts():
    dut, crew = _sum_unit(("default", 4, 2, 5, 3))
    cfg = CONFIGS["default"]
    assert dut.i.payload.shape().size == 4 * crew.index_bits + 2 + cfg.bias_bits + 1   # indices, row (0..2), bias, last
    w = dut.writes.payload.shape()
    assert w.size == 5 + 1 + 2 * (cfg.weight.bits + cfg.act.bits)   # addr (3 rows of stride 8), group, 2 products
    assert dut.writes.signature.always_ready


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"crew": None}, TypeError, "crew must be a hw.tile_params.CrewShape"),
    ({"crew": (4, 2)}, TypeError, "crew must be a hw.tile_params.CrewShape"),
    ({"crew": CrewShape(4, 3)}, ValueError, "3 multipliers do not divide the 4 lanes"),
    ({"rows": 0}, ValueError, "rows must be in 1"),
    ({"rows": 2.0}, TypeError, "rows must be an int"),
    ({"lanes": 0, "crew": CrewShape(4, 1)}, ValueError, "lanes must be in 1"),
    ({"config": None}, TypeError, "config must be"),
])
def test_crew_sum_bad_parameters(kwargs, exc, match):
    args = {"lanes": 4, "max_inputs": 8, "config": CONFIGS["default"], "crew": CrewShape(4, 2), "rows": 2}
    with pytest.raises(exc, match=match):
        CrewSumUnit(**(args | kwargs))


# ----------------------------------------------------------------------------------------- product stage

def _random_stage_cases(count: int, seed: int) -> list[tuple]:
    """Random small parameters: lanes 1..6 (at most the widest row part), M a divisor of L, U_max slack."""
    rng, cases = random.Random(seed), []
    while len(cases) < count:
        inputs, hidden = rng.randint(1, 7), rng.randint(1, 6)
        lanes = rng.randint(1, min(6, max(inputs, hidden)))
        mult = rng.choice([d for d in range(1, lanes + 1) if lanes % d == 0])
        cases.append((rng.choice(["lstm", "gru"]), inputs, hidden, rng.randint(1, 2), lanes, mult,
                      rng.randint(0, 2), 10 + len(cases)))
    return cases


STAGE_CASES = [  # (cell, inputs, hidden, layers, lanes, multipliers, U_max slack, seed)
    ("lstm", 3, 4, 1, 2, 1, 0, 1),
    ("gru", 5, 3, 2, 4, 2, 2, 2),     # two slots; slot 0 has fewer inputs than I_max
    ("lstm", 6, 5, 1, 3, 3, 1, 3),    # M = L
    ("gru", 2, 6, 2, 4, 1, 0, 4),     # I_max = H > the first layer's inputs; lanes past the inputs
    *_random_stage_cases(6, seed=2026),
]


def _stage_id(c):
    return f"{c[0]}-I{c[1]}-H{c[2]}-layers{c[3]}-L{c[4]}-M{c[5]}-slack{c[6]}"


def _stage_setup(case):
    cell, inputs, hidden, layers, lanes, mult, slack, seed = case
    nets = [FixedPointNetwork(normal_network(cell, inputs, hidden, layers=layers, seed=seed + 100 * k))
            for k in range(2)]   # the second one's table is loaded through wr
    unique = max(crew_tables(q.w).unique_max for f in nets for layer in f.layers for q in layer) + slack
    params = TileParams.for_network(nets[0], lanes=lanes, crew=CrewShape(unique, mult))
    return params, nets


def _row_memories(params, rng):
    """Random x and h row memories (both banks, every lane: the stage must multiply what they hold)."""
    L, ab = params.lanes, params.config.act
    def rows(n):
        return row_words([[rng.randint(ab.min_int, ab.max_int) for _ in range(L)] for _ in range(n)], ab.bits)
    return rows(2 * params.x_rows), rows(2 * params.h_rows)


def _network_products(params, fixed, slot, n_x, xbuf, hbuf, read_bank, h_bank, first_step):
    """v_i * unique_i[u] for every input i of the walked rows and u < U_r, straight from crew_tables
    (independent of the table words): ({(addr, lane): product}, S)."""
    q = [d for layer in fixed.layers for d in layer][slot]
    tables, n_in = crew_tables(np.asarray(q.w, dtype=np.int64)), q.input_size
    L, KX, KH, H = params.lanes, params.x_rows, params.h_rows, params.hidden
    ab = params.config.act.bits

    def lane(word, k):
        v = (word >> (k * ab)) & ((1 << ab) - 1)
        return v - (1 << ab) if v >> (ab - 1) else v

    walked = [(r, [r * L + k if r * L + k < n_in else None for k in range(L)], xbuf[read_bank * KX + r])
              for r in range(-(-n_x // L))]
    walked += [(KX + r, [n_in + r * L + k if r * L + k < H else None for k in range(L)],
                0 if first_step else hbuf[h_bank * KH + r]) for r in range(KH)]
    expected, slots = {}, 0
    for grow, cols, word in walked:
        u_r = max(int(tables.counts[c]) for c in cols if c is not None)
        slots += u_r
        for u in range(u_r):
            for k, c in enumerate(cols):
                unique = int(tables.unique[c, u]) if c is not None and u < tables.counts[c] else 0
                expected[(grow * params.crew.stride + u, k)] = lane(word, k) * unique
    return expected, slots


def _run_steps(harness, steps):
    """Each step: its ``wr`` payloads, the controls, a ``start`` pulse; records every ``writes`` transfer
    until ``done`` (and 6 cycles after), the cycle of ``done`` after ``start``, the ``count_products``
    cycles; then a ``step_reset`` pulse, after which ``done`` must be low."""
    stage, results = harness, []

    async def bench(ctx):
        for st in steps:
            for wr in st.get("wr", ()):
                ctx.set(stage.wr.payload, wr)
                ctx.set(stage.wr.valid, 1)
                await ctx.tick()
            ctx.set(stage.wr.valid, 0)
            for name in ("slot", "n_x", "read_bank", "h_bank", "first_step"):
                ctx.set(getattr(stage, name), st[name])
            assert not ctx.get(stage.done), "done high before the step started"
            ctx.set(stage.start, 1)
            await ctx.tick()
            ctx.set(stage.start, 0)
            limit = 4 + 4 * stage.params.unique_rows * stage.params.lanes
            cycle, done_at, writes, counted = 1, None, [], 0
            while done_at is None or cycle <= done_at + 6:
                _, _, done, valid, payload, count = await ctx.tick().sample(
                    stage.done, stage.writes.valid, stage.writes.payload, stage.count_products)
                assert count == valid, f"count_products {count} with writes.valid {valid} at cycle {cycle}"
                counted += count
                if valid:
                    writes.append({"addr": int(payload.addr), "group": int(payload.group),
                                   "products": [int(v) for v in payload.products], "cycle": cycle})
                if done and done_at is None:
                    done_at = cycle
                if done_at is not None:
                    assert done, f"done fell at cycle {cycle} before step_reset"
                cycle += 1
                assert cycle < limit, f"no done after {cycle} cycles"
            ctx.set(stage.step_reset, 1)
            await ctx.tick()
            ctx.set(stage.step_reset, 0)
            _, _, done = await ctx.tick().sample(stage.done)
            assert not done, "done stayed high after step_reset"
            results.append({"writes": writes, "done_at": done_at, "counted": counted})

    run(harness, bench)
    return results


def _check_step(params, got, expected, slots):
    groups = params.lanes // params.crew.multipliers
    assert got["done_at"] == ProductStage.latency + slots * groups, \
        f"done {got['done_at']} cycles after start, expected {ProductStage.latency} + {slots} * {groups}"
    assert len(got["writes"]) == got["counted"] == slots * groups
    assert all(w["cycle"] <= got["done_at"] for w in got["writes"]), "a product write after done"
    products = decode_writes(params, got["writes"])
    assert products.keys() == expected.keys(), (f"written {sorted(set(products) - set(expected))[:6]} not "
                                                f"expected; missing {sorted(set(expected) - set(products))[:6]}")
    bad = [(key, expected[key], products[key]) for key in expected if products[key] != expected[key]]
    assert not bad, f"{len(bad)} products differ; first ((addr, lane), expected, got): {bad[:5]}"


@pytest.mark.parametrize("case", STAGE_CASES, ids=[_stage_id(c) for c in STAGE_CASES])
def test_product_stage_network_images(case):
    params, nets = _stage_setup(case)
    rng = random.Random(case[-1])
    images = [memory_image(params, f) for f in nets]
    xbuf, hbuf = _row_memories(params, rng)
    n_in = [q.input_size for layer in nets[0].layers for q in layer]
    steps, wants = [], []
    for slot in range(params.slots):
        for first_step, n_x in ((1, n_in[slot]), (0, n_in[slot]), (0, rng.randint(1, n_in[slot]))):
            steps.append({"slot": slot, "n_x": n_x, "read_bank": rng.randrange(2), "h_bank": rng.randrange(2),
                          "first_step": first_step})
            wants.append((nets[0], images[0]))
    # the second network's table through wr (a WEIGHT write to the same address must not reach the table)
    wr = [{"mem": MemId.WEIGHT, "addr": a, "data": (1 << 40) - 1} for a in range(3)]
    wr += [{"mem": MemId.PREDICTOR, "addr": a, "data": word} for a, word in enumerate(images[1]["predictor"])]
    wr += [{"mem": MemId.BIAS, "addr": 0, "data": 0}]
    steps.append({"slot": params.slots - 1, "n_x": n_in[-1], "read_bank": 1, "h_bank": 0, "first_step": 0, "wr": wr})
    wants.append((nets[1], images[1]))
    results = _run_steps(ProductHarness(params, images[0], xbuf, hbuf), steps)
    for st, (fixed, image), got in zip(steps, wants, results, strict=True):
        controls = {k: st[k] for k in ("slot", "n_x", "read_bank", "h_bank", "first_step")}
        expected, slots = _network_products(params, fixed, xbuf=xbuf, hbuf=hbuf, **controls)
        assert (expected, slots) == product_reference(params, image["predictor"], xbuf, hbuf, **controls)
        if st["n_x"] == n_in[st["slot"]]:
            assert slots == product_slots(params, fixed)[st["slot"]]
        if st["first_step"]:
            assert all(v == 0 for (addr, _), v in expected.items() if addr >= params.x_rows * params.crew.stride)
        try:
            _check_step(params, got, expected, slots)
        except AssertionError as e:
            raise AssertionError(f"step {controls}: {e}") from None


def _hand_table(params, rng):
    """A random unique-value table of slot 0 (every lane a random weight in every slot, random U_r)."""
    U, L, wb, fmt = params.crew.unique_max, params.lanes, params.config.weight.bits, params.config.weight
    words = [0] * params.depths()["predictor"]
    for grow in range(params.rows_per_neuron):
        u_r = rng.choice([1, U, rng.randint(1, U)])
        for u in range(u_r):
            lanes = [rng.choice([fmt.min_int, fmt.max_int, rng.randint(fmt.min_int, fmt.max_int)]) for _ in range(L)]
            words[grow * params.crew.stride + u] = row_words([lanes], wb)[0] | (int(u == u_r - 1) << (L * wb))
    return words


@pytest.mark.parametrize("lanes,mult,unique,inputs,hidden", [(2, 1, 4, 5, 3), (4, 2, 3, 8, 4), (1, 1, 2, 2, 1),
                                                             (6, 3, 5, 6, 6)])
def test_product_stage_hand_made_table(lanes, mult, unique, inputs, hidden):
    params = TileParams(cell="lstm", input_size=inputs, hidden=hidden, lanes=lanes, crew=CrewShape(unique, mult))
    rng = random.Random(lanes * 7 + unique)
    tables = [_hand_table(params, rng) for _ in range(2)]
    xbuf, hbuf = _row_memories(params, rng)
    steps = [{"slot": 0, "n_x": n_x, "read_bank": rng.randrange(2), "h_bank": rng.randrange(2), "first_step": fs}
             for n_x, fs in ((inputs, 1), (inputs, 0), (1, 0), (rng.randint(1, inputs), 0))]
    steps.append(dict(steps[1], wr=[{"mem": MemId.PREDICTOR, "addr": a, "data": w} for a, w in enumerate(tables[1])]))
    results = _run_steps(ProductHarness(params, {"predictor": tables[0]}, xbuf, hbuf), steps)
    for k, (st, got) in enumerate(zip(steps, results, strict=True)):
        controls = {n: st[n] for n in ("slot", "n_x", "read_bank", "h_bank", "first_step")}
        expected, slots = product_reference(params, tables[1 if "wr" in st else 0], xbuf, hbuf, **controls)
        assert {a // params.crew.stride for a, _ in expected} == (set(range(-(-st["n_x"] // lanes)))
                                                      | set(range(params.x_rows, params.rows_per_neuron)))
        try:
            _check_step(params, got, expected, slots)
        except AssertionError as e:
            raise AssertionError(f"step {k} {controls}: {e}") from None


def test_product_stage_bad_parameters():
    base = TileParams(cell="lstm", input_size=3, hidden=2, lanes=2)
    with pytest.raises(ValueError, match="ProductStage needs a CREW tile"):
        ProductStage(base)
    with pytest.raises(TypeError, match="ProductStage: params must be a hw.tile_params.TileParams"):
        ProductStage({"cell": "lstm"})
    with pytest.raises(ValueError, match="2 CREW multipliers do not divide the 3 lanes"):
        TileParams(cell="lstm", input_size=3, hidden=2, lanes=3, crew=CrewShape(2, 2))
    with pytest.raises(ValueError, match="U_max 17 exceeds the 16 values"):
        TileParams(cell="lstm", input_size=3, hidden=2, lanes=2, config=CONFIGS["narrow"], crew=CrewShape(17, 1))
    with pytest.raises(TypeError, match="TileParams.crew must be a CrewShape"):
        TileParams(cell="lstm", input_size=3, hidden=2, lanes=2, crew=(2, 1))
    with pytest.raises(ValueError, match="CrewShape.multipliers must be in 1"):
        CrewShape(2, 0)
