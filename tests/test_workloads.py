"""Bundled real-data workloads and the user data-file reader."""

import re

import numpy as np
import pytest

from golden_model.network import Network
from golden_model.workloads import (
    ALL_WORKLOADS,
    DEFAULT_WORKLOAD,
    PAPER_SCALE_WORKLOADS,
    SPLITS,
    WORKLOADS,
    Workload,
    check_data,
    load_data,
    load_workload,
    save_data,
)

# name: (cell, layers, features, classes, fixed length or None, accuracy floor)
EXPECTED = {
    "japanese_vowels": ("lstm", 1, 12, 9, None, 0.93),
    "basic_motions": ("gru", 1, 6, 4, 100, 0.85),
    "digits": ("lstm", 2, 8, 10, 8, 0.93),
}


def test_registry():
    assert set(WORKLOADS) == set(EXPECTED)
    assert DEFAULT_WORKLOAD == "japanese_vowels" and DEFAULT_WORKLOAD in WORKLOADS
    assert PAPER_SCALE_WORKLOADS == ("text_lm",) and ALL_WORKLOADS == WORKLOADS + PAPER_SCALE_WORKLOADS
    assert SPLITS == ("calibration", "test")


@pytest.fixture(scope="module", params=WORKLOADS)
def workload(request) -> Workload:
    return load_workload(request.param)


def test_workload_shapes(workload):
    cell, layers, features, classes, fixed_len, _ = EXPECTED[workload.name]
    net, x, y, lengths = workload.network, workload.x, workload.y, workload.lengths
    assert isinstance(net, Network) and workload.description
    assert (net.cell, net.num_layers, net.num_directions) == (cell, layers, 1)
    assert net.hidden_size <= 32
    assert net.head is not None and net.head.weight.shape[0] == classes
    assert x.dtype == np.float32 and y.dtype == np.int64 and lengths.dtype == np.int64
    assert x.ndim == 3 and x.shape[2] == features == net.input_size
    assert y.shape == lengths.shape == (x.shape[0],)
    assert lengths.min() >= 1 and lengths.max() == x.shape[1]
    if fixed_len is not None:
        assert np.all(lengths == fixed_len)
    else:
        assert lengths.min() < lengths.max()  # genuinely variable length
    assert set(np.unique(y)) == set(range(classes))
    # zero padded past each length; normalised values within the fixed-point friendly range
    pad = np.arange(x.shape[1])[None, :] >= lengths[:, None]
    assert np.all(x[pad] == 0)
    assert np.all(np.isfinite(x)) and np.abs(x).max() <= 4.0


def test_workload_meta(workload):
    meta = workload.network.meta
    assert meta["workload"] == workload.name
    norm = meta["normalization"]
    features = workload.network.input_size
    assert len(norm["mean"]) == len(norm["std"]) == features
    assert norm["scale"] >= 1.0 and norm["clip"] == 4.0
    training = meta["training"]
    for key in ("epochs", "seed", "lr", "hidden"):
        assert key in training
    assert training["hidden"] == workload.network.hidden_size


def test_float_accuracy_matches_meta(workload):
    pred = workload.network.predict(workload.x, workload.lengths)
    acc = float(np.mean(pred == workload.y))
    assert acc == pytest.approx(workload.network.meta["float_test_accuracy"], abs=1e-12)
    assert acc >= EXPECTED[workload.name][5]


@pytest.mark.parametrize("name", WORKLOADS)
def test_calibration_split(name):
    """Held out of training: its own sequences (none equal to a test one), stratified, with the stored
    accuracy; same network; sizes as recorded."""
    test, cal = load_workload(name), load_workload(name, split="calibration")
    assert (test.split, cal.split) == ("test", "calibration")
    assert load_workload(name, "test").split == "test"
    meta = cal.network.meta
    assert np.array_equal(cal.network.layers[0][0].w_hh, test.network.layers[0][0].w_hh)
    assert cal.x.dtype == np.float32 and cal.x.shape[2] == test.x.shape[2]
    assert len(cal.y) == meta["calibration_samples"] and len(test.y) == meta["test_samples"]
    assert set(np.unique(cal.y)) == set(range(test.network.head.weight.shape[0]))  # stratified: every class
    acc = float(np.mean(cal.network.predict(cal.x, cal.lengths) == cal.y))
    assert acc == pytest.approx(meta["float_calibration_accuracy"], abs=1e-12)
    assert f"calibration: {len(cal.y)} of the" in meta["split"]
    assert _no_shared_sequence(cal, test)


def _no_shared_sequence(a: Workload, b: Workload) -> bool:
    def rows(w):
        return {w.x[i, :w.lengths[i]].tobytes() for i in range(len(w.y))}
    return not rows(a) & rows(b)


def test_unknown_workload():
    with pytest.raises(ValueError, match="unknown workload 'nope'.*japanese_vowels.*basic_motions.*digits.*text_lm"):
        load_workload("nope")


@pytest.mark.parametrize("split", ["train", "Test", "", None])
def test_unknown_split(split):
    with pytest.raises(ValueError, match=f"unknown split {split!r} of workload 'digits'; the splits are "
                                         "calibration, test"):
        load_workload("digits", split)


# ---------------------------------------------------------------------------------- text_lm (paper scale)
@pytest.fixture(scope="module")
def text_lm() -> Workload:
    return load_workload("text_lm")


def test_text_lm_shape(text_lm):
    net, meta = text_lm.network, text_lm.network.meta
    vocab = meta["classes"]
    assert (net.cell, net.num_layers, net.hidden_size, net.input_size) == ("lstm", 1, 256, len(vocab))
    assert 32 <= len(vocab) <= 64 and net.head.weight.shape == (len(vocab), 256)
    assert text_lm.x.shape == (400, 48, len(vocab)) and np.all(text_lm.lengths == 48)
    assert np.all(text_lm.x.sum(axis=2) == 1) and set(np.unique(text_lm.x)) == {0.0, 1.0}  # one-hot
    assert meta["text"]["file"] == "pydoc_data/topics.py" and meta["text"]["python"]
    assert meta["float_test_accuracy"] > meta["unigram_test_accuracy"] + 0.3
    assert meta["training"]["seconds"] < 600 and meta["training"]["weight_format"] == "Q8.6"


def test_text_lm_weights_are_their_fixed_point_values(text_lm):
    """The stored float weights are exactly values of the 8-bit weight format."""
    from golden_model.formats import FixedPointConfig
    fmt = FixedPointConfig.from_dict(text_lm.network.meta["fixed_point"]).weight
    assert fmt.bits == 8
    for w in (text_lm.network.layers[0][0].w_ih, text_lm.network.layers[0][0].w_hh):
        k = w * fmt.scale
        assert np.array_equal(k, np.round(k)) and np.abs(k).max() <= fmt.max_int


def test_text_lm_regions_are_disjoint(text_lm):
    """Train, calibration and test windows come from disjoint contiguous regions of the text."""
    cal = load_workload("text_lm", "calibration")
    assert cal.x.shape == text_lm.x.shape
    regions = [tuple(int(v) for v in r.strip("[)").split(", "))
               for r in re.findall(r"\[\d+, \d+\)", text_lm.network.meta["split"])]
    (train_lo, train_hi), (cal_lo, cal_hi), (test_lo, test_hi) = regions
    assert train_lo == 0 and train_hi <= cal_lo < cal_hi <= test_lo < test_hi
    assert _no_shared_sequence(cal, text_lm)


def test_text_lm_float_accuracy_matches_meta(text_lm):
    """The float model on the whole test split (about a second) against the stored accuracy, and on a slice
    against an independent float64 LSTM written out here."""
    pred = text_lm.network.predict(text_lm.x, text_lm.lengths)
    assert float(np.mean(pred == text_lm.y)) == pytest.approx(text_lm.network.meta["float_test_accuracy"],
                                                               abs=1e-12)
    n = 40
    assert np.array_equal(pred[:n], _lstm_predictions(text_lm, n))


def _lstm_predictions(w: Workload, n: int) -> np.ndarray:
    """Predictions on the first ``n`` full-length windows of a 1-layer LSTM with a readout (PyTorch's gate
    order i, f, g, o)."""
    net = w.network
    d = net.layers[0][0]
    h = np.zeros((n, net.hidden_size))
    c = np.zeros((n, net.hidden_size))
    for t in range(w.x.shape[1]):
        z = w.x[:n, t] @ d.w_ih.T + h @ d.w_hh.T + d.b_ih + d.b_hh
        i, f, g, o = np.split(z, 4, axis=1)
        c = c / (1 + np.exp(-f)) + np.tanh(g) / (1 + np.exp(-i))
        h = np.tanh(c) / (1 + np.exp(-o))
    return np.argmax(h @ net.head.weight.T + net.head.bias, axis=1)


def test_loading_needs_no_training_packages():
    import subprocess
    import sys
    code = ("import sys\n"
            "for m in ('torch', 'sktime', 'sklearn'): sys.modules[m] = None\n"
            "from golden_model.workloads import ALL_WORKLOADS, SPLITS, load_workload\n"
            "for n in ALL_WORKLOADS:\n"
            "    for s in SPLITS: load_workload(n, s)\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------------------ load_data
def _good(batch=3, time=5, features=2):
    rng = np.random.default_rng(0)
    return (rng.normal(size=(batch, time, features)).astype(np.float32),
            np.arange(batch, dtype=np.int64) % 2, np.array([5, 3, 1][:batch], dtype=np.int64))


def test_load_data_roundtrip(tmp_path):
    x, y, lengths = _good()
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=y, lengths=lengths)
    x2, y2, l2 = load_data(path)
    assert np.array_equal(x2, x) and np.array_equal(y2, y) and np.array_equal(l2, lengths)
    assert y2.dtype == np.int64 and l2.dtype == np.int64


def test_load_data_without_lengths(tmp_path):
    x, y, _ = _good()
    path = tmp_path / "d.npz"
    np.savez(path, x=x.astype(np.float64), y=y.astype(np.int32))
    x2, y2, l2 = load_data(path)
    assert x2.dtype == np.float64 and np.array_equal(x2, x)
    assert y2.dtype == np.int64
    assert np.array_equal(l2, [5, 5, 5]) and l2.dtype == np.int64


def test_save_data_roundtrip(tmp_path):
    x, y, lengths = _good()
    save_data(tmp_path / "s.npz", x, y, lengths)
    x2, y2, l2 = load_data(tmp_path / "s.npz")
    assert np.array_equal(x2, x) and np.array_equal(y2, y) and np.array_equal(l2, lengths)


def test_bundled_test_file_is_a_valid_data_file():
    from importlib import resources
    res = resources.files("golden_model.workloads").joinpath("data", f"{DEFAULT_WORKLOAD}_test.npz")
    with resources.as_file(res) as path:
        x, y, lengths = load_data(path)
    w = load_workload(DEFAULT_WORKLOAD)
    assert np.array_equal(x, w.x) and np.array_equal(y, w.y) and np.array_equal(lengths, w.lengths)


def _bad_cases():
    x, y, lengths = _good()
    nan_x = x.copy()
    nan_x[1, 2, 0] = np.nan
    inf_x = x.copy()
    inf_x[0, 0, 1] = np.inf
    return {
        "missing_x": ({"y": y}, r"lacks the array\(s\) x"),
        "missing_y": ({"x": x, "lengths": lengths}, r"lacks the array\(s\) y"),
        "missing_both": ({"lengths": lengths}, r"lacks the array\(s\) x, y"),
        "x_2d": ({"x": x[:, :, 0], "y": y}, r"x must have shape \(batch, time, features\).*2 dimensions"),
        "x_4d": ({"x": x[..., None], "y": y}, r"x must have shape \(batch, time, features\)"),
        "x_empty": ({"x": x[:, :0], "y": y}, "empty"),
        "x_strings": ({"x": np.full((3, 5, 2), "a"), "y": y}, "x must be a real numeric array"),
        "x_nan": ({"x": nan_x, "y": y}, r"NaN or infinite.*\(1, 2, 0\)"),
        "x_inf": ({"x": inf_x, "y": y}, "NaN or infinite"),
        "y_float": ({"x": x, "y": y.astype(np.float64)}, "integer class labels.*whole numbers"),
        "y_fractional": ({"x": x, "y": y + 0.5}, "integer class labels, not float64"),
        "y_bool": ({"x": x, "y": y.astype(bool)}, "integer class labels"),
        "y_2d": ({"x": x, "y": y[:, None]}, r"y must have shape \(batch,\)"),
        "y_negative": ({"x": x, "y": y - 1}, "negative labels"),
        "y_batch": ({"x": x, "y": y[:2]}, "x has 3 sequences but y has 2 labels"),
        "lengths_batch": ({"x": x, "y": y, "lengths": lengths[:2]}, "x has 3 sequences but lengths has 2"),
        "lengths_2d": ({"x": x, "y": y, "lengths": lengths[:, None]}, r"lengths must have shape \(batch,\)"),
        "lengths_float": ({"x": x, "y": y, "lengths": lengths.astype(np.float64)}, "lengths must be integers"),
        "lengths_zero": ({"x": x, "y": y, "lengths": np.array([5, 0, 1])}, r"lengths\[1\] = 0 is out of range 1..5"),
        "lengths_long": ({"x": x, "y": y, "lengths": np.array([6, 3, 1])}, r"lengths\[0\] = 6 is out of range 1..5"),
        "lengths_negative": ({"x": x, "y": y, "lengths": np.array([5, 3, -2])}, r"lengths\[2\] = -2"),
    }


@pytest.mark.parametrize("case", sorted(_bad_cases()))
def test_load_data_rejects(tmp_path, case):
    arrays, message = _bad_cases()[case]
    path = tmp_path / f"{case}.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message) as info:
        load_data(path)
    assert str(path) in str(info.value)  # the message names the file


def test_load_data_object_array(tmp_path):
    path = tmp_path / "obj.npz"
    x, y, _ = _good()
    np.savez(path, x=np.array([x[0], x[1, :2]], dtype=object), y=y)
    with pytest.raises(ValueError, match="plain numeric arrays"):
        load_data(path)


def test_load_data_not_npz(tmp_path):
    npy = tmp_path / "a.npy"
    np.save(npy, np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="single array, not an .npz archive"):
        load_data(npy)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip file")
    with pytest.raises(ValueError, match="cannot read .* as an .npz data file"):
        load_data(junk)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_data(tmp_path / "missing.npz")


def test_check_data_in_memory():
    x, y, lengths = _good()
    with pytest.raises(ValueError, match="^data: y must hold integer"):
        check_data(x, y.astype(np.float32), lengths)


# ------------------------------------------------------------------------- numpy float model == torch
def test_float_model_matches_torch_packed():
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from golden_model.torch_import import network_from_checkpoint
    from golden_model.workloads.train import _make_model

    w = load_workload(DEFAULT_WORKLOAD)
    net = w.network
    sel = np.argsort(w.lengths)[[0, 1, len(w.lengths) // 2, -2, -1]]  # shortest .. longest
    x, lengths = w.x[sel], w.lengths[sel]
    cfg = {"cell": net.cell, "hidden": net.hidden_size, "layers": net.num_layers}
    model = _make_model(cfg, net.input_size, net.head.weight.shape[0]).double()
    state = {}
    for li, layer in enumerate(net.layers):
        for name, attr in (("weight_ih", "w_ih"), ("weight_hh", "w_hh"), ("bias_ih", "b_ih"), ("bias_hh", "b_hh")):
            state[f"rnn.{name}_l{li}"] = torch.from_numpy(getattr(layer[0], attr))
    state["head.weight"], state["head.bias"] = torch.from_numpy(net.head.weight), torch.from_numpy(net.head.bias)
    model.load_state_dict(state)
    back = network_from_checkpoint(model.state_dict())
    for a, b in zip(back.layers, net.layers, strict=True):
        for attr in ("w_ih", "w_hh", "b_ih", "b_hh"):
            assert np.array_equal(getattr(a[0], attr), getattr(b[0], attr))
    xt, lt = torch.from_numpy(x.astype(np.float64)), torch.from_numpy(lengths)
    with torch.no_grad():
        packed = pack_padded_sequence(xt, lt, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(model.rnn(packed)[0], batch_first=True, total_length=x.shape[1])
        logits = model(xt, lt)
    np.testing.assert_allclose(net.forward(x, lengths), out.numpy(), atol=1e-10)
    ours = net.forward(x, lengths)[np.arange(len(x)), lengths - 1] @ net.head.weight.T + net.head.bias
    np.testing.assert_allclose(ours, logits.numpy(), atol=1e-10)
    assert np.array_equal(net.predict(x, lengths), logits.argmax(1).numpy())
