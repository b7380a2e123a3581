"""The tile scenarios every output-rule predictor front end is tested in (tests/test_hw_tile_scored.py,
tests/test_hw_tile_bnn_planes.py, tests/test_hw_tile_low_precision.py), in the Amaranth simulator against
the golden model: random x gaps and h back-pressure, two slots loaded through ``wr`` with memo off after
them, and the cycle model."""

from __future__ import annotations

import numpy as np
from support import normal_network, random_inputs

from golden_model import intops, schemes
from golden_model.fixed_model import FixedPointNetwork
from hw.tile import Tile
from hw.tile_cycles import expected_cycles
from hw.tile_image import image_writes, memory_image
from hw.tile_params import TileParams
from sim.tile_amaranth import TileSequence, run_sequences


class FrontEndCase:
    """The front end of registered ``predictor`` with one parameter ``param`` (None: a value is a dict of
    parameters); ``configure(value)`` gives its class for a parameter value."""

    def __init__(self, predictor: str, param: str | None, configure):
        self.predictor, self.param, self.configure = predictor, param, configure

    def policy(self, theta, form, value):
        params = value if self.param is None else {self.param: value}
        return schemes.get("memo").golden_policy(theta, predictor=self.predictor, form=form,
                                                 predictor_params=params)

    def setup(self, cell, value, inputs=3, hidden=4, lanes=2, layers=1, seed=3, image=True, bnn_width=None):
        fixed = FixedPointNetwork(normal_network(cell, inputs, hidden, layers=layers, seed=seed))
        params = TileParams.for_network(fixed, lanes=lanes, bnn_width=bnn_width, front_end=self.configure(value))
        img = memory_image(params, fixed)
        return fixed, params, img, Tile(params, img if image else None)

    @staticmethod
    def check(res, k, gold, params, steps):
        assert np.array_equal(res.h[k], gold.out[0]), f"sequence {k}:\n{res.h[k]}\n!=\n{gold.out[0]}"
        assert res.counters[k]["evaluations"] == steps * params.neurons
        assert res.counters[k]["reuses"] == int(gold.stats.reuses.sum())

    def equals_golden_with_gaps(self, cell, theta, form, value, min_reuses=10, **setup):
        fixed, params, _, tile = self.setup(cell, value, **setup)
        xs = random_inputs(fixed.config, 2, 6, 3, seed=5, scale=0.3)
        theta_q = intops.quantize_threshold(theta, form)
        seqs = [TileSequence(x, memo_enable=1, theta=theta_q, form=int(form == "absolute")) for x in xs]
        res = run_sequences(tile, seqs, seed=7, gap=0.3, stall=0.3)
        for k, x in enumerate(xs):
            self.check(res, k, fixed.run(x[None], policy=self.policy(theta, form, value)), params, len(x))
        assert sum(c["reuses"] for c in res.counters) > min_reuses, "the threshold should give real reuse"

    def two_slots_and_memo_off(self, cell, value, seed=4, **setup):
        """A 2-layer network on a tile built without an image: load it through wr, run layer 0 (slot 0) with
        memo on, layer 1 (slot 1) on its outputs with memo on, then memo off gives the baseline outputs."""
        fixed, params, img, tile = self.setup(cell, value, layers=2, image=False, seed=seed, **setup)
        x = random_inputs(fixed.config, 1, 5, fixed.net.input_size, seed=9, scale=0.3)[0]
        theta_q = intops.quantize_threshold(0.3, "relative")
        gold = fixed.run(x[None], policy=self.policy(0.3, "relative", value))
        h0 = gold.layer_outputs[0][0]
        seqs = [TileSequence(x, slot=0, memo_enable=1, theta=theta_q),
                TileSequence(h0, slot=1, memo_enable=1, theta=theta_q), TileSequence(x, slot=0)]
        res = run_sequences(tile, seqs, writes=image_writes(params, img), gap=0.2, stall=0.2, seed=2)
        assert np.array_equal(res.h[0], h0)
        assert np.array_equal(res.h[1], gold.out[0])
        assert res.counters[0]["reuses"] + res.counters[1]["reuses"] == int(gold.stats.reuses.sum()) > 0
        assert np.array_equal(res.h[2], fixed.run(x[None]).layer_outputs[0][0])
        assert res.counters[2]["reuses"] == 0

    def hit_run(self, value, inputs=4, lanes=2, **setup):
        """Constant input, a huge threshold: after the first step every neuron hits, and a step costs the
        cycle model's hit pacing (one decision per ``interval`` of ``decision_timing``)."""
        fixed, params, _, tile = self.setup("lstm", value, inputs=inputs, hidden=4, lanes=lanes, **setup)
        x = random_inputs(fixed.config, 1, 3, inputs, seed=1)[0]
        x[:] = x[0]
        res = run_sequences(tile, [TileSequence(x, memo_enable=1, theta=65535, form=1)])
        gold = fixed.run(x[None], policy=self.policy(65535, "absolute", value))
        self.check(res, 0, gold, params, 3)
        misses = (gold.stats.step_evaluations - gold.stats.step_reuses)[0, 0, 0]
        assert list(misses) == [16, 0, 0]
        assert res.counters[0]["cycles"] == expected_cycles(params, inputs, 3, misses)
        return params

    def mixed_hits(self, value):
        """With a mixed hit pattern the count-based estimate is within 5 % of the measured cycles."""
        fixed, params, _, tile = self.setup("gru", value, inputs=6, hidden=4, lanes=2, seed=6)
        x = random_inputs(fixed.config, 1, 6, 6, seed=3, scale=0.3)[0]
        res = run_sequences(tile, [TileSequence(x, memo_enable=1,
                                                theta=intops.quantize_threshold(0.3, "relative"))])
        gold = fixed.run(x[None], policy=self.policy(0.3, "relative", value))
        self.check(res, 0, gold, params, 6)
        misses = (gold.stats.step_evaluations - gold.stats.step_reuses)[0, 0, 0]
        assert 0 < misses[1:].sum() < 5 * params.neurons
        est = expected_cycles(params, 6, 6, misses)
        assert abs(res.counters[0]["cycles"] - est) <= 0.05 * est
