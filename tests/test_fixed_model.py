"""The fixed-point model: memoization semantics against a loop-by-loop reference, baselines, errors."""

import numpy as np
import pytest
from support import smooth_inputs, uniform_network

from golden_model import FixedPointConfig, QFormat, intops
from golden_model.calibration import calibrate_formats
from golden_model.fixed_model import FixedPointNetwork
from golden_model.memo import PREDICTED, MemoPolicy
from golden_model.predictors import BitPlaneBnn, LowPrecision, LowRank, TopK


def reference(model: FixedPointNetwork, x_q, lengths, policy: MemoPolicy):
    """One neuron at a time, one sequence at a time, in plain Python: the memo semantics of DESIGN.md 3.3
    and docs/predictors.md written out literally for a one-layer, one-direction network (the predictor's
    scores come from its own ``score``, checked literally in test_predictors.py)."""
    cfg, q, net = model.config, model.layers[0][0], model.net
    hs, n_in, gates = net.hidden_size, net.input_size, len(net.gates)
    theta = int(policy.thresholds_q(1)[0])
    af, limit = cfg.act.frac, intops.preact_limit(cfg.preact)
    prepared = policy.predictor.prepare(q.w, cfg)
    out = np.zeros((x_q.shape[0], x_q.shape[1], hs), dtype=np.int64)
    hits = 0
    for s in range(x_q.shape[0]):
        h, c = [0] * hs, [0] * hs
        valid, y_m, p_m, s_m = ([False] * (gates * hs), [0] * (gates * hs), [0] * (gates * hs),
                                [0] * (gates * hs))
        state = policy.predictor.init(prepared, 1)
        for t in range(lengths[s]):
            v = [int(e) for e in x_q[s, t]] + h
            score = policy.predictor.score(prepared, state, np.array([v]), np.array([True]))[0]
            y = [0] * (gates * hs)
            for k in range(gates):
                for j in range(hs):
                    row = k * hs + j
                    acc_x = sum(int(q.w[row, i]) * v[i] for i in range(n_in)) + int(q.bias_x[row])
                    acc_h = sum(int(q.w[row, n_in + i]) * h[i] for i in range(hs)) + int(q.bias_h[row])
                    if net.cell == "gru" and k == 2:
                        acc = acc_x + int(intops.round_shift(y[j] * acc_h, af))  # y[j] is r_j
                    else:
                        acc = acc_x + acc_h
                    kind = model.gate_kinds[k]
                    p = int(intops.to_preact(acc, cfg.acc_frac, cfg.preact))
                    val = int(intops.activate(kind, p, model.tables[kind], cfg.act))
                    if policy.kind == "oracle":
                        compared = (val, y_m[row])
                    elif policy.rule == "output":
                        change = int(intops.round_shift(int(prepared.gain[row]) * (int(score[row]) - s_m[row]),
                                                        prepared.shift))
                        p_hat = max(-limit, min(limit, p_m[row] + change))
                        compared = (int(intops.activate(kind, p_hat, model.tables[kind], cfg.act)), y_m[row])
                    else:
                        compared = (int(score[row]), s_m[row])
                    hit = policy.kind != "off" and valid[row] and bool(
                        intops.within_threshold(*compared, theta, policy.form))
                    if hit:
                        hits += 1
                        y[row] = y_m[row]
                        if policy.cache_update == "always":
                            s_m[row] = int(score[row])
                    else:
                        y[row] = y_m[row] = val
                        p_m[row], s_m[row], valid[row] = p, int(score[row]), True
            if net.cell == "lstm":
                hn, cn = intops.lstm_cell_update(*(np.array(y[k * hs:(k + 1) * hs]) for k in range(4)),
                                                 np.array(c), model.tables["tanh"], cfg)
                c = [int(e) for e in cn]
            else:
                hn = intops.gru_state_update(np.array(y[hs:2 * hs]), np.array(y[2 * hs:]), np.array(h), cfg)
            h = [int(e) for e in hn]
            out[s, t] = h
    return out, hits


POLICIES = [MemoPolicy(), MemoPolicy("oracle", 0.3), MemoPolicy(PREDICTED, 0.2),
            MemoPolicy(PREDICTED, 2, form="absolute"), MemoPolicy(PREDICTED, 0.5, cache_update="always"),
            MemoPolicy("oracle", 3, form="absolute"),
            MemoPolicy(PREDICTED, 0.2, rule="output"),
            MemoPolicy(PREDICTED, 0.1, predictor=BitPlaneBnn(3), rule="output"),
            MemoPolicy(PREDICTED, 0.2, predictor=LowRank(2), rule="output"),
            MemoPolicy(PREDICTED, 4, "absolute", predictor=LowRank(3, 6), rule="output"),
            MemoPolicy(PREDICTED, 0.2, predictor=TopK(2), rule="output"),
            MemoPolicy(PREDICTED, 0.2, predictor=LowPrecision(), rule="output"),
            MemoPolicy(PREDICTED, 30, "absolute", predictor=TopK(3, 5))]


def _policy_id(p):
    name = type(p.predictor).__name__ if p.kind == PREDICTED else ""
    return f"{p.kind}{name}-{p.rule}-{p.threshold}-{p.form}-{p.cache_update}"


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("policy", POLICIES, ids=_policy_id)
def test_vectorised_model_equals_literal_reference(cell, policy):
    net = uniform_network(cell, seed=1)
    x = smooth_inputs(4, 8, 3, seed=2)
    lengths = np.array([8, 3, 6, 1])
    model = FixedPointNetwork(net, calibrate_formats(net, x, lengths))
    x_q = model.quantize_input(x)
    run = model.run(x_q, lengths, policy)
    ref_out, ref_hits = reference(model, x_q, lengths, policy)
    assert np.array_equal(run.out, ref_out)
    assert run.stats.reuses.sum() == ref_hits
    assert run.stats.evaluations.sum() == lengths.sum() * len(net.gates) * net.hidden_size
    if policy.threshold and policy.kind != "off":
        assert ref_hits > 0   # the case exercises reuse


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers,dirs", [(1, 1), (2, 2)])
def test_memo_off_and_exact_oracle_equal_the_baseline(cell, layers, dirs):
    net = uniform_network(cell, layers=layers, dirs=dirs, seed=3)
    x = smooth_inputs(6, 12, 3, seed=4)
    lengths = np.array([12, 5, 9, 12, 2, 7])
    model = FixedPointNetwork(net, calibrate_formats(net, x, lengths))
    base = model.run(x, lengths)
    assert base.stats.reuses.sum() == 0
    assert np.array_equal(model.run(x, lengths, MemoPolicy("off", 0.7)).out, base.out)
    # An oracle with threshold 0 reuses only exactly equal outputs: bit-identical, yet it reuses.
    exact = model.run(x, lengths, MemoPolicy("oracle", 0.0))
    assert np.array_equal(exact.out, base.out)
    assert exact.stats.reuses.sum() > 0


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fixed_point_tracks_float(cell):
    net = uniform_network(cell, hidden=8, layers=2, dirs=2, seed=5)
    x = smooth_inputs(8, 10, 3, seed=6)
    model = FixedPointNetwork(net, calibrate_formats(net, x))
    err = np.abs(model.run(x).out / model.config.act.scale - net.forward(x))
    assert err.max() < 0.03


def test_reuse_grows_with_threshold_and_bnn_correlates():
    net = uniform_network("lstm", hidden=8, seed=7)
    x = smooth_inputs(16, 20, 3, seed=8)
    model = FixedPointNetwork(net, calibrate_formats(net, x))
    reuse = [model.run(x, policy=MemoPolicy("oracle", t)).stats.reuses.sum() for t in (0.0, 0.1, 0.5, 2.0)]
    assert reuse == sorted(reuse) and reuse[-1] > reuse[0]
    corr = model.run(x, correlation=True).stats.correlation()
    assert corr.shape == (1, 4) and np.all(corr > 0.2)


def test_per_layer_thresholds():
    net = uniform_network("gru", layers=2, seed=9)
    x = smooth_inputs(4, 10, 3)
    model = FixedPointNetwork(net, calibrate_formats(net, x))
    run = model.run(x, policy=MemoPolicy("oracle", (0.0, 5.0)))
    per_layer = run.stats.reuses.sum(axis=(0, 2, 3)) / run.stats.evaluations.sum(axis=(0, 2, 3))
    assert per_layer[1] > per_layer[0]
    with pytest.raises(ValueError, match="2 per-layer thresholds given for a 3-layer"):
        MemoPolicy(PREDICTED, (0.1, 0.2)).thresholds_q(3)


def test_per_gate_thresholds():
    """One threshold per gate: each gate's neurons compare with their own (the oracle at a huge relative
    threshold reuses every step after the first, at 0 only exact repeats); all gates equal is the single
    threshold; stacked theta_rows (layers, batch, gates) are the policy's."""
    net = uniform_network("gru", layers=2, seed=9)
    x = smooth_inputs(4, 10, 3)
    model = FixedPointNetwork(net, calibrate_formats(net, x))
    run = model.run(x, policy=MemoPolicy("oracle", ((0.0, 5.0, 0.0), 0.0)))
    per_gate = run.stats.reuses[:, 0].sum(axis=(0, 1)) / run.stats.evaluations[:, 0].sum(axis=(0, 1))
    assert per_gate[1] == pytest.approx(9 / 10) and per_gate[0] < 0.5 and per_gate[2] < 0.5
    for kind in ("oracle", PREDICTED):
        single = model.run(x, policy=MemoPolicy(kind, (0.1, 0.3)))
        same = model.run(x, policy=MemoPolicy(kind, ((0.1,) * 3, (0.3, 0.3, 0.3))))
        np.testing.assert_array_equal(single.out, same.out)
        np.testing.assert_array_equal(single.stats.reuses, same.stats.reuses)
    policy = MemoPolicy(PREDICTED, ((0.0, 0.5, 0.1), (0.2, 0.0, 0.4)))
    rows = np.repeat(policy.thresholds_q(2, 3)[:, None], x.shape[0], axis=1)
    np.testing.assert_array_equal(model.run(x, policy=policy).out, model.run(x, policy=policy, theta_rows=rows).out)
    with pytest.raises(ValueError, match="per-gate thresholds given where one threshold per layer is taken"):
        policy.thresholds_q(2)
    with pytest.raises(ValueError, match="layer 0 has 2 per-gate thresholds for a cell of 3 gates"):
        MemoPolicy(PREDICTED, ((0.1, 0.2), 0.1)).thresholds_q(2, 3)


def test_predictor_is_pluggable():
    class NeverChanges:
        def prepare(self, weights, config):
            return weights.shape[0]

        def init(self, prepared, batch):
            return None

        def score(self, prepared, state, v_q, active):
            return np.zeros((v_q.shape[0], prepared), dtype=np.int64)

    net = uniform_network("lstm", seed=10)
    x = smooth_inputs(3, 6, 3)
    model = FixedPointNetwork(net, calibrate_formats(net, x))
    run = model.run(x, policy=MemoPolicy(PREDICTED, 0.0, form="absolute", predictor=NeverChanges()))
    # A predictor that never changes reuses every evaluation after the first step.
    assert run.stats.reuses.sum() == run.stats.evaluations.sum() - 3 * 16


def test_weights_that_do_not_fit_the_format_are_an_error():
    net = uniform_network("lstm", scale=3.0)
    with pytest.raises(ValueError, match=r"layer 0 weight_ih\[\d+, \d+\] = -?\d.* is outside the range"):
        FixedPointNetwork(net, FixedPointConfig(weight=QFormat(8, 6)))


def test_bad_policy_and_run_arguments():
    with pytest.raises(ValueError, match="unknown memoization policy"):
        MemoPolicy("sometimes")
    with pytest.raises(ValueError, match="unknown cache update"):
        MemoPolicy(PREDICTED, cache_update="never")
    with pytest.raises(ValueError, match="out of range"):
        MemoPolicy(PREDICTED, 1000.0)
    net = uniform_network("gru")
    model = FixedPointNetwork(net, calibrate_formats(net, smooth_inputs(2, 4, 3)))
    with pytest.raises(ValueError, match="theta_rows has shape"):
        model.run(np.zeros((2, 4, 3)), theta_rows=np.zeros((1, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="outside the activation format"):
        model.run(np.full((2, 4, 3), 1 << 20, dtype=np.int64))
    with pytest.raises(TypeError, match="FixedPointConfig"):
        FixedPointNetwork(net, {"weight": 8})
