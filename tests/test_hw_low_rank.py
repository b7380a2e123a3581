# amaranth: UnusedElaboratable=no
"""The low-rank predictor's blocks (hw/low_rank.py) in cocotb on Icarus and Verilator, scored against
golden_model.predictors.LowRank: LowRankScorer (s = A_n . z under random valid gaps and back-pressure,
throughput and latency) and Projection (z = B^T [x ; h] over tile-like steps with random element gaps,
bank flips on swap and last, first_step, z checked every cycle). The factor memories are played by the
testbench (sim/testbenches/low_rank_ref.py)."""

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
