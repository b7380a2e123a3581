# amaranth: UnusedElaboratable=no
"""The output rule's memo table (hw/output_rule.py) in the Amaranth simulator and in cocotb on Icarus and
Verilator (sim/testbenches/tb_output_rule.py) against the golden model's output rule
(golden_model.memo.MemoTable.predicted_preact, intops.activate, intops.within_threshold), under random valid
gaps and back-pressure; throughput and latency."""

import random

import numpy as np
import pytest
from amaranth_streams import collect, drive, run

from golden_model import intops
from golden_model.formats import FixedPointConfig
from hw.activation import Activation
from hw.output_rule import OutputRuleTable
from hw.top import ReadyPorts
from sim.runner import pytest_simulators, run_component
from sim.unit_vectors import config_by_name

CFG = FixedPointConfig()


def _func(n):
    return Activation.TANH if n % 3 == 2 else Activation.SIGMOID


def _act(func, p):
    kind = intops.TANH if func == Activation.TANH else intops.SIGMOID
    return int(intops.activate(kind, p, intops.activation_table(kind, CFG.preact, CFG.act), CFG.act))


def golden_decision(entry, s, shift, gain, func, theta, form):
    """(hit, y) of one lookup against a cached (y_m, p_m, s_m) entry (None: invalid)."""
    if entry is None:
        return 0, 0
    y_m, p_m, s_m = entry
    limit = intops.preact_limit(CFG.preact)
    p_hat = int(np.clip(p_m + int(intops.round_shift(gain * (s - s_m), shift)), -limit, limit))
    hit = bool(intops.within_threshold(_act(func, p_hat), y_m, theta, form))
    return int(hit), y_m if hit else 0


@pytest.mark.parametrize("gain_bits", [0, 5])
@pytest.mark.parametrize("form", ["relative", "absolute"])
def test_output_rule_table_equals_the_golden_rule(gain_bits, form):
    entries, s_bits = 12, 20
    dut = OutputRuleTable(entries, CFG, s_bits, gain_bits)
    rng = random.Random(3 if form == "relative" else 4)
    theta = intops.quantize_threshold(0.2 if form == "relative" else 40, form)
    table = {}
    rounds = []
    for _ in range(4):
        # cached outputs consistent with their preactivation (as the datapath computes them), or not
        updates = []
        for n in rng.sample(range(entries), 7):
            p = rng.randrange(-511, 512)
            y = _act(_func(n), p) if rng.random() < 0.8 else rng.randrange(-2048, 2048)
            updates.append((n, y, p, rng.randrange(-40000, 40000)))
        for n, y, p, s in updates:
            table[n] = (y, p, s)
        lookups = []
        for n in range(entries + 2):   # two out of range: always a miss
            base = table.get(n, (0, 0, 0))[2]
            lookups.append({"index": n, "s": base + rng.choice([0, 1, -3, 50, -700, 9000]),
                            "shift": rng.choice([0, 3, 9, 12]), "func": _func(n),
                            **({"gain": rng.randrange(32)} if gain_bits else {})})
        want = [golden_decision(table.get(lk["index"]) if lk["index"] < entries else None, lk["s"], lk["shift"],
                                lk.get("gain", 1), lk["func"], theta, form) for lk in lookups]
        rounds.append((updates, lookups, want))
    got = []

    async def producer(ctx):
        ctx.set(dut.enable, 1)
        ctx.set(dut.theta, theta)
        ctx.set(dut.form, 1 if form == "absolute" else 0)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        for k, (updates, lookups, _) in enumerate(rounds):
            while len(got) < k:       # the previous round's responses are all out: no lookup in flight
                await ctx.tick()
            for n, y, p, s in updates:
                ctx.set(dut.update.valid, 1)
                ctx.set(dut.update.payload, {"index": n, "y": y, "p": p, "s": s})
                await ctx.tick()
            ctx.set(dut.update.valid, 0)
            await drive(ctx, dut.lookup, lookups, rng, gap=0.3)

    async def consumer(ctx):
        def decode(payload):
            return int(payload.hit), int(payload.y), int(payload.index), int(payload.s)
        for _, lookups, _ in rounds:
            items, _ = await collect(ctx, dut.response, len(lookups), decode, random.Random(9), stall=0.3)
            got.append(items)

    run(dut, producer, consumer)
    for (_, lookups, want), items in zip(rounds, got, strict=True):
        assert [(h, y) for h, y, _, _ in items] == want
        assert [(i, s) for _, _, i, s in items] == [(lk["index"], lk["s"]) for lk in lookups]
    assert sum(h for _, _, want in rounds for h, _ in want) > 5   # the case exercises hits


#: (entries, s_bits, gain_bits, formats): the tile's use (no gain, out-of-range indices), a gain and narrow formats.
COCOTB_CONFIGS = [(12, 24, 0, "default"), (8, 10, 4, "narrow")]
COCOTB_PARAMS = {"sequences": 6, "steps": 8, "latency": OutputRuleTable.latency,
                 "phases": [[1.0, 1.0], [0.5, 1.0], [1.0, 0.4], [0.4, 0.4]]}


@pytest.mark.parametrize("entries,s_bits,gain_bits,cfg", COCOTB_CONFIGS,
                         ids=[f"E{e}-S{s}-G{g}-{c}" for e, s, g, c in COCOTB_CONFIGS])
@pytest.mark.parametrize("sim", pytest_simulators())
def test_cocotb(sim, entries, s_bits, gain_bits, cfg):
    table = ReadyPorts(OutputRuleTable(entries, config_by_name(cfg), s_bits, gain_bits))
    run_component(table, sim, "sim.testbenches.tb_output_rule", name="output_rule_table",
                  config={"entries": entries, "s_bits": s_bits, "gain_bits": gain_bits, "cfg": cfg},
                  params={**COCOTB_PARAMS, "seed": entries}, tests=2)
