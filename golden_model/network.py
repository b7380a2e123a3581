"""RNN network description (float weights), its validation and its model-file format.

Weights follow PyTorch's layout: per layer and direction, ``w_ih`` (G*H, I), ``w_hh`` (G*H, H), ``b_ih``
and ``b_hh`` (G*H,), gates stacked in PyTorch order (LSTM i, f, g, o; GRU r, z, n). An optional linear
readout (``head``) reads the network output at each sequence's last valid step.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field

import numpy as np

from . import float_model
from .cells import CELLS, GATES, GRU, LSTM
from .files import existing_file

__all__ = ["CELLS", "GATES", "GRU", "LSTM", "Network", "Head", "DirectionWeights", "MODEL_FORMAT_VERSION"]
MODEL_FORMAT_VERSION = 1
#: Largest fraction tried when looking for an exact integer form k * 2**-frac of a tensor.
_MAX_INT_FRAC = 40


def _compact(values: np.ndarray) -> tuple[np.ndarray, int | None]:
    """The most compact exact storage of a float64 array: (int8 or int16 k, frac) when every value is
    k * 2**-frac (smallest such frac), else (float32 array, None) when float32 holds every value, else
    (the float64 array, None)."""
    for frac in range(_MAX_INT_FRAC + 1):
        k = np.ldexp(values, frac)
        if np.array_equal(k, np.round(k)):
            for dtype in (np.int8, np.int16):
                info = np.iinfo(dtype)
                if k.size == 0 or (k.min() >= info.min and k.max() <= info.max):
                    return k.astype(dtype), frac
            break
        if np.abs(k).max(initial=0.0) > np.iinfo(np.int16).max:  # more fraction bits only widen k
            break
    single = values.astype(np.float32)
    return (single, None) if np.array_equal(single, values) else (values, None)


def _finite_array(name: str, value, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape}, expected {shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


@dataclass(frozen=True, eq=False)  # arrays inside: identity equality
class DirectionWeights:
    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray


@dataclass(frozen=True, eq=False)
class Head:
    """Linear readout: logits = weight @ out + bias."""
    weight: np.ndarray
    bias: np.ndarray


@dataclass(frozen=True, eq=False)
class Network:
    cell: str
    input_size: int
    hidden_size: int
    layers: tuple[tuple[DirectionWeights, ...], ...]
    head: Head | None = None
    meta: dict = field(default_factory=dict, compare=False)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def num_directions(self) -> int:
        return len(self.layers[0])

    @property
    def bidirectional(self) -> bool:
        return self.num_directions == 2

    @property
    def gates(self) -> tuple[str, ...]:
        return GATES[self.cell]

    @property
    def output_size(self) -> int:
        return self.hidden_size * self.num_directions

    def layer_input_size(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.output_size

    @classmethod
    def build(cls, cell: str, layers, head=None, meta=None) -> Network:
        """Validate raw arrays and build a network.

        ``layers`` is a list (one per layer) of lists (one per direction) of dicts with keys
        w_ih, w_hh, b_ih, b_hh; ``head`` is None or a dict with keys weight, bias."""
        if cell not in CELLS:
            raise ValueError(f"unknown cell type {cell!r}; expected one of {CELLS}")
        if not layers:
            raise ValueError("a network needs at least one layer")
        num_dirs = len(layers[0])
        if num_dirs not in (1, 2):
            raise ValueError(f"a layer has 1 or 2 directions, not {num_dirs}")
        g = len(GATES[cell])
        first = np.asarray(layers[0][0]["w_ih"])
        if first.ndim != 2 or first.shape[0] % g:
            raise ValueError(f"layer 0 w_ih has shape {first.shape}; expected ({g}*hidden, input)")
        hidden, inputs = first.shape[0] // g, first.shape[1]
        if hidden < 1 or inputs < 1:
            raise ValueError(f"layer 0 w_ih has shape {first.shape}; sizes must be positive")
        built = []
        for li, layer in enumerate(layers):
            if len(layer) != num_dirs:
                raise ValueError(f"layer {li} has {len(layer)} directions, layer 0 has {num_dirs}")
            layer_in = inputs if li == 0 else hidden * num_dirs
            dirs = []
            for d, w in enumerate(layer):
                where = f"layer {li}{' reverse' if d else ''}"
                unknown = set(w) - {"w_ih", "w_hh", "b_ih", "b_hh"}
                if unknown:
                    raise ValueError(f"{where}: unknown weight names {sorted(unknown)}")
                missing = {"w_ih", "w_hh"} - set(w)
                if missing:
                    raise ValueError(f"{where}: missing weights {sorted(missing)}")
                zeros = np.zeros(g * hidden)
                dirs.append(DirectionWeights(
                    w_ih=_finite_array(f"{where} w_ih", w["w_ih"], (g * hidden, layer_in)),
                    w_hh=_finite_array(f"{where} w_hh", w["w_hh"], (g * hidden, hidden)),
                    b_ih=_finite_array(f"{where} b_ih", w.get("b_ih", zeros), (g * hidden,)),
                    b_hh=_finite_array(f"{where} b_hh", w.get("b_hh", zeros), (g * hidden,))))
            built.append(tuple(dirs))
        built_head = None
        if head is not None:
            hw = np.asarray(head["weight"])
            if hw.ndim != 2:
                raise ValueError(f"head weight has shape {hw.shape}; expected (classes, {hidden * num_dirs})")
            classes = hw.shape[0]
            built_head = Head(_finite_array("head weight", hw, (classes, hidden * num_dirs)),
                              _finite_array("head bias", head.get("bias", np.zeros(classes)), (classes,)))
        return cls(cell, inputs, hidden, tuple(built), built_head, dict(meta or {}))

    def forward(self, x, lengths=None) -> np.ndarray:
        """Float output sequence, equal to ``module(torch.from_numpy(x))[0]`` of a batch_first module."""
        return float_model.forward(self, x, lengths)

    def predict(self, x, lengths=None) -> np.ndarray:
        """Float class predictions of the readout head."""
        return float_model.predict(self, x, lengths)

    # ----------------------------------------------------------------------------------- model files
    def save(self, path) -> None:
        """Write a model file. Each tensor is stored exactly and compactly: as integers k (int8/int16, under
        ``<key>_int``, the fraction in ``header["int_frac"][key]``) when all its values are k * 2**-frac
        (fixed-point weights), else as float32 when that is exact, else as float64."""
        tensors = {}
        for li, layer in enumerate(self.layers):
            for d, w in enumerate(layer):
                for name in ("w_ih", "w_hh", "b_ih", "b_hh"):
                    tensors[f"l{li}_d{d}_{name}"] = getattr(w, name)
        if self.head is not None:
            tensors["head_weight"], tensors["head_bias"] = self.head.weight, self.head.bias
        arrays, int_frac = {}, {}
        for key, value in tensors.items():
            stored, frac = _compact(value)
            if frac is None:
                arrays[key] = stored
            else:  # a different key, so that an older reader fails instead of reading the integers as values
                arrays[f"{key}_int"], int_frac[key] = stored, frac
        header = {"format": "fuzzymemo-model", "version": MODEL_FORMAT_VERSION, "cell": self.cell,
                  "num_layers": self.num_layers, "num_directions": self.num_directions, "meta": self.meta}
        if int_frac:
            header["int_frac"] = int_frac
        with open(path, "wb") as f:
            np.savez_compressed(f, header=np.array(json.dumps(header)), **arrays)

    @classmethod
    def load(cls, path) -> Network:
        path = existing_file(path, "model file")
        try:
            data = np.load(path, allow_pickle=False)
            header = json.loads(str(data["header"]))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
            raise ValueError(f"{path} is not a fuzzymemo model file (.npz with a header): {e}") from None
        if not isinstance(header, dict) or header.get("format") != "fuzzymemo-model":
            raise ValueError(f"{path} is not a fuzzymemo model file")
        if header.get("version") != MODEL_FORMAT_VERSION:
            raise ValueError(f"{path} has model format version {header.get('version')}, "
                             f"this tool reads version {MODEL_FORMAT_VERSION}")
        int_frac = header.get("int_frac", {})
        if not isinstance(int_frac, dict) or not all(isinstance(f, int) and 0 <= f <= _MAX_INT_FRAC
                                                      for f in int_frac.values()):
            raise ValueError(f"{path} is a damaged fuzzymemo model file: malformed int_frac {int_frac!r}")

        def tensor(key):
            if key not in int_frac:
                return data[key]
            k = data[f"{key}_int"]
            if not np.issubdtype(k.dtype, np.integer):
                raise TypeError(f"{key}_int holds {k.dtype}, not integers")
            return np.ldexp(k.astype(np.float64), -int_frac[key])

        try:
            shape = int(header["num_layers"]), int(header["num_directions"])
            layers = [[{name: tensor(f"l{li}_d{d}_{name}") for name in ("w_ih", "w_hh", "b_ih", "b_hh")}
                       for d in range(shape[1])] for li in range(shape[0])]
            head = ({"weight": tensor("head_weight"), "bias": tensor("head_bias")}
                    if "head_weight" in data or "head_weight" in int_frac else None)
            return cls.build(header.get("cell"), layers, head, header.get("meta"))
        except (KeyError, TypeError, AttributeError, zipfile.BadZipFile, EOFError) as e:
            raise ValueError(f"{path} is a damaged fuzzymemo model file: {type(e).__name__}: {e}") from None

    def describe(self) -> str:
        kind = "bidirectional " if self.bidirectional else ""
        head = f", readout to {self.head.weight.shape[0]} classes" if self.head is not None else ""
        return (f"{self.num_layers}-layer {kind}{self.cell.upper()}, input {self.input_size}, "
                f"hidden {self.hidden_size}{head}")
