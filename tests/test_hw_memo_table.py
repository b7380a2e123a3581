# amaranth: UnusedElaboratable=no
"""MemoTable: Amaranth-simulator tests (cycle-level random traffic against the reference), cocotb tests on
Icarus and Verilator (golden_model.memo step by step, random traffic, throughput), bad parameters."""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

from golden_model.formats import THETA_BITS
from hw.memo_table import EPOCH_BITS, MemoTable
from sim import runner
from sim.runner import pytest_simulators
from sim.testbenches.memo_ref import MemoTableRef

THETA_MAX = (1 << THETA_BITS) - 1


class SweepModel:
    """When the table sweeps (docs/hw/memo_table.md): epoch 1 .. 2**E - 1, a clear at the last epoch starts
    a sweep of ``entries`` cycles from the next cycle, a clear during a sweep changes nothing."""

    def __init__(self, entries, epoch_bits):
        self.entries, self.last = entries, (1 << epoch_bits) - 1
        self.epoch, self.left = 1, 0
        self.sweeps = self.swept_clears = 0

    @property
    def sweeping(self):
        return self.left > 0

    def tick(self, clear):
        if self.left:
            self.left -= 1
            self.swept_clears += clear
        elif clear and self.epoch == self.last:
            self.epoch, self.left = 1, self.entries
            self.sweeps += 1
        elif clear:
            self.epoch += 1


def amaranth_random_traffic(entries, y_bits, b_bits, cache_update, *, cycles, seed, gap=0.3, stall=0.3,
                            epoch_bits=EPOCH_BITS, clear_prob=0.03):
    """Drive every port at random each cycle; compare each response with MemoTableRef (clear, update,
    lookup order within a cycle) and ``update.ready`` / ``lookup.ready`` with the sweeps of
    :class:`SweepModel`. Returns counts: lookups, hits, sweeps, clears during sweeps."""
    dut = MemoTable(entries, y_bits, b_bits, cache_update, epoch_bits)
    rng = random.Random(seed)
    ref = MemoTableRef(entries, cache_update)
    sweep = SweepModel(entries, epoch_bits)
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
            clear = int(rng.random() < clear_prob)
            if rng.random() < 0.1:
                ctl["enable"] = int(rng.random() < 0.85)
                ctl["form"] = rng.randint(0, 1)
            if rng.random() < 0.3:   # theta is sampled with each lookup (the front ends give each gate its own)
                ctl["theta"] = rng.choice([0, 1, 2, 64, 256, THETA_MAX])
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
            assert ctx.get(dut.update.ready) == (not sweep.sweeping), f"cycle {cycle}: update.ready"
            assert ctx.get(dut.lookup.ready) == (not sweep.sweeping and (ready or not ctx.get(dut.response.valid)))
            # transfers of this cycle
            sweep.tick(clear)
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
    return {**stats, "sweeps": sweep.sweeps, "swept_clears": sweep.swept_clears}


@pytest.mark.parametrize("cache_update", ["compute", "always"])
@pytest.mark.parametrize("entries,y_bits,b_bits", [(12, 12, 8), (4, 6, 5), (6, 4, 7)])
def test_amaranth_random_traffic(entries, y_bits, b_bits, cache_update):
    stats = amaranth_random_traffic(entries, y_bits, b_bits, cache_update, cycles=3000, seed=entries + b_bits)
    assert stats["lookups"] > 1000 and stats["hits"] > 50


@pytest.mark.parametrize("cache_update", ["compute", "always"])
@pytest.mark.parametrize("entries", [5, 8])
def test_amaranth_epoch_wraps(entries, cache_update):
    """2-bit epochs: a sweep after every 3 clears, clears during sweeps, against the reference."""
    stats = amaranth_random_traffic(entries, 6, 5, cache_update, cycles=3000, seed=entries + 40, epoch_bits=2,
                                    clear_prob=0.08)
    assert stats["sweeps"] > 20 and stats["swept_clears"] > 5
    assert stats["lookups"] > 800 and stats["hits"] > 50


def _scripted(dut, script, *, domain=None):
    """Run ``script``: one dict per cycle with optional ``clear``, ``rst``, ``update`` (index, y, b) and
    ``lookup`` (index, b) and the readiness expected of the streams offered (``ready``, default 1),
    ``response.ready`` always high. Returns the responses in order and ``update.ready`` of every cycle."""
    out = {"responses": [], "update_ready": []}

    async def tb(ctx):
        ctx.set(dut.enable, 1)
        ctx.set(dut.theta, 0)
        ctx.set(dut.response.ready, 1)
        for cycle, step in enumerate(script + [{}] * (MemoTable.LATENCY + 1)):
            ctx.set(dut.clear, step.get("clear", 0))
            if domain is not None:
                ctx.set(domain.rst, step.get("rst", 0))
            for name in ("update", "lookup"):
                port = getattr(dut, name)
                ctx.set(port.valid, name in step)
                if name in step:
                    ctx.set(port.payload, step[name])
                    assert ctx.get(port.ready) == step.get("ready", 1), f"cycle {cycle}: {name}.ready"
            out["update_ready"].append(int(ctx.get(dut.update.ready)))
            if ctx.get(dut.response.valid):
                p = ctx.get(dut.response.payload)
                out["responses"].append((int(p.index), int(p.hit), int(p.y)))
            await ctx.tick()

    top = dut
    if domain is not None:
        top = Module()
        top.domains.sync = domain
        top.submodules.dut = dut
    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return out


@pytest.mark.parametrize("cache_update", ["compute", "always"])
@pytest.mark.parametrize("clear_in_sweep", [False, True])
def test_wrap_sweep_and_clear_during_it(cache_update, clear_in_sweep):
    """2-bit epochs, 4 entries: entry 1 is written in epoch 1, three clears wrap the epoch back to 1 and
    start a sweep (4 cycles without lookup or update); entry 2 is updated in the wrapping clear's cycle.
    Without the sweep entry 1's stale tag 1 would match again; entry 2 stays valid unless a clear comes
    during the sweep (which changes nothing else: the next clear moves to epoch 2, no new sweep)."""
    dut = MemoTable(4, 6, 5, cache_update, epoch_bits=2)
    # during the sweep an update and a lookup are offered in turn and not taken
    sweep = [{"update": {"index": 3, "y": 1, "b": 1}, "ready": 0}, {"lookup": {"index": 1, "b": 3}, "ready": 0},
             {}, {}]
    if clear_in_sweep:
        sweep[2]["clear"] = 1
    script = [
        {"lookup": {"index": 1, "b": 3}}, {"lookup": {"index": 2, "b": 1}},        # misses ("always": b_m)
        {"update": {"index": 1, "y": 7, "b": 3}},                                  # written in epoch 1
        {"lookup": {"index": 1, "b": 3}},                                          # hit
        {"clear": 1}, {"clear": 1},                                                # epochs 2, 3
        {"clear": 1, "lookup": {"index": 2, "b": 1}, "update": {"index": 2, "y": 5, "b": 1}},  # wrap to 1
        *sweep,
        {"lookup": {"index": 2, "b": 1}},
        {"lookup": {"index": 1, "b": 3}},                                          # swept: tag 0
        {"clear": 1},                                                              # epoch 2: no sweep
        {"lookup": {"index": 2, "b": 1}},
    ]
    out = _scripted(dut, script)
    ready = out["update_ready"]
    assert ready[:7] == [1] * 7 and ready[7:11] == [0] * 4 and ready[11:] == [1] * (len(ready) - 11)
    entry2 = (2, 0, 0) if clear_in_sweep else (2, 1, 5)
    assert out["responses"] == [(1, 0, 0), (2, 0, 0), (1, 1, 7), (2, 1, 5), entry2, (1, 0, 0), (2, 0, 0)]


def test_reset_keeps_entries_and_epoch():
    """Reset touches neither the entries nor the epoch: entries written before a reset (the last one a
    cycle before it, still being written) hit after it until a clear; two clears before the reset and
    one after it wrap a 2-bit epoch (a sweep), so the reset did not restart the epoch."""
    domain = ClockDomain("sync")
    dut = MemoTable(4, 6, 5, epoch_bits=2)
    script = [
        {"clear": 1}, {"clear": 1},                                                # epochs 2, 3
        {"update": {"index": 0, "y": 3, "b": 2}},
        {"update": {"index": 1, "y": -4, "b": 0}},
        {"rst": 1}, {"rst": 1},
        {"lookup": {"index": 0, "b": 2}},
        {"lookup": {"index": 1, "b": 0}},
        {"lookup": {"index": 3, "b": 0}},
        {"clear": 1},                                                              # wraps: a sweep
        {"ready": 0, "lookup": {"index": 0, "b": 2}},
        {}, {}, {},
        {"lookup": {"index": 0, "b": 2}},
    ]
    out = _scripted(dut, script, domain=domain)
    assert out["update_ready"][:10] == [1] * 10 and out["update_ready"][10:14] == [0] * 4
    assert out["responses"] == [(0, 1, 3), (1, 1, -4), (3, 0, 0), (0, 0, 0)]


def test_latency_property():
    assert MemoTable(4, 8, 8).latency == MemoTable.LATENCY == 4


def test_tag_memory_is_the_narrower_word():
    """The epoch tag widens |b_m| ("compute", b_bits <= y_bits) or y_m (b wider, or "always")."""
    assert MemoTable(256, 12, 9).tag_memory == "abs_b"
    assert MemoTable(256, 6, 9).tag_memory == "y_m"
    assert MemoTable(256, 12, 9, "always").tag_memory == "y_m"


#: (entries, y_bits, b_bits, cache_update, epoch_bits): tiny widths (saturated b range), the tile-like default, a
#: deep table, 2-bit epochs (a sweep every 3 clears, during the random traffic too).
COCOTB_CONFIGS = [(5, 4, 3, "always", 8), (12, 12, 8, "compute", 8), (64, 16, 10, "compute", 8),
                  (16, 16, 10, "always", 8), (12, 12, 8, "compute", 2)]
COCOTB_PARAMS = {"sequences": 6, "steps": 10, "traffic": 1500, "latency": MemoTable.LATENCY,
                 "phases": [[1.0, 1.0], [0.5, 1.0], [1.0, 0.4], [0.4, 0.4]]}


@pytest.mark.parametrize("entries,y_bits,b_bits,cache_update,epoch_bits", COCOTB_CONFIGS,
                         ids=[f"E{e}-Y{y}-B{b}-{c}" + (f"-T{t}" if t != EPOCH_BITS else "")
                              for e, y, b, c, t in COCOTB_CONFIGS])
@pytest.mark.parametrize("sim", pytest_simulators())
def test_cocotb(sim, entries, y_bits, b_bits, cache_update, epoch_bits):
    config = {"entries": entries, "y_bits": y_bits, "b_bits": b_bits, "cache_update": cache_update,
              "epoch_bits": epoch_bits}
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
    ((4, 8, 8, "compute", 1), ValueError, "epoch_bits must be in 2..16"),
    ((4, 8, 8, "compute", 17), ValueError, "epoch_bits must be in 2..16"),
    ((4, 8, 8, "compute", 8.0), TypeError, "epoch_bits must be an int"),
    ((4, 8, 8, "compute", True), TypeError, "epoch_bits must be an int"),
])
def test_bad_parameters(args, exc, match):
    with pytest.raises(exc, match=match):
        MemoTable(*args)
