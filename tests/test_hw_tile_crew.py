# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the CREW tile (TileParams.crew; docs/crew.md, *Hardware*): every h_t equal
to the golden model (CREW is exact: the fixed-point baseline), LSTM and GRU, lanes not dividing the sizes,
M < L multipliers, gaps and back-pressure, run-time loading, the cycle model exact, the products counter."""

from __future__ import annotations

import numpy as np
import pytest
from support import normal_network, random_inputs

from golden_model.crew import crew_tables
from golden_model.fixed_model import FixedPointNetwork
from hw.tile import Tile
from hw.tile_cycles import expected_cycles
from hw.tile_image import memory_image, product_slots
from hw.tile_params import CrewShape, TileParams
from sim.tile_amaranth import TileSequence, run_sequences


def _setup(cell, inputs=3, hidden=4, lanes=2, multipliers=1, layers=1, seed=3):
    fixed = FixedPointNetwork(normal_network(cell, inputs, hidden, layers=layers, seed=seed))
    unique = max(crew_tables(q.w).unique_max for layer in fixed.layers for q in layer)
    params = TileParams.for_network(fixed, lanes=lanes, crew=CrewShape(unique, multipliers))
    img = memory_image(params, fixed)
    return fixed, params, Tile(params, img)


@pytest.mark.parametrize("cell,lanes,multipliers", [("lstm", 2, 1), ("gru", 2, 2), ("lstm", 4, 2), ("gru", 3, 1)])
def test_crew_tile_equals_golden_and_cycle_model(cell, lanes, multipliers):
    fixed, params, tile = _setup(cell, inputs=3, hidden=4, lanes=lanes, multipliers=multipliers)
    xs = random_inputs(fixed.config, 2, 3, 3, seed=11)
    res = run_sequences(tile, [TileSequence(xs[0]), TileSequence(xs[1][:2])])
    slots = product_slots(params, fixed)[0]
    for k, x in enumerate((xs[0], xs[1][:2])):
        gold = fixed.run(x[None])
        assert np.array_equal(res.h[k], gold.out[0]), f"sequence {k}:\n{res.h[k]}\n!=\n{gold.out[0]}"
        assert res.counters[k]["cycles"] == expected_cycles(params, 3, len(x), product_slots=slots)
        assert res.counters[k]["products"] == len(x) * slots * (lanes // multipliers)
