"""Corrupt or surprising model input is a clear error (issue 14 defects 4, 7, 18): state dicts missing
some biases, complex tensors, reverse-only layers, a wrong recurrent shape, damaged model files, and a
time-first torch module."""

import warnings

import numpy as np
import pytest

from golden_model.network import Network
from golden_model.torch_import import from_torch, load_torch_checkpoint, network_from_state_dict


def state(cell="lstm", inputs=3, hidden=2, reverse=False, bias=True, seed=0):
    rng = np.random.default_rng(seed)
    g = 4 if cell == "lstm" else 3
    out = {}
    for suffix in ("_l0", "_l0_reverse") if reverse else ("_l0",):
        out[f"weight_ih{suffix}"] = rng.standard_normal((g * hidden, inputs))
        out[f"weight_hh{suffix}"] = rng.standard_normal((g * hidden, hidden))
        if bias:
            out[f"bias_ih{suffix}"] = rng.standard_normal(g * hidden)
            out[f"bias_hh{suffix}"] = rng.standard_normal(g * hidden)
    return out


def test_a_missing_bias_is_an_error_not_zeros():
    s = state()
    del s["bias_hh_l0"]
    with pytest.raises(ValueError, match="bias_hh_l0 is missing while bias_ih_l0 is present"):
        network_from_state_dict(s)
    s = state(reverse=True)
    del s["bias_ih_l0_reverse"], s["bias_hh_l0_reverse"]
    with pytest.raises(ValueError, match=r"biases of \*_l0_reverse are missing while other layers have theirs"):
        network_from_state_dict(s)
    net = network_from_state_dict(state(bias=False))   # bias=False: no biases anywhere is a real module
    assert not net.layers[0][0].b_ih.any()


def test_complex_and_boolean_tensors_are_refused():
    s = state()
    s["weight_ih_l0"] = s["weight_ih_l0"] + 1j
    with pytest.raises(ValueError, match="weight_ih_l0 is complex"):
        network_from_state_dict(s)
    s = state()
    s["bias_ih_l0"] = s["bias_ih_l0"] > 0
    with pytest.raises(ValueError, match="bias_ih_l0 is not a real numeric tensor"):
        network_from_state_dict(s)


def test_reverse_only_and_wrong_recurrent_shape_name_the_problem():
    s = {k.replace("_l0", "_l0_reverse"): v for k, v in state().items()}
    with pytest.raises(ValueError, match="layer 0 has a reverse direction but no forward one"):
        network_from_state_dict(s)
    s = state()
    s["weight_hh_l0"] = np.zeros((8, 3))
    with pytest.raises(ValueError, match=r"weight_hh_l0 has shape \(8, 3\): neither an LSTM"):
        network_from_state_dict(s)


def test_damaged_model_files(tmp_path):
    net = network_from_state_dict(state())
    good = tmp_path / "m.npz"
    net.save(good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(ValueError, match="not a fuzzymemo model file"):
        Network.load(truncated)
    with np.load(good) as data:
        arrays = {k: data[k] for k in data.files if k != "l0_d0_b_hh"}
    np.savez(tmp_path / "tampered.npz", **arrays)
    with pytest.raises(ValueError, match="damaged fuzzymemo model file: KeyError"):
        Network.load(tmp_path / "tampered.npz")
    np.savez(tmp_path / "list.npz", header=np.array("[1, 2]"))
    with pytest.raises(ValueError, match="not a fuzzymemo model file"):
        Network.load(tmp_path / "list.npz")


def test_time_first_module_warns():
    torch = pytest.importorskip("torch")
    with pytest.warns(UserWarning, match="batch_first=False"):
        from_torch(torch.nn.GRU(3, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_torch(torch.nn.GRU(3, 2, batch_first=True))


def test_import_checks_the_formats_and_takes_widths(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from fuzzymemo.cli import main
    from golden_model.formats import FixedPointConfig

    torch.manual_seed(0)
    rnn = torch.nn.GRU(3, 4, batch_first=True)
    with torch.no_grad():
        rnn.bias_hh_l0[9] = 100.0     # beyond the 24-bit default bias format at the accumulator fraction
    torch.save({f"rnn.{k}": v for k, v in rnn.state_dict().items()}, tmp_path / "sd.pt")
    np.savez(tmp_path / "cal.npz", x=np.random.default_rng(0).uniform(-1, 1, (5, 6, 3)))   # no labels
    out = tmp_path / "m.npz"
    argv = ["import-torch", str(tmp_path / "sd.pt"), "-o", str(out), "--calibrate-data", str(tmp_path / "cal.npz")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "layer 0 bias b_hn[9] = 100 is outside the range" in err and not out.exists()
    assert main(argv + ["--bias-bits", "26", "--weight-bits", "6"]) == 0
    config = FixedPointConfig.from_dict(Network.load(out).meta["fixed_point"])
    assert (config.weight.bits, config.bias_bits) == (6, 26)
    assert main(["import-torch", str(tmp_path / "sd.pt"), "-o", str(out), "--act-bits", "10"]) == 2
    assert "are chosen with --calibrate-data" in capsys.readouterr().err


def test_an_npz_archive_is_named_as_such(tmp_path):
    pytest.importorskip("torch")
    np.savez(tmp_path / "model.npz", w=np.zeros(3))
    with pytest.raises(ValueError, match="model.npz is a NumPy .npz archive .* not a PyTorch state dict"):
        load_torch_checkpoint(tmp_path / "model.npz")


def test_empty_and_pickled_module_files_say_what_they_are(tmp_path):
    torch = pytest.importorskip("torch")

    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty.pt is empty \(0 bytes\)"):
        load_torch_checkpoint(tmp_path / "empty.pt")
    torch.save(torch.nn.GRU(2, 2), tmp_path / "module.pt")
    with pytest.raises(ValueError, match=r"holds pickled Python objects \(a whole module\?\)") as e:
        load_torch_checkpoint(tmp_path / "module.pt")
    assert "\n" not in str(e.value) and "weights_only" not in str(e.value)   # not torch's page of advice
