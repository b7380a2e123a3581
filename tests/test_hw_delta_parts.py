# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the delta-tile blocks alone (docs/delta.md, *Hardware*): the change detector
(hw.delta_detect.ChangeDetector) against golden_model.intops' delta_update / linear_quantize /
linear_dequantize over random x and h element streams with random gaps (banks, first steps, cleared h,
last-step suppression, thresholds, similarity registers written through ``wr``) at latency 1; the
correction engine (hw.delta_engine.DeltaEngine, in sim.delta_vectors.EngineHarness) against W e of the
effective inputs, its slots max(1, changed) per group and ``groups_done``; the emitter
(hw.delta_emit.DeltaEmitter, in sim.delta_vectors.EmitterHarness) under random back-pressure on ``o`` and
``tags``, LSTM and GRU; bad parameters. (The cocotb runs on Icarus and Verilator are in
test_hw_delta_cocotb.py.)"""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth_streams import run

from hw.delta_detect import ChangeDetector, change_layout
from hw.delta_emit import DeltaEmitter
from hw.delta_engine import DeltaEngine
from hw.tile_issue import TAG_DEPTH
from hw.tile_memories import MemId
from hw.tile_params import TileParams
from sim.delta_vectors import (
    EmitterHarness,
    EngineHarness,
    detector_phases,
    detector_reference,
    emitter_reference,
    emitter_steps,
    quantizer_values,
    quantizer_writes_of,
    random_accumulators,
    result_groups,
    weight_words,
)
from sim.unit_vectors import CONFIGS

# ------------------------------------------------------------------------------------------- detector

DETECT_CASES = [  # (cell, config, input_size, hidden, slots, similarity, seed)
    ("lstm", "default", 5, 4, 1, False, 1),
    ("gru", "narrow", 3, 6, 2, False, 2),
    ("lstm", "wide", 1, 1, 1, False, 3),
    ("gru", "default", 4, 3, 3, True, 4),
    ("lstm", "narrow", 6, 2, 1, True, 5),
    ("gru", "wide", 2, 5, 2, True, 6),
]


def _detect_id(c):
    return f"{c[0]}-{c[1]}-I{c[2]}-H{c[3]}-slots{c[4]}-" + ("similarity" if c[5] else "delta")


def _detect_params(case):
    cell, cfg, inputs, hidden, slots, sim, _ = case
    return TileParams(cell=cell, input_size=inputs, hidden=hidden, slots=slots, lanes=2, config=CONFIGS[cfg],
                      delta=True, similarity=sim)


def run_detector(dut, phases, seed, gap):
    """Each phase: its ``wr`` writes, then (a new sequence) ``theta``/``slot`` and a ``seq_start`` pulse, the
    step controls, and its x and h elements interleaved with random gaps on each (x in index order with
    ``last`` on the final one). Returns per phase the compared elements of both lanes (with the cycle
    after their element, which must be 1 = the latency) and checks ``count_x`` / ``count_h``."""
    rng, out = random.Random(seed), []

    async def bench(ctx):
        cycle = 0
        sent = {"x": [], "h": []}
        got = None

        async def tick():
            nonlocal cycle
            _, _, *vals = await ctx.tick().sample(dut.x_changes.valid, dut.x_changes.payload, dut.count_x,
                                                  dut.h_changes.valid, dut.h_changes.payload, dut.count_h)
            for lane, (valid, payload, count) in zip(("x", "h"), (vals[:3], vals[3:]), strict=True):
                assert count == (valid and payload.changed), f"count_{lane} {count} at cycle {cycle}"
                if valid:
                    assert got is not None, f"{lane}_changes valid with no element sent"
                    got[lane].append({"index": int(payload.index), "delta": int(payload.delta),
                                      "changed": int(payload.changed), "bank": int(payload.bank),
                                      "after": cycle - sent[lane].pop(0)})
            cycle += 1

        for ph in phases:
            for wr in ph["wr"]:
                ctx.set(dut.wr.payload, wr)
                ctx.set(dut.wr.valid, 1)
                await tick()
            ctx.set(dut.wr.valid, 0)
            # seq_start alone, or with the sequence's first x element (which is then compared in full too)
            with_first = ph["seq_start"] and rng.random() < 0.5
            if ph["seq_start"]:
                ctx.set(dut.theta, ph["theta"])
                ctx.set(dut.slot, ph["slot"])
                ctx.set(dut.seq_start, 1)
                if not with_first:
                    await tick()
                    ctx.set(dut.seq_start, 0)
            for name in ("first_step", "last_step", "x_bank", "h_bank"):
                ctx.set(getattr(dut, name), ph[name])
            got = {"x": [], "h": []}
            xs, hs = list(enumerate(ph["x"])), list(enumerate(ph["h"]))
            while xs or hs:
                for lane, items, port in (("x", xs, dut.x), ("h", hs, dut.h)):
                    send = bool(items) and (rng.random() >= gap or (with_first and lane == "x"))
                    if send:
                        i, v = items.pop(0)
                        ctx.set(port.payload, {"data": v, "index": i, "last": int(not items)})
                        sent[lane].append(cycle)
                    ctx.set(port.valid, send)
                await tick()
                if ph["seq_start"]:
                    ctx.set(dut.seq_start, 0)
                    ctx.set(dut.theta, rng.randrange(1 << 16))   # sampled at seq_start only
                    ctx.set(dut.slot, rng.randrange(ph["slot"] + 1))
                with_first = False
            ctx.set(dut.x.valid, 0)
            ctx.set(dut.h.valid, 0)
            for _ in range(rng.choice([1, 1, 2, 5])):
                await tick()
            assert not sent["x"] and (not sent["h"] or ph["last_step"]), "an element without its comparison"
            sent["h"].clear()
            out.append(got)

    run(dut, bench)
    return out


def _check_detector(params, phases, got):
    want = detector_reference(params, phases)
    for k, (ph, w, g) in enumerate(zip(phases, want, got, strict=True)):
        for lane in ("x", "h"):
            assert {e.pop("after") for e in g[lane]} <= {ChangeDetector.latency}, f"phase {k} {lane}: latency"
            assert g[lane] == w[lane], (f"phase {k} ({ {n: ph[n] for n in ('first_step', 'last_step', 'slot')} }) "
                                        f"lane {lane}:\n got {g[lane]}\nwant {w[lane]}\nvalues {ph[lane]}")


@pytest.mark.parametrize("case", DETECT_CASES, ids=[_detect_id(c) for c in DETECT_CASES])
def test_detector_random_streams(case):
    params = _detect_params(case)
    phases = detector_phases(params, sequences=6, seed=case[-1])
    assert any(ph["last_step"] and not ph["first_step"] for ph in phases)
    got = run_detector(ChangeDetector(params), phases, seed=case[-1], gap=0.35)
    _check_detector(params, phases, got)
    changed = sum(e["changed"] for g in got for lane in g.values() for e in lane)
    assert 0 < changed < sum(len(lane) for g in got for lane in g.values()), "no mix of changed and unchanged"


@pytest.mark.parametrize("case", DETECT_CASES[:2] + DETECT_CASES[3:4], ids=[_detect_id(c) for c in
                                                                             DETECT_CASES[:2] + DETECT_CASES[3:4]])
def test_detector_back_to_back(case):
    params = _detect_params(case)
    phases = detector_phases(params, sequences=3, seed=case[-1] + 50)
    _check_detector(params, phases, run_detector(ChangeDetector(params), phases, seed=7, gap=0.0))


def test_detector_thresholds_by_hand():
    """theta_x = 4, theta_h = 3 (delta): |v - ref| >= theta and v != ref; a first x every nonzero one, a
    cleared h against 0 at theta_h; the last step's h are not sent."""
    params = TileParams(cell="lstm", input_size=3, hidden=2, lanes=1, delta=True)
    base = {"wr": [], "seq_start": 0, "theta": 4 | 3 << 8, "slot": 0, "x_bank": 0, "h_bank": 0}
    phases = [dict(base, seq_start=1, first_step=1, last_step=0, x=[0, 1, -1], h=[2, -3]),
              dict(base, first_step=0, last_step=0, x_bank=1, h_bank=1, x=[4, -2, 3], h=[2, 0]),
              dict(base, first_step=0, last_step=1, x=[3, -3, 7], h=[9, 9])]
    got = run_detector(ChangeDetector(params), phases, seed=0, gap=0.0)
    _check_detector(params, phases, got)
    assert [[e["changed"] for e in g["x"]] for g in got] == [[0, 1, 1], [1, 0, 1], [0, 1, 1]]
    assert [[e["delta"] for e in g["x"]] for g in got] == [[0, 1, -1], [4, -3, 4], [-1, -4, 4]]
    assert [[e["changed"] for e in g["h"]] for g in got] == [[0, 1], [0, 1], []]
    assert [[e["bank"] for e in g["h"]] for g in got] == [[1, 1], [0, 0], []]


def test_detector_similarity_first_delta():
    """h_first_delta is e0 of the sequence's slot (its recurrent part), 0 under delta."""
    params = TileParams(cell="gru", input_size=2, hidden=2, slots=2, lanes=1, delta=True, similarity=True)
    fmt = params.config.act
    regs = [quantizer_values(-40, 25, 5, fmt), quantizer_values(-30, 61, 3, fmt)]
    assert regs[1]["e0"] != 0
    dut = ChangeDetector(params)

    async def bench(ctx):
        ctx.set(dut.wr.payload, {"mem": MemId.WEIGHT, "addr": 6 * 3 + 5, "data": 1})   # not a register
        ctx.set(dut.wr.valid, 1)
        await ctx.tick()
        ctx.set(dut.slot, 1)
        ctx.set(dut.seq_start, 1)
        await ctx.tick()
        ctx.set(dut.seq_start, 0)
        await ctx.tick()
        assert ctx.get(dut.h_first_delta) == 0
        for word in quantizer_writes_of(1, regs):
            ctx.set(dut.wr.payload, word)
            ctx.set(dut.wr.valid, 1)
            await ctx.tick()
        ctx.set(dut.wr.valid, 0)
        ctx.set(dut.slot, 1)
        ctx.set(dut.seq_start, 1)
        await ctx.tick()
        ctx.set(dut.seq_start, 0)
        ctx.set(dut.slot, 0)
        await ctx.tick()
        assert ctx.get(dut.h_first_delta) == regs[1]["e0"]

    run(dut, bench)


@pytest.mark.parametrize("cell,layers,levels", [("lstm", 1, 16), ("gru", 2, (5, 200))])
def test_quantizer_writes_match_the_tile_image(cell, layers, levels):
    """The registers these tests write (sim.delta_vectors.quantizer_writes_of) are the words
    hw.tile_image.quantizer_writes makes from a golden SimilarityPolicy (layout and values)."""
    from support import normal_network

    from golden_model.delta import SimilarityPolicy
    from golden_model.fixed_model import FixedPointNetwork
    from hw.tile_image import quantizer_writes

    fixed = FixedPointNetwork(normal_network(cell, 3, 4, layers=layers, seed=9))
    params = TileParams.for_network(fixed, lanes=2, delta=True, similarity=True)
    fmt = params.config.act
    per_layer = list(levels) if isinstance(levels, tuple) else [levels] * layers
    ours = []
    for slot in range(params.slots):
        lv = min(per_layer[slot // fixed.net.num_directions], fmt.max_int - fmt.min_int + 1)
        ours += quantizer_writes_of(slot, [quantizer_values(fmt.min_int, fmt.max_int, lv, fmt)] * 2)
    theirs = [dict(w, mem=int(MemId(w["mem"]).value)) for w in
              quantizer_writes(params, fixed, SimilarityPolicy(levels=levels if layers == 1 else list(levels)))]
    assert ours == theirs


def test_detector_layouts():
    params = TileParams(cell="lstm", input_size=5, hidden=3, lanes=2, delta=True)
    det = ChangeDetector(params)
    assert det.x_changes.signature.always_ready and det.h_changes.signature.always_ready
    assert change_layout(params, 5).size == 3 + params.config.act.bits + 1 + 2
    assert det.latency == 1


# --------------------------------------------------------------------------------------------- engine

ENGINE_CASES = [  # (cell, config, input_size, hidden, slots, lanes, seed)
    ("lstm", "default", 3, 4, 1, 2, 1),
    ("gru", "narrow", 5, 3, 2, 4, 2),     # L does not divide G*H = 9
    ("lstm", "wide", 2, 2, 1, 1, 3),
    ("gru", "default", 4, 5, 1, 3, 4),
    ("lstm", "narrow", 1, 1, 2, 3, 5),    # one group, padding lanes
]


def _engine_steps(params, rng, steps, slot, similarity_e0=0, banks=None):
    """Steps of an engine test: per step the controls and the change entries (index order, every input,
    ``changed`` for a random subset, delta = new - old effective value), and the effective inputs e after it."""
    fmt, n_in, H = params.config.act, params.input_size, params.hidden
    e = {"x": [0] * n_in, "h": [0] * H}
    out, (x_bank, h_bank) = [], banks or (rng.randrange(2), rng.randrange(2))
    for t in range(steps):
        first = t == 0
        entries = {}
        for lane, n in (("x", n_in), ("h", H)):
            p_change = 0.0 if t == 2 else rng.choice([0.0, 0.3, 1.0, rng.random()])   # step 2: empty groups
            lst = []
            for i in range(n):
                old = 0 if first and lane == "x" else e[lane][i]
                new = rng.randint(fmt.min_int, fmt.max_int) if rng.random() < p_change else old
                if first and lane == "x" and rng.random() < 0.3:
                    new = 0
                lst.append({"index": i, "delta": new - old, "changed": int(new != old), "bank": 0})
                if not (first and lane == "h"):
                    e[lane][i] = new
            entries[lane] = lst
        if first:   # a first step's recurrent input is h_{-1} = 0 of value h_first_delta, whatever the list holds
            e["h"] = [similarity_e0] * H
        for entry in entries["x"]:
            entry["bank"] = x_bank
        for entry in entries["h"]:
            entry["bank"] = h_bank
        out.append({"first_step": int(first), "read_bank": x_bank, "h_bank": h_bank, "slot": slot,
                    "h_first_delta": similarity_e0, "entries": entries, "e": {k: list(v) for k, v in e.items()}})
        x_bank, h_bank = x_bank ^ 1, h_bank ^ 1
    return out


def run_engine(harness, steps, seed):
    """Step t's entries go in (random gaps, x and h interleaved) during step t-1 (the other banks), the last
    of each part with ``step_start`` (the detector's result of a step's last input); records the cycles
    after ``step_start`` at which ``groups_done`` rises, the
    ``count_corrections`` / ``count_first_h`` cycles, and the accumulators (read through ``acc_x`` / ``acc_h``
    once every group is done); then ``step_reset``."""
    rng, dut, p, results = random.Random(seed), harness, harness.params, []

    async def send(ctx, entries):
        xs, hs = list(entries["x"]), list(entries["h"])
        while xs or hs:
            for items, port in ((xs, dut.x_changes), (hs, dut.h_changes)):
                go = bool(items) and rng.random() < 0.6
                if go:
                    ctx.set(port.payload, items.pop(0))
                ctx.set(port.valid, go)
            await ctx.tick()
        ctx.set(dut.x_changes.valid, 0)
        ctx.set(dut.h_changes.valid, 0)

    async def bench(ctx):
        NG = p.neuron_groups
        def split(entries):   # the last entry of each part goes in with the step's step_start
            return {k: list(v[:-1]) for k, v in entries.items()}, {k: v[-1] for k, v in entries.items()}

        pending, held = split(steps[0]["entries"])
        await send(ctx, pending)
        for t, st in enumerate(steps):
            for name in ("first_step", "read_bank", "h_bank", "slot", "h_first_delta"):
                ctx.set(getattr(dut, name), st[name])
            for lane, port in (("x", dut.x_changes), ("h", dut.h_changes)):
                ctx.set(port.payload, held[lane])
                ctx.set(port.valid, 1)
            ctx.set(dut.step_start, 1)
            await ctx.tick()
            ctx.set(dut.step_start, 0)
            ctx.set(dut.x_changes.valid, 0)
            ctx.set(dut.h_changes.valid, 0)
            if t + 1 < len(steps):
                pending, held = split(steps[t + 1]["entries"])
            else:
                pending = {"x": [], "h": []}
            cycle, rises, corrections, first_h, done = 1, [], 0, 0, 0
            while done < NG or pending["x"] or pending["h"]:
                for lane, port in (("x", dut.x_changes), ("h", dut.h_changes)):
                    go = bool(pending[lane]) and rng.random() < 0.5
                    if go:
                        ctx.set(port.payload, pending[lane].pop(0))
                    ctx.set(port.valid, go)
                _, _, g_done, corr, fh = await ctx.tick().sample(dut.groups_done, dut.count_corrections,
                                                                 dut.count_first_h)
                if g_done != done:
                    assert g_done == done + 1, f"groups_done {done} -> {g_done} at cycle {cycle}"
                    rises.append(cycle)
                    done = g_done
                corrections += corr
                first_h += fh
                cycle += 1
                assert cycle < 50 + 4 * NG * p.columns, f"step {t}: groups_done {done} of {NG} after {cycle} cycles"
            ctx.set(dut.x_changes.valid, 0)
            ctx.set(dut.h_changes.valid, 0)
            accs = {}
            for part in ("acc_x", "acc_h"):
                port, words = getattr(dut, part), []
                for g in range(NG):
                    ctx.set(port.addr, g)
                    ctx.set(port.en, 1)
                    await ctx.tick()
                    words.append([int(v) for v in ctx.get(port.data)])
                ctx.set(port.en, 0)
                accs[part] = words
            for _ in range(4):
                await ctx.tick()
            assert ctx.get(dut.groups_done) == NG
            ctx.set(dut.step_reset, 1)
            await ctx.tick()
            ctx.set(dut.step_reset, 0)
            assert ctx.get(dut.groups_done) == 0, "step_reset left groups_done"
            results.append({"rises": rises, "corrections": corrections, "first_h": first_h, **accs})

    run(harness, bench)
    return results


@pytest.mark.parametrize("similarity_e0", [0, 1])
@pytest.mark.parametrize("case", ENGINE_CASES, ids=[f"{c[0]}-{c[1]}-I{c[2]}-H{c[3]}-slots{c[4]}-L{c[5]}"
                                                    for c in ENGINE_CASES])
def test_engine_accumulators_and_slots(case, similarity_e0):
    cell, cfg, inputs, hidden, slots, lanes, seed = case
    params = TileParams(cell=cell, input_size=inputs, hidden=hidden, slots=slots, lanes=lanes, config=CONFIGS[cfg],
                        delta=True, similarity=bool(similarity_e0))
    rng = random.Random(seed * 3 + similarity_e0)
    wf = params.config.weight
    NG, L = params.neuron_groups, params.lanes
    w = [[[rng.choice([wf.min_int, wf.max_int, rng.randint(wf.min_int, wf.max_int)]) for _ in range(params.columns)]
          for _ in range(NG * L)] for _ in range(slots)]
    e0 = rng.choice([params.config.act.min_int, -3, 7]) if similarity_e0 else 0
    steps = []
    for slot in sorted({0, slots - 1}):   # a second sequence (a second first step), another slot's weights
        # the banks alternate across sequences too (the next step's entries go in while a step runs)
        banks = (steps[-1]["read_bank"] ^ 1, steps[-1]["h_bank"] ^ 1) if steps else None
        steps += _engine_steps(params, rng, 4, slot, e0, banks)
    results = run_engine(EngineHarness(params, weight_words(params, w)), steps, seed)
    for t, (st, got) in enumerate(zip(steps, results, strict=True)):
        W = np.array(w[st["slot"]], dtype=np.int64)
        want_x = W[:, :inputs] @ np.array(st["e"]["x"], dtype=np.int64)
        want_h = W[:, inputs:] @ np.array(st["e"]["h"], dtype=np.int64)
        assert np.array_equal(np.ravel(got["acc_x"]), want_x), f"step {t} acc_x\n{got['acc_x']}\n{want_x}"
        assert np.array_equal(np.ravel(got["acc_h"]), want_h), f"step {t} acc_h\n{got['acc_h']}\n{want_h}"
        cx = sum(e["changed"] for e in st["entries"]["x"])
        ch = (hidden if e0 != 0 else 0) if st["first_step"] else sum(e["changed"] for e in st["entries"]["h"])
        slots_per_group = max(1, cx + ch)
        # as hw.tile_cycles.delta_step_cycles: slots from ChangeDetector.latency + 1 cycles after step_start,
        # a group final DeltaEngine.latency + 1 cycles after its last slot
        first_slot = ChangeDetector.latency + 1
        assert got["rises"] == [first_slot + (g + 1) * slots_per_group + DeltaEngine.latency + 1 for g in range(NG)], \
            f"step {t}: groups_done rose at {got['rises']}, {slots_per_group} slots per group"
        assert got["corrections"] == NG * (cx + ch)
        assert got["first_h"] == (ch if st["first_step"] else 0)


# -------------------------------------------------------------------------------------------- emitter

EMIT_CASES = [  # (cell, config, input_size, hidden, slots, lanes, seed)
    ("lstm", "default", 3, 4, 2, 2, 1),
    ("gru", "default", 5, 3, 2, 4, 2),
    ("gru", "narrow", 2, 2, 1, 1, 3),
    ("lstm", "wide", 4, 3, 1, 5, 4),
    ("gru", "wide", 3, 5, 3, 3, 5),
]


def _emit_setup(case):
    cell, cfg, inputs, hidden, slots, lanes, seed = case
    params = TileParams(cell=cell, input_size=inputs, hidden=hidden, slots=slots, lanes=lanes, config=CONFIGS[cfg],
                        delta=True)
    rng = random.Random(seed)
    acc_x, acc_h, bias, bias_hn = random_accumulators(params, rng)
    return params, EmitterHarness(params, acc_x, acc_h, bias, bias_hn), (acc_x, acc_h, bias, bias_hn)


def run_emitter(harness, steps, seed, stall, group_gap):
    """Per step: (a new sequence) ``slot`` and ``seq_start``; ``groups_done`` rising one group at a time
    with random gaps, ``o`` and ``tags`` taken under random independent back-pressure until the step's
    count of each; checks that no result of a group leaves before the group is done; ``step_reset``."""
    rng, dut, p, out = random.Random(seed), harness, harness.params, []

    async def bench(ctx):
        for st in steps:
            if st["seq_start"]:
                ctx.set(dut.slot, st["slot"])
                ctx.set(dut.seq_start, 1)
                await ctx.tick()
                ctx.set(dut.seq_start, 0)
                ctx.set(dut.slot, rng.randrange(p.slots))
            n, groups = len(st["results"]), result_groups(p)
            res, tags, done, cycle, first_out = [], [], 0, 0, None
            while len(res) < n or len(tags) < n:
                if done < p.neuron_groups and rng.random() >= group_gap:
                    done += 1
                ctx.set(dut.groups_done, done)
                o_ready, t_ready = rng.random() >= stall, rng.random() >= stall
                ctx.set(dut.o.ready, o_ready)
                ctx.set(dut.tags.ready, t_ready)
                _, _, ov, op, tv, tp = await ctx.tick().sample(dut.o.valid, dut.o.payload, dut.tags.valid,
                                                               dut.tags.payload)
                if ov and o_ready:
                    assert groups[len(res)] < done, f"result {len(res)} of group {groups[len(res)]} before it was done"
                    res.append(_result(op))
                if tv and t_ready:
                    tags.append({"g": int(tp.g), "part": int(tp.part), "j": int(tp.j)})
                if ov:
                    first_out = cycle if first_out is None else first_out
                cycle += 1
                assert cycle < 100 * n + 100, f"{len(res)} results, {len(tags)} tags of {n} after {cycle} cycles"
            for _ in range(8):   # nothing more in this step
                ctx.set(dut.o.ready, 1)
                ctx.set(dut.tags.ready, 1)
                _, _, ov, tv = await ctx.tick().sample(dut.o.valid, dut.tags.valid)
                assert not ov and not tv, "more results or tags than the step's"
            ctx.set(dut.step_reset, 1)
            await ctx.tick()
            ctx.set(dut.step_reset, 0)
            ctx.set(dut.groups_done, 0)
            out.append({"results": res, "tags": tags, "first_out": first_out})

    run(harness, bench)
    return out


@pytest.mark.parametrize("case", EMIT_CASES, ids=[f"{c[0]}-{c[1]}-I{c[2]}-H{c[3]}-slots{c[4]}-L{c[5]}"
                                                  for c in EMIT_CASES])
def test_emitter_backpressure(case):
    params, harness, mems = _emit_setup(case)
    steps = emitter_steps(params, mems, 4, random.Random(case[-1]))
    got = run_emitter(harness, steps, seed=case[-1], stall=0.4, group_gap=0.7)
    for k, (st, g) in enumerate(zip(steps, got, strict=True)):
        bad = [(i, w, r) for i, (w, r) in enumerate(zip(st["results"], g["results"], strict=True)) if w != r]
        assert not bad, f"step {k} slot {st['slot']}: {len(bad)} results differ; first (n, want, got) {bad[:4]}"
        assert g["tags"] == st["tags"], f"step {k}: tags differ"


def _result(payload) -> dict:
    """An emitter result as :func:`sim.delta_vectors.emitter_reference` gives it (``acc_h``: GRU only)."""
    return {name: int(getattr(payload, name)) for name, _ in payload.shape()}


async def _all_done(ctx, dut, tags_ready):
    """A sequence of slot 0 starts, every group is done, ``o`` ready (``tags`` as given)."""
    ctx.set(dut.slot, 0)
    ctx.set(dut.seq_start, 1)
    await ctx.tick()
    ctx.set(dut.seq_start, 0)
    ctx.set(dut.o.ready, 1)
    ctx.set(dut.tags.ready, tags_ready)
    ctx.set(dut.groups_done, dut.params.neuron_groups)


@pytest.mark.parametrize("case", EMIT_CASES[:3], ids=[f"{c[0]}-L{c[5]}" for c in EMIT_CASES[:3]])
def test_emitter_full_throughput_and_latency(case):
    """Every group done, o and tags always ready: one result per cycle, the first ``latency`` cycles after
    groups_done rises."""
    params, harness, mems = _emit_setup(case)
    dut, n = harness, params.neurons
    cycles = []

    async def bench(ctx):
        await _all_done(ctx, dut, tags_ready=1)
        cycle = 0
        while len(cycles) < n:
            _, _, ov = await ctx.tick().sample(dut.o.valid)
            if ov:
                cycles.append(cycle)
            cycle += 1
            assert cycle < 4 * n + 20

    run(harness, bench)
    assert cycles == list(range(DeltaEmitter.latency, DeltaEmitter.latency + n))


@pytest.mark.parametrize("case", EMIT_CASES[1:3], ids=[f"{c[0]}-L{c[5]}" for c in EMIT_CASES[1:3]])
def test_emitter_tags_held(case):
    """``tags`` not ready, ``o`` ready: at most TAG_DEPTH results leave (the tag FIFO's room); once
    ``tags`` is ready every result and tag follows, in order."""
    params, harness, mems = _emit_setup(case)
    dut, n = harness, params.neurons
    want, want_tags = emitter_reference(params, *mems, 0)
    res, tags = [], []

    async def bench(ctx):
        await _all_done(ctx, dut, tags_ready=0)
        for _ in range(40):
            _, _, ov, op = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if ov:
                res.append(_result(op))
        assert len(res) == min(n, TAG_DEPTH), f"{len(res)} results with the tags held, the FIFO holds {TAG_DEPTH}"
        ctx.set(dut.tags.ready, 1)
        for _ in range(4 * n + 20):
            _, _, ov, op, tv, tp = await ctx.tick().sample(dut.o.valid, dut.o.payload, dut.tags.valid, dut.tags.payload)
            if ov:
                res.append(_result(op))
            if tv:
                tags.append({"g": int(tp.g), "part": int(tp.part), "j": int(tp.j)})

    run(harness, bench)
    assert res == want
    assert tags == want_tags


# -------------------------------------------------------------------------------------------- parameters

@pytest.mark.parametrize("block", [ChangeDetector, DeltaEngine, DeltaEmitter])
def test_bad_parameters(block):
    name = block.__name__
    with pytest.raises(ValueError, match=f"{name} needs a delta tile"):
        block(TileParams(cell="lstm", input_size=3, hidden=2, lanes=2))
    with pytest.raises(TypeError, match=f"{name}: params must be a hw.tile_params.TileParams"):
        block({"cell": "lstm", "delta": True})


def test_bad_tile_params():
    with pytest.raises(TypeError, match="TileParams.delta must be a bool"):
        TileParams(cell="lstm", input_size=3, hidden=2, lanes=2, delta=1)
    with pytest.raises(TypeError, match="TileParams.similarity must be a bool"):
        TileParams(cell="lstm", input_size=3, hidden=2, lanes=2, delta=True, similarity="yes")
    with pytest.raises(ValueError, match="similarity is a form of the delta dataflow"):
        TileParams(cell="lstm", input_size=3, hidden=2, lanes=2, similarity=True)
