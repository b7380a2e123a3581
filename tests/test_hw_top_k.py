# amaranth: UnusedElaboratable=no
"""The top-k predictor's parts (hw/top_k.py) in the Amaranth simulator against the golden definition
(golden_model.predictors.TopK): the changes of the elements, the k-largest selection with its ties, and the
running score of the neurons; parameter checks."""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.hdl import Module, unsigned
from amaranth.lib import memory, wiring
from amaranth.sim import Simulator
from amaranth_streams import collect, drive, run

from golden_model.formats import FixedPointConfig
from golden_model.predictors import TopK
from hw.activation import Activation
from hw.top_k import InputChanges, TopKList, TopKScorer, topk_score_bits
from sim import runner
from sim.runner import pytest_simulators
from sim.testbenches.tb_top_k import scorer_rows

ACT = 8


def golden_chosen(delta, k):
    """The golden model's chosen (index, delta) of one step, zero changes as empty entries (0, 0)."""
    delta = np.asarray(delta, dtype=np.int64)
    chosen = np.argsort(-np.abs(delta), kind="stable")[:min(k, delta.size)]
    picked = [(int(i), int(delta[i])) for i in chosen if delta[i] != 0]
    return picked + [(0, 0)] * (k - len(picked))


def _chosen(value, k):
    return [(int(value[p].index), int(value[p].delta)) for p in range(k)]


def _simulator(dut, *benches, process=None):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for bench in benches:
        sim.add_testbench(bench)
    if process is not None:
        sim.add_process(process)
    return sim


def test_input_changes_are_the_golden_deltas():
    """Two sequences of x and h elements (random gaps): every nonzero v_t - v_{t-1} comes out once, the
    cycle after its element, with its step's parity (h_t belongs to step t + 1); seq_start compares the
    next elements with zero."""
    inputs, hidden, steps = 3, 4, 4
    rng = np.random.default_rng(1)
    x = rng.integers(-3, 3, (2, steps, inputs))
    h = rng.integers(-3, 3, (2, steps, hidden))
    dut = InputChanges(inputs, hidden, ACT)
    want, got = [], []
    for q in range(2):
        px, ph = np.zeros(inputs, dtype=np.int64), np.zeros(hidden, dtype=np.int64)
        for t in range(steps):
            g = q * steps + t
            want += [(i, int(d), g % 2) for i, d in enumerate(x[q, t] - px) if d]
            want += [(inputs + j, int(d), (g + 1) % 2) for j, d in enumerate(h[q, t] - ph) if d]
            px, ph = x[q, t], h[q, t]
    pace = random.Random(2)

    async def send(ctx, port, values):
        for i, v in enumerate(values):
            ctx.set(port.payload, {"data": int(v), "index": i, "last": i == len(values) - 1})
            ctx.set(port.valid, 1)
            await ctx.tick()
            ctx.set(port.valid, 0)
            ctx.set(dut.seq_start, 0)
            while pace.random() < 0.3:
                await ctx.tick()

    async def bench(ctx):
        for q in range(2):
            ctx.set(dut.seq_start, 1)
            for t in range(steps):
                await send(ctx, dut.x, x[q, t])
                await send(ctx, dut.h, h[q, t])
        await ctx.tick().repeat(2)

    async def watch(ctx):
        async for _, _, xv, xp, hv, hp in ctx.tick().sample(dut.xo.valid, dut.xo.payload, dut.ho.valid,
                                                           dut.ho.payload):
            for valid, p in ((xv, xp), (hv, hp)):
                if valid:
                    got.append((int(p.index), int(p.delta), int(p.bank)))

    _simulator(dut, bench, process=watch).run()
    assert got == want


@pytest.mark.parametrize("k", [1, 3, 5])
def test_selection_equals_the_golden_top_k(k):
    """Random changes with many ties inserted in a random order (two per cycle at times) into alternate
    banks, a swap between steps: the read bank is the golden choice (largest |delta|, lower index first)."""
    elements, steps = 9, 6
    rng = np.random.default_rng(k)
    deltas = rng.integers(-4, 5, (steps, elements))
    dut = TopKList(k, elements, ACT)
    seen = []

    async def swap(ctx):
        ctx.set(dut.swap, 1)
        await ctx.tick()
        ctx.set(dut.swap, 0)

    async def bench(ctx):
        await swap(ctx)   # step 0 writes bank 0 while bank 1 is read
        for t in range(steps):
            order = [int(i) for i in rng.permutation(elements) if deltas[t, i]]
            while order:
                for port in (dut.a, dut.b):
                    if order and rng.random() < 0.7:
                        i = order.pop()
                        ctx.set(port.payload, {"index": i, "delta": int(deltas[t, i]), "bank": t % 2})
                        ctx.set(port.valid, 1)
                await ctx.tick()
                ctx.set(dut.a.valid, 0)
                ctx.set(dut.b.valid, 0)
            if t:   # the bank read meanwhile still holds the previous step's choice
                assert _chosen(ctx.get(dut.chosen), k) == seen[-1]
            await swap(ctx)
            seen.append(_chosen(ctx.get(dut.chosen), k))
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        assert _chosen(ctx.get(dut.chosen), k) == [(0, 0)] * k

    run(dut, bench)
    assert seen == [golden_chosen(d, k) for d in deltas]


class _WithMemory(wiring.Component):
    """A scorer reading its weight rows from a memory of ``rows`` (its other members are the scorer's)."""

    def __init__(self, dut, rows):
        self.dut, self.rows = dut, rows
        super().__init__({name: member for name, member in dut.signature.members.items() if name != "w_row"})

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        m.submodules.mem = mem = memory.Memory(shape=unsigned(dut.width), depth=len(self.rows), init=self.rows)
        wiring.connect(m, dut.w_row, mem.read_port())
        wiring.connect(m, wiring.flipped(self.i), dut.i)
        wiring.connect(m, dut.o, wiring.flipped(self.o))
        m.d.comb += [dut.chosen.eq(self.chosen), dut.clear.eq(self.clear), dut.w_base.eq(self.w_base)]
        return m


@pytest.mark.parametrize("weight_bits", [3, 6])
def test_scorer_is_the_golden_running_score(weight_bits):
    """Four steps of every neuron with random chosen changes, random gaps and back-pressure: s_n equals
    the golden running score sum_t sum_j w'[n, i_j] delta_j; ``clear`` (before step 2) restarts it."""
    neurons, elements, k = 5, 6, 3
    rng = np.random.default_rng(weight_bits)
    w = TopK(k, weight_bits).prepare(rng.integers(-300, 300, (neurons, elements)), FixedPointConfig()).factors["w"]
    mask = (1 << weight_bits) - 1
    rows = [sum((int(v) & mask) << (f * weight_bits) for f, v in enumerate(row)) | (5 << (elements * weight_bits))
            for row in w]
    scorer = TopKScorer(neurons, k, elements, ACT, weight_bits, topk_score_bits(ACT, weight_bits, k, 16), neurons + 2)
    dut = _WithMemory(scorer, [0, 0] + rows)
    steps = [[(int(i), int(rng.integers(-200, 200))) for i in rng.choice(elements, k, replace=False)]
             for _ in range(4)]
    expect, total = [], np.zeros(neurons, dtype=np.int64)
    for t, chosen in enumerate(steps):
        total = (0 if t == 2 else total) + sum(d * w[:, i] for i, d in chosen)
        expect += [(n, int(total[n]), 5) for n in range(neurons)]
    pace, got = random.Random(weight_bits), []

    async def producer(ctx):
        ctx.set(dut.w_base, 2)
        for t, chosen in enumerate(steps):
            ctx.set(dut.chosen, [{"index": i, "delta": d} for i, d in chosen])
            if t == 2:
                ctx.set(dut.clear, 1)
                await ctx.tick()
                ctx.set(dut.clear, 0)
            await drive(ctx, dut.i, [{"index": n, "func": Activation.SIGMOID} for n in range(neurons)], pace, 0.3)
            while len(got) < (t + 1) * neurons:
                await ctx.tick()

    async def consumer(ctx):
        decode = lambda p: (int(p.index), int(p.s), int(p.shift))  # noqa: E731
        for _ in range(len(steps)):
            got.extend((await collect(ctx, dut.o, neurons, decode, pace, 0.3))[0])

    _simulator(dut, producer, consumer).run()
    assert got == expect


COCOTB_CONFIGS = [{"neurons": 6, "k": 3, "elements": 7, "act_bits": 8, "weight_bits": 4, "base": 3, "seed": 1},
                  {"neurons": 12, "k": 5, "elements": 20, "act_bits": 12, "weight_bits": 6, "base": 0, "seed": 2}]


@pytest.mark.parametrize("cfg", COCOTB_CONFIGS, ids=["small", "wide"])
@pytest.mark.parametrize("sim", pytest_simulators())
def test_cocotb_scorer(sim, cfg):
    """The scorer in Verilog (Icarus, Verilator) under random valid gaps and back-pressure against the
    golden running score (sim/testbenches/tb_top_k.py)."""
    _, rows = scorer_rows(cfg)
    s_bits = topk_score_bits(cfg["act_bits"], cfg["weight_bits"], cfg["k"], 64)
    dut = TopKScorer(cfg["neurons"], cfg["k"], cfg["elements"], cfg["act_bits"], cfg["weight_bits"], s_bits,
                     len(rows))
    design = runner.Design.from_component(dut, name="top_k_scorer_port", config=cfg)
    result = runner.run(design, sim, "sim.testbenches.tb_top_k",
                        params={"sequences": 3, "steps": 6, "phases": [[1.0, 1.0], [0.6, 0.5], [0.8, 0.3]]})
    assert result["tests"] == 1


@pytest.mark.parametrize("build, error", [
    (lambda: InputChanges(0, 4, 8), ValueError), (lambda: InputChanges(3, 4, 8.0), TypeError),
    (lambda: TopKList(65, 8, 8), ValueError), (lambda: TopKList(2, 1, 8), ValueError),
    (lambda: TopKScorer(4, 2, 6, 8, 1, 20, 4), ValueError), (lambda: TopKScorer(4, 2, 6, 8, 4, True, 4), TypeError),
])
def test_bad_parameters(build, error):
    with pytest.raises(error, match=r"(InputChanges|TopKList|TopKScorer) \w+ must be"):
        build()
