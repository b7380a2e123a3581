# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the layers sequenced in hardware (hw/layer_chain.py, hw/layer_buffer.py):
the last layer's outputs equal to the golden FixedPointNetwork.run for LSTM and GRU, 1-3 layers, one and two
directions, under random valid gaps on x and back-pressure on h; memoization with per-layer thresholds
(reuses equal to the golden count); run-time loading through ``wr``; the cycle model; the buffer walks
alone; bad parameters. See docs/hw/layer_chain.md."""

from __future__ import annotations

import random

import numpy as np
import pytest
from support import normal_network, random_inputs

from golden_model.fixed_model import FixedPointNetwork
from golden_model.memo import PREDICTED, MemoPolicy
from hw.layer_buffer import BufferReader, BufferWriter
from hw.layer_chain import ChainShape, LayerChain, pass_counter
from hw.tile_bnn import BnnFrontEnd
from hw.tile_cycles import expected_cycles
from hw.tile_image import image_writes, memory_image
from hw.tile_params import TileParams
from sim.tile_amaranth import run_chain


def _chain(cell, layers, directions, *, memo=False, image=True, inputs=3, hidden=4, max_steps=8, seed=4):
    fixed = FixedPointNetwork(normal_network(cell, inputs, hidden, layers=layers, directions=directions,
                                             seed=seed))
    params = TileParams.for_network(fixed, lanes=2, bnn_width=8, front_end=BnnFrontEnd if memo else None,
                                    max_steps=16)
    img = memory_image(params, fixed)
    return fixed, params, img, LayerChain(params, ChainShape.for_network(fixed, max_steps), img if image else None)


@pytest.mark.parametrize("cell,layers,directions", [("lstm", 1, 1), ("lstm", 2, 2), ("gru", 2, 2), ("gru", 1, 2),
                                                    ("lstm", 3, 1)])
def test_chain_equals_golden_with_gaps_and_back_pressure(cell, layers, directions):
    fixed, params, _, chain = _chain(cell, layers, directions)
    x = random_inputs(fixed.config, 1, 5, 3, seed=9)[0]
    res, = run_chain(chain, [x], gap=0.3, stall=0.3, seed=layers)
    assert np.array_equal(res.h, fixed.run(x[None]).out[0])
    assert res.counters["evaluations"] == layers * directions * 5 * params.neurons


@pytest.mark.parametrize("cell,layers,directions,steps", [("lstm", 1, 1, 3), ("lstm", 2, 2, 5), ("gru", 2, 1, 4),
                                                          ("gru", 3, 2, 2)])
def test_cycle_model(cell, layers, directions, steps):
    """Without gaps or back-pressure the chain takes exactly its model's cycles over the tile's own."""
    fixed, params, _, chain = _chain(cell, layers, directions)
    x = random_inputs(fixed.config, 1, steps, 3, seed=2)[0]
    res, = run_chain(chain, [x])
    passes = [expected_cycles(params, chain.shape.n_x(li, params.hidden), steps)
              for li in range(layers) for _ in range(directions)]
    assert res.counters["cycles"] == sum(passes)
    assert res.cycles == chain.sequence_cycles(steps, passes)
    assert [res.counters[pass_counter("cycles", k)] for k in range(len(passes))] == passes


@pytest.mark.parametrize("cell,directions,thetas", [("lstm", 2, (2, 5)), ("gru", 1, (2, 5)),
                                                     ("lstm", 1, ((1, 4, 2, 6), 5)), ("gru", 2, (3, (5, 1, 2)))])
def test_memo_thresholds_loaded_through_wr(cell, directions, thetas):
    """BNN memoization, a threshold per layer, or for a layer one per gate; the memories loaded at run time;
    two sequences (the second starts from zero state and an empty memo table)."""
    fixed, params, img, chain = _chain(cell, 2, directions, memo=True, image=False)
    xs = [random_inputs(fixed.config, 1, steps, 3, seed=5 + k, scale=0.3)[0] for k, steps in enumerate((6, 3))]
    runs = run_chain(chain, xs, writes=image_writes(params, img), memo_enable=1, theta=thetas, form=1,
                     gap=0.2, stall=0.2, seed=1)
    for x, res in zip(xs, runs, strict=True):
        gold = fixed.run(x[None], policy=MemoPolicy(PREDICTED, thetas, "absolute"))
        assert np.array_equal(res.h, gold.out[0])
        assert res.counters["reuses"] == int(gold.stats.reuses.sum()) > 0
        per_pass = gold.stats.reuses[0].reshape(-1, gold.stats.reuses.shape[-1]).sum(axis=1)   # (layer, dir)
        assert [res.counters[pass_counter("reuses", k)] for k in range(params.slots)] == list(per_pass)


def _walk(depth, per_step, steps, n, reverse, stride, offset, stall=0.3):
    """The reader's walk of a buffer holding a at address a, streamed under random back-pressure into the
    writer, which stores it at ``stride`` and ``offset`` into a zeroed memory: (streamed items (data,
    first, last), the writer's steps_done, the written memory)."""
    from amaranth.hdl import Module, Signal
    from amaranth.lib import memory
    from amaranth.sim import Simulator

    m = Module()
    m.submodules.src = src = memory.Memory(shape=8, depth=depth, init=list(range(depth)))
    m.submodules.dst = dst = memory.Memory(shape=8, depth=depth, init=[])
    m.submodules.reader = reader = BufferReader(depth, per_step, 8)
    m.submodules.writer = writer = BufferWriter(depth, per_step, 8, stride)
    rport, wport = src.read_port(), dst.write_port()
    take = Signal()     # the consumer is ready (random back-pressure from the testbench)
    m.d.comb += [rport.addr.eq(reader.mem.addr), rport.en.eq(reader.mem.en), reader.mem.data.eq(rport.data),
                 wport.addr.eq(writer.mem.addr), wport.data.eq(writer.mem.data), wport.en.eq(writer.mem.en),
                 writer.i.valid.eq(reader.o.valid & take), reader.o.ready.eq(take & writer.i.ready),
                 writer.i.payload.data.eq(reader.o.payload.data), writer.i.payload.last.eq(reader.o.payload.last)]
    out, rng = {"items": []}, random.Random(steps)

    async def bench(ctx):
        for port, value in ((reader.steps, steps), (reader.n, n), (reader.reverse, reverse),
                            (reader.top, (steps - 1) * n), (writer.steps, steps), (writer.n, n),
                            (writer.offset, offset), (writer.reverse, reverse), (reader.start, 1), (writer.start, 1)):
            ctx.set(port, value)
        await ctx.tick()
        ctx.set(reader.start, 0)
        ctx.set(writer.start, 0)
        for _ in range(20 * steps * n):
            ctx.set(take, rng.random() >= stall)
            _, _, fired, payload = await ctx.tick().sample(reader.o.valid & reader.o.ready, reader.o.payload)
            if fired:
                out["items"].append((int(payload.data), int(payload.first), int(payload.last)))
            if not ctx.get(reader.busy) and not ctx.get(writer.armed):
                break
        out["steps"] = ctx.get(writer.steps_done)
        out["memory"] = [ctx.get(dst.data[a]) for a in range(depth)]

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out["items"], out["steps"], out["memory"]


@pytest.mark.parametrize("reverse", [False, True])
def test_buffer_walks(reverse):
    steps, n = 4, 3
    items, steps_done, written = _walk(16, 4, steps, n, reverse, 4, 1)
    order = [t * n + e for t in (reversed(range(steps)) if reverse else range(steps)) for e in range(n)]
    assert [d for d, _, _ in items] == order
    assert [f for _, f, _ in items] == [1] + [0] * (len(order) - 1)
    assert [la for _, _, la in items] == [0] * (len(order) - 1) + [1]
    assert steps_done == steps
    # step k of the walk (t = k, or T-1-k reversed) lands at t*4 + 1 + e: the reversal undone
    want = [0] * 16
    for k in range(steps):
        t = steps - 1 - k if reverse else k
        for e in range(n):
            want[t * 4 + 1 + e] = order[k * n + e]
    assert written == want


def test_bad_shapes_are_rejected():
    fixed, params, _, _ = _chain("lstm", 2, 2)
    with pytest.raises(ValueError, match="holds 4 layer-directions, the chain runs 2 x 1"):
        LayerChain(params, ChainShape(2, 1, 3, 8))
    with pytest.raises(ValueError, match="ChainShape.x_size"):
        LayerChain(params, ChainShape(2, 2, params.input_size + 1, 8))
    with pytest.raises(ValueError, match="ChainShape.max_steps"):
        LayerChain(params, ChainShape(2, 2, 3, params.max_steps + 1))
    with pytest.raises(TypeError, match="ChainShape"):
        LayerChain(params, (2, 2, 3, 8))
    narrow = TileParams(cell="lstm", input_size=4, hidden=4, slots=4, lanes=2)
    with pytest.raises(ValueError, match="layer 1 takes 8 inputs, more than the tile's input_size 4"):
        LayerChain(narrow, ChainShape(2, 2, 3, 8))
    with pytest.raises(ValueError, match="BufferWriter stride"):
        BufferWriter(16, 4, 8, 3)
    with pytest.raises(ValueError, match="pass cycle counts"):
        _chain("lstm", 1, 1)[3].sequence_cycles(3, [1, 2])
