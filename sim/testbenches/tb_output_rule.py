"""cocotb testbench of hw.output_rule.OutputRuleTable behind hw.top.ReadyPorts (run through sim.runner).

golden_steps -- tile-like use scored against the golden output rule step by step: per sequence a clear
                (enable, theta, form and the output-rule shift of the sequence; a per-neuron gain when the
                table has one), then per step a lookup of every neuron in random order (plus out-of-range
                indices: always a miss) and an update (y, p, s) for each miss, under random valid gaps and
                back-pressure (``phases``). Expected decisions from golden_model.memo.MemoTable with the
                output rule: p^ = predicted_preact (clip(p_m + round_shift(gain * (s - s_m), shift))),
                y^ = intops.activate(func, p^), then MemoTable.apply (within_threshold(y^, y_m)).
throughput   -- lookups back to back with ``response.ready`` high: one per cycle, each response
                ``latency`` cycles after its lookup.

params: seed, sequences, steps, phases ([valid_prob, ready_prob] ...), latency."""

from __future__ import annotations

import random

import cocotb
import numpy as np

from golden_model import intops
from golden_model import memo as gmemo
from sim.runner import load_design, load_params
from sim.streams import start_clock_and_reset
from sim.testbenches.checks import back_to_back
from sim.testbenches.low_rank_ref import signed_range
from sim.testbenches.memo_steps import MemoSteps
from sim.unit_vectors import config_by_name

KINDS = (intops.SIGMOID, intops.TANH)   # index = the hw.activation.Activation encoding


class Rule:
    """The table's formats and the golden activation of a lookup's ``func``."""

    def __init__(self, design):
        c = design["config"]
        self.entries, self.s_bits, self.gain_bits = c["entries"], c["s_bits"], c["gain_bits"]
        self.cfg = cfg = config_by_name(c["cfg"])
        self.limit = intops.preact_limit(cfg.preact)
        self.tables = {k: intops.activation_table(k, cfg.preact, cfg.act) for k in KINDS}
        self.index_max = (1 << max(1, (self.entries - 1).bit_length())) - 1

    def act(self, funcs, p):
        return np.array([int(intops.activate(KINDS[f], int(v), self.tables[KINDS[f]], self.cfg.act))
                         for f, v in zip(funcs, p, strict=True)], dtype=np.int64)


async def _start(dut):
    dut.clear.value = dut.enable.value = dut.theta.value = dut.form.value = 0
    dut.lookup__valid.value = dut.update__valid.value = dut.response__ready.value = 0
    await start_clock_and_reset(dut)


@cocotb.test()
async def golden_steps(dut):
    p, design = load_params(), load_design()
    rule = Rule(design)
    n, s_lo, s_hi = rule.entries, *signed_range(rule.s_bits)
    p_lo, p_hi = -rule.limit, rule.limit
    y_lo, y_hi = signed_range(rule.cfg.act.bits)
    rng = random.Random(p.get("seed", 1))
    await _start(dut)
    bench = MemoSteps(dut, design, rng, f"output_rule_table({n},{rule.s_bits},{rule.gain_bits}).response",
                      p.get("phases", [[1.0, 1.0]]))
    async for seq, form, theta, enable in bench.sequences(p.get("sequences", 4)):
        shift = rng.choice([0, 1, 4, 9, 16, 63]) if seq >= 2 else (0, 12)[seq]
        gain = np.array([rng.choice([0, 1, (1 << rule.gain_bits) - 1, rng.randrange(1 << rule.gain_bits)])
                         for _ in range(n)] if rule.gain_bits else [1] * n, dtype=np.int64)
        funcs = [rng.randint(0, 1) for _ in range(n)]
        golden = gmemo.MemoTable(gmemo.MemoPolicy(gmemo.PREDICTED if enable else gmemo.OFF, 0.0, form,
                                                  rule=gmemo.OUTPUT_RULE), 1, n, np.array([[theta]]))
        s = np.array([rng.randint(s_lo, s_hi) for _ in range(n)], dtype=np.int64)
        for step in range(p.get("steps", 8)):
            # scores drift (small changes: hits), jump (misses) and hit the corners of the range
            for j in range(n):
                r = rng.random()
                if r < 0.1:
                    s[j] = rng.choice([s_lo, s_hi, 0])
                elif r < 0.25:
                    s[j] = rng.randint(s_lo, s_hi)
                elif r < 0.8:
                    s[j] = min(s_hi, max(s_lo, s[j] + (rng.randint(-3, 3) << rng.choice([0, 0, shift // 2]))))
            # computed neurons: p in range (sometimes at the limits), y = act(p) mostly
            pre = np.array([rng.choice([p_lo, p_hi]) if rng.random() < 0.1 else rng.randint(p_lo, p_hi)
                            for _ in range(n)], dtype=np.int64)
            y = rule.act(funcs, pre)
            odd = [j for j in range(n) if rng.random() < 0.1]
            y[odd] = [rng.randint(y_lo, y_hi) for _ in odd]
            p_hat = golden.predicted_preact(slice(None), s[None], gain, shift, rule.limit)[0]
            out, hit = golden.apply(slice(None), y[None], s[None], np.array([True]), p=pre[None],
                                    predicted=rule.act(funcs, p_hat)[None])
            bench.computed = {j: {"index": j, "y": int(y[j]), "p": int(pre[j]), "s": int(s[j])} for j in range(n)}
            order = rng.sample(range(n), n) + [rng.randint(n, rule.index_max) for _ in range(rule.index_max >= n)]
            for j in order:
                h = j < n and bool(hit[0, j])
                item = {"index": j, "s": int(s[j % n]), "shift": shift, "func": funcs[j % n]}
                if rule.gain_bits:
                    item["gain"] = int(gain[j % n])
                bench.lookup(item, {"hit": int(h), "y": int(out[0, j]) if h else 0, "index": j, "s": item["s"]},
                             f"seq {seq} step {step} theta {theta} {form} enable {enable} shift {shift}")
            await bench.end_step(f"step {step}")
    await bench.finish("golden_steps")
    assert bench.hits > bench.lookups // 10, f"only {bench.hits} hits: the case exercises too few"


@cocotb.test()
async def throughput(dut):
    """Back to back lookups, ready high: one decision per cycle, each ``latency`` cycles after its lookup."""
    p, design = load_params(), load_design()
    rule = Rule(design)
    await _start(dut)
    await back_to_back(dut, design, "lookup", "response",
                       [{"index": k % rule.entries, "s": 0, "shift": 0, "func": k % 2,
                         **({"gain": 1} if rule.gain_bits else {})} for k in range(200)], p["latency"])
