"""The integer predictors (golden_model.predictors): each score against a literal loop-by-loop definition,
the output rule's conversion to preactivation LSBs, and parameter errors."""

import numpy as np
import pytest
from support import smooth_inputs, uniform_network

from golden_model import intops
from golden_model.calibration import calibrate_formats
from golden_model.fixed_model import FixedPointNetwork
from golden_model.formats import FixedPointConfig
from golden_model.memo import PREDICTED, MemoPolicy
from golden_model.predictors import BitPlaneBnn, LowPrecision, LowRank, TopK, acc_to_preact_shift


@pytest.fixture(scope="module")
def layer():
    """(integer weights, config, integer inputs (steps, N)) of a small LSTM layer over a smooth sequence."""
    net = uniform_network("lstm", seed=5)
    x = smooth_inputs(1, 12, 3, seed=6)
    model = FixedPointNetwork(net, calibrate_formats(net, x))
    run = model.run(x)
    v = np.concatenate([model.quantize_input(x)[0], np.vstack([np.zeros((1, 4), np.int64), run.out[0, :-1]])],
                       axis=1)
    return model.layers[0][0].w, model.config, v


def _sign(value):
    return 1 if value >= 0 else -1


def test_bit_planes_equal_their_literal_definition(layer):
    w, cfg, v = layer
    for planes in (1, 2, 4):
        pred = BitPlaneBnn(planes)
        prepared = pred.prepare(w, cfg)
        got = pred.score(prepared, None, v, np.ones(len(v), bool))
        for t, row in enumerate(v):
            residual = [int(e) for e in row]
            want = [0] * w.shape[0]
            for level in range(planes):
                signs = [_sign(r) for r in residual]
                for n in range(w.shape[0]):
                    want[n] += (sum(s * _sign(wi) for s, wi in zip(signs, w[n], strict=True)) << (planes - 1 - level))
                residual = [r - s * (1 << (cfg.act.frac - 1 - level)) for r, s in zip(residual, signs, strict=True)]
            assert list(got[t]) == want
        assert list(prepared.gain) == [int(np.floor(np.mean(np.abs(r)) + 0.5)) for r in w]
    # one plane is exactly the paper's BNN output
    one = BitPlaneBnn(1)
    assert np.array_equal(one.score(one.prepare(w, cfg), None, v, None),
                          intops.bnn_output(intops.sign_bits(v), intops.sign_bits(w)))


def test_low_rank_factors_and_score(layer):
    w, cfg, v = layer
    pred = LowRank(3, 8)
    prepared = pred.prepare(w, cfg)
    a, b = prepared.factors["a"], prepared.factors["b"]
    assert a.shape == (w.shape[0], 3) and b.shape == (w.shape[1], 3)
    assert np.abs(a).max() <= 127 and np.abs(b).max() <= 127 and np.abs(a).max() >= 64   # the scale is used
    got = pred.score(prepared, None, v, None)
    for t, row in enumerate(v):
        z = [sum(int(row[i]) * int(b[i, j]) for i in range(len(row))) for j in range(3)]
        assert list(got[t]) == [sum(int(a[n, j]) * z[j] for j in range(3)) for n in range(w.shape[0])]


def test_full_rank_wide_factors_predict_the_preactivation_change(layer):
    """At full rank and 16-bit factors the output rule's change is the true change to within a few LSBs."""
    w, cfg, v = layer
    pred = LowRank(w.shape[1], 16)
    prepared = pred.prepare(w, cfg)
    s = pred.score(prepared, None, v, None)
    predicted = intops.round_shift(prepared.gain * (s[1:] - s[:-1]), prepared.shift)
    true = intops.rescale((v[1:] - v[:-1]) @ w.T, cfg.acc_frac, cfg.preact.frac)
    assert np.abs(predicted - true).max() <= 2


def test_low_precision_at_full_width_is_the_exact_change(layer):
    w, cfg, v = layer
    pred = LowPrecision(cfg.weight.bits, cfg.act.frac + 2)   # the activation format's own steps
    prepared = pred.prepare(w, cfg)
    assert np.array_equal(prepared.factors["w"], w) and prepared.shift == acc_to_preact_shift(cfg)
    s = pred.score(prepared, None, v, None)
    change = intops.round_shift(s[1:] - s[:-1], prepared.shift)
    assert np.array_equal(change, intops.round_shift((v[1:] - v[:-1]) @ w.T, acc_to_preact_shift(cfg)))


def test_top_k_accumulates_the_largest_changes_ties_to_the_lower_index():
    w = np.array([[1, 2, 3, 4], [-1, 0, 1, 0]])
    pred = TopK(2, 8)
    prepared = pred.prepare(w, FixedPointConfig())
    assert np.array_equal(prepared.factors["w"], w)   # 8-bit weights are kept
    state = pred.init(prepared, 2)
    active = np.array([True, True])
    s1 = pred.score(prepared, state, np.array([[5, 5, 0, 1], [1, 1, 1, 1]]), active)
    # row 0: changes 5, 5, 0, 1 -> inputs 0 and 1 (tie to the lower index); row 1: all 1 -> inputs 0, 1
    assert s1.tolist() == [[5 * 1 + 5 * 2, -5], [1 + 2, -1]]
    s2 = pred.score(prepared, state, np.array([[5, 5, 3, -3], [1, 1, 1, 1]]), np.array([True, False]))
    # row 0: changes 0, 0, 3, -4 -> inputs 3 and 2; row 1 inactive: unchanged
    assert s2.tolist() == [[15 + 3 * 3 - 4 * 4, -5 + 3], [3, -1]]


@pytest.mark.parametrize("make, message", [
    (lambda: BitPlaneBnn(0), "planes must be an integer in 1..8"),
    (lambda: LowRank(0), "rank must be an integer in 1..64"),
    (lambda: LowRank(4, 1), "bits must be an integer in 2..16"),
    (lambda: TopK(k=2.5), "k must be an integer"),
    (lambda: LowPrecision(input_bits=2), "input_bits must be an integer in 3..16"),
    (lambda: MemoPolicy(PREDICTED, 0.1, rule="guess"), "unknown decision rule 'guess'"),
    (lambda: MemoPolicy(PREDICTED, 0.1, cache_update="always", rule="output"), "cache_update must be 'compute'"),
])
def test_bad_parameters_are_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_sweeps_on_float_blas_equal_plain_int64_arithmetic(cell, monkeypatch):
    """The golden model's integer products run on float BLAS (intops.exact_matmul) and its per-neuron arrays
    in int32 where the formats allow (FixedPointConfig.int32_fits). At the format limits (weights at the
    weight format's extremes, inputs saturating the activation format) every sweep record of every
    predictor equals the one computed with plain int64 matmuls and int64 arrays."""
    from golden_model.sweep import sweep

    net = uniform_network(cell, inputs=9, hidden=12, layers=2, dirs=2, seed=3, scale=1.98)
    model = FixedPointNetwork(net, FixedPointConfig())
    x = smooth_inputs(6, 7, 9, seed=2) * 60
    assert np.abs(x).max() > FixedPointConfig().act.max_value
    y = np.random.default_rng(4).integers(0, 3, 6)
    policies = ("oracle", "bnn", "bnn-planes", "low-precision", "low-rank", "top-k")
    assert model.datapath_dtype == np.int32
    fast = sweep(model, x, y, None, policies, (0.0, 0.2, 0.5))
    monkeypatch.setattr(intops, "exact_matmul",
                        lambda a, b, bits=None, out=None: np.asarray(a, dtype=np.int64) @ np.asarray(b, dtype=np.int64))
    monkeypatch.setattr(model, "datapath_dtype", np.int64)
    assert sweep(model, x, y, None, policies, (0.0, 0.2, 0.5)) == fast
    assert any(r["reuse"] > 0 for r in fast)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_int32_datapath_at_its_widest_equals_int64(cell, monkeypatch):
    """At the widest neuron int32 allows (1024 inputs: a 31-bit accumulator) with weights and inputs at
    their formats' extremes, the sweep records with int32 arrays equal those with int64 ones."""
    from golden_model.network import Network
    from golden_model.sweep import sweep

    rng, gates, hidden, inputs = np.random.default_rng(6), 4 if cell == "lstm" else 3, 8, 1024 - 8
    extreme = FixedPointConfig().weight.min_int / FixedPointConfig().weight.scale   # -2.0

    def rows(n):   # every neuron's weights at one extreme: its accumulator reaches the largest magnitude
        return np.repeat(rng.choice([extreme, -extreme * 127 / 128], (gates * hidden, 1)), n, axis=1)

    spec = [[{"w_ih": rows(inputs), "w_hh": rows(hidden), "b_ih": rng.uniform(-100, 100, gates * hidden),
              "b_hh": np.zeros(gates * hidden)} for _ in range(2)]]
    net = Network.build(cell, spec, {"weight": rng.standard_normal((3, 2 * hidden)), "bias": np.zeros(3)})
    model = FixedPointNetwork(net, FixedPointConfig())
    assert model.datapath_dtype == np.int32
    x = np.repeat(np.array([100.0, -100.0, 100.0, -100.0])[:, None, None], 3, axis=1).repeat(inputs, axis=2)
    acc = model.dot(model.quantize_input(x)[:, 0], model.layers[0][0].w[:, :inputs])
    assert np.abs(acc).max() >= 1 << 27    # saturated inputs: the accumulators near their 31-bit bound
    y = np.array([0, 1, 2, 0])
    narrow = sweep(model, x, y, None, ("oracle", "bnn"), (0.0, 0.3))
    monkeypatch.setattr(model, "datapath_dtype", np.int64)
    assert sweep(model, x, y, None, ("oracle", "bnn"), (0.0, 0.3)) == narrow


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("workers", [1, 2])
def test_sweep_in_blocks_equals_one_block(cell, workers, monkeypatch):
    """A policy's rows run in blocks on ``workers`` threads (golden_model.sweep.run_blocks): with uneven
    blocks of 5 rows over sequences of different lengths every record equals the one of a single block."""
    from golden_model import sweep as sweeps

    net = uniform_network(cell, inputs=5, hidden=6, layers=2, dirs=2, seed=8)
    model = FixedPointNetwork(net, calibrate_formats(net, smooth_inputs(7, 9, 5, seed=1)))
    x, lengths = smooth_inputs(7, 9, 5, seed=2), np.array([9, 3, 7, 1, 9, 5, 8])
    y = np.random.default_rng(5).integers(0, 3, 7)
    policies = ("oracle", "bnn", "top-k", "low-rank")
    one = sweeps.sweep(model, x, y, lengths, policies, (0.0, 0.1, 0.3))
    monkeypatch.setattr(sweeps, "BLOCK_ROWS", 5)
    assert sweeps.sweep(model, x, y, lengths, policies, (0.0, 0.1, 0.3), workers=workers) == one
    assert any(r["reuse"] > 0 for r in one)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_sweep_rejects_a_bad_worker_count(workers):
    from golden_model.sweep import sweep

    net = uniform_network("lstm", inputs=3, hidden=4, layers=1, dirs=1, seed=1)
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        sweep(FixedPointNetwork(net), np.zeros((2, 3, 3)), np.array([0, 1]), workers=workers)


def test_paper_scale_bench_case_has_the_issue_shape():
    """``fuzzymemo bench --paper-scale``: a 2-layer bidirectional LSTM, input 40, hidden 256, 150 steps."""
    from fuzzymemo.commands.bench import paper_scale_source

    src = paper_scale_source(limit=2)
    net = src.model.net
    assert (net.cell, net.num_layers, net.num_directions, net.input_size, net.hidden_size) == ("lstm", 2, 2, 40, 256)
    assert src.x.shape == (2, 150, 40) and list(src.lengths) == [150, 150] and src.y.shape == (2,)
