"""Bundled real-data workloads: trained RNNs with their normalised calibration and test splits, and user
data files.

Each workload is a ``<name>_model.npz`` model file (:meth:`Network.save`) and one data file per split,
``<name>_test.npz`` and ``<name>_calibration.npz`` (held out of training), each with ``x`` (batch, time,
features) float32 (normalised, zero padded), ``y`` int64 labels and ``lengths`` int64. :data:`WORKLOADS`
are the three small ones (fast enough for every test and RTL run); :data:`PAPER_SCALE_WORKLOADS` the
large one(s) with hundreds of inputs per neuron. Loading needs NumPy only; retraining is
:mod:`golden_model.workloads.train`.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..files import existing_file
from ..network import Network
from ..sequences import check_batch

WORKLOADS = ("japanese_vowels", "basic_motions", "digits")
#: Workloads of the memoization paper's scale (hidden 256, ~300 inputs per neuron): slow in RTL, so never
#: iterated over by default.
PAPER_SCALE_WORKLOADS = ("text_lm",)
ALL_WORKLOADS = WORKLOADS + PAPER_SCALE_WORKLOADS
DEFAULT_WORKLOAD = "japanese_vowels"
#: Data splits of every bundled workload; the calibration split is held out of training.
SPLITS = ("calibration", "test")

_DESCRIPTIONS = {
    "japanese_vowels": "JapaneseVowels: 9-speaker identification, 12 LPC cepstrum features, "
                       "variable length 7..29; 1-layer LSTM",
    "basic_motions": "BasicMotions: 4-class activity recognition, 6 accelerometer/gyroscope features, "
                     "length 100; 1-layer GRU",
    "digits": "scikit-learn digits: 8x8 images read row by row (8 steps of 8 features), 10 classes; "
              "2-layer LSTM",
    "text_lm": "character-level language model on Python's pydoc_data.topics text: next character after "
               "48 one-hot characters (46 symbols); 1-layer LSTM, hidden 256",
}


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    network: Network
    x: np.ndarray
    y: np.ndarray
    lengths: np.ndarray
    split: str = "test"


def _data_file(filename: str):
    return resources.files(__package__).joinpath("data", filename)


def load_workload(name: str, split: str = "test") -> Workload:
    """The trained network and one normalised split (``"test"`` or ``"calibration"``) of a bundled workload."""
    if name not in ALL_WORKLOADS:
        raise ValueError(f"unknown workload {name!r}; known workloads: {', '.join(ALL_WORKLOADS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} of workload {name!r}; the splits are {', '.join(SPLITS)}")
    model_res, data_res = _data_file(f"{name}_model.npz"), _data_file(f"{name}_{split}.npz")
    for res in (model_res, data_res):
        if not res.is_file():
            raise FileNotFoundError(f"the packaged file {res.name} of workload {name!r} is missing; "
                                    f"regenerate it with: python -m golden_model.workloads.train "
                                    f"--workload {name}")
    with resources.as_file(model_res) as path:
        network = Network.load(path)
    with resources.as_file(data_res) as path:
        x, y, lengths = load_data(path)
    if x.shape[2] != network.input_size:
        raise ValueError(f"workload {name!r}: data has {x.shape[2]} features, the network expects "
                         f"{network.input_size}")
    return Workload(name, network.meta.get("description", _DESCRIPTIONS[name]), network, x, y, lengths, split)


def load_data(path, labels: bool = True) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Read a data file (.npz with ``x`` (batch, time, features) float, ``y`` integer labels (batch,)
    and optional ``lengths`` (batch,) in 1..time; missing lengths mean full-length sequences).
    With ``labels`` False, ``y`` is neither needed nor read (calibration data) and None is returned for it.

    Returns (x float32 or float64, y int64, lengths int64); raises ValueError naming the problem."""
    path = existing_file(path, "data file")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"cannot read {path} as an .npz data file: {e}") from None
    if not hasattr(data, "files"):  # a .npy file gives a bare array
        raise ValueError(f"{path} holds a single array, not an .npz archive with x, y (and lengths)")
    with data:
        missing = [k for k in (("x", "y") if labels else ("x",)) if k not in data.files]
        if missing:
            raise ValueError(f"data file {path} lacks the array(s) {', '.join(missing)}; it has "
                             f"{', '.join(data.files) or 'none'} (expected x, y and optionally lengths)")
        try:
            x, y = data["x"], data["y"] if labels else None
            lengths = data["lengths"] if "lengths" in data.files else None
        except ValueError as e:  # object arrays need pickle, which is refused
            raise ValueError(f"{path}: x, y and lengths must be plain numeric arrays ({e})") from None
    if not labels:
        try:
            x, lengths = check_batch(x, lengths, None, name="x")
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: {e}") from None
        return x, None, lengths
    return check_data(x, y, lengths, where=str(path))


def check_data(x, y, lengths=None, where: str = "data") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a labelled batch; returns (x float32 (float16/32 input) or float64, y int64, lengths int64)."""
    x, y = np.asarray(x), np.asarray(y)
    try:
        _, lengths = check_batch(x, lengths, None, name="x")
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from None
    batch = x.shape[0]
    if y.ndim != 1:
        raise ValueError(f"{where}: y must have shape (batch,), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            hint = " (they are whole numbers: store them with an integer dtype)"
        else:
            hint = ""
        raise ValueError(f"{where}: y must hold integer class labels, not {y.dtype}{hint}")
    if y.shape[0] != batch:
        raise ValueError(f"{where}: x has {batch} sequences but y has {y.shape[0]} labels")
    if np.any(y < 0):
        raise ValueError(f"{where}: y holds negative labels (min {int(y.min())}); labels are 0-based classes")
    x = x.astype(np.float32 if x.dtype in (np.float16, np.float32) else np.float64)
    return x, y.astype(np.int64), lengths.astype(np.int64)


def save_data(path, x, y, lengths=None) -> None:
    """Write a data file readable by :func:`load_data` (validated first)."""
    x, y, lengths = check_data(x, y, lengths)
    buf = io.BytesIO()
    np.savez_compressed(buf, x=x, y=y, lengths=lengths)
    Path(path).write_bytes(buf.getvalue())


__all__ = ["ALL_WORKLOADS", "DEFAULT_WORKLOAD", "PAPER_SCALE_WORKLOADS", "SPLITS", "WORKLOADS", "Workload",
           "check_data", "load_data", "load_workload", "save_data"]
