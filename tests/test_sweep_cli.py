"""Sweeps, threshold calibration and the model/data commands of the CLI on a small user model."""

import json

import numpy as np
import pytest
from support import smooth_inputs, uniform_network

from fuzzymemo.cli import main
from golden_model import Network
from golden_model.calibration import calibrate_formats
from golden_model.fixed_model import FixedPointNetwork
from golden_model.sweep import pick_threshold, sweep


@pytest.fixture(scope="module")
def user_files(tmp_path_factory):
    """A GRU model file with a readout and a data file labelled by the float model itself."""
    d = tmp_path_factory.mktemp("user")
    net = uniform_network("gru", inputs=3, hidden=6, layers=2, seed=11)
    x = smooth_inputs(40, 12, 3, seed=12).astype(np.float32)
    lengths = np.random.default_rng(0).integers(4, 13, 40)
    y = net.predict(x, lengths)
    net.save(d / "model.npz")
    np.savez(d / "data.npz", x=x, y=y, lengths=lengths)
    return d, net, x, y, lengths


def test_sweep_records_and_pick(user_files):
    _, net, x, y, lengths = user_files
    model = FixedPointNetwork(net, calibrate_formats(net, x, lengths))
    records = sweep(model, x, y, lengths, thresholds=(0.0, 0.2, 1.0))
    assert [r["policy"] for r in records] == ["oracle"] * 3 + ["bnn"] * 3
    for r in records:
        assert 0.0 <= r["reuse"] <= 1.0
        assert r["float_metric"] == 1.0  # labels are the float model's own predictions
        assert r["metric_loss"] == pytest.approx((r["fixed_metric"] - r["metric"]) * 100)
        assert set(r["reuse_per_gate"]) == {"r", "z", "n"} and len(r["reuse_per_layer"]) == 2
    oracle = [r["reuse"] for r in records if r["policy"] == "oracle"]
    assert oracle == sorted(oracle)
    # Stacked thresholds give the same figures as separate runs.
    single = sweep(model, x, y, lengths, policies=("bnn",), thresholds=(0.2,))[0]
    assert single == records[4]
    chosen = pick_threshold(records, "oracle", budget_pp=100.0)
    assert chosen["threshold"] == 1.0
    with pytest.raises(ValueError, match="budget"):
        pick_threshold(records, "oracle", -1)


def test_sweep_needs_valid_labels(user_files):
    _, net, x, y, lengths = user_files
    model = FixedPointNetwork(net, calibrate_formats(net, x, lengths))
    with pytest.raises(ValueError, match="labels must be in 0..2"):
        sweep(model, x, y + 5, lengths)
    with pytest.raises(ValueError, match="labels have shape"):
        sweep(model, x, y[:3], lengths)


def test_cli_sweep_json_and_plot(user_files, tmp_path, capsys):
    d, *_ = user_files
    out, plot = tmp_path / "s.json", tmp_path / "s.png"
    code = main(["sweep", "--model", str(d / "model.npz"), "--data", str(d / "data.npz"), "--thresholds",
                 "0,0.5", "--json", str(out), "--plot", str(plot), "--quiet"])
    assert code == 0
    records = json.loads(out.read_text())
    assert len(records) == 4
    for key in ("policy", "threshold", "reuse", "metric", "metric_loss", "float_metric"):
        assert key in records[0]
    assert plot.stat().st_size > 10000 and plot.read_bytes()[:4] == b"\x89PNG"


def test_cli_calibrate(user_files, capsys):
    d, *_ = user_files
    code = main(["calibrate", "--model", str(d / "model.npz"), "--data", str(d / "data.npz"),
                 "--predictor", "oracle", "--budget", "100", "--form", "relative", "--thresholds", "0,0.1,0.3",
                 "--quiet"])
    assert code == 0
    assert "oracle relative thresholds per layer 0.3, 0.3" in capsys.readouterr().out


def test_cli_calibrate_views_and_small_split_warning(user_files, tmp_path, capsys):
    d, *_ = user_files
    common = ["calibrate", "--model", str(d / "model.npz"), "--data", str(d / "data.npz"), "--predictor",
              "oracle", "--form", "relative", "--thresholds", "0,0.1", "--quiet"]
    assert main(common + ["--json", str(tmp_path / "one.json")]) == 0
    sequences = json.loads((tmp_path / "one.json").read_text())["measured"]["sequences"]
    assert f"{sequences} calibration sequences, 1 start view each: one misclassified sequence is 2.50 pp" in \
        capsys.readouterr().err
    assert main(common + ["--views", "3", "--json", str(tmp_path / "three.json")]) == 0
    measured = json.loads((tmp_path / "three.json").read_text())["measured"]
    assert measured["views"] == 3 and measured["view_sequences"] > sequences
    out, err = capsys.readouterr()
    assert f"start views of {sequences} calibration sequences" in out and "misclassified" not in err
    assert main(common + ["--views", "0"]) == 2
    assert "--views: must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["sweep", "--model", "missing.npz", "--data", "x.npz"], "does not exist"),
    (["sweep", "--model", "{model}"], "--model needs --data"),
    (["sweep", "--model", "{model}", "--data", "{data}", "--thresholds", "300"], "out of range"),
    (["sweep", "--model", "{model}", "--data", "{data}", "--limit", "0"], "--limit: must be at least 1"),
])
def test_cli_errors_are_clear(user_files, capsys, argv, message):
    d, *_ = user_files
    argv = [a.format(model=d / "model.npz", data=d / "data.npz") for a in argv]
    code = main(argv)
    assert code == 2
    assert message in capsys.readouterr().err


def test_cli_rejects_unparsable_thresholds(capsys):
    assert main(["sweep", "--workload", "digits", "--thresholds", "a,b"]) == 2
    assert "comma-separated numbers" in capsys.readouterr().err


def test_import_torch_command(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    rnn, head = torch.nn.LSTM(4, 5, num_layers=2, bidirectional=True, batch_first=True), torch.nn.Linear(10, 3)
    state = {f"rnn.{k}": v for k, v in rnn.state_dict().items()}
    state |= {f"head.{k}": v for k, v in head.state_dict().items()}
    torch.save(state, tmp_path / "sd.pt")
    x = np.random.default_rng(1).standard_normal((6, 7, 4)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x, y=np.zeros(6, dtype=np.int64))
    assert main(["import-torch", str(tmp_path / "sd.pt"), "-o", str(tmp_path / "m.npz"),
                 "--calibrate-data", str(tmp_path / "data.npz")]) == 0
    assert "2-layer bidirectional LSTM" in capsys.readouterr().out
    net = Network.load(tmp_path / "m.npz")
    assert "fixed_point" in net.meta
    ref = head(rnn(torch.from_numpy(x))[0][:, -1]).detach().numpy().argmax(axis=1)
    assert np.array_equal(net.predict(x), ref)
    torch.save({"rnn.weight_ih_l0": torch.zeros(3, 3), "bogus": torch.zeros(1)}, tmp_path / "bad.pt")
    assert main(["import-torch", str(tmp_path / "bad.pt"), "-o", str(tmp_path / "b.npz")]) == 2
    assert "unknown key 'bogus'" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"junk")
    assert main(["import-torch", str(tmp_path / "junk.pt"), "-o", str(tmp_path / "b.npz")]) == 2
    assert "cannot read" in capsys.readouterr().err
