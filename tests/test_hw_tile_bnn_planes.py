# amaranth: UnusedElaboratable=no
"""The tile with the bit-plane BNN front end (hw/tile_bnn_planes.py) in the Amaranth simulator: every h_t and
the reuse counts equal to the golden model's bnn-planes output rule (planes 1..3), under random x gaps and
h back-pressure, sequence starts, run-time loading and two slots; the cycle model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from support import normal_network, random_inputs

from golden_model import intops, schemes
from golden_model.fixed_model import FixedPointNetwork
from golden_model.formats import QFormat
from hw.tile import Tile
from hw.tile_bnn_planes import BitPlaneFrontEnd
from hw.tile_cycles import expected_cycles
from hw.tile_image import image_writes, memory_image
from hw.tile_params import TileParams
from sim.tile_amaranth import TileSequence, run_sequences


def _policy(theta, form, planes):
    return schemes.get("memo").golden_policy(theta, predictor="bnn-planes", form=form,
                                             predictor_params={"planes": planes})


def _setup(cell, inputs=3, hidden=4, lanes=2, layers=1, planes=2, seed=3, image=True, bnn_width=None):
    fixed = FixedPointNetwork(normal_network(cell, inputs, hidden, layers=layers, seed=seed))
    params = TileParams.for_network(fixed, lanes=lanes, bnn_width=bnn_width,
                                    front_end=BitPlaneFrontEnd.configure(planes))
    img = memory_image(params, fixed)
    return fixed, params, img, Tile(params, img if image else None)


def _check(res, k, gold, params, steps):
    assert np.array_equal(res.h[k], gold.out[0]), f"sequence {k}:\n{res.h[k]}\n!=\n{gold.out[0]}"
    assert res.counters[k]["evaluations"] == steps * params.neurons
    assert res.counters[k]["reuses"] == int(gold.stats.reuses.sum())


@pytest.mark.parametrize("cell,theta,form,planes", [("lstm", 0.2, "relative", 1), ("gru", 0.2, "relative", 2),
                                                    ("lstm", 30, "absolute", 3), ("gru", 30, "absolute", 3)])
def test_bnn_planes_tile_equals_golden_with_gaps(cell, theta, form, planes):
    fixed, params, _, tile = _setup(cell, planes=planes, bnn_width=3)   # 3 beats per neuron
    xs = random_inputs(fixed.config, 2, 6, 3, seed=5, scale=0.3)
    theta_q = intops.quantize_threshold(theta, form)
    seqs = [TileSequence(x, memo_enable=1, theta=theta_q, form=int(form == "absolute")) for x in xs]
    res = run_sequences(tile, seqs, seed=7, gap=0.3, stall=0.3)
    total = 0
    for k, x in enumerate(xs):
        gold = fixed.run(x[None], policy=_policy(theta, form, planes))
        _check(res, k, gold, params, len(x))
        total += res.counters[k]["reuses"]
    assert total > 5, "the threshold should give real reuse"


@pytest.mark.parametrize("cell,planes", [("lstm", 3), ("gru", 2)])
def test_bnn_planes_tile_loaded_at_run_time_two_slots_and_memo_off(cell, planes):
    """A 2-layer network on a tile built without an image: load it through wr, run layer 0 (slot 0) with
    memo on, layer 1 (slot 1) on its outputs with memo on, then memo off gives the baseline outputs."""
    fixed, params, img, tile = _setup(cell, layers=2, image=False, seed=4, planes=planes)
    x = random_inputs(fixed.config, 1, 5, 3, seed=9, scale=0.3)[0]
    theta_q = intops.quantize_threshold(0.3, "relative")
    gold = fixed.run(x[None], policy=_policy(0.3, "relative", planes))
    h0 = gold.layer_outputs[0][0]
    seqs = [TileSequence(x, slot=0, memo_enable=1, theta=theta_q),
            TileSequence(h0, slot=1, memo_enable=1, theta=theta_q), TileSequence(x, slot=0)]
    res = run_sequences(tile, seqs, writes=image_writes(params, img), gap=0.2, stall=0.2, seed=2)
    assert np.array_equal(res.h[0], h0)
    assert np.array_equal(res.h[1], gold.out[0])
    assert res.counters[0]["reuses"] + res.counters[1]["reuses"] == int(gold.stats.reuses.sum()) > 0
    assert np.array_equal(res.h[2], fixed.run(x[None]).layer_outputs[0][0])
    assert res.counters[2]["reuses"] == 0


@pytest.mark.parametrize("bnn_width", [None, 3])
def test_hit_runs_cost_kb_cycles_per_neuron(bnn_width):
    """Constant input, a huge threshold: after the first step every neuron hits, and a step costs the
    cycle model's hit pacing (one decision per kb = ceil((n_x + H) / B) cycles)."""
    fixed, params, _, tile = _setup("lstm", inputs=4, hidden=4, lanes=2, planes=3, bnn_width=bnn_width)
    x = random_inputs(fixed.config, 1, 3, 4, seed=1)[0]
    x[:] = x[0]
    res = run_sequences(tile, [TileSequence(x, memo_enable=1, theta=65535, form=1)])
    gold = fixed.run(x[None], policy=_policy(65535, "absolute", 3))
    _check(res, 0, gold, params, 3)
    misses = (gold.stats.step_evaluations - gold.stats.step_reuses)[0, 0, 0]
    assert list(misses) == [16, 0, 0]
    assert res.counters[0]["cycles"] == expected_cycles(params, 4, 3, misses)


def test_mixed_hits_cycle_estimate():
    """With a mixed hit pattern the count-based estimate is within 5 % of the measured cycles."""
    fixed, params, _, tile = _setup("gru", inputs=6, hidden=4, lanes=2, seed=6, planes=3)
    x = random_inputs(fixed.config, 1, 6, 6, seed=3, scale=0.3)[0]
    res = run_sequences(tile, [TileSequence(x, memo_enable=1, theta=intops.quantize_threshold(0.3, "relative"))])
    gold = fixed.run(x[None], policy=_policy(0.3, "relative", 3))
    _check(res, 0, gold, params, 6)
    misses = (gold.stats.step_evaluations - gold.stats.step_reuses)[0, 0, 0]
    assert 0 < misses[1:].sum() < 5 * params.neurons
    est = expected_cycles(params, 6, 6, misses)
    assert abs(res.counters[0]["cycles"] - est) <= 0.05 * est


def test_image_words_layout_and_checks():
    """Gain rows after every slot's sign rows: round(mean |w|) of the neuron (issue order), shift above;
    too many planes for the activation format is a ValueError."""
    fixed = FixedPointNetwork(normal_network("gru", 3, 4, seed=3))
    params = TileParams.for_network(fixed, lanes=2, front_end=BitPlaneFrontEnd.configure(2))
    words = memory_image(params, fixed)["predictor"]
    w = fixed.layers[0][0].w
    G, H, gb = params.gates, params.hidden, params.config.weight.bits
    base = params.slots * params.neurons * params.sign_rows
    shift = 2 + params.config.weight.frac - params.config.preact.frac
    for n in range(params.neurons):
        gain = int(np.floor(np.abs(w[(n % G) * H + n // G]).mean() + 0.5))
        assert words[base + n] == gain | (shift << gb)
    for config, match in ((replace(params.config, act=QFormat(12, 1)), "activation fraction bits"),
                          (replace(params.config, preact=QFormat(16, 12)), "shift -4 is outside")):
        small = replace(params, config=config)
        with pytest.raises(ValueError, match=match):
            BitPlaneFrontEnd.configure(2).image_words(small, 0, w)
    with pytest.raises(ValueError, match="activation fraction bits"):
        BitPlaneFrontEnd.configure(2)(replace(params, config=replace(params.config, act=QFormat(12, 1))))
