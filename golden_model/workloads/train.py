"""Reproducible training of the bundled real-data workloads (needs ``pip install -e '.[train]'``).

    python -m golden_model.workloads.train [--workload NAME ...] [--out DIR]

Each workload is a PyTorch RNN (``rnn.``, batch_first) with a linear readout (``head.``) on the output at
each sequence's last valid step. Variable-length batches are packed (``pack_padded_sequence``), so
padding never reaches the state. A stratified part of the training data is held out as the calibration
split (never trained on); the model is trained on the rest. The trained network is converted with
:func:`golden_model.torch_import.network_from_checkpoint` and written as ``<name>_model.npz`` next to
``<name>_test.npz`` and ``<name>_calibration.npz`` (normalised, zero-padded). The recorded
``float_test_accuracy`` and ``float_calibration_accuracy`` are those of the NumPy float model
(``Network.predict``) on exactly the stored arrays.

``text_lm`` (the paper-scale workload) is a character-level LSTM language model (hidden 256) on the
English text that ships with Python (:mod:`pydoc_data.topics`); its weights are fine-tuned to, and stored
as, 8-bit fixed-point values (see :func:`train_text_lm`).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import re
import sys
import time
from pathlib import Path

import numpy as np

from ..calibration import calibrate_formats, frac_for
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
#: Calibration split held out of each training split (stratified, random_state=SEED): a fraction or a count.
CALIBRATION_SIZE = {"japanese_vowels": 0.2, "basic_motions": 10, "digits": 0.2}


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


def hold_out_calibration(labels: np.ndarray, size) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (training indices, calibration indices), each sorted: ``size`` (a fraction or a count)
    of the samples go to calibration, ``random_state=SEED``."""
    from sklearn.model_selection import train_test_split
    train, calibration = train_test_split(np.arange(len(labels)), test_size=size, stratify=labels,
                                          random_state=SEED)
    return np.sort(train), np.sort(calibration)


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

        def forward_all(self, x):
            """Logits at every step of full-length sequences (language-model training)."""
            return self.head(self.rnn(x)[0])

    return Classifier()


class _WeightQuantizer:
    """Straight-through fake quantization of the RNN matrices to Q(bits).frac, values clamped to
    +-(2**(bits-1) - 1) LSBs (never -2**(bits-1): the format calibrated from the weights keeps ``frac``):
    the forward and backward passes see the quantized weights, the optimizer updates the float ones."""

    def __init__(self, model, bits: int, frac: int):
        self.params = [p for n, p in model.rnn.named_parameters() if n.startswith("weight_")]
        self.limit, self.scale = (1 << (bits - 1)) - 1, float(1 << frac)
        self.saved = None

    def quantize(self) -> None:
        import torch
        self.saved = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            for p in self.params:
                p.copy_(torch.clamp(torch.round(p * self.scale), -self.limit, self.limit) / self.scale)

    def restore(self) -> None:
        import torch
        with torch.no_grad():
            for p, saved in zip(self.params, self.saved, strict=True):
                p.copy_(saved)


def _train_epochs(model, n: int, loss_of, cfg: dict, gen, tag: str, verbose: bool, epochs: int, lr: float,
                  quantizer: _WeightQuantizer | None = None, report_every: int = 10) -> None:
    """Adam with a cosine schedule and gradient clipping over ``epochs`` shuffled passes of ``n``
    samples; ``loss_of(batch indices)`` is the mean loss of a batch."""
    import torch
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        total, t0 = 0.0, time.perf_counter()
        for start in range(0, n, cfg["batch_size"]):
            b = perm[start:start + cfg["batch_size"]]
            opt.zero_grad()
            if quantizer is not None:
                quantizer.quantize()
            loss = loss_of(b)
            loss.backward()
            if quantizer is not None:
                quantizer.restore()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            total += loss.item() * len(b)
        sched.step()
        if verbose and (epoch + 1) % report_every == 0:
            print(f"  {tag} epoch {epoch + 1:3d}: train loss {total / n:.4f} ({time.perf_counter() - t0:.1f} s)",
                  flush=True)


def _seed_everything():
    import torch
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.use_deterministic_algorithms(True)
    return torch.Generator().manual_seed(SEED)


def _training_meta(cfg: dict, seconds: float, **extra) -> dict:
    import torch
    return {"epochs": cfg["epochs"], "seed": SEED, "lr": cfg["lr"], "optimizer": "Adam", "schedule": "cosine",
            "batch_size": cfg["batch_size"], "grad_clip": 1.0, "cell": cfg["cell"], "hidden": cfg["hidden"],
            "layers": cfg["layers"], **extra, "torch": torch.__version__, "seconds": round(seconds, 1)}


def _evaluate(model, net, train, calibration, test) -> dict:
    """Accuracies and sizes of the splits, each (x, y, lengths): the NumPy float model ``net`` on the
    calibration and test splits, the PyTorch ``model`` on the test and training splits."""
    import torch
    model.eval()

    def torch_accuracy(x, y, lengths):
        with torch.no_grad():
            return float(np.mean(model(torch.from_numpy(x), torch.from_numpy(lengths)).argmax(1).numpy() == y))

    return {"float_test_accuracy": float(np.mean(net.predict(test[0], test[2]) == test[1])),
            "float_calibration_accuracy": float(np.mean(net.predict(calibration[0], calibration[2]) == calibration[1])),
            "torch_test_accuracy": torch_accuracy(*test), "train_accuracy": torch_accuracy(*train),
            "train_samples": len(train[1]), "calibration_samples": len(calibration[1]), "test_samples": len(test[1])}


def _write_workload(name: str, net, splits: dict, out_dir: Path, verbose: bool) -> None:
    """The model file and one data file per split (``splits``: split name -> (x, y, lengths))."""
    out_dir.mkdir(parents=True, exist_ok=True)
    net.save(out_dir / f"{name}_model.npz")
    for split, (x, y, lengths) in splits.items():
        with open(out_dir / f"{name}_{split}.npz", "wb") as f:
            np.savez_compressed(f, x=x, y=y, lengths=lengths)
    if verbose:
        m = net.meta
        print(f"{name}: {net.describe()}; float test accuracy {m['float_test_accuracy']:.4f} "
              f"(torch {m['torch_test_accuracy']:.4f}), calibration {m['float_calibration_accuracy']:.4f}, "
              f"train {m['train_accuracy']:.4f}; {m['training']['seconds']:.1f} s", flush=True)


def train_workload(name: str, out_dir: Path = DATA_DIR, verbose: bool = True) -> dict:
    if name == TEXT_LM:
        return train_text_lm(out_dir, verbose)
    import torch

    cfg = CONFIGS[name]
    t0 = time.perf_counter()
    gen = _seed_everything()

    all_seqs, y_all, test_seqs, y_test, class_names, split = load_raw(name)
    keep, held = hold_out_calibration(y_all, CALIBRATION_SIZE[name])
    train_seqs, y_train = [all_seqs[i] for i in keep], y_all[keep].astype(np.int64)
    cal_seqs, y_cal = [all_seqs[i] for i in held], y_all[held].astype(np.int64)
    split = (f"{split}; calibration: {len(held)} of the {len(y_all)} training sequences held out "
             f"(stratified by class, sklearn train_test_split random_state={SEED}), training on the other "
             f"{len(keep)}")
    norm = fit_normalization(train_seqs)
    x_train, len_train = apply_normalization(train_seqs, norm)
    x_cal, len_cal = apply_normalization(cal_seqs, norm)
    x_test, len_test = apply_normalization(test_seqs, norm)
    y_test = y_test.astype(np.int64)

    model = _make_model(cfg, x_train.shape[2], len(class_names))
    xt, lt, yt = torch.from_numpy(x_train), torch.from_numpy(len_train), torch.from_numpy(y_train)
    loss_fn = torch.nn.CrossEntropyLoss()
    _train_epochs(model, len(xt), lambda b: loss_fn(model(xt[b], lt[b]), yt[b]), cfg, gen, name, verbose,
                  cfg["epochs"], cfg["lr"])

    net = network_from_checkpoint(model.state_dict())
    meta = {
        "workload": name,
        "description": cfg["description"],
        **_evaluate(model, net, (x_train, y_train, len_train), (x_cal, y_cal, len_cal), (x_test, y_test, len_test)),
        "classes": class_names,
        "split": split,
        "normalization": norm,
        # Formats calibrated on the training split: the fixed-point model never sees calibration or test data.
        "fixed_point": calibrate_formats(net, x_train, len_train).to_dict(),
        "training": _training_meta(cfg, time.perf_counter() - t0),
    }
    net = dataclasses.replace(net, meta=meta)
    _write_workload(name, net, {"test": (x_test, y_test, len_test), "calibration": (x_cal, y_cal, len_cal)},
                    out_dir, verbose)
    return meta


# ------------------------------------------------------------------------------- text_lm (paper scale)
TEXT_LM = "text_lm"
#: Symbols after case folding: whitespace runs become one space, digits one symbol ("0"), curly quotes
#: straight ones, [ { and ] } become ( and ); anything else is the last symbol, OTHER.
OTHER = "~"
VOCAB = " abcdefghijklmnopqrstuvwxyz0-\"_.*,=():|'>+;</" + OTHER
TEXT_CFG = {
    "description": "character-level language model on the English text of Python's pydoc_data.topics: "
                   "next character after a 48-character window (46 symbols, one-hot); LSTM, hidden 256",
    "cell": "lstm", "hidden": 256, "layers": 1, "window": 48, "epochs": 12, "lr": 4e-3, "batch_size": 64,
    # fine-tune with the RNN matrices fake-quantized to their 8-bit format (straight-through)
    "qat_epochs": 3, "qat_lr": 5e-4, "weight_bits": 8, "weight_quantile": 0.9995,
    # disjoint contiguous regions of the text, as fractions of its length: train, calibration, test
    "regions": (0.8, 0.1, 0.1), "eval_windows": 400,
}


def load_text() -> tuple[str, dict]:
    """The text: the values of ``pydoc_data.topics.topics`` in sorted key order, joined by newlines."""
    import pydoc_data.topics as topics
    text = "\n".join(topics.topics[k] for k in sorted(topics.topics))
    source = {"module": "pydoc_data.topics", "file": "pydoc_data/topics.py",
              "python": sys.version.split()[0], "topics": len(topics.topics), "characters": len(text),
              "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
              "text": "values of pydoc_data.topics.topics in sorted key order, joined by newlines"}
    return text, source


def encode_text(text: str) -> np.ndarray:
    """Symbol indices into VOCAB (int64) of the case-folded, whitespace-collapsed text."""
    text = re.sub(r"\s+", " ", text.lower())
    text = re.sub(r"[0-9]", "0", text)
    for a, b in (("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'), ("\u201d", '"'), ("[", "("), ("{", "("),
                 ("]", ")"), ("}", ")")):
        text = text.replace(a, b)
    index = {c: i for i, c in enumerate(VOCAB)}
    other = index[OTHER]
    return np.array([index.get(c, other) for c in text], dtype=np.int64)


def text_regions(n: int, fractions=TEXT_CFG["regions"]) -> dict[str, tuple[int, int]]:
    """[start, stop) of the train, calibration and test regions of a text of ``n`` symbols."""
    cuts = np.round(np.cumsum([0.0, *fractions]) / sum(fractions) * n).astype(int)
    return {name: (int(cuts[i]), int(cuts[i + 1])) for i, name in enumerate(("train", "calibration", "test"))}


def region_windows(codes: np.ndarray, region: tuple[int, int], window: int, count: int | None = None,
                   unseen_in: tuple[tuple[int, int], ...] = ()) -> np.ndarray:
    """Start offsets of back-to-back windows of ``window`` + 1 symbols (inputs, then the label) inside
    ``region``: all of them (``count`` None), or ``count`` evenly spaced ones among those whose ``window``
    input symbols occur nowhere in the regions ``unseen_in`` (no evaluation window repeats text verbatim)."""
    start, stop = region
    starts = np.arange(start, stop - window, window + 1)
    if count is None:
        return starts
    seen = [symbols(codes[lo:hi]) for lo, hi in unseen_in]
    keep = np.array([s for s in starts if not any(symbols(codes[s:s + window]) in text for text in seen)])
    if len(keep) < count:
        raise ValueError(f"region {region} has only {len(keep)} windows of unseen text, {count} are needed")
    return keep[np.round(np.linspace(0, len(keep) - 1, count)).astype(int)]


def symbols(codes: np.ndarray) -> str:
    """The encoded text as a string of VOCAB symbols."""
    return "".join(VOCAB[i] for i in codes)


def one_hot_windows(codes: np.ndarray, starts: np.ndarray, window: int):
    """(x (batch, window, len(VOCAB)) float32 one-hot, y next symbol int64, lengths int64)."""
    idx = codes[starts[:, None] + np.arange(window)[None, :]]
    x = np.eye(len(VOCAB), dtype=np.float32)[idx]
    return x, codes[starts + window].astype(np.int64), np.full(len(starts), window, dtype=np.int64)


def _weight_frac(model, bits: int, quantile: float) -> int:
    """Fraction bits of the 8-bit weight format: the ``quantile`` of |w| over both RNN matrices fits."""
    w = np.concatenate([p.detach().numpy().ravel() for n, p in model.rnn.named_parameters()
                        if n.startswith("weight_")])
    return frac_for(bits, float(np.quantile(np.abs(w), quantile)))


def train_text_lm(out_dir: Path = DATA_DIR, verbose: bool = True) -> dict:
    """Train on back-to-back windows of the training region with the loss at every step, then fine-tune
    with the RNN matrices fake-quantized to Q8.f (f: the ``weight_quantile`` of |w| fits; larger weights
    clamp), and keep the quantized weights: the stored float model is exactly the fixed-point weights."""
    import torch

    cfg = TEXT_CFG
    t0 = time.perf_counter()
    gen = _seed_everything()
    text, source = load_text()
    codes = encode_text(text)
    regions = text_regions(len(codes))
    window = cfg["window"]
    train_starts = region_windows(codes, regions["train"], window)
    cal_starts = region_windows(codes, regions["calibration"], window, cfg["eval_windows"],
                                unseen_in=(regions["train"],))
    test_starts = region_windows(codes, regions["test"], window, cfg["eval_windows"],
                                 unseen_in=(regions["train"], regions["calibration"]))
    v = len(VOCAB)

    seqs = torch.from_numpy(codes[train_starts[:, None] + np.arange(window + 1)[None, :]])
    model = _make_model(cfg, v, v)
    loss_fn = torch.nn.CrossEntropyLoss()

    def loss_of(b):
        s = seqs[b]
        x = torch.nn.functional.one_hot(s[:, :-1], v).float()
        return loss_fn(model.forward_all(x).reshape(-1, v), s[:, 1:].reshape(-1))

    _train_epochs(model, len(seqs), loss_of, cfg, gen, TEXT_LM, verbose, cfg["epochs"], cfg["lr"], report_every=1)
    x_test, y_test, len_test = one_hot_windows(codes, test_starts, window)
    x_cal, y_cal, len_cal = one_hot_windows(codes, cal_starts, window)
    x_train, y_train, len_train = one_hot_windows(codes, train_starts, window)
    model.eval()
    with torch.no_grad():
        float_cal = float(np.mean(model(torch.from_numpy(x_cal), torch.from_numpy(len_cal)).argmax(1).numpy()
                                  == y_cal))
    frac = _weight_frac(model, cfg["weight_bits"], cfg["weight_quantile"])
    quantizer = _WeightQuantizer(model, cfg["weight_bits"], frac)
    _train_epochs(model, len(seqs), loss_of, cfg, gen, f"{TEXT_LM} QAT Q{cfg['weight_bits']}.{frac}", verbose,
                  cfg["qat_epochs"], cfg["qat_lr"], quantizer, report_every=1)
    quantizer.quantize()  # keep the quantized weights
    net = network_from_checkpoint(model.state_dict())
    fixed_point = calibrate_formats(net, x_train, len_train)
    assert fixed_point.weight.frac >= frac, (fixed_point.weight, frac)
    unigram = int(np.argmax(np.bincount(codes[regions["train"][0]:regions["train"][1]], minlength=v)))
    meta = {
        "workload": TEXT_LM,
        "description": cfg["description"],
        **_evaluate(model, net, (x_train, y_train, len_train), (x_cal, y_cal, len_cal), (x_test, y_test, len_test)),
        "float_calibration_accuracy_before_quantization": float_cal,
        "unigram_test_accuracy": float(np.mean(y_test == unigram)),
        "unigram_symbol": VOCAB[unigram],
        "classes": list(VOCAB),
        "split": (f"disjoint contiguous regions of the encoded text ({len(codes)} symbols): train "
                  f"[{regions['train'][0]}, {regions['train'][1]}) as {len(train_starts)} back-to-back windows "
                  f"of {window + 1} symbols, loss at every step; calibration [{regions['calibration'][0]}, "
                  f"{regions['calibration'][1]}) and test [{regions['test'][0]}, {regions['test'][1]}): "
                  f"{cfg['eval_windows']} each of the back-to-back {window + 1}-symbol windows, evenly spaced among "
                  f"those whose {window} input symbols occur nowhere in the training region (test: nor in the "
                  f"calibration region), label the last symbol"),
        "text": source,
        "normalization": {"formula": "one-hot over the vocabulary (classes)", "encoding": encode_text.__doc__},
        "fixed_point": fixed_point.to_dict(),
        "training": _training_meta(cfg, time.perf_counter() - t0, window=window, qat_epochs=cfg["qat_epochs"],
                                   qat_lr=cfg["qat_lr"], weight_format=f"Q{cfg['weight_bits']}.{frac}",
                                   weight_quantile=cfg["weight_quantile"], loss="every step"),
    }
    net = dataclasses.replace(net, meta=meta)
    _write_workload(TEXT_LM, net, {"test": (x_test, y_test, len_test), "calibration": (x_cal, y_cal, len_cal)},
                    out_dir, verbose)
    return meta


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m golden_model.workloads.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", action="append", choices=[*CONFIGS, TEXT_LM],
                        help="workload to train (repeatable; default: all)")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help=f"output directory (default {DATA_DIR})")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        parser.error("training needs PyTorch, sktime and scikit-learn: pip install -e '.[train]'")
    torch.set_num_threads(args.threads)
    for name in args.workload or [*CONFIGS, TEXT_LM]:
        train_workload(name, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
