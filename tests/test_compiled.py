# amaranth: UnusedElaboratable=no
"""The compiled model (fuzzymemo.compiled.CompiledModel): one network on one tile, with its defaults, its
golden policy, its checks, its memory image and a run through the RTL."""

import numpy as np
import pytest

from fuzzymemo.compiled import CompiledModel
from golden_model.fixed_model import FixedPointNetwork
from golden_model.memo import OFF, PREDICTED, MemoPolicy
from hw.tile_bnn import BnnFrontEnd
from hw.tile_memories import MEM_NAMES, MemId
from hw.tile_params import MIN_BEATS, TileParams, default_bnn_width, default_lanes


def test_defaults_are_derived_in_one_place(workload):
    lanes = {name: CompiledModel(workload(name)[0]).params.lanes
             for name in ("japanese_vowels", "basic_motions", "digits")}
    assert lanes == {"japanese_vowels": 4, "basic_motions": 2, "digits": 2}
    for name in lanes:
        model = workload(name)[0]
        p = CompiledModel(model).params
        inputs = [model.net.layer_input_size(li) for li in range(model.net.num_layers)]
        assert p == TileParams.for_network(model.net, model.config, front_end=BnnFrontEnd)
        assert p.bnn_width == default_bnn_width(inputs, model.net.hidden_size, p.lanes)
        assert p.bnn_width >= 8 and p.bnn_width & (p.bnn_width - 1) == 0


def test_default_lanes_follow_the_sizes_not_their_divisors():
    """Defect 20: a one-feature model used to get L = 1 (no larger power of two divides 1), though rows
    are zero-padded; now L is the largest power of two <= the cap that leaves every neuron MIN_BEATS
    beats, whatever divides the sizes."""
    assert MIN_BEATS == 10
    assert default_lanes([1], 96) == 8 and default_lanes([1, 192], 96) == 8      # 1 + 12 beats at L = 8
    assert default_lanes([12], 32) == 4                 # 2 + 4 beats at L = 8 would starve the predictor
    assert default_lanes([46], 256) == 8 and default_lanes([256], 256, cap=16) == 16
    assert default_lanes([3], 5) == 1                   # fewer than MIN_BEATS inputs and units: one lane
    for inputs, hidden in (([1], 96), ([12], 32), ([6], 16), ([8, 16], 16), ([46], 256), ([2], 7)):
        lanes = default_lanes(inputs, hidden)
        beats = [-(-n_x // lanes) - (-hidden // lanes) for n_x in inputs]
        assert lanes == 1 or min(beats) >= MIN_BEATS
        assert lanes == 8 or any(-(-n_x // (2 * lanes)) - (-hidden // (2 * lanes)) < MIN_BEATS for n_x in inputs)


def test_baseline_keeps_the_tile_choices(workload):
    model, _ = workload("japanese_vowels")
    memo = CompiledModel(model, lanes=2, bnn_width=16, max_steps=64)
    base = memo.baseline()
    assert memo.reuse and not base.reuse and base.label == "baseline" and memo.label == "memo-bnn"
    assert (base.params.lanes, base.params.bnn_width, base.params.max_steps) == (2, 16, 64)
    assert base.params.memo is False and memo.params.memo is True
    assert "predictor" in memo.image and "predictor" not in base.image
    assert "L=2 B=16" in memo.describe() and "predictor bnn" in memo.describe()


def test_policy_of_the_tile(workload):
    model, _ = workload("basic_motions")
    memo = CompiledModel(model)
    assert memo.policy(0.3) == MemoPolicy(PREDICTED, 0.3)
    assert memo.policy(0.3, enable=False).kind == OFF
    assert memo.baseline().policy(0.3).kind == OFF


def test_bad_choices_are_clear_errors(workload):
    model, _ = workload("basic_motions")
    with pytest.raises(ValueError, match="oracle .oracle. has no hardware; choose a predictor with a front end: bnn"):
        CompiledModel(model, predictor="oracle")
    with pytest.raises(ValueError, match="unknown scheme 'nope'"):
        CompiledModel(model, scheme="nope")
    with pytest.raises(ValueError, match="multipliers are a parameter of the CREW tile"):
        CompiledModel(model, multipliers=2)
    with pytest.raises(ValueError, match="3 CREW multipliers do not divide the 8 lanes"):
        CompiledModel(model, scheme="crew", lanes=8, multipliers=3)
    with pytest.raises(TypeError, match="FixedPointNetwork"):
        CompiledModel(model.net)
    with pytest.raises(ValueError, match="lanes"):
        CompiledModel(model, lanes=0)
    compiled = CompiledModel(model, max_steps=8)
    with pytest.raises(ValueError, match=r"sequence 0 has 100 steps.*at most 8"):
        compiled.check(np.array([100]))
    with pytest.raises(ValueError, match="absolute threshold 70000.0 is out of range"):
        compiled.policy(70000, "absolute")


def test_golden_layers_and_memory_words(workload):
    model, w = workload("digits")
    compiled = CompiledModel(model)
    x_q, lengths = model.quantize_input(w.x[:5]), w.lengths[:5]
    policy = compiled.policy(0.2)
    layers, stats = compiled.golden(x_q, lengths, policy)
    run = model.run(x_q, lengths, policy)
    assert len(layers) == 2 and np.array_equal(layers[-1], run.out)
    assert np.array_equal(stats.reuses, run.stats.reuses)
    words = compiled.memory_words()
    assert len(words) == sum(compiled.params.depths().values())
    assert {MEM_NAMES[MemId(w["mem"])] for w in words} == set(compiled.image) == {"weight", "bias", "predictor"}


@pytest.mark.icarus
def test_run_through_the_rtl_is_bit_exact(workload):
    model, w = workload("basic_motions")
    compiled = CompiledModel(model)
    x, lengths = w.x[:1, :5], np.array([5])
    run = compiled.run("icarus", x, lengths, threshold=0.2, run_name="compiled-test", quiet=True)
    assert run.bit_exact and run.counters_ok
    assert run.counters["reuses"] == run.stats.reuses.sum() > 0
    assert abs(run.counters["cycles"] - compiled.predicted_cycles(run)) <= 0.02 * run.counters["cycles"]
    assert run.counters["evaluations"] == 5 * compiled.params.neurons


@pytest.mark.parametrize("width", [64, 128])
def test_wide_bnn_beats_give_valid_sign_words(width):
    # issue 14 defect 1: sign words of 64 bits and more went negative or lost bits (intops.pack_bits)
    from golden_model import intops
    from golden_model.network import Network
    from hw.tile import Tile

    rng = np.random.default_rng(3)
    inputs, hidden = 40, 96                     # N = 136 > 128: every bit of a first beat is a weight's sign
    net = Network.build("gru", [[{"w_ih": rng.uniform(-1, 1, (3 * hidden, inputs)),
                                  "w_hh": rng.uniform(-1, 1, (3 * hidden, hidden)),
                                  "b_ih": np.zeros(3 * hidden), "b_hh": np.zeros(3 * hidden)}]])
    model = FixedPointNetwork(net)
    compiled = CompiledModel(model, lanes=8, bnn_width=width)
    words = compiled.image["predictor"]
    assert all(0 <= w < 1 << width for w in words) and max(words) >= 1 << (width - 1)
    # a row's signs reversed (hw.tile_bnn.sign_words)
    assert words[0] == intops.pack_bits(intops.sign_bits(model.layers[0][0].w[0])[::-1], width)[0]
    Tile(compiled.params, compiled.image)   # validates every raw word against its memory's width
