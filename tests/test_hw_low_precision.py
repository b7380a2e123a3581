# amaranth: UnusedElaboratable=no
"""The low-precision predictor's parts (hw/low_precision.py, hw/tile_scored.NeuronFeeder) in the
Amaranth simulator against the golden definitions (golden_model.predictors.narrow, LowPrecision.score)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module, unsigned
from amaranth.lib import memory
from amaranth_streams import check_stream_unit, collect, run, transfer_cycles

from golden_model.formats import FixedPointConfig
from golden_model.predictors import LowPrecision, Prepared, narrow
from hw.activation import Activation
from hw.low_precision import NarrowBanks, NarrowDot, narrow_score_bits
from hw.tile_scored import NeuronFeeder

ACT = FixedPointConfig().act.bits


def _raw(v, bits):
    return int(v) & ((1 << bits) - 1)


@pytest.mark.parametrize("input_bits,drop", [(4, 6), (3, 7), (10, 0), (12, -2), (8, 3)])
def test_narrow_banks_equal_the_golden_narrow(input_bits, drop):
    """Every element narrowed as golden narrow (round half up, saturate; a negative drop a left shift),
    the write bank flipping after ``last``, the read bank on ``swap``."""
    rng = np.random.default_rng(input_bits * 10 + drop)
    size = 5
    steps = rng.integers(-(1 << (ACT - 1)), 1 << (ACT - 1), size=(3, size))
    steps[0, :4] = [(1 << (ACT - 1)) - 1, -(1 << (ACT - 1)), 1 << max(drop - 1, 0), -(1 << max(drop - 1, 0))]
    dut = NarrowBanks(size, ACT, input_bits, drop, first_bank=0)
    got = []

    async def bench(ctx):
        for t, step in enumerate(steps):
            for k, v in enumerate(step):
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, {"data": int(v), "index": k, "last": int(k == size - 1)})
                await ctx.tick()
            ctx.set(dut.i.valid, 0)
            await ctx.tick()
            got.append([ctx.get(dut.v[k]) for k in range(size)])
            if t == 0:   # step 0 read; step 1 goes to bank 1, shown after the swap
                continue
            ctx.set(dut.swap, 1)
            await ctx.tick()
            ctx.set(dut.swap, 0)
            got.append([ctx.get(dut.v[k]) for k in range(size)])

    run(dut, bench)
    want = narrow(steps, input_bits, drop).tolist()
    assert got == [want[0], want[0], want[1], want[1], want[2]]


class _DotHarness(Elaboratable):
    """NarrowDot reading a weight memory of ``rows`` (lists of narrow weights)."""

    def __init__(self, rows, lanes, weight_bits, input_bits, max_inputs):
        self.words = [sum(_raw(w, weight_bits) << (k * weight_bits) for k, w in enumerate(r)) for r in rows]
        self.dot = NarrowDot(8, lanes, weight_bits, input_bits, max_inputs, len(rows))
        self.i, self.o, self.width = self.dot.i, self.dot.o, lanes * weight_bits

    def elaborate(self, platform):
        m = Module()
        m.submodules.dot = self.dot
        m.submodules.mem = mem = memory.Memory(shape=unsigned(self.width), depth=len(self.words), init=self.words)
        rp = mem.read_port()
        m.d.comb += [rp.addr.eq(self.dot.w_row.addr), rp.en.eq(self.dot.w_row.en), self.dot.w_row.data.eq(rp.data)]
        return m


def _dot_case(seed, lanes, wb, ib, neurons, beats):
    """Random neurons of ``beats`` beats: the input beats and the golden LowPrecision score of each."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(-(1 << (wb - 1)), 1 << (wb - 1), size=(neurons * beats, lanes))
    v = rng.integers(-(1 << (ib - 1)), 1 << (ib - 1), size=(neurons * beats, lanes))
    rows[0], v[0] = -(1 << (wb - 1)), -(1 << (ib - 1))   # the extreme product in every lane
    inputs, expected = [], []
    for n in range(neurons):
        for b in range(beats):
            r = n * beats + b
            inputs.append({"index": n % 8, "func": Activation.TANH if n % 3 == 2 else Activation.SIGMOID,
                           "row": r, "v": [int(e) for e in v[r]], "last": int(b == beats - 1)})
        cut = slice(n * beats, (n + 1) * beats)
        # the golden score of already-narrow inputs (v_drop 0: narrow leaves them as they are)
        prepared = Prepared({"w": rows[cut].reshape(1, -1), "v_drop": 0}, np.ones(1, np.int64), 0)
        s = LowPrecision(wb, ib).score(prepared, None, v[cut].reshape(1, -1), None)
        expected.append({"index": n % 8, "s": int(s[0, 0])})   # func: checked by the tile tests
    return rows, inputs, expected


@pytest.mark.parametrize("lanes,wb,ib,beats", [(4, 4, 4, 1), (6, 4, 4, 3), (3, 8, 10, 2), (1, 2, 3, 5)])
def test_narrow_dot_equals_the_golden_score(lanes, wb, ib, beats):
    """s = W' . v' of every neuron under random gaps and back-pressure; the extreme products fit."""
    rows, inputs, expected = _dot_case(lanes + beats, lanes, wb, ib, 10, beats)
    dut = _DotHarness(rows, lanes, wb, ib, lanes * beats)
    assert dut.dot.s_bits == narrow_score_bits(wb, ib, lanes * beats)
    check_stream_unit(dut, inputs, expected, seed=beats)


def test_narrow_dot_takes_a_beat_per_cycle_with_latency_3():
    rows, inputs, _ = _dot_case(1, 4, 4, 4, 6, 2)
    ins, outs = transfer_cycles(_DotHarness(rows, 4, 4, 4, 8), inputs, 6)
    assert ins == list(range(12))
    assert outs == [c + NarrowDot.latency for c in ins[1::2]]


def _decode_beat(p):
    return {"index": int(p.index), "func": p.func.value, "beat": int(p.beat), "last": int(p.last)}


@pytest.mark.parametrize("gates,beats", [(4, 1), (3, 3), (4, 2)])
def test_neuron_feeder_beats_in_issue_order(gates, beats):
    """Neurons in issue order (func tanh for gate 2), ``beats`` beats each, once per step; step_reset restarts."""
    neurons = gates * 2
    dut = NeuronFeeder(neurons, gates, max_beats=4)
    want = [{"index": n, "func": (Activation.TANH if n % gates == 2 else Activation.SIGMOID).value, "beat": b,
             "last": int(b == beats - 1)} for n in range(neurons) for b in range(beats)]
    result = {}

    async def control(ctx):
        ctx.set(dut.beats, beats)
        for step in range(2):
            ctx.set(dut.step_reset, 1)
            await ctx.tick()
            ctx.set(dut.step_reset, 0)
            ctx.set(dut.run, 1)
            while len(result.get(step, [])) < len(want):
                await ctx.tick()
            ctx.set(dut.run, 0)
            await ctx.tick().repeat(10)

    async def consumer(ctx):
        rng = random.Random(gates)
        for step in range(2):
            result[step] = []
            items, _ = await collect(ctx, dut.o, len(want), _decode_beat, rng, 0.3)
            result[step] = items

    run(dut, control, consumer)
    assert result[0] == want and result[1] == want


def test_parameters_are_checked():
    builds = [(lambda: NarrowBanks(0, ACT, 4, 6), ValueError), (lambda: NarrowBanks(4, ACT, 4, 40), ValueError),
              (lambda: NarrowBanks(4.0, ACT, 4, 6), TypeError), (lambda: NarrowDot(8, 0, 4, 4, 8, 4), ValueError),
              (lambda: NarrowDot(8, 4, 17, 4, 8, 4), ValueError), (lambda: NeuronFeeder(8, 5), ValueError),
              (lambda: NeuronFeeder(8, 4, 0), ValueError)]
    for build, err in builds:
        with pytest.raises(err):
            build()
