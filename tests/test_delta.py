"""Input-similarity and delta reuse (golden_model.delta, schemes delta and similarity, docs/delta.md): exact
at theta 0 and at the datapath's resolution, a literal loop reference, statistics, calibration on the
calibration split only, and the commands."""

import json

import numpy as np
import pytest
from support import same_outputs, smooth_model, user_data, user_files

from fuzzymemo.cli import main
from golden_model import intops, schemes
from golden_model.delta import DeltaPolicy, SimilarityPolicy, input_counts
from golden_model.intops import SIGMOID, TANH
from golden_model.reuse_calibration import (
    MAX_VIEWS,
    Calibration,
    calibrate_scheme,
    evaluate_scheme,
    input_ranges,
    resolving_views,
    start_views,
    sweep_scheme,
)

_model, _same = smooth_model, same_outputs


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers,dirs", [(1, 1), (2, 2)])
def test_theta_zero_and_full_resolution_are_the_baseline(cell, layers, dirs):
    model, x, lengths = _model(cell, layers, dirs)
    base = model.run(x, lengths)
    fmt = model.config.act
    for policy in (DeltaPolicy(0, 0), SimilarityPolicy(1 << fmt.bits),
                   SimilarityPolicy(1 << fmt.bits, ((fmt.min_int, fmt.max_int) * 2,) * layers)):
        run = model.run(x, lengths, policy)
        assert _same(run, base), policy
        # only exactly repeated inputs are skipped, and that is all the saving
        assert run.stats.multiplications_avoided() == pytest.approx(input_counts(run.stats).fraction_unchanged())
    assert base.stats.multiplications_avoided() == 0


def test_thresholds_change_the_outputs_and_save_work():
    model, x, lengths = _model("gru", 2, 2)
    base = model.run(x, lengths)
    run = model.run(x, lengths, DeltaPolicy(8, (4, 16)))
    assert not _same(run, base)
    coarse = model.run(x, lengths, DeltaPolicy(32, 32))
    assert 0 < run.stats.multiplications_avoided() < coarse.stats.multiplications_avoided() < 1


def _literal(model, x_q, lengths, effective):
    """The scheme by the letter, one sequence, step and neuron at a time (1 layer, forward): per input the
    stored value, per neuron the two accumulators corrected by w * (e_i(t) - e_i(t-1)) of changed inputs;
    ``effective(part, v, stored) -> (new stored, value it stands for, changed)``."""
    cfg, q, net = model.config, model.layers[0][0], model.net
    hs, n_x, neurons = net.hidden_size, q.input_size, q.w.shape[0]
    out = np.zeros((x_q.shape[0], x_q.shape[1], hs), dtype=np.int64)
    kinds = [TANH if g in ("g", "n") else SIGMOID for g in net.gates]
    act = lambda k, p: int(intops.activate(kinds[k // hs], p, model.tables[kinds[k // hs]], cfg.act))  # noqa: E731
    for b in range(x_q.shape[0]):
        h, c = [0] * hs, [0] * hs
        stored = [[0] * n_x, [0] * hs]
        value = [[0] * n_x, [0] * hs]
        acc = [[0] * neurons, [0] * neurons]
        for t in range(lengths[b]):
            for part, v in ((0, [int(a) for a in x_q[b, t]]), (1, list(h))):
                for i, vi in enumerate(v):
                    new, e, changed = effective(part, vi, stored[part][i], t == 0)
                    if changed:
                        for n in range(neurons):
                            acc[part][n] += int(q.w[n, part * n_x + i]) * (e - value[part][i])
                        stored[part][i], value[part][i] = new, e
            ax = [acc[0][n] + int(q.bias_x[n]) for n in range(neurons)]
            ah = [acc[1][n] + int(q.bias_h[n]) for n in range(neurons)]
            if net.cell == "lstm":
                y = [act(n, intops.neuron_preact(ax[n] + ah[n], 0, cfg)) for n in range(neurons)]
                hh, cc = intops.lstm_cell_update(*(np.array(y[k * hs:(k + 1) * hs]) for k in range(4)),
                                                 np.array(c), model.tables[TANH], cfg)
                h, c = [int(v) for v in hh], [int(v) for v in cc]
            else:
                y = [act(n, intops.neuron_preact(ax[n] + ah[n], 0, cfg)) for n in range(2 * hs)]
                r, z = np.array(y[:hs]), np.array(y[hs:])
                pn = intops.neuron_preact(intops.gru_candidate_acc(np.array(ax[2 * hs:]), np.array(ah[2 * hs:]), r,
                                                                   cfg), 0, cfg)
                nn = np.array([act(2 * hs + j, pn[j]) for j in range(hs)])
                h = [int(v) for v in intops.gru_state_update(z, nn, np.array(h), cfg)]
            out[b, t] = h
    return out


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_delta_matches_a_literal_loop_reference(cell):
    model, x, lengths = _model(cell, inputs=2, hidden=2, batch=3, steps=6, seed=4)
    x_q = model.quantize_input(x)
    theta = (60, 8)

    def delta(part, v, ref, first):
        moved = first or (abs(v - ref) >= theta[part] and v != ref)
        return v, v, moved

    run = model.run(x_q, lengths, DeltaPolicy(theta[0], theta[1]))
    assert np.array_equal(run.out, _literal(model, x_q, lengths, delta))
    assert not np.array_equal(run.out, model.run(x_q, lengths).out)   # the thresholds matter here


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_similarity_matches_a_literal_loop_reference(cell):
    model, x, lengths = _model(cell, inputs=2, hidden=2, batch=3, steps=6, seed=5)
    x_q = model.quantize_input(x)
    ranges = input_ranges(model, x_q, model.run(x_q, lengths), lengths)[0]
    levels, K = 6, intops.QUANT_FRAC
    parts = [(ranges[0], *intops.quantizer_registers(ranges[0], ranges[1], levels)),
             (ranges[2], *intops.quantizer_registers(ranges[2], ranges[3], levels))]

    def similar(part, v, q_prev, first):
        lo, m, g = parts[part]
        q = min(max(((v - lo) * m + (1 << (K - 1))) >> K, 0), levels - 1)
        return q, lo + ((q * g + (1 << (K - 1))) >> K), first or q != q_prev

    run = model.run(x_q, lengths, SimilarityPolicy(levels, (ranges,)))
    assert np.array_equal(run.out, _literal(model, x_q, lengths, similar))


def test_quantizer_registers_and_ops():
    assert intops.quantizer_registers(-2048, 2047, 4096) == (1 << 16, 1 << 16)
    v = np.arange(-2048, 2048)
    assert np.array_equal(intops.linear_quantize(v, -2048, 1 << 16, 4096), v + 2048)
    m, g = intops.quantizer_registers(0, 300, 4)        # levels at 0, 100, 200, 300
    q = intops.linear_quantize(np.array([-5, 0, 49, 51, 160, 299, 999]), 0, m, 4)
    assert q.tolist() == [0, 0, 0, 1, 2, 3, 3]
    assert intops.linear_dequantize(q, 0, g, intops.QFormat(12, 8)).tolist() == [0, 0, 0, 100, 200, 300, 300]
    ref, delta, changed = intops.delta_update(np.array([5, 3, 0, -4]), np.array([0, 0, 0, 0]), 4)
    assert ref.tolist() == [5, 0, 0, -4] and delta.tolist() == [5, 0, 0, -4]
    assert changed.tolist() == [True, False, False, True]
    for bad in [(0, 10, 1), (5, 5, 4)]:
        with pytest.raises(ValueError):
            intops.quantizer_registers(*bad)


def test_statistics_per_layer_part_and_step():
    model, x, lengths = _model("lstm", 2, 1, batch=4, steps=6)
    x = np.repeat(x[:, :1], 6, axis=1)             # a constant input: after the first step x never changes
    lengths = np.array([6, 6, 3, 1])
    run = model.run(x, lengths, DeltaPolicy(0, 0))
    counts = input_counts(run.stats)
    n_x, hs = 3, model.net.hidden_size
    assert counts.inputs.shape == (4, 2, 1, 6, 2)
    assert counts.inputs[0, 0, 0, :, 0].tolist() == [n_x] * 6 and counts.inputs[2, 0, 0, :, 1].tolist() == \
        [hs] * 3 + [0] * 3
    x0 = model.quantize_input(x)[:, 0]
    assert (counts.unchanged[:, 0, 0, 0, 0] == (x0 == 0).sum(axis=1)).all()   # the first step: a full computation
    assert (counts.unchanged[:, :, :, 0, 1] == hs).all()              # of W_x x: h_{-1} = 0 costs nothing
    assert (counts.unchanged[:2, 0, 0, 1:, 0] == n_x).all()           # the constant input part
    by_step = counts.fraction_unchanged(axis=3)
    assert by_step.shape == (6,) and 0 < by_step[0] < 1
    mults = run.stats.multiplications.sum()
    changed = (counts.inputs - counts.unchanged).sum(axis=(3, 4))      # (batch, layers, dirs)
    assert mults == (changed * 4 * hs).sum()


def test_registry_entries_and_costs():
    from golden_model.formats import FixedPointConfig
    cfg = FixedPointConfig()
    delta, similarity = schemes.get("delta", ("scheme",)), schemes.get("similarity", ("scheme",))
    cost = delta.cost_at(44, cfg, 128)
    assert cost.state_bits == cfg.acc_bits(44) and cost.shared_state_bits == 44 * cfg.act.bits
    assert similarity.cost(44, cfg, 128, levels=16).shared_state_bits == 44 * 4
    policy = delta.golden_policy(4, theta_h=8)
    assert (policy.theta_x, policy.theta_h) == (4, 8)
    assert delta.golden_policy((1, 2)).theta_h == (1, 2)             # theta_h defaults to theta_x
    assert similarity.golden_policy(16).levels == 16 and similarity.golden_policy(levels=8).levels == 8
    assert similarity.cost_at(44, cfg, 128, {"levels": 4}).shared_state_bits == 44 * 2
    with pytest.raises(ValueError, match="theta_x must be an integer >= 0"):
        delta.golden_policy(-1)
    with pytest.raises(ValueError, match="levels must be an integer >= 2, not 1"):
        similarity.golden_policy(1)


def test_start_views():
    x = np.arange(2 * 8 * 1, dtype=float).reshape(2, 8, 1)
    vx, vy, vl = start_views(x, np.array([0, 1]), np.array([8, 4]), 4)
    assert vl.tolist() == [8, 4, 6, 3, 4, 2, 2]          # the length-4 sequence's last view (1 step) is dropped
    assert vx[2, :6, 0].tolist() == list(range(2, 8)) and vy.tolist() == [0, 1, 0, 1, 0, 1, 0]


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    d = tmp_path_factory.mktemp("delta")
    return d, user_files(d, 30)[1]


def test_resolving_views_make_one_view_cost_at_most_the_budget():
    assert [resolving_views(n, 1.0) for n in (10, 54, 99, 100, 288)] == [10, 2, 2, 1, 1]
    assert resolving_views(30, 0.5) == 7 and resolving_views(1, 1.0) == MAX_VIEWS
    assert resolving_views(1000, 0.0) == MAX_VIEWS
    with pytest.raises(ValueError, match="at least one sequence"):
        resolving_views(0, 1.0)


def test_calibrate_defaults_to_the_resolving_views(user):
    d, model = user
    cal = calibrate_scheme(model, *user_data(d, "cal"), "delta", budget_pp=1.0, grid=[0, 4])
    assert cal.measured["views"] == resolving_views(30, 1.0) == 4


@pytest.mark.parametrize("scheme", ["delta", "similarity"])
def test_calibrate_within_budget_round_trip_and_evaluate(user, tmp_path, scheme):
    d, model = user
    cal = calibrate_scheme(model, *user_data(d, "cal"), scheme, budget_pp=1.0, views=2)
    assert cal.scheme == scheme and cal.memo and len(cal.thresholds) == 2
    m = cal.measured
    assert m["estimated_loss"] <= 1.0 and m["metric_loss"] <= 1.0 and m["reuse"] > 0
    assert m["sequences"] == 30 and m["view_sequences"] > 30
    cal.save(tmp_path / "cal.json")
    again = Calibration.load(tmp_path / "cal.json")
    assert again == cal
    test = evaluate_scheme(model, *user_data(d, "test"), again)
    assert test["sequences"] == 30 and 0 < test["reuse"] <= 1
    assert test["reuse"] == pytest.approx(test["inputs_unchanged"])
    if scheme == "delta":
        assert len(test["theta_h"]) == 2 and len(cal.parameters["theta_h"]) == 2
        assert test["reuse"] == pytest.approx(test["net_saving"])   # compares cost no multiplications
    else:   # the quantizer ranges are the calibration data's, not the test data's
        x_cal, _, lengths_cal = user_data(d, "cal")
        x_q = model.quantize_input(x_cal)
        assert test["ranges"] == cal.parameters["ranges"] == input_ranges(model, x_q, model.run(x_q, lengths_cal),
                                                                          lengths_cal)
        assert test["net_saving"] < test["reuse"]


@pytest.mark.parametrize("scheme", ["delta", "similarity"])
def test_calibration_reads_only_the_calibration_split(monkeypatch, tmp_path, capsys, scheme):
    """``calibrate`` loads the calibration split and nothing else; ``evaluate`` the test split."""
    import fuzzymemo.commands.source as source
    asked = []
    real = source.load_workload

    def spy(name, split="test"):
        asked.append(split)
        return real(name, split)

    monkeypatch.setattr(source, "load_workload", spy)
    cal = tmp_path / "cal.json"
    assert main(["calibrate", "--workload", "digits", "--scheme", scheme, "--limit", "40", "--views", "1",
                 "--thresholds", "16,8" if scheme == "similarity" else "0,8", "--quiet", "--json", str(cal)]) == 0
    assert asked == ["calibration"]
    assert main(["evaluate", "--workload", "digits", "--limit", "40", "--calibration", str(cal), "--quiet"]) == 0
    assert asked == ["calibration", "test"]
    assert "calibrated on calibration) on 40 test sequences" in capsys.readouterr().out


def test_sweep_records(user):
    d, model = user
    records = sweep_scheme(model, *user_data(d, "test"), "delta", [0, 8, 64])
    assert [r["threshold"] for r in records] == [0, 8, 64] and records[0]["metric_loss"] == 0
    assert records[0]["reuse"] < records[1]["reuse"] < records[2]["reuse"]
    assert records[1]["theta_x"] == [8, 8] and records[1]["theta_h"] == [8, 8]
    fixed = sweep_scheme(model, *user_data(d, "test"), "delta", [8], theta_h=0)
    assert fixed[0]["theta_h"] == [0, 0]
    levels = sweep_scheme(model, *user_data(d, "test"), "similarity", [4096, 4])
    assert levels[0]["metric_loss"] == 0 and levels[1]["reuse"] > levels[0]["reuse"]


def test_cli_calibrate_evaluate_sweep_with_splits(tmp_path, capsys):
    cal = tmp_path / "cal.json"
    assert main(["calibrate", "--workload", "basic_motions", "--scheme", "delta", "--views", "2",
                 "--thresholds", "0,4,8", "--quiet", "--json", str(cal)]) == 0
    out = capsys.readouterr().out
    assert "delta theta_x" in out and "of 10 calibration sequences (calibration)" in out
    data = json.loads(cal.read_text())
    assert data["scheme"] == "delta" and data["measured"]["split"] == "calibration"
    assert data["measured"]["sequences"] == 10 and data["thresholds"][0] in (0, 4, 8)
    assert main(["evaluate", "--workload", "basic_motions", "--calibration", str(cal), "--quiet",
                 "--json", str(tmp_path / "test.json")]) == 0
    result = json.loads((tmp_path / "test.json").read_text())
    assert result["split"] == "test" and result["sequences"] == 40 and result["scheme"] == "delta"
    assert result["calibration"]["split"] == "calibration"
    for key in ("reuse", "net_saving", "metric", "metric_loss", "inputs_unchanged", "theta_x", "theta_h"):
        assert key in result, key
    assert main(["sweep", "--workload", "basic_motions", "--scheme", "similarity", "--thresholds", "4096,8",
                 "--limit", "5", "--quiet", "--json", str(tmp_path / "s.json")]) == 0
    records = json.loads((tmp_path / "s.json").read_text())
    assert [r["policy"] for r in records] == ["similarity"] * 2
    assert records[0]["ranges_from"] == "calibration" and records[0]["split"] == "test"


@pytest.mark.parametrize("argv,message", [
    (["calibrate", "--workload", "digits", "--scheme", "delta", "--thresholds", "-1"],
     "theta must be an integer >= 0 (activation-format LSBs), not -1"),
    (["calibrate", "--workload", "digits", "--scheme", "similarity", "--thresholds", "1"],
     "levels must be an integer >= 2, not 1"),
    (["sweep", "--workload", "digits", "--scheme", "delta", "--thresholds", "0.5"],
     "theta must be an integer >= 0"),
    (["sweep", "--workload", "digits", "--scheme", "delta", "--param", "theta_h=-3"],
     "theta_h must be an integer >= 0"),
    (["sweep", "--workload", "digits", "--scheme", "similarity", "--thresholds", "16,0"],
     "levels must be an integer >= 2, not 0"),
    (["calibrate", "--workload", "digits", "--scheme", "delta", "--predictor", "bnn"],
     "--predictor belongs to --scheme memo, not --scheme delta"),
    (["calibrate", "--workload", "digits", "--scheme", "delta", "--views", "0"], "--views: must be at least 1"),
    (["sweep", "--workload", "digits", "--scheme", "similarity", "--param", "levels=8"],
     "sweeps its levels with --thresholds"),
    (["calibrate", "--workload", "digits", "--scheme", "crew"], "--scheme: invalid choice: 'crew'"),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err.strip().splitlines()[-1], err
    assert "Traceback" not in err


def test_bad_calibration_file(user, tmp_path):
    d, model = user
    cal = calibrate_scheme(model, *user_data(d, "cal"), "similarity", views=1, grid=[16, 8], budget_pp=100.0)
    assert cal.memo
    cal.save(tmp_path / "cal.json")
    data = json.loads((tmp_path / "cal.json").read_text())
    for change, message in [({"thresholds": [1, 16]}, "levels must be an integer >= 2"),
                            ({"scheme": "teleport"}, "unknown calibrated scheme 'teleport'"),
                            ({"parameters": {"ranges": [[0, 10, 0, 10]]}}, "ranges needs one entry per layer"),
                            ({"parameters": {"ranges": [[0, 10, 0, 10], [5, 5, 0, 1]]}}, "with lo < hi"),
                            ({"scheme": "delta", "parameters": {"theta_h": [1]}}, "theta_h needs one entry"),
                            ({"scheme": "delta", "thresholds": [1, -2], "parameters": {}}, "theta_x must be")]:
        (tmp_path / "bad.json").write_text(json.dumps({**data, **change}))
        with pytest.raises(ValueError, match=message):
            Calibration.load(tmp_path / "bad.json")
