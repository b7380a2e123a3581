"""CREW (golden_model.crew, crew_stats, crew_clustering; docs/crew.md): bit-exact against the fixed-point
baseline on every workload and on random networks, the tables, the multiplication counts against their
literal definition, composition with memoization, the statistics, weight clustering and ``fuzzymemo crew``."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import random_inputs, uniform_network

from fuzzymemo.cli import main
from golden_model.crew import CrewPolicy, crew_dot, crew_tables, index_bits
from golden_model.crew_clustering import (
    calibrate_clusters,
    cluster_column,
    cluster_columns,
    clustered_network,
)
from golden_model.crew_stats import direction_stats, network_stats, per_input_index_bits, summarize, unique_counts
from golden_model.fixed_model import FixedPointNetwork, RunStats
from golden_model.formats import FixedPointConfig, QFormat
from golden_model.memo import ORACLE, PREDICTED, MemoPolicy
from golden_model.reuse_calibration import estimated_loss
from golden_model.workloads import ALL_WORKLOADS, PAPER_SCALE_WORKLOADS, load_workload

#: Sequences of the paper-scale workload checked (its CREW run gathers 1024 x 302 products per step).
PAPER_SCALE_SLICE = 6


def _check_exact(model, x, lengths=None, memo=None):
    """CREW (under ``memo``, default off) against the same policy without CREW: every layer's output and
    every reuse equal; returns both runs."""
    memo = memo or MemoPolicy()
    base = model.run(x, lengths, policy=memo)
    crew = model.run(x, lengths, policy=CrewPolicy(memo=memo))
    assert len(base.layer_outputs) == len(crew.layer_outputs)
    for layer, (a, b) in enumerate(zip(base.layer_outputs, crew.layer_outputs, strict=True)):
        assert np.array_equal(a, b), f"layer {layer} output differs"
    assert np.array_equal(base.stats.reuses, crew.stats.reuses)
    assert np.array_equal(base.stats.baseline_multiplications, crew.stats.baseline_multiplications)
    return base, crew


def _literal_crew_multiplications(model, lengths):
    """CREW alone: per sequence, layer, direction, sum over valid steps of sum_i U_i (every neuron computed)."""
    out = np.zeros((len(lengths), model.net.num_layers, model.net.num_directions), dtype=np.int64)
    for b, length in enumerate(lengths):
        for li, layer in enumerate(model.layers):
            for d, q in enumerate(layer):
                per_step = 0
                for i in range(q.w.shape[1]):
                    per_step += len(set(q.w[:, i].tolist()))
                out[b, li, d] = int(length) * per_step
    return out


@pytest.mark.parametrize("name", ALL_WORKLOADS)
def test_crew_is_bit_exact_on_every_workload(workload, name):
    model, w = workload(name)
    n = PAPER_SCALE_SLICE if name in PAPER_SCALE_WORKLOADS else len(w.x)
    x, lengths = w.x[:n], w.lengths[:n]
    base, crew = _check_exact(model, x, lengths)
    assert not crew.stats.reuses.any()
    assert np.array_equal(crew.stats.multiplications, _literal_crew_multiplications(model, lengths))
    assert np.array_equal(base.stats.multiplications, base.stats.baseline_multiplications)
    assert crew.stats.multiplications_avoided() > 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cell=st.sampled_from(["lstm", "gru"]), layers=st.integers(1, 2), dirs=st.integers(1, 2),
       inputs=st.integers(1, 5), hidden=st.integers(1, 6), seed=st.integers(0, 2**16),
       weight_bits=st.sampled_from([3, 4, 8]))
def test_crew_is_bit_exact_on_random_networks(cell, layers, dirs, inputs, hidden, seed, weight_bits):
    # few weight bits: many repeated weights per input; 8 bits: nearly all distinct
    config = FixedPointConfig(weight=QFormat(weight_bits, weight_bits - 2))
    net = uniform_network(cell, inputs, hidden, layers, dirs, seed=seed, scale=0.9)
    model = FixedPointNetwork(net, config)
    rng = np.random.default_rng(seed)
    x = random_inputs(config, 3, 7, inputs, seed=seed)
    lengths = rng.integers(1, 8, 3)
    _, crew = _check_exact(model, x, lengths)
    assert np.array_equal(crew.stats.multiplications, _literal_crew_multiplications(model, lengths))


@settings(max_examples=50, deadline=None)
@given(neurons=st.integers(1, 40), inputs=st.integers(1, 12), bits=st.integers(2, 9), seed=st.integers(0, 2**16))
def test_tables_round_trip(neurons, inputs, bits, seed):
    rng = np.random.default_rng(seed)
    w = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), (neurons, inputs))
    w[:, 0] = w[0, 0]   # a single-valued input
    t = crew_tables(w)
    assert np.array_equal(t.weights(), w)
    assert np.array_equal(t.counts, unique_counts(w))
    assert t.unique_max == t.counts.max()
    assert np.all(t.index >= 0) and np.all(t.index < t.counts[None, :])
    for i in range(inputs):
        values = t.unique[i, :t.counts[i]]
        assert np.array_equal(values, np.unique(w[:, i]))
        assert not t.unique[i, t.counts[i]:].any()   # padding is zero
    v = rng.integers(-2048, 2048, (5, inputs))
    assert np.array_equal(crew_dot(v, t), v @ w.T)


def test_tables_refuse_a_float_matrix():
    with pytest.raises(ValueError, match="integer matrix"):
        crew_tables(np.zeros((3, 2)))


def test_counted_multiplications_follow_their_literal_definition():
    """CrewDirection.count_multiplications: per row, the distinct (input, unique weight) pairs some computed
    neuron of an active row uses."""
    net = uniform_network("lstm", 4, 5, seed=3)
    model = FixedPointNetwork(net, FixedPointConfig(weight=QFormat(4, 2)))
    batch = 6
    stats = RunStats.empty(batch, 1, 1, 4, 1)
    direction = CrewPolicy().direction(model, 0, 0, np.zeros(batch, dtype=np.int64), stats, False)
    index = direction.tables.index
    rng = np.random.default_rng(0)
    for density in (0.0, 0.3, 0.9, 1.0):
        hit = rng.random((batch, index.shape[0])) < density
        active = rng.random(batch) < 0.7
        got = direction.count_multiplications(hit, active)
        for b in range(batch):
            pairs = {(i, int(index[n, i])) for n in range(index.shape[0]) if active[b] and not hit[b, n]
                     for i in range(index.shape[1])}
            assert got[b] == len(pairs), (density, b)


@pytest.mark.parametrize("kind,threshold", [(ORACLE, 0.05), (ORACLE, 0.3), (PREDICTED, 0.1), (PREDICTED, 0.4)])
def test_crew_composes_with_memoization(workload, kind, threshold):
    """CREW under a memo policy: exactly that policy's outputs and reuses; no more multiplications than the
    memo policy's (N per computed neuron), fewer than CREW alone once neurons are reused."""
    model, w = workload("japanese_vowels")
    x, lengths = w.x[:40], w.lengths[:40]
    memo = MemoPolicy(kind, threshold)
    base, crew = _check_exact(model, x, lengths, memo)
    assert base.stats.reuses.sum() > 0
    assert np.all(crew.stats.multiplications <= base.stats.multiplications)
    assert crew.stats.multiplications.sum() < base.stats.multiplications.sum()
    alone = model.run(x, lengths, policy=CrewPolicy())
    assert np.all(crew.stats.multiplications <= alone.stats.multiplications)


@pytest.mark.parametrize("cell,dirs", [("lstm", 2), ("gru", 1), ("gru", 2)])
def test_crew_composes_with_memoization_on_random_networks(cell, dirs):
    config = FixedPointConfig(weight=QFormat(4, 2))
    model = FixedPointNetwork(uniform_network(cell, 3, 5, 2, dirs, seed=11, scale=0.9), config)
    x = random_inputs(config, 4, 9, 3, seed=2, scale=0.2)
    for memo in (MemoPolicy(ORACLE, 0.2), MemoPolicy(PREDICTED, 0.3)):
        base, crew = _check_exact(model, x, None, memo)
        assert np.all(crew.stats.multiplications <= base.stats.multiplications)


def test_statistics_follow_their_definitions():
    w = np.array([[1, 5, -3, 0],
                  [1, 5, 2, 0],
                  [2, 5, 7, 0],
                  [1, 5, -3, 0],
                  [3, 5, 9, 0]], dtype=np.int64)
    s = direction_stats(w, weight_bits=4)
    assert s.counts.tolist() == [3, 1, 4, 1]
    assert per_input_index_bits(s.counts).tolist() == [2, 0, 2, 0]
    assert s.multiplications_baseline == 20 and s.multiplications_crew == 9
    assert s.index_bits_uniform == index_bits(4) == 2
    assert s.storage_baseline == 5 * 4 * 4
    assert s.storage("uniform") == {"index_bits": 5 * 4 * 2, "table_bits": 4 * 4 * 4, "total_bits": 104,
                                    "ratio": 104 / 80}
    assert s.storage("per_input") == {"index_bits": 5 * 4, "table_bits": 9 * 4, "total_bits": 56, "ratio": 56 / 80}
    d = s.as_dict()
    assert d["unique_per_input"]["median"] == 2.0 and d["unique_per_input"]["max"] == 4
    assert d["multiplications_per_step"]["avoided"] == pytest.approx(11 / 20)
    with pytest.raises(ValueError, match="encoding"):
        s.storage("huffman")


def test_network_statistics(workload):
    model, _ = workload("digits")
    stats = network_stats(model)
    assert [(s.layer, s.direction) for s in stats] == [(0, 0), (1, 0)]
    for s, q in zip(stats, (layer[0] for layer in model.layers), strict=True):
        assert np.array_equal(s.counts, crew_tables(q.w).counts)
        assert s.neurons == 64 and s.weight_bits == 8
    total = summarize(stats)
    assert total["multiplications_per_step"]["baseline"] == 64 * 24 + 64 * 32
    assert total["storage_bits"]["baseline"] == sum(s.storage_baseline for s in stats)


@settings(max_examples=40, deadline=None)
@given(neurons=st.integers(1, 60), k=st.integers(1, 10), seed=st.integers(0, 2**16))
def test_clustering_a_column(neurons, k, seed):
    rng = np.random.default_rng(seed)
    column = np.clip(np.round(rng.normal(0, 30, neurons)), -128, 127).astype(np.int64)
    out = cluster_column(column, k)
    assert out.dtype == np.int64 and out.shape == column.shape
    assert len(np.unique(out)) <= min(k, len(np.unique(column)))
    assert out.min() >= column.min() and out.max() <= column.max()
    assert np.array_equal(out, cluster_column(column.copy(), k))   # deterministic
    if len(np.unique(column)) <= k:
        assert np.array_equal(out, column)
    # order preserving: a larger weight never maps to a smaller centre
    order = np.argsort(column, kind="stable")
    assert np.all(np.diff(out[order]) >= 0)


def test_clustering_reaches_the_optimum_of_an_easy_column():
    column = np.array([-20, -19, -21, -20, 40, 41, 39, 40, 40])
    assert cluster_column(column, 2).tolist() == [-20, -20, -20, -20, 40, 40, 40, 40, 40]
    with pytest.raises(ValueError, match="at least 1"):
        cluster_column(column, 0)


def test_clustered_network_is_an_exact_crew_network(workload):
    model, w = workload("digits")
    clustered = clustered_network(model, 5)
    assert clustered.config == model.config
    for layer, new_layer in zip(model.layers, clustered.layers, strict=True):
        for q, c in zip(layer, new_layer, strict=True):
            assert np.array_equal(c.w, cluster_columns(q.w, 5))
            assert crew_tables(c.w).unique_max <= 5
            assert np.array_equal(c.bias_x, q.bias_x) and np.array_equal(c.bias_h, q.bias_h)
    _check_exact(clustered, w.x[:30], w.lengths[:30])
    assert np.array_equal(clustered_network(model, 256).layers[0][0].w, model.layers[0][0].w)


def test_k_is_the_smallest_within_budget_on_the_calibration_batch(workload):
    model, _ = workload("japanese_vowels")
    cal = load_workload("japanese_vowels", "calibration")
    for budget in (0.0, 1.0, 5.0):
        choice = calibrate_clusters(model, cal.x, cal.y, cal.lengths, budget)
        assert choice.tried[choice.k] == choice.calibration_loss_pp <= budget
        assert all(loss > budget for k, loss in choice.tried.items() if k < choice.k)
        assert choice.k == 1 or choice.k - 1 in choice.tried   # the K below was tried and failed
        # the loss is the larger of the observed and the margin-estimated one
        base_logits = model.logits(model.run(cal.x, cal.lengths).out, cal.lengths)
        logits = clustered_network(model, choice.k)
        logits = logits.logits(logits.run(cal.x, cal.lengths).out, cal.lengths)
        correct = base_logits.argmax(axis=1) == cal.y
        observed = 100 * (correct.mean() - np.mean(logits.argmax(axis=1) == cal.y))
        estimate = estimated_loss(base_logits, logits, correct)
        assert choice.calibration_loss_pp == pytest.approx(max(observed, estimate))
    with pytest.raises(ValueError, match="budget"):
        calibrate_clusters(model, cal.x, cal.y, cal.lengths, float("nan"))


def test_crew_command(tmp_path, capsys):
    out = tmp_path / "crew.json"
    assert main(["crew", "--workload", "basic_motions", "--json", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "basic_motions: CREW" in text and "avoided" in text
    r = json.loads(out.read_text())
    assert r["scheme"] == "crew" and r["clustering"] is None
    d = r["directions"][0]
    assert d["storage_bits"]["baseline"] == d["neurons"] * d["inputs"] * r["weight_bits"]
    assert {"uniform", "per_input"} <= set(d["storage_bits"])
    assert r["total"]["multiplications_per_step"]["crew"] == d["multiplications_per_step"]["crew"]


def test_crew_command_calibrates_k_on_the_calibration_split(tmp_path, capsys, monkeypatch):
    import fuzzymemo.commands.crew as command

    seen = {}
    real = command.calibrate_clusters

    def spy(model, x, y, lengths, budget):
        seen["x"], seen["budget"] = x, budget
        return real(model, x, y, lengths, budget)

    monkeypatch.setattr(command, "calibrate_clusters", spy)
    out = tmp_path / "crew.json"
    assert main(["crew", "--workload", "japanese_vowels", "--clusters", "auto", "--budget", "2",
                 "--json", str(out)]) == 0
    cal, test = load_workload("japanese_vowels", "calibration"), load_workload("japanese_vowels", "test")
    assert np.array_equal(seen["x"], cal.x) and seen["budget"] == 2.0
    c = json.loads(out.read_text())["clustering"]
    assert c["chosen_on"] == "calibration" and c["calibration"]["sequences"] == len(cal.x)
    assert c["test"]["sequences"] == len(test.x)
    assert c["total"]["unique_per_input"]["max"] <= c["k"]
    assert "test (370 sequences)" in capsys.readouterr().out


def test_crew_command_with_a_model_file(tmp_path, capsys):
    w = load_workload("basic_motions")
    w.network.save(tmp_path / "model.npz")
    np.savez(tmp_path / "test.npz", x=w.x, y=w.y, lengths=w.lengths)
    cal = load_workload("basic_motions", "calibration")
    np.savez(tmp_path / "cal.npz", x=cal.x, y=cal.y, lengths=cal.lengths)
    base = ["crew", "--model", str(tmp_path / "model.npz"), "--data", str(tmp_path / "test.npz")]
    assert main(base + ["--clusters", "4"]) == 0
    assert "K = 4" in capsys.readouterr().out
    assert main(base + ["--clusters", "auto", "--calibration-data", str(tmp_path / "cal.npz")]) == 0
    assert "calibration sequences" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["crew", "--workload", "digits", "--clusters", "0"], "--clusters: must be at least 1, not 0"),
    (["crew", "--workload", "digits", "--clusters", "many"], "--clusters: takes a whole number, not 'many'"),
    (["crew", "--workload", "digits", "--clusters", "auto", "--budget", "-1"], "--budget: must be a finite number"),
    (["crew", "--workload", "digits", "--clusters", "auto", "--split", "calibration"],
     "leave out --split calibration"),
    (["crew", "--workload", "digits", "--clusters", "auto", "--calibration-data", "{dir}/x.npz"],
     "--calibration-data goes with --model"),
    (["crew", "--model", "{dir}/model.npz", "--data", "{dir}/test.npz", "--clusters", "auto"],
     "needs --calibration-data"),
    (["crew", "--model", "{dir}/model.npz", "--data", "{dir}/test.npz", "--calibration-data", "{dir}/test.npz"],
     "--calibration-data is for --clusters auto"),
    (["crew", "--workload", "digits", "--json", "{dir}"], "is a directory, not a file"),
])
def test_crew_command_bad_input_is_one_line(tmp_path, capsys, argv, message):
    w = load_workload("digits")
    w.network.save(tmp_path / "model.npz")
    np.savez(tmp_path / "test.npz", x=w.x[:5], y=w.y[:5], lengths=w.lengths[:5])
    assert main([a.format(dir=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]   # argparse also prints its usage
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in err
