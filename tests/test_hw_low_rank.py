# amaranth: UnusedElaboratable=no
"""The low-rank predictor's blocks (hw/low_rank.py) in cocotb on Icarus and Verilator, scored against
golden_model.predictors.LowRank: LowRankScorer (s = A_n . z under random valid gaps and back-pressure,
throughput and latency) and Projection (z = B^T [x ; h] over tile-like steps with random element gaps,
bank flips on swap and last, first_step, z checked every cycle). The factor memories are played by the
testbench (sim/testbenches/low_rank_ref.py). Also hw.top.ReadyPorts (their top-level wrapper) and the
registry's option checks of the three low-rank blocks."""

from __future__ import annotations

import pytest

from hw.low_rank import LowRankScorer, Projection, projection_bits
from hw.top import ReadyPorts
from sim.runner import pytest_simulators, run_component

#: neurons, rank, bits, z_bits, depth: rows past the neurons so a_base moves; z as the tile's (act 12, I+H 10).
SCORER = {"neurons": 12, "rank": 3, "bits": 6, "z_bits": projection_bits(12, 6, 10), "depth": 40}
SCORER_PARAMS = {"batches": 8, "neurons": 60, "latency": LowRankScorer.latency,
                 "phases": [[1.0, 1.0], [0.5, 1.0], [1.0, 0.4], [0.4, 0.4]]}
#: inputs, hidden, act_bits, rank, bits, depth: the x and h rows at bases inside a deeper memory.
PROJECTION = {"inputs": 5, "hidden": 3, "act_bits": 8, "rank": 3, "bits": 6, "depth": 24}
PROJECTION_PARAMS = {"sequences": 4, "steps": 6, "latency": Projection.latency, "x_base": 3, "h_base": 13,
                     "valid_probs": [1.0, 0.5, 0.3]}


@pytest.mark.parametrize("sim", pytest_simulators())
def test_scorer_cocotb(sim):
    run_component(LowRankScorer(**SCORER), sim, "sim.testbenches.tb_low_rank_scorer", name="low_rank_scorer",
                  config=SCORER, params={**SCORER_PARAMS, "seed": 5}, tests=2)


@pytest.mark.parametrize("sim", pytest_simulators())
def test_projection_cocotb(sim):
    run_component(ReadyPorts(Projection(**PROJECTION)), sim, "sim.testbenches.tb_projection",
                  name="low_rank_projection", config=PROJECTION, params={**PROJECTION_PARAMS, "seed": 6}, tests=2)


def test_ready_ports_ties_ready_and_passes_the_rest():
    """hw.top.ReadyPorts: the always-ready streams become plain ones with ready 1, the rest passes through
    (Amaranth simulator: elements reach the projection through the wrapper)."""
    from amaranth.sim import Simulator

    from hw.low_rank import factor_word
    inner = Projection(inputs=2, hidden=1, act_bits=8, rank=2, bits=4, depth=4)
    top = ReadyPorts(inner)
    assert not top.signature.members["x"].signature.always_ready and top.latency == Projection.latency
    assert top.signature.members["x_row"].signature == inner.signature.members["x_row"].signature
    rows = {0: factor_word([3, -2], 4), 1: factor_word([-8, 7], 4)}

    async def bench(ctx):
        assert ctx.get(top.x.ready) == 1 and ctx.get(top.h.ready) == 1
        ctx.set(top.x_base, 0)
        for i, value in enumerate((5, -4)):
            ctx.set(top.x.valid, 1)
            ctx.set(top.x.payload, {"data": value, "index": i, "last": i == 1})
            await ctx.tick()
            ctx.set(top.x_row.data, rows[i])   # the memory's synchronous read of the element's row
        ctx.set(top.x.valid, 0)
        await ctx.tick()
        await ctx.tick()
        ctx.set(top.first_step, 1)
        assert [ctx.get(top.z[k]) for k in range(2)] == [5 * 3 + -4 * -8, 5 * -2 + -4 * 7]

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("block,options,match", [
    ("low_rank_scorer", {"rank": 0}, "LowRankScorer rank must be in 1..64"),
    ("low_rank_scorer", {"z_bits": 65}, "LowRankScorer z_bits must be in 2..64"),
    ("low_rank_projection", {"bits": 1}, "Projection bits must be in 2..16"),
    ("low_rank_projection", {"depth": "x"}, "cannot read 'x' as int"),
    ("output_rule_table", {"entries": 1}, "OutputRuleTable entries must be in 2..65536"),
    ("output_rule_table", {"gain_bits": 33}, "OutputRuleTable gain_bits must be in 0..32"),
])
def test_registry_options_are_checked(block, options, match):
    from hw import registry
    with pytest.raises((ValueError, TypeError), match=match):
        registry.build(block, options)
