"""Import of PyTorch RNNs: ``torch.nn.LSTM`` / ``torch.nn.GRU`` modules, their state dicts, and checkpoints
holding an RNN under ``rnn.`` with an optional ``torch.nn.Linear`` readout under ``head.``.

torch is needed only to read modules and ``.pt`` files; plain dicts of numpy arrays work without it.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .network import GATES, GRU, LSTM, Network

_KEY = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$")
_NAMES = {"weight_ih": "w_ih", "weight_hh": "w_hh", "bias_ih": "b_ih", "bias_hh": "b_hh"}


def _to_numpy(value, key):
    if getattr(value, "is_complex", lambda: False)():
        raise ValueError(f"{key} is a complex tensor; RNN weights are real")
    if hasattr(value, "detach"):
        value = value.detach().cpu().double().numpy()
    arr = np.asarray(value)
    if np.iscomplexobj(arr):
        raise ValueError(f"{key} is complex; RNN weights are real")
    if not np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_:
        raise ValueError(f"{key} is not a real numeric tensor")
    return arr


def _check_biases(layers: dict) -> None:
    """Both biases of every layer-direction, or none anywhere (a module built with bias=False): a state dict
    missing only some is corrupt, and zeros in their place would be silently wrong."""
    present = {}
    for li, dirs in layers.items():
        for d, w in dirs.items():
            suffix = f"_l{li}{'_reverse' if d else ''}"
            have = {"b_ih", "b_hh"} & set(w)
            if len(have) == 1:
                gone = "bias_hh" if "b_ih" in have else "bias_ih"
                raise ValueError(f"{gone}{suffix} is missing while {'bias_ih' if gone == 'bias_hh' else 'bias_hh'}"
                                 f"{suffix} is present (a module with bias=False has neither)")
            present[suffix] = bool(have)
    if len(set(present.values())) > 1:
        without = sorted(k for k, v in present.items() if not v)
        raise ValueError(f"the biases of {', '.join('*' + k for k in without)} are missing while other "
                         f"layers have theirs")


def _cell_of_weights(layers: dict) -> str:
    """LSTM or GRU from the recurrent weights' shape, (gates * hidden, hidden)."""
    w_hh = layers[0][0].get("w_hh")
    if w_hh is None or w_hh.ndim != 2 or w_hh.shape[1] == 0:
        raise ValueError("weight_hh_l0 (gates * hidden, hidden) is needed to tell the cell type")
    multiple, rest = divmod(w_hh.shape[0], w_hh.shape[1])
    cells = {len(g): c for c, g in GATES.items()}
    if multiple not in cells or rest:
        raise ValueError(f"weight_hh_l0 has shape {tuple(w_hh.shape)}: neither an LSTM (4*hidden, hidden) nor a "
                         f"GRU (3*hidden, hidden)")
    return cells[multiple]


def _cell_of_module(module):
    import torch

    if isinstance(module, torch.nn.LSTM):
        if getattr(module, "proj_size", 0):
            raise ValueError("LSTM with proj_size > 0 is not supported")
        return LSTM
    if isinstance(module, torch.nn.GRU):
        return GRU
    raise TypeError(f"expected torch.nn.LSTM or torch.nn.GRU, not {type(module).__name__}")


def network_from_state_dict(state, cell=None, head=None, meta=None) -> Network:
    """Build a network from an nn.LSTM/nn.GRU state dict (keys ``weight_ih_l0``, ``..._reverse``...).
    The cell type is read from the gate multiple of ``weight_ih_l0`` unless given."""
    layers: dict[int, dict[int, dict]] = {}
    for key, value in state.items():
        m = _KEY.match(key)
        if m is None:
            if key.startswith("weight_hr"):
                raise ValueError("LSTM with proj_size > 0 is not supported")
            raise ValueError(f"unknown key {key!r} in the RNN state dict; expected weight_ih_l<k>, "
                             f"weight_hh_l<k>, bias_ih_l<k>, bias_hh_l<k> (optionally _reverse)")
        kind, layer, reverse = m.group(1), int(m.group(2)), int(bool(m.group(3)))
        layers.setdefault(layer, {}).setdefault(reverse, {})[_NAMES[kind]] = _to_numpy(value, key)
    if not layers:
        raise ValueError("the state dict holds no RNN weights")
    if sorted(layers) != list(range(len(layers))):
        raise ValueError(f"layers {sorted(layers)} are not numbered 0..{len(layers) - 1}")
    for li, dirs in layers.items():
        if sorted(dirs) not in ([0], [0, 1]):
            raise ValueError(f"layer {li} has a reverse direction but no forward one")
    _check_biases(layers)
    cell = _cell_of_weights(layers) if cell is None else cell
    ordered = [[layers[li][d] for d in sorted(layers[li])] for li in range(len(layers))]
    return Network.build(cell, ordered, head, meta)


def from_torch(module_or_state, cell=None) -> Network:
    """Network from a ``torch.nn.LSTM`` / ``torch.nn.GRU`` module or its state dict."""
    if hasattr(module_or_state, "state_dict") and not isinstance(module_or_state, dict):
        cell = _cell_of_module(module_or_state)
        if not module_or_state.batch_first:
            warnings.warn("the module has batch_first=False; fuzzymemo's inputs are (batch, time, features): "
                          "transpose time-first data before running it", stacklevel=2)
        return network_from_state_dict(module_or_state.state_dict(), cell)
    if not hasattr(module_or_state, "items"):
        raise TypeError(f"expected an nn.LSTM/nn.GRU module or a state dict, not {type(module_or_state).__name__}")
    return network_from_state_dict(module_or_state, cell)


def network_from_checkpoint(state) -> Network:
    """Network from a state dict with the RNN under ``rnn.`` and an optional nn.Linear under ``head.``."""
    rnn, head = {}, {}
    for key, value in state.items():
        if key.startswith("rnn."):
            rnn[key[4:]] = value
        elif key in ("head.weight", "head.bias"):
            head[key[5:]] = _to_numpy(value, key)
        else:
            raise ValueError(f"unknown key {key!r}; expected keys under 'rnn.' and optionally "
                             f"'head.weight' and 'head.bias'")
    if not rnn:
        raise ValueError("the checkpoint holds no keys under 'rnn.'")
    if head and "weight" not in head:
        raise ValueError("the checkpoint has head.bias but no head.weight")
    return network_from_state_dict(rnn, head=head or None)


def _is_npz(path) -> bool:
    """Whether ``path`` is a zip archive of .npy members (what numpy.savez writes; a torch.save file is a
    zip archive too, of one folder)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return bool(names) and all(name.endswith(".npy") and "/" not in name for name in names)


def load_torch_checkpoint(path) -> Network:
    """Read a ``torch.save``-d state dict (see :func:`network_from_checkpoint`)."""
    try:
        import torch
    except ImportError:
        raise RuntimeError("reading .pt files needs PyTorch: pip install 'fuzzymemo[train]'") from None
    if Path(path).is_file() and Path(path).stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes), not a PyTorch state dict")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint {path} does not exist") from None
    except pickle.UnpicklingError:   # torch's weights_only refusal: objects other than tensors inside
        raise ValueError(f"{path} holds pickled Python objects (a whole module?), not only tensors: save a "
                         f"state dict (torch.save(model.state_dict(), ...)) and import that") from None
    except Exception as e:  # torch raises many types for a corrupt file
        if _is_npz(path):   # a model or data file of ours given by mistake: say what it is, not torch's words
            raise ValueError(f"{path} is a NumPy .npz archive (a fuzzymemo model or data file?), not a PyTorch "
                             f"state dict saved with torch.save") from None
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"cannot read {path} as a PyTorch state dict: {first}") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state dict")
    return network_from_checkpoint(state)
