"""Reproducible training of the bundled real-data workloads (needs ``pip install -e '.[train]'``).

    python -m golden_model.workloads.train [--workload NAME ...] [--out DIR]

Each workload is a small PyTorch RNN (``rnn.``, batch_first) with a linear readout (``head.``) on the
output at each sequence's last valid step. Variable-length batches are packed
(``pack_padded_sequence``), so padding never reaches the state. The trained network is converted with
:func:`golden_model.torch_import.network_from_checkpoint` and written as ``<name>_model.npz`` next to
``<name>_test.npz`` (the normalised, zero-padded test split). The recorded ``float_test_accuracy`` is
that of the NumPy float model (``Network.predict``) on exactly the stored test arrays.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import time
from pathlib import Path

import numpy as np

from ..calibration import calibrate_formats
from ..torch_import import network_from_checkpoint

DATA_DIR = Path(__file__).resolve().parent / "data"
CLIP = 4.0          # normalised inputs are clipped to +-CLIP
TARGET_QUANTILE = 0.999
TARGET_RANGE = 3.5  # the TARGET_QUANTILE of |z| on the training set is scaled to at most this

# Hidden sizes: 32 for JapaneseVowels (16 loses ~3 points of accuracy), 16 for BasicMotions and digits
# (no loss against 32). Kept small: the networks are simulated cycle by cycle in RTL.
CONFIGS = {
    "japanese_vowels": {
        "description": "JapaneseVowels (UEA): speaker identification from 12 LPC cepstrum coefficients, "
                       "variable length 7..29, 9 speakers; LSTM",
        "cell": "lstm", "hidden": 32, "layers": 1, "epochs": 60, "lr": 5e-3, "batch_size": 32},
    "basic_motions": {
        "description": "BasicMotions (UEA): activity recognition from 3-axis accelerometer + gyroscope, "
                       "length 100, 4 classes; GRU",
        "cell": "gru", "hidden": 16, "layers": 1, "epochs": 100, "lr": 1e-2, "batch_size": 8},
    "digits": {
        "description": "scikit-learn digits: 8x8 handwritten digits read row by row (8 steps of 8 pixels), "
                       "10 classes; 2-layer LSTM",
        "cell": "lstm", "hidden": 16, "layers": 2, "epochs": 60, "lr": 5e-3, "batch_size": 32},
}
SEED = 0


# ------------------------------------------------------------------------------------------ data sources
def _sktime_data_dir(problem: str) -> Path:
    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("sktime is needed for this workload: pip install -e '.[train]'")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / problem


def read_ts(path: Path) -> tuple[list[np.ndarray], list[str]]:
    """Read a multivariate .ts file (sktime/UEA format) without sktime's loader: returns a list of
    (length, dims) arrays and the class labels as strings."""
    seqs, labels, in_data = [], [], False
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if line.lower() == "@data":
                    in_data = True
                continue
            *dims, label = line.split(":")
            arr = np.array([[float(v) for v in d.split(",")] for d in dims], dtype=np.float64).T
            seqs.append(arr)
            labels.append(label.strip())
    if not seqs:
        raise ValueError(f"{path} holds no series")
    return seqs, labels


def _load_ts_split(problem: str):
    d = _sktime_data_dir(problem)
    train_x, train_l = read_ts(d / f"{problem}_TRAIN.ts")
    test_x, test_l = read_ts(d / f"{problem}_TEST.ts")
    numeric = all(c.isdigit() for c in train_l)  # "1".."9" numerically, words alphabetically
    classes = sorted(set(train_l), key=int if numeric else str)
    idx = {c: i for i, c in enumerate(classes)}
    return (train_x, np.array([idx[c] for c in train_l]), test_x, np.array([idx[c] for c in test_l]),
            classes)


def load_raw(name: str):
    """(train sequences, train labels, test sequences, test labels, class names, split description)."""
    if name == "japanese_vowels":
        return (*_load_ts_split("JapaneseVowels"), "official UEA TRAIN (270) / TEST (370) split")
    if name == "basic_motions":
        return (*_load_ts_split("BasicMotions"), "official UEA TRAIN (40) / TEST (40) split")
    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        d = load_digits()
        images = d.images.astype(np.float64)  # (n, 8 rows = time, 8 columns = features)
        tr, te = train_test_split(np.arange(len(images)), test_size=0.2, stratify=d.target,
                                  random_state=SEED)
        return ([images[i] for i in tr], d.target[tr], [images[i] for i in te], d.target[te],
                [str(c) for c in range(10)], f"stratified 80/20 split, random_state={SEED}")
    raise ValueError(f"unknown workload {name!r}; known: {', '.join(CONFIGS)}")


# ---------------------------------------------------------------------------------------- preprocessing
def fit_normalization(train_seqs: list[np.ndarray]) -> dict:
    """Per-feature mean/std over all valid training steps, then one global scale so that the
    TARGET_QUANTILE of |z| is at most TARGET_RANGE; values are finally clipped to +-CLIP."""
    allv = np.concatenate(train_seqs, axis=0)
    mean = allv.mean(axis=0)
    std = allv.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    q = float(np.quantile(np.abs((allv - mean) / std), TARGET_QUANTILE))
    scale = max(1.0, q / TARGET_RANGE)
    return {"formula": "clip((x - mean) / (std * scale), -clip, clip)",
            "mean": mean.tolist(), "std": std.tolist(), "scale": scale, "clip": CLIP,
            "statistics": "training split, all valid steps"}


def apply_normalization(seqs: list[np.ndarray], norm: dict) -> tuple[np.ndarray, np.ndarray]:
    """Normalise and zero-pad: returns x (batch, time, features) float32 and lengths int64."""
    mean, std = np.array(norm["mean"]), np.array(norm["std"])
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    x = np.zeros((len(seqs), int(lengths.max()), len(mean)), dtype=np.float32)
    for i, s in enumerate(seqs):
        x[i, :len(s)] = np.clip((s - mean) / (std * norm["scale"]), -norm["clip"], norm["clip"])
    return x, lengths


# --------------------------------------------------------------------------------------------- training
def _make_model(cfg: dict, input_size: int, classes: int):
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            rnn = torch.nn.LSTM if cfg["cell"] == "lstm" else torch.nn.GRU
            self.rnn = rnn(input_size, cfg["hidden"], num_layers=cfg["layers"], batch_first=True)
            self.head = torch.nn.Linear(cfg["hidden"], classes)

        def forward(self, x, lengths):
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.rnn(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
            last = out[torch.arange(x.shape[0]), lengths - 1]
            return self.head(last)

    return Classifier()


def train_workload(name: str, out_dir: Path = DATA_DIR, verbose: bool = True) -> dict:
    import torch

    cfg = CONFIGS[name]
    t0 = time.perf_counter()
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.use_deterministic_algorithms(True)

    train_seqs, y_train, test_seqs, y_test, class_names, split = load_raw(name)
    norm = fit_normalization(train_seqs)
    x_train, len_train = apply_normalization(train_seqs, norm)
    x_test, len_test = apply_normalization(test_seqs, norm)
    y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)

    model = _make_model(cfg, x_train.shape[2], len(class_names))
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg["epochs"])
    xt, lt, yt = torch.from_numpy(x_train), torch.from_numpy(len_train), torch.from_numpy(y_train)
    gen = torch.Generator().manual_seed(SEED)
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch in range(cfg["epochs"]):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for start in range(0, len(xt), cfg["batch_size"]):
            b = perm[start:start + cfg["batch_size"]]
            opt.zero_grad()
            loss = loss_fn(model(xt[b], lt[b]), yt[b])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            total += loss.item() * len(b)
        sched.step()
        if verbose and (epoch + 1) % 10 == 0:
            print(f"  {name} epoch {epoch + 1:3d}: train loss {total / len(xt):.4f}")

    model.eval()
    with torch.no_grad():
        torch_pred = model(torch.from_numpy(x_test), torch.from_numpy(len_test)).argmax(1).numpy()
        train_pred = model(xt, lt).argmax(1).numpy()
    net = network_from_checkpoint(model.state_dict())
    pred = net.predict(x_test, len_test)
    acc = float(np.mean(pred == y_test))
    seconds = time.perf_counter() - t0
    meta = {
        "workload": name,
        "description": cfg["description"],
        "float_test_accuracy": acc,
        "torch_test_accuracy": float(np.mean(torch_pred == y_test)),
        "train_accuracy": float(np.mean(train_pred == y_train)),
        "test_samples": len(y_test),
        "classes": class_names,
        "split": split,
        "normalization": norm,
        # Formats calibrated on the training split: the fixed-point model never sees test ranges.
        "fixed_point": calibrate_formats(net, x_train, len_train).to_dict(),
        "training": {"epochs": cfg["epochs"], "seed": SEED, "lr": cfg["lr"], "optimizer": "Adam",
                     "schedule": "cosine", "batch_size": cfg["batch_size"], "grad_clip": 1.0,
                     "cell": cfg["cell"], "hidden": cfg["hidden"], "layers": cfg["layers"],
                     "torch": torch.__version__, "seconds": round(seconds, 1)},
    }
    net = dataclasses.replace(net, meta=meta)
    out_dir.mkdir(parents=True, exist_ok=True)
    net.save(out_dir / f"{name}_model.npz")
    with open(out_dir / f"{name}_test.npz", "wb") as f:
        np.savez_compressed(f, x=x_test, y=y_test, lengths=len_test)
    if verbose:
        print(f"{name}: {net.describe()}; float test accuracy {acc:.4f} "
              f"(torch {meta['torch_test_accuracy']:.4f}, train {meta['train_accuracy']:.4f}), "
              f"{seconds:.1f} s")
    return meta


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m golden_model.workloads.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", action="append", choices=list(CONFIGS),
                        help="workload to train (repeatable; default: all)")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help=f"output directory (default {DATA_DIR})")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        parser.error("training needs PyTorch, sktime and scikit-learn: pip install -e '.[train]'")
    torch.set_num_threads(args.threads)
    for name in args.workload or list(CONFIGS):
        train_workload(name, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
