"""Validation of networks, model files and batches (bad input gets a clear error)."""

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
