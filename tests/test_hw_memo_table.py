# amaranth: UnusedElaboratable=no
"""MemoTable: Amaranth-simulator tests (cycle-level random traffic against the reference), cocotb tests on
Icarus and Verilator (golden_model.memo step by step, random traffic, throughput), bad parameters."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from golden_model.formats import THETA_BITS
from hw.memo_table import MemoTable
from sim import runner
from sim.runner import pytest_simulators
from sim.testbenches.memo_ref import MemoTableRef

THETA_MAX = (1 << THETA_BITS) - 1


def amaranth_random_traffic(entries, y_bits, b_bits, cache_update, *, cycles, seed, gap=0.3, stall=0.3):
    """Drive every port at random each cycle; compare each response with MemoTableRef (clear, update,
    lookup order within a cycle). Returns (lookups, hits)."""
    dut = MemoTable(entries, y_bits, b_bits, cache_update)
    rng = random.Random(seed)
    ref = MemoTableRef(entries, cache_update)
    index_max = (1 << max(1, (entries - 1).bit_length())) - 1
    y_lo, y_hi = -(1 << (y_bits - 1)), (1 << (y_bits - 1)) - 1
    b_lo, b_hi = -(1 << (b_bits - 1)), (1 << (b_bits - 1)) - 1
    hot = list(range(min(entries, 3)))
    stats = {"lookups": 0, "hits": 0}

    def index():
        return rng.choice(hot) if rng.random() < 0.6 else rng.randint(0, index_max)

    def bval():
        return rng.randint(-2, 2) if rng.random() < 0.7 else rng.choice([0, b_lo, b_hi, rng.randint(b_lo, b_hi)])

    async def tb(ctx):
        expected = []
        look = upd = None
        ctl = {"enable": 1, "theta": 64, "form": 0}
        for cycle in range(cycles):
            if look is None and rng.random() > gap:
                look = {"index": index(), "b": bval()}
            if upd is None and rng.random() > gap:
                upd = {"index": index(), "y": rng.randint(y_lo, y_hi), "b": bval()}
            clear = int(rng.random() < 0.03)
            if rng.random() < 0.1:
                ctl["enable"] = int(rng.random() < 0.85)
                ctl["form"] = rng.randint(0, 1)
                theta = rng.choice([0, 1, 2, 64, 256, THETA_MAX])
                # "compute" stores theta * |b_m|: theta changes only with a clear (the table's contract)
                clear |= cache_update == "compute" and theta != ctl["theta"]
                ctl["theta"] = theta
            ready = int(rng.random() > stall)
            ctx.set(dut.lookup.valid, look is not None)
            if look is not None:
                ctx.set(dut.lookup.payload, look)
            ctx.set(dut.update.valid, upd is not None)
            if upd is not None:
                ctx.set(dut.update.payload, upd)
            ctx.set(dut.clear, clear)
            ctx.set(dut.enable, ctl["enable"])
            ctx.set(dut.theta, ctl["theta"])
            ctx.set(dut.form, ctl["form"])
            ctx.set(dut.response.ready, ready)
            # transfers of this cycle
            if clear:
                ref.clear()
            if upd is not None and ctx.get(dut.update.ready):
                ref.update(upd["index"], upd["y"], upd["b"])
                upd = None
            if look is not None and ctx.get(dut.lookup.ready):
                expected.append(ref.lookup(look["index"], look["b"], ctl["enable"], ctl["theta"], ctl["form"]))
                look = None
            if ready and ctx.get(dut.response.valid):
                p = ctx.get(dut.response.payload)
                got = {"hit": int(p.hit), "y": int(p.y), "index": int(p.index), "b": int(p.b)}
                want = expected.pop(0)
                assert got == want, f"cycle {cycle}: expected {want}, got {got}"
                stats["lookups"] += 1
                stats["hits"] += got["hit"]
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return stats


@pytest.mark.parametrize("cache_update", ["compute", "always"])
@pytest.mark.parametrize("entries,y_bits,b_bits", [(12, 12, 8), (4, 6, 5)])
def test_amaranth_random_traffic(entries, y_bits, b_bits, cache_update):
    stats = amaranth_random_traffic(entries, y_bits, b_bits, cache_update, cycles=3000, seed=entries + b_bits)
    assert stats["lookups"] > 1000 and stats["hits"] > 50


def test_latency_property():
    assert MemoTable(4, 8, 8).latency == MemoTable.LATENCY == 4


#: (entries, y_bits, b_bits, cache_update): tiny widths (saturated b range), the tile-like default, a deep table.
COCOTB_CONFIGS = [(5, 4, 3, "always"), (12, 12, 8, "compute"), (64, 16, 10, "compute"), (16, 16, 10, "always")]
COCOTB_PARAMS = {"sequences": 6, "steps": 10, "traffic": 1500, "latency": MemoTable.LATENCY,
                 "phases": [[1.0, 1.0], [0.5, 1.0], [1.0, 0.4], [0.4, 0.4]]}


@pytest.mark.parametrize("entries,y_bits,b_bits,cache_update", COCOTB_CONFIGS,
                         ids=[f"E{e}-Y{y}-B{b}-{c}" for e, y, b, c in COCOTB_CONFIGS])
@pytest.mark.parametrize("sim", pytest_simulators())
def test_cocotb(sim, entries, y_bits, b_bits, cache_update):
    config = {"entries": entries, "y_bits": y_bits, "b_bits": b_bits, "cache_update": cache_update}
    design = runner.Design.from_component(MemoTable(**config), name="memo_table", config=config)
    result = runner.run(design, sim, "sim.testbenches.tb_memo_table",
                        params={**COCOTB_PARAMS, "seed": entries + b_bits})
    assert result["tests"] == 3


@pytest.mark.parametrize("args,exc,match", [
    ((1, 8, 8), ValueError, "entries must be in 2..65536"),
    ((1 << 17, 8, 8), ValueError, "entries must be in 2..65536"),
    (("4", 8, 8), TypeError, "entries must be an int"),
    ((4, 1, 8), ValueError, "y_bits must be in 2..32"),
    ((4, 33, 8), ValueError, "y_bits must be in 2..32"),
    ((4, 8, 1), ValueError, "b_bits must be in 2..32"),
    ((4, 8, 8.5), TypeError, "b_bits must be an int"),
    ((4, 8, 8, "sometimes"), ValueError, "cache_update must be one of"),
    ((4, 8, 8, 3), TypeError, "cache_update must be a str"),
])
def test_bad_parameters(args, exc, match):
    with pytest.raises(exc, match=match):
        MemoTable(*args)
