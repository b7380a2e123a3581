"""cocotb testbench of hw.low_rank.Projection behind hw.top.ReadyPorts (run through sim.runner).

The x and h element streams are always ready, so the test drives them cycle by cycle itself (random valid
gaps) and checks ``z`` in every cycle, as the tile uses the block: per sequence, ``first_step`` high, the
x_0 elements, then per step t a window in which the x_{t+1} and h_t elements arrive (both streams at once,
random gaps) and ``z`` must hold z_t = [x_t ; h_{t-1}] @ [B_x ; B_h] (h part zero on the first step), then
``swap`` (step_end) 0..3 cycles after the window's last element. While x_0 arrives (the x read bank is the
bank written then) ``z`` must be the partial sum of the elements seen 2 cycles before (latency 2). z is
scored against golden_model.predictors.LowRank; the factor memory (sim/testbenches/low_rank_ref.py) holds
the B rows at ``x_base`` / ``h_base`` among junk rows; sequence 0 uses the most negative factors and
elements (the widest z).

tile_steps  -- ``sequences`` sequences of ``steps`` steps, valid probabilities from ``valid_probs``.
back_to_back -- one sequence with elements every cycle and every swap right after the last element.

params: seed, sequences, steps, valid_probs, x_base, h_base, latency."""

from __future__ import annotations

import random

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

from hw.low_rank import factor_word
from hw.output_rule import SHIFT_BITS
from sim.codec import PayloadCodec
from sim.runner import load_design, load_params
from sim.streams import start_clock_and_reset, stream_codec
from sim.testbenches.low_rank_ref import factor_rows, golden_z, serve_read_port, signed_range


class ProjectionBench:
    def __init__(self, dut, rng: random.Random):
        self.dut, self.rng = dut, rng
        self.p, design = load_params(), load_design()
        self.cfg = cfg = design["config"]
        self.rank, self.bits = cfg["rank"], cfg["bits"]
        self.lo, self.hi = signed_range(cfg["act_bits"])
        self.codecs = {name: stream_codec(design, name) for name in ("x", "h")}
        self.z_codec = PayloadCodec(design["ports"]["z"]["shape"])
        self.x_base, self.h_base = self.p["x_base"], self.p["h_base"]
        self.latency = self.p["latency"]
        self.words: dict[int, int] = {}
        self.cycle = 0
        self.checked = 0
        self.errors: list[str] = []

    def load_factors(self, corner: bool) -> None:
        """New B rows (all fields most negative with ``corner``), junk in every other row."""
        cfg, rng = self.cfg, self.rng
        _, junk, _ = factor_rows(rng, cfg["depth"], self.rank, self.bits, SHIFT_BITS)
        self.words.clear()
        self.words.update(enumerate(junk))
        parts = {}
        for name, rows, base in (("x", cfg["inputs"], self.x_base), ("h", cfg["hidden"], self.h_base)):
            b, words, _ = factor_rows(rng, rows, self.rank, self.bits, SHIFT_BITS)
            if corner:
                b[:] = signed_range(self.bits)[0]
                words = [factor_word(row, self.bits) for row in b]
            self.words.update({base + i: w for i, w in enumerate(words)})
            parts[name] = b
        self.b = parts

    def elements(self, n: int, corner: bool) -> np.ndarray:
        rng = self.rng
        if corner:
            return np.full(n, self.lo, dtype=np.int64)
        return np.array([rng.choice([self.lo, self.hi, 0]) if rng.random() < 0.2 else rng.randint(self.lo, self.hi)
                         for _ in range(n)], dtype=np.int64)

    async def start(self):
        dut = self.dut
        dut.x__valid.value = dut.h__valid.value = dut.swap.value = 0
        dut.first_step.value = 1
        dut.x_base.value, dut.h_base.value = self.x_base, self.h_base
        serve_read_port(dut, "x_row", self.words)
        serve_read_port(dut, "h_row", self.words)
        await start_clock_and_reset(dut)

    async def window(self, x, h, expect, prob: float, swap_gap: int | None):
        """Drive the elements ``x`` and ``h`` (arrays, in order) with valid probability ``prob`` each cycle;
        check ``z`` against ``expect(cycle, sent)`` in every cycle (``sent``: (cycle, part, index) of the
        window's transfers; None: not checked); end with ``swap`` ``swap_gap`` cycles after the last
        element (None: no swap, end ``latency`` cycles after it). Returns after the last cycle's edge."""
        dut, rng = self.dut, self.rng
        queues = {"x": list(enumerate(x)), "h": list(enumerate(h))}
        sent, end = [], None
        edge, read_only = RisingEdge(dut.clk), ReadOnly()
        while True:
            for name, q in queues.items():
                if q and rng.random() < prob:
                    i, value = q.pop(0)
                    n = len(x) if name == "x" else len(h)
                    getattr(dut, f"{name}__payload").value = self.codecs[name].pack(
                        {"data": int(value), "index": i, "last": int(i == n - 1)})
                    getattr(dut, f"{name}__valid").value = 1
                    sent.append((self.cycle, name, i))
                else:
                    getattr(dut, f"{name}__valid").value = 0
            if end is None and not queues["x"] and not queues["h"]:
                end = self.cycle + 1 + (swap_gap if swap_gap is not None else self.latency - 1)
            dut.swap.value = int(swap_gap is not None and self.cycle == end)
            await read_only
            assert int(dut.x__ready.value) == 1 and int(dut.h__ready.value) == 1, "x/h not always ready"
            want = expect(self.cycle, sent)
            if want is not None:
                got = self.z_codec.unpack(int(dut.z.value))
                self.checked += 1
                if got != [int(v) for v in want] and len(self.errors) < 10:
                    self.errors.append(f"cycle {self.cycle}: z {got}, expected {[int(v) for v in want]}")
            await edge
            self.cycle += 1
            if end is not None and self.cycle > end:
                dut.x__valid.value = dut.h__valid.value = dut.swap.value = 0
                return

    async def sequence(self, steps: int, n_x: int, prob: float, gaps, corner: bool) -> None:
        dut = self.dut
        self.load_factors(corner)
        xs = [self.elements(n_x, corner) for _ in range(steps)]
        hs = [self.elements(self.cfg["hidden"], corner) for _ in range(steps)]
        bx, bh = self.b["x"][:n_x], self.b["h"]
        dut.first_step.value = 1

        def partial(cycle, sent):   # x_0 arriving: the elements seen ``latency`` cycles before
            seen = [i for c, part, i in sent if part == "x" and c <= cycle - self.latency]
            if 0 not in seen:
                return None
            v = np.where(np.isin(np.arange(n_x), seen), xs[0], 0)
            return golden_z(v, bx)

        await self.window(xs[0], [], partial, prob, None)
        for t in range(steps):
            dut.first_step.value = int(t == 0)
            h_prev = hs[t - 1] if t else np.zeros_like(hs[0])
            z_t = golden_z(np.concatenate([xs[t], h_prev]), np.vstack([bx, bh]))
            x_next = xs[t + 1] if t + 1 < steps else []
            await self.window(x_next, hs[t], lambda cycle, sent, z=z_t: z, prob, self.rng.choice(gaps))

    def check(self, what: str) -> None:
        assert not self.errors, f"{what}: " + "\n".join(self.errors)
        assert self.checked > 0
        self.dut._log.info("%s: z checked in %d cycles", what, self.checked)


@cocotb.test()
async def tile_steps(dut):
    p = load_params()
    rng = random.Random(p.get("seed", 1))
    bench = ProjectionBench(dut, rng)
    await bench.start()
    probs = p.get("valid_probs", [1.0])
    inputs = bench.cfg["inputs"]
    for seq in range(p.get("sequences", 3)):
        n_x = inputs if seq < 2 else rng.randint(1, inputs)
        await bench.sequence(p.get("steps", 4), n_x, probs[seq % len(probs)], [0, 0, 1, 3], corner=(seq == 0))
    bench.check("tile_steps")


@cocotb.test()
async def back_to_back(dut):
    """Elements every cycle on both streams, every swap right after the last element: z complete exactly
    ``latency`` cycles after an element, at full rate."""
    p = load_params()
    bench = ProjectionBench(dut, random.Random(p.get("seed", 1) + 1))
    await bench.start()
    await bench.sequence(p.get("steps", 4), bench.cfg["inputs"], 1.0, [0], corner=False)
    bench.check("back_to_back")
