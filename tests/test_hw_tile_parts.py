# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the tile's parts (hw/tile_*.py, docs/hw/tile_parts.md and docs/hw/front_end.md):
each part alone against its contract (random valid gaps and back-pressure where it has streams), the
parts' latencies against the cycle model, a different predictor front end plugged into the tile, bad
parameters."""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module, Signal, unsigned
from amaranth.lib import memory, wiring
from amaranth_streams import collect, drive, run, send_step, sign_bits_after_steps
from support import normal_network, random_inputs

from golden_model import intops
from golden_model.formats import FixedPointConfig
from hw.activation import Activation, ActivationUnit
from hw.delta_emit import DeltaEmitter
from hw.dot_product import DotProductUnit
from hw.lstm_cell import LstmCellUnit
from hw.pipeline import SkidBuffer
from hw.tile_bnn import BnnFeeder, BnnFrontEnd, SignBits
from hw.tile_counters import PerfCounters
from hw.tile_cycles import expected_cycles, pipeline_latency, step_overhead
from hw.tile_front_end import FrontEnd
from hw.tile_gates import GruPairing, LstmGateFeed, gate_feed_class
from hw.tile_issue import IssueStage
from hw.tile_merge import Merge, r_slots, update_unit_class
from hw.tile_params import TileParams, check_front_end
from hw.tile_rows import RowWriter
from hw.tile_sequencer import StepSequencer
from hw.tile_state import StateUpdate
from sim.tile_amaranth import TileSequence, run_sequences

CFG = FixedPointConfig()
ACT = CFG.act.bits


def _raw(v, bits):
    return int(v) & ((1 << bits) - 1)


def _signed(v, bits):
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _pack(values, bits):
    return sum(_raw(v, bits) << (k * bits) for k, v in enumerate(values))


class Harness(Elaboratable):
    """A part with real memories on its memory-port members (member name -> Memory): ``reads`` on read
    ports, ``writes`` on write ports."""

    def __init__(self, dut, reads=None, writes=None):
        self.dut, self.reads, self.writes = dut, dict(reads or {}), dict(writes or {})

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.dut
        cycle = Signal(16)                     # a clocked signal: the sync domain exists for any part
        m.d.sync += cycle.eq(cycle + 1)
        for kind, ports in (("read", self.reads), ("write", self.writes)):
            for name, mem in ports.items():
                m.submodules[f"mem_{name}"] = mem
                wiring.connect(m, getattr(self.dut, name), getattr(mem, f"{kind}_port")())
        return m


async def _start(ctx, dut, run, **inputs):
    """Set the ``inputs``, start a sequence (``seq_start`` and ``step_reset`` for one cycle), then hold
    the input named ``run`` high."""
    for name, value in inputs.items():
        ctx.set(getattr(dut, name), value)
    for name in ("seq_start", "step_reset"):
        ctx.set(getattr(dut, name), 1)
    await ctx.tick()
    for name in ("seq_start", "step_reset"):
        ctx.set(getattr(dut, name), 0)
    ctx.set(getattr(dut, run), 1)


def _mem(width, depth, init=()):
    return memory.Memory(shape=unsigned(width), depth=depth, init=list(init))


# ------------------------------------------------------------------------------------------ RowWriter

@pytest.mark.parametrize("lanes,first_bank,fixed", [(3, 1, False), (1, 0, False), (4, 0, False), (3, 1, True),
                                                    (1, 0, True)])
def test_row_writer_packs_steps_into_alternating_banks(lanes, first_bank, fixed):
    elements, bits = 7, 8
    rows = -(-elements // lanes)
    dut = RowWriter(lanes, elements, rows, bits, first_bank=first_bank, fixed_count=fixed)
    mem = _mem(lanes * bits, 2 * rows)
    rng = random.Random(lanes)
    steps = [[rng.randint(-128, 127) for _ in range(n)] for n in ((7, 7, 7) if fixed else (5, 2, 2, 7, 1, 1))]
    seen, contents = [], []

    async def bench(ctx):
        for t, step in enumerate(steps):
            # a restart where the count changes; a step of the previous count ends by the registered flag
            restart = t == 0 or len(step) != len(steps[t - 1])
            if not fixed:
                ctx.set(dut.count, len(step))
            bank = ctx.get(dut.bank)
            for k, v in enumerate(step):
                if not fixed:
                    ctx.set(dut.restart, int(restart and k == 0))
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, {"data": v})
                p = ctx.get(dut.seen.payload)
                seen.append((ctx.get(dut.seen.valid), p.data, p.index, p.last))
                await ctx.tick()
                ctx.set(dut.i.valid, 0)
                for _ in range(rng.randint(0, 2)):
                    await ctx.tick()
            n_rows = -(-len(step) // lanes)
            contents.append((bank, [ctx.get(mem.data[bank * rows + r]) for r in range(n_rows)]))

    run(Harness(dut, writes={"write": mem}), bench)
    want_seen = [(1, v, k, int(k == len(s) - 1)) for s in steps for k, v in enumerate(s)]
    assert seen == want_seen
    for t, (step, (bank, words)) in enumerate(zip(steps, contents, strict=True)):
        assert bank == (first_bank + t) % 2
        padded = step + [0] * (len(words) * lanes - len(step))
        assert words == [_pack(padded[r * lanes:(r + 1) * lanes], bits) for r in range(len(words))]


# ------------------------------------------------------------------------------------------ SignBits

def test_sign_bits_write_bank_follows_steps_read_bank_follows_swap():
    steps = [[3, -1, 0, -7, 2], [-1, -1, 4, 5, -2]]
    got = sign_bits_after_steps(SignBits(5, ACT, first_bank=0), steps, swap_each=False)
    # the elements shift in at bit 0: bit k holds element 4 - k (the step reversed)
    bits = [sum(int(v >= 0) << k for k, v in enumerate(reversed(s))) for s in steps]
    # step 0 goes to bank 0 (read); step 1 to bank 1, shown only after the swap
    assert got == [bits[0], bits[0], bits[1]]


def test_sign_bits_of_a_short_step_are_its_elements_reversed_in_the_low_bits():
    # a sequence with fewer x elements than the bank holds (n_x < I_max): bit k < n is element n - 1 - k;
    # the bits from n on are the bank's older bits shifted up (stale, outside the beat's count)
    dut = SignBits(6, ACT, first_bank=1)            # read bank 0: each swap shows the step just written
    got = sign_bits_after_steps(dut, [[1, 2, 3, 4, 5, 6], [-1, -2, -3, -4, -5, -6], [4, -1, 2]])
    # step 2 went into step 0's bank: x_2 = 2, x_1 = -1, x_0 = 4 at bits 0, 1, 2, step 0's bits above
    assert got == [0b111111, 0, 0b111101]


# ------------------------------------------------------------------------------------------ StepSequencer

class _XPath(Elaboratable):
    """StepSequencer + the x RowWriter, joined as in the tile."""

    def __init__(self, params):
        self.seq = StepSequencer(params)
        self.xw = RowWriter(params.lanes, params.input_size, params.x_rows, ACT)
        self.mem = _mem(params.lanes * ACT, 2 * params.x_rows)

    def elaborate(self, platform):
        m = Module()
        m.submodules.seq, m.submodules.xw, m.submodules.mem = self.seq, self.xw, self.mem
        wiring.connect(m, self.seq.elements, self.xw.i)
        wiring.connect(m, self.xw.write, self.mem.write_port())
        m.d.comb += [self.xw.count.eq(self.seq.n_x_in), self.xw.restart.eq(self.seq.seq_start),
                     self.seq.x_bank.eq(self.xw.bank),
                     self.seq.x_step_end.eq(self.xw.seen.valid & self.xw.seen.payload.last)]
        return m


def test_step_sequencer_admission_steps_and_banks():
    params = TileParams(cell="lstm", input_size=3, hidden=2, lanes=2, bnn_width=4)
    top = _XPath(params)
    seq = top.seq
    steps, n_x = 3, 2
    log = []

    async def bench(ctx):
        ctx.set(seq.n_x_in, n_x)
        ctx.set(seq.slot_in, 0)
        ctx.set(seq.x.valid, 1)
        ctx.set(seq.x.payload, {"data": 1, "first": 0, "last": 0})
        assert not ctx.get(seq.x.ready)            # idle: only a `first` element is taken
        elements = [(t, k) for t in range(steps) for k in range(n_x)]
        cycle, ended = 0, 0
        while ended < steps:
            if elements:
                t, k = elements[0]
                ctx.set(seq.x.valid, 1)
                ctx.set(seq.x.payload, {"data": t - k, "first": int(t == k == 0),
                                        "last": int(t == steps - 1 and k == n_x - 1)})
            else:
                ctx.set(seq.x.valid, 0)
            # the state update ends a running step 5 cycles after it started
            running = [c for c, name in log if name == "step_start"]
            end = bool(running) and cycle == running[-1] + 5 and len(running) > ended
            ctx.set(seq.step_end, int(end))
            for name in ("seq_start", "step_start"):
                if ctx.get(getattr(seq, name)):
                    log.append((cycle, name))
            if end:
                log.append((cycle, ("step_end", ctx.get(seq.read_bank), ctx.get(seq.first_step),
                                    ctx.get(seq.last_step), ctx.get(seq.step))))
                ended += 1
            if elements and ctx.get(seq.x.ready):
                log.append((cycle, ("x", elements.pop(0))))
            await ctx.tick()
            cycle += 1
            assert cycle < 200
        ctx.set(seq.step_end, 0)
        await ctx.tick()
        assert not ctx.get(seq.active)

    run(top, bench)
    events = [e for _, e in log]
    starts = [c for c, e in log if e == "step_start"]
    xs = {e[1]: c for c, e in log if isinstance(e, tuple) and e[0] == "x"}
    ends = [(c, e[1:]) for c, e in log if isinstance(e, tuple) and e[0] == "step_end"]
    assert events[0] == "seq_start" and events.count("seq_start") == 1
    assert starts[0] == xs[(0, n_x - 1)] + 1                  # step 0 starts once its x is loaded
    assert xs[(1, n_x - 1)] < ends[0][0]                      # step 1's x loads while step 0 runs
    assert xs[(2, 0)] > ends[0][0]                            # step 2's x waits for a free bank
    assert [s - c for s, (c, _) in zip(starts[1:], ends, strict=False)] == [StepSequencer.latency] * 2
    assert [e for _, e in ends] == [(0, 1, 0, 0), (1, 0, 0, 1), (0, 0, 1, 2)]


# ------------------------------------------------------------------------------------------ BnnFeeder

def test_bnn_feeder_beats_per_neuron_under_back_pressure():
    params = TileParams(cell="gru", input_size=3, hidden=4, slots=2, lanes=2, bnn_width=3, front_end=BnnFrontEnd)
    NN, KB, B = params.neurons, params.sign_rows, params.bnn_width
    rng = random.Random(3)
    depth = params.slots * NN * KB
    words = [rng.randrange(1 << B) for _ in range(depth)]
    dut = BnnFeeder(params)
    n_x, slot, v = 2, 1, rng.randrange(1 << (KB * B))
    result = {}

    async def control(ctx):
        await _start(ctx, dut, "run", n_x=n_x, slot=slot, v=v)

    async def sink(ctx):
        decode = lambda p: (int(p.x), int(p.w), int(p.count), int(p.last))  # noqa: E731
        result["beats"], _ = await collect(ctx, dut.o, NN * 2, decode, random.Random(4), 0.4)

    run(Harness(dut, reads={"sign": _mem(B, depth, words)}), control, sink)
    n_bits = n_x + params.hidden
    want = []
    for n in range(NN):
        for k in range(-(-n_bits // B)):
            count = min(B, n_bits - k * B)
            want.append(((v >> (k * B)) & ((1 << B) - 1), words[(slot * NN + n) * KB + k], count,
                         int(k == -(-n_bits // B) - 1)))
    assert result["beats"] == want


# ------------------------------------------------------------------------------------------ BnnFrontEnd

async def _front_end_step(ctx, fe, params, x, h, first_step, updates, timeout=400):
    """One step through the front end as the tile runs it: observe the step's x, go, take every decision
    (sending the update of each miss), observe the new h, end the step. Returns (decisions, cycle of the
    first decision counted from the first ``go`` cycle)."""
    await send_step(ctx, fe.x, x)
    ctx.set(fe.first_step, int(first_step))
    ctx.set(fe.go, 1)
    ctx.set(fe.decision.ready, 1)
    decisions, first, cycle = [], None, 0
    while len(decisions) < params.neurons:
        valid, d = ctx.get(fe.decision.valid), ctx.get(fe.decision.payload)
        ctx.set(fe.update.valid, 0)
        if valid:
            first = cycle if first is None else first
            n = len(decisions)
            decisions.append((int(d.hit), int(d.y)))
            if not d.hit:
                ctx.set(fe.update.valid, 1)
                ctx.set(fe.update.payload, {"index": n, "y": updates[n], "context": d.context})
        await ctx.tick()
        cycle += 1
        assert cycle < timeout
    ctx.set(fe.update.valid, 0)
    ctx.set(fe.go, 0)
    ctx.set(fe.decision.ready, 0)
    for k, value in enumerate(h):
        ctx.set(fe.h.valid, 1)
        ctx.set(fe.h.payload, {"data": value, "index": k, "last": int(k == len(h) - 1)})
        await ctx.tick()
    ctx.set(fe.h.valid, 0)
    ctx.set(fe.step_end, 1)
    ctx.set(fe.step_reset, 1)
    await ctx.tick()
    ctx.set(fe.step_end, 0)
    ctx.set(fe.step_reset, 0)
    return decisions, first


def test_bnn_front_end_misses_then_reuses_and_off_means_all_miss():
    params = TileParams(cell="lstm", input_size=2, hidden=2, lanes=2, bnn_width=4, front_end=BnnFrontEnd)
    NN = params.neurons
    rng = random.Random(7)
    image = {"predictor": [rng.randrange(16) for _ in range(params.depths()["predictor"])]}
    fe = BnnFrontEnd(params, image)
    ys = [10 + n for n in range(NN)]
    got = {}

    async def bench(ctx):
        for enable in (1, 0):
            ctx.set(fe.enable, enable)
            ctx.set(fe.theta, [1000] * params.gates)   # absolute thresholds larger than any |b_t - b_m|
            ctx.set(fe.form, 1)
            ctx.set(fe.n_x, 2)
            ctx.set(fe.slot, 0)
            ctx.set(fe.seq_start, 1)
            await ctx.tick()
            ctx.set(fe.seq_start, 0)
            got[enable, 0] = await _front_end_step(ctx, fe, params, [3, -2], [5, -5], True, ys)
            got[enable, 1] = await _front_end_step(ctx, fe, params, [1, 1], [2, 2], False, ys)

    run(fe, bench)
    lead, interval = BnnFrontEnd.decision_timing(params, 2)
    assert interval == 1 and lead == BnnFrontEnd.latency
    assert got[1, 0] == ([(0, 0)] * NN, lead)                  # valid bits cleared by seq_start
    assert got[1, 1] == ([(1, y) for y in ys], lead)           # every neuron reused with its cached y
    # memoization off: every decision a miss (y means something only on a hit), valid at once
    assert [hit for hit, _ in got[0, 0][0] + got[0, 1][0]] == [0] * (2 * NN)
    assert got[0, 0][1] == 0


# ------------------------------------------------------------------------------------------ IssueStage

class _IssueBench:
    """IssueStage with its memories filled with distinct words; expected beats from the layout."""

    def __init__(self, params, predicted):
        self.p = p = params
        rng = random.Random(5)
        depths, widths = p.depths(), p.widths()
        row_bits = p.lanes * ACT
        self.words = {name: [rng.randrange(1 << widths[name]) for _ in range(depths[name])]
                      for name in ("weight", "bias", "bias_hn") if name in depths}
        self.words["xbuf"] = [rng.randrange(1 << row_bits) for _ in range(2 * p.x_rows)]
        self.words["hbuf"] = [rng.randrange(1 << row_bits) for _ in range(2 * p.h_rows)]
        self.dut = IssueStage(p, predicted)
        widths.update(xbuf=row_bits, hbuf=row_bits)
        self.top = Harness(self.dut, reads={name: _mem(widths[name], len(w), w) for name, w in self.words.items()})

    def expected(self, n_x, slot, read_bank, h_bank, first_step, misses):
        p, w = self.p, self.words
        wb, L = CFG.weight.bits, p.lanes
        beats = []
        for n in misses:
            g, j = n % p.gates, n // p.gates
            parts = [(0, r) for r in range(-(-n_x // L))] + [(1, r) for r in range(p.h_rows)]
            for b, (part, r) in enumerate(parts):
                word = w["weight"][(slot * p.neurons + n) * p.rows_per_neuron + (p.x_rows if part else 0) + r]
                act_word = w["hbuf"][h_bank * p.h_rows + r] if part else w["xbuf"][read_bank * p.x_rows + r]
                acts = [0 if (part and first_step) else _signed(act_word >> (k * ACT), ACT) for k in range(L)]
                hn = p.cell == "gru" and g == 2 and part
                bias = w["bias_hn"][slot * p.hidden + j] if hn else w["bias"][slot * p.neurons + n]
                split = p.cell == "gru" and g == 2 and b == -(-n_x // L) - 1
                beats.append(([_signed(word >> (k * wb), wb) for k in range(L)], acts,
                              _signed(bias, CFG.bias_bits), int(b == len(parts) - 1 or split)))
        return beats


def _beat_decoder(lanes):
    def decode(p):
        return ([int(p.weights[k]) for k in range(lanes)], [int(p.acts[k]) for k in range(lanes)], int(p.bias),
                int(p.last))
    return decode


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("first_step", [0, 1])
def test_issue_stage_beats_of_every_neuron(cell, first_step):
    params = TileParams(cell=cell, input_size=3, hidden=3, slots=2, lanes=2, bnn_width=4)
    bench = _IssueBench(params, predicted=False)
    dut, n_x, slot = bench.dut, 3, 1
    want = bench.expected(n_x, slot, 1, 0, first_step, range(params.neurons))
    result = {}

    async def control(ctx):
        await _start(ctx, dut, "go", n_x=n_x, slot=slot, read_bank=1, first_step=first_step)

    async def beats(ctx):
        result["beats"], _ = await collect(ctx, dut.dot, len(want), _beat_decoder(params.lanes), random.Random(1), 0.3)

    async def tags(ctx):
        n_dots = sum(w[3] for w in want)
        result["tags"], _ = await collect(ctx, dut.tags, n_dots, lambda t: (int(t.g), int(t.part), int(t.j)))

    run(bench.top, control, beats, tags)
    assert result["beats"] == want
    # a tag per dot product, written with its last beat: a plain neuron's is in the recurrent part
    kinds = [(n % params.gates, part, n // params.gates) for n in range(params.neurons)
             for part in ((0, 1) if cell == "gru" and n % params.gates == 2 else (1,))]
    assert result["tags"] == kinds


def test_issue_stage_computes_only_misses_and_keeps_tokens_in_order():
    params = TileParams(cell="lstm", input_size=2, hidden=2, lanes=2, bnn_width=4, front_end=BnnFrontEnd)
    bench = _IssueBench(params, predicted=True)
    dut = bench.dut
    hits = [1, 0, 0, 1, 1, 1, 0, 1]
    decisions = [{"hit": h, "y": n, "context": -n} for n, h in enumerate(hits)]
    misses = [n for n, h in enumerate(hits) if not h]
    want = bench.expected(2, 0, 0, 0, 0, misses)
    result = {}

    async def control(ctx):
        await _start(ctx, dut, "go", n_x=2)
        await drive(ctx, dut.decision, decisions, random.Random(2), 0.3)

    async def beats(ctx):
        result["beats"], _ = await collect(ctx, dut.dot, len(want), _beat_decoder(params.lanes), random.Random(3), 0.3)

    async def tokens(ctx):
        decode = lambda t: {"hit": int(t.hit), "y": int(t.y), "context": int(t.context)}  # noqa: E731
        result["tokens"], _ = await collect(ctx, dut.tokens, len(hits), decode, random.Random(4), 0.3)

    async def tags(ctx):
        await collect(ctx, dut.tags, len(misses), lambda t: int(t.g))

    run(bench.top, control, beats, tokens, tags)
    assert result["beats"] == want and result["tokens"] == decisions


# ------------------------------------------------------------------------------------------ gate feeds

def test_lstm_gate_feed_selects_the_function_by_gate():
    params = TileParams(cell="lstm", input_size=2, hidden=2, lanes=2, bnn_width=4, front_end=BnnFrontEnd)
    dut = LstmGateFeed(params)
    items = [(g, j, 7 * g - 9) for j in range(2) for g in range(4)]
    result = {}

    async def dots(ctx):
        await drive(ctx, dut.dot, [{"acc": 0, "preact": p} for _, _, p in items], random.Random(1), 0.3)

    async def tags(ctx):
        await drive(ctx, dut.tags, [{"g": g, "part": 0, "j": j} for g, j, _ in items])

    async def sink(ctx):
        result["act"], _ = await collect(ctx, dut.act, len(items), lambda a: (int(a.preact), a.func),
                                         random.Random(2), 0.3)

    run(Harness(dut), dots, tags, sink)
    assert result["act"] == [(p, Activation.TANH if g == 2 else Activation.SIGMOID) for g, _, p in items]


@pytest.mark.parametrize("delta", [False, True], ids=["parts", "whole"])
def test_gru_pairing_candidate_of_n_with_the_merged_r(delta):
    """The candidate's parts (one after the other, or whole on the delta tile, in its emission order)
    pair with the r of their unit, which the merge holds in one of its slots beside other units' r."""
    params = TileParams(cell="gru", input_size=2, hidden=4, lanes=2, bnn_width=4,
                        **({"delta": True} if delta else {"front_end": BnnFrontEnd}))
    dut = GruPairing(params)
    slots = r_slots(params)
    rng = random.Random(6)
    acc_lim = 1 << (params.acc_bits - 3)
    accs = {(j, g, part): rng.randint(-acc_lim, acc_lim) for j in range(4) for g in range(3) for part in (0, 1)}
    r_of = {j: rng.randint(-64, 64) for j in range(4)}
    order = [divmod(n, 3) for n in DeltaEmitter.order(params)]
    seq = [(j, g, part) for j, g in order for part in ((0, 1) if g == 2 and not delta else (0,))]
    result = {}

    def preact(acc, frac):
        return int(intops.to_preact(np.int64(acc), frac, CFG.preact))

    async def source(ctx):
        for j, g, part in seq:
            # the merge holds unit j's r in slot j % slots (once r is merged), another unit's in the others
            ctx.set(dut.r_held, (1 << slots) - 1 if g == 2 else 0)
            for s in range(slots):
                unit = j if s == j % slots else (j + 1 + s) % 4
                ctx.set(dut.r_unit[s], unit)
                ctx.set(dut.r[s], r_of[unit])
            whole = delta and g == 2
            payload = {"acc": accs[j, g, part], "preact": preact(accs[j, g, part], CFG.acc_frac)}
            if delta:
                payload["acc_h"] = accs[j, 2, 1] if whole else 0
            ctx.set(dut.tags.payload, {"g": g, "part": int(whole or part), "j": j})
            ctx.set(dut.dot.payload, payload)
            ctx.set(dut.dot.valid, 1)
            await ctx.tick().until(dut.dot.ready)
            ctx.set(dut.dot.valid, 0)

    async def sink(ctx):
        result["act"], _ = await collect(ctx, dut.act, len(order), lambda a: (int(a.preact), a.func),
                                         random.Random(7), 0.3)

    run(dut, source, sink)
    want = []
    for j, g in order:
        if g < 2:
            want.append((preact(accs[j, g, 0], CFG.acc_frac), Activation.SIGMOID))
        else:
            cand = intops.gru_candidate_acc(np.int64(accs[j, 2, 0]), np.int64(accs[j, 2, 1]), np.int64(r_of[j]), CFG)
            want.append((int(intops.neuron_preact(cand, 0, CFG)), Activation.TANH))
    assert result["act"] == want


# ------------------------------------------------------------------------------------------ Merge

def test_merge_orders_hits_and_misses_and_updates_the_front_end():
    params = TileParams(cell="lstm", input_size=2, hidden=2, lanes=2, bnn_width=4, front_end=BnnFrontEnd)
    cells = [111, -222]
    dut = Merge(params, predicted=True)
    hits = [1, 0, 0, 1, 0, 0, 0, 0]
    tokens = [{"hit": h, "y": 50 + n if h else 0, "context": n - 4} for n, h in enumerate(hits)]
    acts = [{"value": -30 - n} for n, h in enumerate(hits) if not h]
    result = {}

    async def control(ctx):
        ctx.set(dut.step_reset, 1)
        await ctx.tick()
        ctx.set(dut.step_reset, 0)
        await drive(ctx, dut.tokens, tokens, random.Random(1), 0.3)

    async def activations(ctx):
        await drive(ctx, dut.act, acts, random.Random(2), 0.3)

    async def updates(ctx):
        got = []
        while len(got) < len(acts):
            if ctx.get(dut.update.valid):
                p = ctx.get(dut.update.payload)
                got.append((int(p.index), int(p.y), int(p.context)))
            await ctx.tick()
        result["updates"] = got

    async def sink(ctx):
        decode = lambda p: (int(p.i), int(p.f), int(p.g), int(p.o), int(p.c))  # noqa: E731
        result["ew"], _ = await collect(ctx, dut.ew, 2, decode, random.Random(3), 0.5)

    run(Harness(dut, reads={"old": _mem(CFG.cell.bits, 2, [_raw(c, CFG.cell.bits) for c in cells])}),
        control, activations, updates, sink)
    ys, it = [], iter(acts)
    for t in tokens:
        ys.append(t["y"] if t["hit"] else next(it)["value"])
    assert result["ew"] == [tuple(ys[0:4]) + (cells[0],), tuple(ys[4:8]) + (cells[1],)]
    assert result["updates"] == [(n, ys[n], n - 4) for n, h in enumerate(hits) if not h]


@pytest.mark.parametrize("delta", [False, True], ids=["issue-order", "delta-order"])
def test_merge_gru_holds_r_and_z_until_their_candidate(delta):
    """GRU: the results in the tile's order (the delta tile's candidates trail by candidate_lag units):
    every unit's element-wise input has its own z and n and h_{t-1,j}, and the slots offer the pairing
    each unit's r with that unit, never a wrong pair."""
    params = TileParams(cell="gru", input_size=2, hidden=5, lanes=2, **({"delta": True} if delta else {}))
    dut = Merge(params, predicted=False)
    order = DeltaEmitter.order(params)
    rng = random.Random(4)
    values = {n: rng.randint(-100, 100) for n in order}
    h_old = [rng.randint(-100, 100) for _ in range(5)]
    rows = [sum(_raw(h_old[r * 2 + k], ACT) << (k * ACT) for k in range(2) if r * 2 + k < 5) for r in range(3)]
    result = {"held": set()}

    async def control(ctx):
        ctx.set(dut.step_reset, 1)
        await ctx.tick()
        ctx.set(dut.step_reset, 0)
        await drive(ctx, dut.act, [{"value": values[n]} for n in order], random.Random(1), 0.3)

    async def watch(ctx):
        for _ in range(200):
            held, units, rs = ctx.get(dut.r_held), ctx.get(dut.r_unit), ctx.get(dut.r)
            for s in range(r_slots(params)):
                if held >> s & 1:
                    result["held"].add((int(units[s]), int(rs[s])))
            await ctx.tick()

    async def sink(ctx):
        result["ew"], _ = await collect(ctx, dut.ew, 5, lambda p: (int(p.z), int(p.n), int(p.h)),
                                        random.Random(3), 0.5)

    run(Harness(dut, reads={"old": _mem(2 * ACT, 2 * params.h_rows, rows)}), control, watch, sink)
    assert result["ew"] == [(values[3 * j + 1], values[3 * j + 2], h_old[j]) for j in range(5)]
    assert result["held"] == {(j, values[3 * j]) for j in range(5)}


# ------------------------------------------------------------------------------------------ StateUpdate

def test_state_update_writes_h_rows_c_and_the_output_stream():
    params = TileParams(cell="lstm", input_size=2, hidden=3, lanes=2, bnn_width=4)
    dut = StateUpdate(params)
    rng = random.Random(8)
    a = 1 << CFG.act.frac
    items = [{"i": rng.randint(0, a), "f": rng.randint(0, a), "g": rng.randint(-a, a), "o": rng.randint(0, a),
              "c": rng.randint(-a, a)} for _ in range(6)]
    hmem, cmem = _mem(2 * ACT, 2 * params.h_rows), _mem(CFG.cell.bits, 3)
    result = {"ends": 0}

    async def source(ctx):
        await drive(ctx, dut.i, items, random.Random(1), 0.3)

    async def sink(ctx):
        result["h"], _ = await collect(ctx, dut.h, 6, lambda p: (int(p.data), int(p.last)), random.Random(3), 0.5)
        result["hbuf"] = [ctx.get(hmem.data[r]) for r in range(2 * params.h_rows)]
        result["c"] = [_signed(ctx.get(cmem.data[j]), CFG.cell.bits) for j in range(3)]

    async def ends(ctx):
        for _ in range(400):
            end = ctx.get(dut.step_end)
            result["ends"] += end
            await ctx.tick()
            if end:
                ctx.set(dut.last_step, 1)       # the next step is the sequence's last

    run(Harness(dut, writes={"hbuf": hmem, "cmem": cmem}), source, sink, ends)
    table = intops.activation_table(intops.TANH, CFG.preact, CFG.act)
    gold = [intops.lstm_cell_update(*(np.int64(it[k]) for k in "ifgoc"), table, CFG) for it in items]
    h = [int(x[0]) for x in gold]
    assert result["h"] == [(v, int(n == 5)) for n, v in enumerate(h)]
    assert result["c"] == [int(x[1]) for x in gold[3:]]
    # step 0's h went to bank 1 (rows 2, 3), step 1's to bank 0 (rows 0, 1)
    assert result["hbuf"] == [_pack(h[3:5], ACT), _pack(h[5:6], ACT), _pack(h[0:2], ACT), _pack(h[2:3], ACT)]
    assert result["ends"] == 2


# ------------------------------------------------------------------------------------------ PerfCounters

def test_perf_counters_count_events_and_clear():
    dut = PerfCounters(8)
    pattern = [(1, 0, 0, 1), (1, 1, 1, 0), (0, 1, 0, 0), (1, 1, 1, 1)]
    got = []

    async def bench(ctx):
        for events in pattern:
            for name, v in zip(("active", "evaluated", "reused", "stalled"), events, strict=True):
                ctx.set(getattr(dut, name), v)
            await ctx.tick()
        got.append([ctx.get(getattr(dut, n)) for n in ("cycles", "evaluations", "reuses", "stalls")])
        ctx.set(dut.clear, 1)
        await ctx.tick()
        got.append([ctx.get(getattr(dut, n)) for n in ("cycles", "evaluations", "reuses", "stalls")])

    run(dut, bench)
    assert got == [[3, 3, 2, 2], [0, 0, 0, 0]]


# ------------------------------------------------------------------------------------------ cycle model

@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_cycle_model_is_the_sum_of_the_parts_latencies(cell):
    params = TileParams(cell=cell, input_size=4, hidden=4, lanes=2, bnn_width=8, front_end=BnnFrontEnd)
    want = (IssueStage.latency + DotProductUnit.latency + gate_feed_class(cell).latency + ActivationUnit.latency
            + Merge.latency + update_unit_class(cell).latency)
    assert pipeline_latency(params) == want == {"lstm": 21, "gru": 16}[cell]   # docs/tile.md
    assert step_overhead(params) == want + StepSequencer.latency - 1
    # the documented example (docs/tile.md): baseline 3 + 3*(16*4 + 21), memo 16 misses then all hits
    if cell == "lstm":
        assert expected_cycles(params, 4, 3) == 258
        assert expected_cycles(params, 4, 3, [16, 0, 0]) == 179


# ------------------------------------------------------------------------------------------ the seam

class NeverReuse(FrontEnd):
    """A second predictor (test only): never reuses, no memories, its own decision counter. Shows that
    a front end is any component with the interface: the tile then computes every neuron."""

    latency = 1

    @classmethod
    def memories(cls, params):
        return {}

    @classmethod
    def context_shape(cls, params):
        return unsigned(1)

    @classmethod
    def decision_timing(cls, params, n_x):
        return cls.latency, 1

    @classmethod
    def image_words(cls, params, slot, weights):
        return {}

    @classmethod
    def counters(cls, params):
        return ("decisions", "updates")

    def elaborate(self, platform):
        m = Module()
        left = Signal(range(self.params.neurons + 1))
        with m.If(self.step_reset):
            m.d.sync += left.eq(self.params.neurons)
        with m.Elif(self.decision.valid & self.decision.ready):
            m.d.sync += left.eq(left - 1)
        m.d.comb += [self.decision.valid.eq(self.go & (left != 0)), self.decision.payload.hit.eq(0),
                     self.count_decisions.eq(self.decision.valid & self.decision.ready),
                     self.count_updates.eq(self.update.valid)]
        return m


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_different_front_end_plugs_into_the_tile(cell):
    from golden_model.fixed_model import FixedPointNetwork
    from hw.tile import Tile
    from hw.tile_image import memory_image

    fixed = FixedPointNetwork(normal_network(cell, 3, 4, seed=2))
    params = TileParams.for_network(fixed, lanes=2, bnn_width=8, front_end=NeverReuse)
    assert "predictor" not in params.depths() and params.front_end is NeverReuse
    image = memory_image(params, fixed)
    tile = Tile(params, image)
    assert isinstance(tile.front_end, NeverReuse) and "front_end" in tile.parts()
    x = random_inputs(fixed.config, 1, 4, 3, seed=3)[0]
    res = run_sequences(tile, [TileSequence(x, memo_enable=1)], seed=1, gap=0.2, stall=0.2)
    gold = fixed.run(x[None])
    assert np.array_equal(res.h[0], gold.out[0])
    assert res.counters[0]["reuses"] == 0 and res.counters[0]["evaluations"] == params.neurons * 4
    # the front end's own counters are tile outputs, counted and cleared like the tile's
    assert res.counters[0]["decisions"] == res.counters[0]["updates"] == params.neurons * 4
    assert {"decisions", "updates"} <= set(dict(tile.signature.members))


# ------------------------------------------------------------------------------------------ bad parameters

def test_bad_part_parameters():
    lstm = TileParams(cell="lstm", input_size=2, hidden=2, lanes=2, bnn_width=4, front_end=BnnFrontEnd)
    gru = TileParams(cell="gru", input_size=2, hidden=2, lanes=2, bnn_width=4, front_end=BnnFrontEnd)
    for build, err in [(lambda: RowWriter(0, 4, 2, 8), ValueError), (lambda: RowWriter(2, 4, 1, 8), ValueError),
                       (lambda: RowWriter(2, 4, 2, 8, first_bank=2), ValueError),
                       (lambda: RowWriter(2.0, 4, 2, 8), TypeError), (lambda: SignBits(0, 8), ValueError),
                       (lambda: StepSequencer("lstm"), TypeError), (lambda: BnnFeeder(None), TypeError),
                       (lambda: BnnFrontEnd({}), TypeError), (lambda: IssueStage(lstm, 1), TypeError),
                       (lambda: Merge(lstm, None), TypeError), (lambda: LstmGateFeed(gru), ValueError),
                       (lambda: IssueStage(TileParams(cell="lstm", input_size=2, hidden=2), True),
                        ValueError),
                       (lambda: GruPairing(lstm), ValueError), (lambda: StateUpdate(3), TypeError),
                       (lambda: PerfCounters(0), ValueError)]:
        with pytest.raises(err):
            build()
    with pytest.raises(TypeError):
        check_front_end("front_end", LstmCellUnit)
    with pytest.raises(TypeError):
        TileParams(cell="lstm", input_size=2, hidden=2, front_end=object)
    with pytest.raises(TypeError):
        TileParams(cell="lstm", input_size=2, hidden=2, front_end="bnn")   # a name, not the class
    assert TileParams(cell="lstm", input_size=2, hidden=2, front_end=BnnFrontEnd).memo is True
    assert TileParams(cell="lstm", input_size=2, hidden=2).memo is False      # no front end: the baseline


# ------------------------------------------------------------------------------------- decision FIFO

def test_head_register_fifo_keeps_order_and_its_latency():
    """HeadRegisterFIFO (the decision FIFO): every item once and in order under random gaps and
    back-pressure; an item written into an empty FIFO is on ``o`` exactly ``latency`` cycles later."""
    from amaranth.lib import data

    from hw.pipeline import HeadRegisterFIFO

    layout = data.StructLayout({"v": unsigned(8)})
    items = [{"v": k % 256} for k in range(300)]
    dut = HeadRegisterFIFO(layout, 4)
    out = {}

    async def source(ctx):
        await drive(ctx, dut.i, items, random.Random(1), gap=0.4)

    async def sink(ctx):
        out["items"], _ = await collect(ctx, dut.o, len(items), lambda p: {"v": p.v}, random.Random(2), stall=0.4)

    run(dut, source, sink)
    assert out["items"] == items

    dut = HeadRegisterFIFO(layout, 4)
    seen = {}

    async def timing(ctx):
        ctx.set(dut.o.ready, 1)
        await ctx.tick().repeat(2)            # i.ready is a register: high from the cycle after reset
        ctx.set(dut.i.payload, {"v": 7})
        ctx.set(dut.i.valid, 1)
        await ctx.tick()
        ctx.set(dut.i.valid, 0)
        for cycle in range(1, 6):
            if ctx.get(dut.o.valid):
                seen.setdefault("cycle", cycle)
            await ctx.tick()

    run(dut, timing)
    assert seen["cycle"] == HeadRegisterFIFO.latency == 2


# ------------------------------------------------------------------------------------------- SkidBuffer

@pytest.mark.parametrize("late", SkidBuffer.LATE)
@pytest.mark.parametrize("layout,depth", [(unsigned(5), 2), ({"v": unsigned(8), "w": unsigned(3)}, 2),
                                          (unsigned(5), 3), (unsigned(5), 1)], ids=["shape", "struct", "depth3",
                                                                                   "depth1"])
def test_skid_buffer_keeps_order_passes_through_and_holds_depth(layout, depth, late):
    """SkidBuffer: every item once and in order under random gaps and back-pressure (a plain shape or a
    struct payload); with the consumer ready an item is on ``o`` in its own cycle (latency 0); with the
    consumer stalled the producer is taken for exactly ``depth`` items, and ``i.ready`` follows the
    FIFO's level only, never ``o.ready`` in the same cycle."""
    from amaranth.lib import data

    struct = isinstance(layout, dict)
    shape = data.StructLayout(layout) if struct else layout
    items = [{"v": k % 256, "w": k % 8} if struct else k % 32 for k in range(300)]
    dut = SkidBuffer(shape, depth, late=late)
    out = {}

    def decode(p):
        return {"v": p.v, "w": p.w} if struct else p

    async def source(ctx):
        await drive(ctx, dut.i, items, random.Random(3), gap=0.4)

    async def sink(ctx):
        out["items"], _ = await collect(ctx, dut.o, len(items), decode, random.Random(4), stall=0.5)

    run(dut, source, sink)
    assert out["items"] == items

    dut = SkidBuffer(unsigned(5), depth, late=late)
    log = []

    async def timing(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.payload, 9)
        ctx.set(dut.i.valid, 1)
        log.append(("through", ctx.get(dut.o.valid), ctx.get(dut.o.payload)))
        await ctx.tick()
        ctx.set(dut.o.ready, 0)                   # stalled: the FIFO fills
        taken = 0
        for value in range(depth + 3):
            ctx.set(dut.i.payload, value)
            ready = ctx.get(dut.i.ready)
            ctx.set(dut.o.ready, 1)               # o.ready high in the same cycle changes no i.ready
            log.append(("ready", ready, ctx.get(dut.i.ready)))
            ctx.set(dut.o.ready, 0)
            taken += ready
            await ctx.tick()
        log.append(("taken", taken))

    run(dut, timing)
    assert log[0] == ("through", 1, 9)
    assert all(entry[1] == entry[2] for entry in log[1:-1])
    assert log[-1] == ("taken", depth)


# ------------------------------------------------------------------------------------------- thermometer

@pytest.mark.parametrize("bits,width", [(1, 3), (2, 4), (3, 5), (7, 64), (8, 200)])
def test_thermometer_is_k_below_value_for_every_value(bits, width):
    """hw.codes.thermometer: bit k = (k < value) for every value of the field, widths below, at and past
    2**bits (the bits past every value are 0)."""
    from amaranth.sim import Simulator

    from hw.codes import thermometer

    m, value = Module(), Signal(bits)
    code = Signal(width)
    m.d.comb += code.eq(thermometer(value, width))
    seen = []

    async def bench(ctx):
        for v in range(1 << bits):
            ctx.set(value, v)
            seen.append(ctx.get(code))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [(1 << min(v, width)) - 1 for v in range(1 << bits)]


@pytest.mark.parametrize("args,kwargs,error", [((unsigned(4), 0), {}, ValueError), ((unsigned(4), 2.0), {}, TypeError),
                                               ((unsigned(4),), {"late": "valid"}, ValueError)])
def test_skid_buffer_rejects_bad_parameters(args, kwargs, error):
    with pytest.raises(error, match="SkidBuffer"):
        SkidBuffer(*args, **kwargs)


def test_thermometer_rejects_an_empty_width():
    from hw.codes import thermometer

    with pytest.raises(ValueError, match="at least 1"):
        thermometer(Signal(4), 0)
