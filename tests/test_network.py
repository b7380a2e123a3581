"""Validation of networks, model files and batches (bad input gets a clear error)."""

import json

import numpy as np
import pytest

from golden_model import Network
from golden_model.torch_import import from_torch, network_from_checkpoint


def lstm_weights(i=3, h=4, layers=1, dirs=1, seed=0):
    rng = np.random.default_rng(seed)
    return [[{"w_ih": rng.standard_normal((4 * h, i if li == 0 else h * dirs)) * 0.3,
              "w_hh": rng.standard_normal((4 * h, h)) * 0.3,
              "b_ih": rng.standard_normal(4 * h) * 0.1, "b_hh": rng.standard_normal(4 * h) * 0.1}
             for _ in range(dirs)] for li in range(layers)]


def test_build_and_describe():
    net = Network.build("lstm", lstm_weights(layers=2, dirs=2), {"weight": np.ones((3, 8))})
    assert net.describe() == "2-layer bidirectional LSTM, input 3, hidden 4, readout to 3 classes"
    assert net.output_size == 8


@pytest.mark.parametrize("mutate,message", [
    (lambda w: w[0][0].update(w_hh=np.zeros((16, 3))) or "lstm", r"w_hh has shape \(16, 3\), expected \(16, 4\)"),
    (lambda w: w[0][0].update(w_ih=np.zeros((15, 3))) or "lstm", r"expected \(4\*hidden, input\)"),
    (lambda w: w[0][0].update(w_hh=np.full((16, 4), np.nan)) or "lstm", "NaN or infinite"),
    (lambda w: w[0][0].update(b_ih=np.full(16, np.inf)) or "lstm", "NaN or infinite"),
    (lambda w: w[0][0].update(extra=np.zeros(3)) or "lstm", "unknown weight names"),
    (lambda w: w[0][0].pop("w_hh") is None or "lstm", "missing weights"),
    (lambda w: "rnn", "unknown cell type"),
])
def test_bad_weights_are_named(mutate, message):
    weights = lstm_weights()
    cell = mutate(weights)
    with pytest.raises(ValueError, match=message):
        Network.build(cell, weights)


def test_bad_head_shape():
    with pytest.raises(ValueError, match="head weight has shape"):
        Network.build("lstm", lstm_weights(), {"weight": np.ones((3, 5))})


def test_model_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        Network.load(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a fuzzymemo model file"):
        Network.load(junk)
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a fuzzymemo model file"):
        Network.load(tmp_path / "other.npz")


def test_model_file_round_trip_keeps_meta(tmp_path):
    net = Network.build("gru", [[{"w_ih": np.ones((6, 2)), "w_hh": np.ones((6, 2))}]], meta={"a": 1})
    net.save(tmp_path / "m.npz")
    loaded = Network.load(tmp_path / "m.npz")
    assert loaded.meta == {"a": 1} and loaded.cell == "gru"
    assert np.array_equal(loaded.layers[0][0].w_hh, net.layers[0][0].w_hh)


@pytest.mark.parametrize("state,message", [
    ({"weight_ih_l0": np.zeros((8, 3)), "weight_hh_l0": np.zeros((8, 4)), "foo": np.zeros(1)}, "unknown key 'foo'"),
    ({"weight_ih_l0": np.zeros((8, 3)), "weight_hh_l0": np.zeros((8, 4))}, "neither an LSTM"),
    ({}, "no RNN weights"),
    ({"weight_ih_l1": np.zeros((16, 3)), "weight_hh_l1": np.zeros((16, 4))}, "not numbered"),
])
def test_bad_state_dicts(state, message):
    with pytest.raises(ValueError, match=message):
        from_torch(state)


def test_bad_checkpoint_keys():
    with pytest.raises(ValueError, match="unknown key 'other.weight'"):
        network_from_checkpoint({"other.weight": np.zeros(1)})
    with pytest.raises(ValueError, match="no keys under 'rnn.'"):
        network_from_checkpoint({"head.weight": np.zeros((2, 2))})


@pytest.mark.parametrize("x,lengths,message", [
    (np.zeros((2, 5)), None, r"shape \(batch, time, features\)"),
    (np.zeros((2, 5, 4)), None, "has 4 features"),
    (np.full((2, 5, 3), np.nan), None, "NaN"),
    (np.zeros((2, 5, 3)), np.array([5, 6]), r"lengths\[1\] = 6 is out of range"),
    (np.zeros((2, 5, 3)), np.array([0, 5]), r"lengths\[0\] = 0"),
    (np.zeros((2, 5, 3)), np.array([5]), "input has 2 sequences but lengths has 1 entries"),
    (np.zeros((0, 5, 3)), None, "empty"),
])
def test_bad_batches(x, lengths, message):
    net = Network.build("lstm", lstm_weights())
    with pytest.raises(ValueError, match=message):
        net.forward(x, lengths)


def test_float_lengths_are_a_type_error():
    net = Network.build("lstm", lstm_weights())
    with pytest.raises(TypeError, match="integers"):
        net.forward(np.zeros((2, 5, 3)), np.array([2.0, 3.0]))


def test_model_file_compact_storage_round_trips_exactly(tmp_path):
    """Fixed-point-exact tensors are stored as int8/int16 with their fraction, float32-exact ones as float32,
    others as float64; every value reads back bit for bit."""
    rng = np.random.default_rng(3)
    weights = lstm_weights(i=5, h=6, layers=2)
    weights[0][0]["w_ih"] = rng.integers(-127, 128, (24, 5)) / 64.0              # Q8.6 values: int8
    weights[0][0]["w_hh"] = rng.integers(-2000, 2000, (24, 6)) * 2.0 ** -12      # int16, frac 12
    weights[0][0]["b_ih"] = np.zeros(24)                                        # int8, frac 0
    weights[1][0]["w_hh"] = rng.standard_normal((24, 6)).astype(np.float32)     # float32
    weights[0][0]["b_hh"] = np.array([3.0e6, -1.5, 1.0 / 3.0] + [0.25] * 21)    # float64 (1/3)
    head = {"weight": rng.integers(-30000, 30000, (3, 6)) * 2.0 ** -20, "bias": np.array([1e-3, 0.0, 2.0])}
    net = Network.build("lstm", weights, head, meta={"m": [1, 2]})
    net.save(tmp_path / "m.npz")
    loaded = Network.load(tmp_path / "m.npz")
    for a, b in zip(net.layers, loaded.layers, strict=True):
        for attr in ("w_ih", "w_hh", "b_ih", "b_hh"):
            x, y = getattr(a[0], attr), getattr(b[0], attr)
            assert y.dtype == np.float64 and np.array_equal(x, y)
    assert np.array_equal(loaded.head.weight, net.head.weight) and np.array_equal(loaded.head.bias, net.head.bias)
    assert loaded.meta == {"m": [1, 2]}
    with np.load(tmp_path / "m.npz") as data:
        dtypes = {k: data[k].dtype for k in data.files if k != "header"}
        header = json.loads(str(data["header"]))
    assert dtypes["l0_d0_w_ih_int"] == np.int8 and header["int_frac"]["l0_d0_w_ih"] == 6
    assert dtypes["l0_d0_w_hh_int"] == np.int16 and header["int_frac"]["l0_d0_w_hh"] == 12
    assert dtypes["l0_d0_b_ih_int"] == np.int8 and header["int_frac"]["l0_d0_b_ih"] == 0
    assert dtypes["head_weight_int"] == np.int16 and header["int_frac"]["head_weight"] == 20
    assert dtypes["l1_d0_w_hh"] == np.float32 and dtypes["l0_d0_b_hh"] == np.float64
    assert "l0_d0_w_ih" not in dtypes  # an older reader fails instead of taking the integers for values


def test_model_file_reads_float64_files(tmp_path):
    """Files written before compact storage (every tensor float64, no int_frac) still load."""
    net = Network.build("gru", [[{"w_ih": np.full((6, 2), 0.1), "w_hh": np.full((6, 2), 1 / 3)}]])
    arrays = {f"l0_d0_{k}": getattr(net.layers[0][0], k) for k in ("w_ih", "w_hh", "b_ih", "b_hh")}
    header = {"format": "fuzzymemo-model", "version": 1, "cell": "gru", "num_layers": 1, "num_directions": 1,
              "meta": {}}
    np.savez(tmp_path / "old.npz", header=np.array(json.dumps(header)), **arrays)
    loaded = Network.load(tmp_path / "old.npz")
    assert np.array_equal(loaded.layers[0][0].w_hh, net.layers[0][0].w_hh) and loaded.head is None


def test_model_file_bad_int_frac(tmp_path):
    net = Network.build("gru", [[{"w_ih": np.full((6, 2), 0.5), "w_hh": np.ones((6, 2))}]])
    net.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as data:
        arrays = dict(data)
    header = json.loads(str(arrays["header"]))
    header["int_frac"]["l0_d0_w_ih"] = "six"
    np.savez(tmp_path / "bad.npz", **{**arrays, "header": np.array(json.dumps(header))})
    with pytest.raises(ValueError, match="damaged fuzzymemo model file: malformed int_frac"):
        Network.load(tmp_path / "bad.npz")
