# amaranth: UnusedElaboratable=no
"""The bit-plane BNN parts (hw/bnn_planes.py, the planes of hw.tile_bnn.SignBits) in the Amaranth simulator
against the golden definition golden_model.predictors.BitPlaneBnn: residual sign planes of single
elements, and the P-plane unit's score of whole neurons under random gaps and back-pressure."""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth_streams import collect, drive, run, sign_bits_after_steps

from golden_model import intops
from golden_model.formats import FixedPointConfig
from golden_model.predictors import BitPlaneBnn
from hw.bnn_planes import BitPlaneUnit, plane_bits_of
from hw.tile_bnn import SignBits
from sim import runner
from sim.runner import pytest_simulators
from sim.testbenches.bnn_vectors import make_plane_neurons

CFG = FixedPointConfig()
ACT, FRAC = CFG.act.bits, CFG.act.frac


def _golden_score(planes, v, w):
    """BitPlaneBnn(planes).score of one input vector ``v`` against the weight rows ``w``."""
    predictor = BitPlaneBnn(planes)
    prepared = predictor.prepare(np.asarray(w), CFG)
    return predictor.score(prepared, None, np.asarray(v)[None], np.ones(1, dtype=bool))[0]


@pytest.mark.parametrize("planes", [1, 2, 3, 5])
def test_plane_bits_of_gives_the_golden_score(planes):
    """Per element plane bits (plane_bits_of) packed into per-plane BNN outputs = the golden score."""
    rng = np.random.default_rng(planes)
    v = rng.integers(-(1 << (ACT - 1)), 1 << (ACT - 1), 40)
    v[:6] = [0, -1, 1, 1 << (FRAC - 1), -(1 << (ACT - 1)), (1 << (ACT - 1)) - 1]
    w = rng.integers(-100, 100, (7, 40))
    bits = np.array([plane_bits_of(x, planes, FRAC) for x in v])          # (N, planes)
    score = sum(intops.bnn_output(bits[:, level], intops.sign_bits(w)) << (planes - 1 - level)
                for level in range(planes))
    assert np.array_equal(score, _golden_score(planes, v, w))


@pytest.mark.parametrize("planes", [2, 3])
def test_sign_bits_planes_are_the_residual_bits(planes):
    """SignBits(planes) stores every element's residual planes (plane l at bits l*size + size - 1 - index:
    the elements shift in at bit 0)."""
    size = 6
    rng = random.Random(planes)
    steps = [[rng.randrange(-(1 << (ACT - 1)), 1 << (ACT - 1)) for _ in range(size)] for _ in range(3)]
    steps[0][:3] = [0, -(1 << (ACT - 1)), (1 << (ACT - 1)) - 1]
    dut = SignBits(size, ACT, first_bank=1, planes=planes, frac=FRAC)   # read bank 0: swap shows bank 1
    got = sign_bits_after_steps(dut, steps)
    for step, word in zip(steps, got, strict=True):
        want = sum(bit << (level * size + size - 1 - k) for k, value in enumerate(step)
                   for level, bit in enumerate(plane_bits_of(value, planes, FRAC)))
        assert word == want


@pytest.mark.parametrize("planes,width", [(1, 8), (2, 5), (3, 8), (4, 3)])
def test_bit_plane_unit_equals_golden_score(planes, width):
    """Corner and random neurons (1..20 inputs) through BitPlaneUnit under random gaps and back-pressure:
    every score equals BitPlaneBnn(planes).score (sim/testbenches/bnn_vectors.py)."""
    neurons = make_plane_neurons(10 * planes + width, 25, width, 20, planes, FRAC)
    dut = BitPlaneUnit(width, 20, planes)
    result = {}

    async def producer(ctx):
        await drive(ctx, dut.i, [beat for beats, _, _ in neurons for beat in beats], random.Random(1), 0.3)

    async def consumer(ctx):
        result["s"], _ = await collect(ctx, dut.o, len(neurons), int, random.Random(2), 0.3)

    run(dut, producer, consumer)
    assert result["s"] == [s for _, s, _ in neurons]


@pytest.mark.parametrize("planes,width,max_inputs", [(2, 8, 40), (3, 5, 23)])
@pytest.mark.parametrize("sim", pytest_simulators())
def test_cocotb(sim, planes, width, max_inputs):
    """The unit on Icarus and Verilator (sim/testbenches/tb_bnn.py): random phases of valid gaps and
    back-pressure, one beat per cycle and the documented latency."""
    config = {"width": width, "max_inputs": max_inputs, "planes": planes, "frac": FRAC}
    design = runner.Design.from_component(BitPlaneUnit(width, max_inputs, planes), name="bnn_planes",
                                          config=config)
    params = {"neurons": 60, "phases": [[1.0, 1.0], [0.5, 1.0], [1.0, 0.4], [0.4, 0.4]], "seed": planes * 7 + width,
              "latency": BitPlaneUnit.latency}
    assert runner.run(design, sim, "sim.testbenches.tb_bnn", params=params)["tests"] == 2


@pytest.mark.parametrize("make", [lambda: BitPlaneUnit(8, 20, 0), lambda: BitPlaneUnit(8, 20, 9),
                                  lambda: BitPlaneUnit(0, 20, 2), lambda: SignBits(4, ACT, planes=3, frac=2),
                                  lambda: SignBits(4, ACT, planes=9, frac=FRAC)])
def test_bad_parameters(make):
    with pytest.raises(ValueError):
        make()
