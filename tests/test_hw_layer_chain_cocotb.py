# amaranth: UnusedElaboratable=no
"""cocotb runs of the layers sequenced in hardware (hw.layer_chain.LayerChain) on Icarus and Verilator
(through sim.runner, testbench sim/testbenches/tb_layer_chain.py): a random 2-layer bidirectional LSTM and
the bundled 2-layer digits LSTM (its first three test sequences), BNN memoization at a threshold per layer,
sequences back to back under random valid gaps on x and back-pressure on h, every output equal to the golden
FixedPointNetwork.run's last layer and the reuse counter equal to the golden count. One build per case and
simulator (sim.runner caches builds)."""

from __future__ import annotations

import dataclasses
from functools import cache, partial

import pytest
from e2e_cases import workload_model
from support import normal_network, random_inputs

from golden_model.fixed_model import FixedPointNetwork
from golden_model.memo import PREDICTED, MemoPolicy
from hw.layer_chain import ChainShape, LayerChain
from hw.tile_bnn import BnnFrontEnd
from hw.tile_image import memory_image
from hw.tile_params import TileParams
from sim.runner import Design, optimized_verilog, pytest_simulators, run
from sim.tile_protocol import chain_controls, sequence_beats

#: case -> per-layer absolute thresholds (BNN score units), digits' one per gate of its LSTM
THETAS = {"bidir": (2, 5), "digits": ((6, 10, 4, 8), (10, 6, 8, 4))}


def _model_and_inputs(case: str):
    """(fixed-point model, layer-0 sequences): a random 2-layer bidirectional LSTM, or the bundled 2-layer
    digits LSTM with its first test sequences."""
    if case == "digits":
        model, w = workload_model("digits")
        x_q = model.quantize_input(w.x[:3])
        return model, [x_q[b, :n] for b, n in enumerate(w.lengths[:3])]
    model = FixedPointNetwork(normal_network("lstm", 3, 4, layers=2, directions=2, seed=4))
    return model, [random_inputs(model.config, 1, steps, 3, seed=5 + k, scale=0.3)[0] for k, steps in enumerate((6, 3))]


@cache
def _case(case: str):
    fixed, xs = _model_and_inputs(case)
    params = TileParams.for_network(fixed, bnn_width=8, front_end=BnnFrontEnd, max_steps=16)
    chain = LayerChain(params, ChainShape.for_network(fixed, 8), memory_image(params, fixed))
    sequences = []
    for x in xs:
        gold = fixed.run(x[None], policy=MemoPolicy(PREDICTED, THETAS[case], "absolute"))
        sequences.append({"x": sequence_beats(x), "h": gold.out[0].reshape(-1).tolist(),
                          "reuses": int(gold.stats.reuses.sum())})
    design = Design.from_component(chain, name="layer_chain", config={"case": case})
    # Icarus gets the flat netlist, as the tile's runs do (sim.tile_host.tile_design): Icarus 11 never runs
    # an ``always @*`` block whose inputs do not change after time 0, and the chain drives the tile's inputs
    # from registers that keep their reset values until the first pass, which leaves them X there
    netlist = partial(optimized_verilog, design)
    return dataclasses.replace(design, sim_sources={"icarus": netlist}), sequences


@pytest.mark.parametrize("case", ["bidir", "digits"])
@pytest.mark.parametrize("sim", pytest_simulators())
def test_chain_sequences(sim, case):
    design, sequences = _case(case)
    assert all(seq["reuses"] > 0 for seq in sequences)   # the memoization is exercised
    params = {"seed": 3, "gap": 0.3, "stall": 0.3, **chain_controls(memo_enable=1, theta=THETAS[case], form=1, gates=4),
              "sequences": sequences, "timeout": 20_000}
    result = run(design, sim, "sim.testbenches.tb_layer_chain", params=params, testcase="chain_sequences")
    assert result["tests"] == 1
