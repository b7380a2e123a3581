"""Threshold calibration on held-out data and evaluation (golden_model.reuse_calibration), and the
``calibrate``, ``evaluate`` and ``sweep --predictor`` commands."""

import json

import numpy as np
import pytest
from support import uniform_network, user_data, user_files

from fuzzymemo.cli import main
from golden_model.fixed_model import FixedPointNetwork
from golden_model.reuse_calibration import (
    Calibration,
    calibrate,
    calibrate_best,
    estimated_loss,
    evaluate,
    format_thresholds,
    model_digest,
    refine_per_gate,
)
from golden_model.sweep import CALIBRATION_GRIDS


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """A 2-layer GRU with a readout, a calibration file and a test file labelled by the float model."""
    d = tmp_path_factory.mktemp("cal")
    net, model = user_files(d, 40)
    return d, net, model


def test_estimated_loss_counts_margin_drops_against_correct_margins():
    base = np.array([[3.0, 0.0], [0.0, 1.0], [2.0, 0.0]])       # margins 3, 1, 2 (top classes 0, 1, 0)
    memo = np.array([[3.0, 0.0], [0.0, 1.0], [0.5, 0.0]])       # drops 0, 0, 1.5
    correct = np.array([True, True, False])
    # drop 1.5 exceeds margin 1 (correct) and not 3; margin 2 belongs to a wrong sequence: 1 of 9 pairs
    assert estimated_loss(base, memo, correct) == pytest.approx(100 / 9)
    assert estimated_loss(base, base, correct) == 0


def test_calibrate_per_layer_within_budget_and_evaluate(user):
    d, _, model = user
    x, y, lengths = user_data(d, "cal")
    cal = calibrate(model, x, y, lengths, "oracle", budget_pp=1.0, form="relative")
    assert cal.memo and len(cal.thresholds) == 2 and cal.predictor == "oracle"
    assert cal.measured["estimated_loss"] <= 1.0 and cal.measured["reuse"] > 0
    assert cal.model_digest == model_digest(model)
    test = evaluate(model, *user_data(d, "test"), cal)
    for key in ("reuse", "net_saving", "metric", "metric_loss", "estimated_loss"):
        assert key in test
    assert test["net_saving"] == pytest.approx(test["reuse"], abs=0.02)   # the oracle's decision is free
    # a bigger budget never calibrates less reuse; auto form takes the better of the two forms
    loose = calibrate(model, x, y, lengths, "oracle", budget_pp=50.0, form="relative")
    assert loose.measured["reuse"] >= cal.measured["reuse"]
    auto = calibrate(model, x, y, lengths, "top-k", budget_pp=1.0)
    assert auto.form in ("relative", "absolute")
    assert auto.measured["net_saving"] == max(
        calibrate(model, x, y, lengths, "top-k", budget_pp=1.0, form=f).measured["net_saving"]
        for f in ("relative", "absolute"))


def test_calibrate_best_keeps_the_highest_net_saving(user):
    d, _, model = user
    x, y, lengths = user_data(d, "cal")
    candidates = {"bnn": {}, "top-k": {"k": 2}, "low-precision": {}}
    # a loose budget, so that the candidates differ: bnn memo off, top-k saving, low-precision at a loss
    best = calibrate_best(model, x, y, lengths, candidates, budget_pp=20.0, form="absolute")
    each = {name: calibrate(model, x, y, lengths, name, parameters=params, budget_pp=20.0, form="absolute")
            for name, params in candidates.items()}
    nets = {name: cal.measured["net_saving"] for name, cal in each.items()}
    assert min(nets.values()) < 0 < max(nets.values()) and not each["bnn"].memo
    assert best.predictor == max(nets, key=nets.get) == "top-k"
    assert best.thresholds == each[best.predictor].thresholds
    assert best.measured["candidates"] == {
        name: {"memo": cal.memo, **{k: cal.measured[k] for k in ("reuse", "net_saving", "estimated_loss",
                                                                 "metric_loss")}}
        for name, cal in each.items()}
    # equals go to the first candidate (memo off everywhere with a budget nothing fits)
    tight = calibrate_best(model, x, y, lengths, {"bnn": {}, "top-k": {}}, budget_pp=0.0, form="absolute",
                           grid=[40.0])
    assert not tight.memo and tight.predictor == "bnn"
    with pytest.raises(ValueError, match="no predictors to choose from"):
        calibrate_best(model, x, y, lengths, {})


def test_cli_predictor_auto_writes_the_chosen_predictor(tmp_path, capsys):
    out = tmp_path / "cal.json"
    assert main(["calibrate", "--workload", "basic_motions", "--predictor", "auto", "--granularity", "layer",
                 "--quiet", "--json", str(out)]) == 0
    cal = json.loads(out.read_text())
    candidates = cal["measured"]["candidates"]
    assert list(candidates)[0] == "bnn-planes" and len(candidates) >= 5   # every predictor with hardware
    assert cal["predictor"] == max(candidates, key=lambda name: candidates[name]["net_saving"])
    assert f"--predictor auto: {cal['predictor']} saves most" in capsys.readouterr().out
    assert main(["run", "--workload", "basic_motions", "--predictor", "auto", "--threshold", "0.1"]) == 2
    assert "--predictor auto is chosen with the thresholds" in capsys.readouterr().err


def test_calibrate_on_start_views_checks_the_observed_loss_too(user):
    d, _, model = user
    x, y, lengths = user_data(d, "cal")
    one = calibrate(model, x, y, lengths, "oracle", budget_pp=1.0, form="relative")
    assert (one.measured["views"], one.measured["view_sequences"]) == (1, x.shape[0])
    four = calibrate(model, x, y, lengths, "oracle", budget_pp=1.0, form="relative", views=4)
    assert four.measured["views"] == 4 and four.measured["view_sequences"] > 3 * x.shape[0]
    assert four.measured["metric_loss"] <= 1.0 and four.measured["estimated_loss"] <= 1.0
    with pytest.raises(ValueError, match="views must be at least 1"):
        calibrate(model, x, y, lengths, "oracle", form="relative", views=0)


def test_refine_per_gate_raises_single_gates_while_the_record_fits():
    """A scripted evaluator (net saving = the sum of the thresholds, loss = gate 0's threshold of layer 0 over
    2): only gate 0 of layer 0 is held back by the budget; per-layer thresholds come back when every layer's
    gates end equal."""
    grid = [0.0, 1.0, 2.0, 3.0]

    def evaluate(vectors):
        return [{"net_saving": sum(map(sum, v)), "estimated_loss": v[0][0] / 2} for v in vectors]

    start = evaluate([((1.0,) * 3, (1.0,) * 3)])[0]
    fits = lambda rec: rec["estimated_loss"] <= 0.5   # noqa: E731
    thresholds, best = refine_per_gate(evaluate, grid, (1.0, 1.0), start, 3, fits, lambda message: None)
    assert thresholds == ((1.0, 3.0, 3.0), (3.0, 3.0, 3.0)) and best["net_saving"] == 16
    assert format_thresholds(thresholds) == "1/3/3, 3/3/3"
    # nothing fits a raise: the per-layer thresholds unchanged
    same, rec = refine_per_gate(evaluate, grid, (1.0, 1.0), start, 3, lambda rec: False, lambda message: None)
    assert same == (1.0, 1.0) and rec is start


def test_calibrate_per_gate_saves_at_least_the_per_layer_and_round_trips(user, tmp_path):
    d, _, model = user
    x, y, lengths = user_data(d, "cal")
    layer = calibrate(model, x, y, lengths, "oracle", budget_pp=1.0, form="absolute", granularity="layer")
    gate = calibrate(model, x, y, lengths, "oracle", budget_pp=1.0, form="absolute", granularity="gate")
    assert all(isinstance(t, float) for t in layer.thresholds)
    assert gate.measured["net_saving"] >= layer.measured["net_saving"]
    assert gate.measured["estimated_loss"] <= 1.0
    # the golden policy of the chosen thresholds gives the figures the search recorded
    again = evaluate(model, x, y, lengths, gate)
    assert again["net_saving"] == pytest.approx(gate.measured["net_saving"])
    per_gate = Calibration(gate.predictor, (layer.thresholds[0], (0.0, 2.0, 4.0)), "absolute", gate.rule,
                           gate.parameters, model_digest=gate.model_digest)
    per_gate.save(tmp_path / "gate.json")
    assert Calibration.load(tmp_path / "gate.json") == per_gate
    assert evaluate(model, *user_data(d, "test"), per_gate)["reuse"] > 0
    wrong = Calibration(gate.predictor, ((1.0, 2.0), 1.0), "absolute", gate.rule, gate.parameters)
    with pytest.raises(ValueError, match="2 per-gate thresholds for layer 0, whose cell has 3 gates"):
        evaluate(model, x, y, lengths, wrong)
    # the absolute calibration grid goes past the sweeps' 30: any loss fits a 100 pp budget
    loose = calibrate(model, x, y, lengths, "oracle", budget_pp=100.0, form="absolute", granularity="layer")
    assert loose.thresholds == (CALIBRATION_GRIDS["absolute"][-1],) * 2 == (256.0, 256.0)
    with pytest.raises(ValueError, match="unknown threshold granularity 'neuron'"):
        calibrate(model, x, y, lengths, "oracle", granularity="neuron")


def test_memo_off_when_nothing_fits(user):
    d, _, model = user
    cal = calibrate(model, *user_data(d, "cal"), "low-rank", budget_pp=0.0, form="relative", grid=[0.75],
                    parameters={"rank": 1})
    assert not cal.memo and cal.thresholds is None and cal.measured["reuse"] == 0
    assert cal.measured["smallest_threshold_loss_pp"] > 0
    assert evaluate(model, *user_data(d, "test"), cal)["reuse"] == 0


def test_calibration_file_round_trip_and_errors(user, tmp_path):
    d, net, model = user
    cal = calibrate(model, *user_data(d, "cal"), "low-rank", form="absolute", parameters={"rank": 2})
    cal.save(tmp_path / "cal.json")
    again = Calibration.load(tmp_path / "cal.json")
    assert again == cal and again.parameters == {"rank": 2, "bits": 8}
    data = json.loads((tmp_path / "cal.json").read_text())
    for change, message in [({"format": "x"}, "not a fuzzymemo calibration file"),
                            ({"version": 9}, "calibration file of format version 9, this tool reads version 1"),
                            ({"predictor": "crystal-ball"}, "unknown predictor or oracle 'crystal-ball'"),
                            ({"parameters": {"rank": "four"}}, "rank must be of type int"),
                            ({"thresholds": [1e9, 1e9]}, "out of range")]:
        (tmp_path / "bad.json").write_text(json.dumps({**data, **change}))
        with pytest.raises(ValueError, match=message):
            Calibration.load(tmp_path / "bad.json")
    (tmp_path / "junk.json").write_text("{")
    with pytest.raises(ValueError, match="not a fuzzymemo calibration file .JSON"):
        Calibration.load(tmp_path / "junk.json")
    other = FixedPointNetwork(uniform_network("gru", inputs=3, hidden=6, layers=2, seed=99), model.config)
    with pytest.raises(ValueError, match="calibrated for another model"):
        evaluate(other, *user_data(d, "test"), cal)


def test_cli_calibrate_evaluate_sweep(user, tmp_path, capsys):
    d, *_ = user
    src = ["--model", str(d / "model.npz")]
    assert main(["calibrate", *src, "--data", str(d / "cal.npz"), "--predictor", "top-k", "--param", "k=2",
                 "--quiet", "--json", str(tmp_path / "cal.json")]) == 0
    assert "top-k" in capsys.readouterr().out
    cal = json.loads((tmp_path / "cal.json").read_text())
    assert cal["predictor"] == "top-k" and cal["parameters"] == {"k": 2, "weight_bits": 4}
    assert cal["measured"]["data"] == str(d / "model.npz") and cal["measured"]["split"] == str(d / "cal.npz")
    assert main(["evaluate", *src, "--data", str(d / "test.npz"), "--calibration", str(tmp_path / "cal.json"),
                 "--quiet", "--json", str(tmp_path / "test.json")]) == 0
    result = json.loads((tmp_path / "test.json").read_text())
    for key in ("reuse", "net_saving", "metric", "metric_loss", "predictor", "scheme", "thresholds"):
        assert key in result, key
    assert result["predictor"] == "top-k" and result["scheme"] == "memo"
    assert main(["sweep", *src, "--data", str(d / "test.npz"), "--predictor", "low-rank", "--predictor", "oracle",
                 "--param", "rank=3", "--thresholds", "0,0.2", "--quiet", "--json", str(tmp_path / "s.json")]) == 0
    records = json.loads((tmp_path / "s.json").read_text())
    assert [r["policy"] for r in records] == ["low-rank"] * 2 + ["oracle"] * 2
    assert records[0]["parameters"] == {"rank": 3, "bits": 8}


def test_calibrate_warns_when_the_predictor_costs_more_than_it_skips(capsys):
    # low-precision spends as many (narrow) MACs as the neuron: a negative net saving at any reuse
    assert main(["calibrate", "--workload", "basic_motions", "--predictor", "low-precision", "--form", "absolute",
                 "--thresholds", "0,8", "--granularity", "layer"]) == 0
    captured = capsys.readouterr()
    net = float(captured.out.split("net saving ")[1].split("%")[0])
    assert net < 0
    assert f"the net saving is {net:.1f}%: low-precision costs more multiply-accumulates" in captured.err


@pytest.mark.parametrize("argv,message", [
    (["calibrate", "--model", "{model}", "--data", "{cal}", "--predictor", "low-rank", "--param", "k=2"],
     "--param k: no selected predictor (low-rank) has a parameter k"),
    (["calibrate", "--model", "{model}", "--data", "{cal}", "--predictor", "top-k", "--param", "k=two"],
     "--param k=two: top-k takes a int"),
    (["calibrate", "--model", "{model}", "--data", "{cal}", "--param", "rank"], "takes NAME=VALUE"),
    (["calibrate", "--model", "{model}", "--data", "{cal}", "--thresholds", "0,0.1"],
     "a threshold grid belongs to one form"),
    (["evaluate", "--model", "{model}", "--data", "{test}", "--calibration", "{missing}"], "does not exist"),
    (["calibrate", "--model", "{model}", "--data", "{cal}", "--granularity", "neuron"], "invalid choice: 'neuron'"),
    (["calibrate", "--model", "{model}", "--data", "{cal}", "--scheme", "delta", "--granularity", "gate"],
     "--granularity: --scheme delta has no neuron thresholds"),
    (["run", "--model", "{model}", "--data", "{test}"], "--threshold auto calibrates on held-out data"),
    (["run", "--model", "{model}", "--data", "{test}", "--predictor", "oracle", "--threshold", "0.1"],
     "invalid choice: 'oracle'"),   # the oracle has no hardware
])
def test_cli_errors_are_one_line(user, tmp_path, capsys, argv, message):
    d, *_ = user
    argv = [a.format(model=d / "model.npz", cal=d / "cal.npz", test=d / "test.npz", missing=tmp_path / "no.json")
            for a in argv]
    assert main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]   # argparse errors follow the usage lines
    assert message in last, last
