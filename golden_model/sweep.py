"""Threshold sweeps: reuse and accuracy of the memoization policies against the threshold
(the paper's Figure 1), and the choice of a threshold within a loss budget.

All thresholds of one policy run in a single batch: the batch is repeated once per threshold and
every row carries its own threshold register value, so the time loop runs once per chunk."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from . import intops
from .fixed_model import FixedPointNetwork, RunStats
from .memo import ORACLE, MemoPolicy
from .sequences import check_batch

#: What a sweep compares unless told otherwise: the upper bound and the paper's predictor.
SWEPT = (ORACLE, "bnn")
DEFAULT_THRESHOLDS = tuple(np.round(np.linspace(0.0, 0.75, 16), 4))
#: The default grid of each threshold form: relative fractions, or absolute counts of the compared quantity
#: (BNN output units for ``bnn``, output LSBs for ``oracle``).
DEFAULT_GRIDS = {intops.RELATIVE: DEFAULT_THRESHOLDS, intops.ABSOLUTE: tuple(float(t) for t in range(0, 32, 2))}
#: The grids a calibration searches: the sweeps' and, absolute, on up to 256 in wider steps. An absolute
#: threshold counts LSBs of the compared quantity, whose scale is the model's (30 output LSBs are 0.117 at
#: Q12.8 and 0.029 at Q12.10; a BNN score spans +-N), so a model whose budget allows more is not capped at 30.
CALIBRATION_GRIDS = {intops.RELATIVE: DEFAULT_THRESHOLDS,
                     intops.ABSOLUTE: DEFAULT_GRIDS[intops.ABSOLUTE] + tuple(
                         float(t) for t in (36, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256))}
#: Rows (sequences x thresholds) run at once; bounds memory on long workloads.
CHUNK_ROWS = 8192
#: Rows of a block of :func:`run_blocks`: a block's (rows x 1024)-neuron arrays then stay within a few MB,
#: near a core's cache (paper-scale sweep of 100 sequences on 2 threads: 200 or 400 rows 32 s, 800 or 1600
#: rows 37-38 s).
BLOCK_ROWS = 400


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray
    y: np.ndarray
    lengths: np.ndarray


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == y))


def check_labels(y, batch: int, classes: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (batch,):
        raise ValueError(f"labels have shape {y.shape}, expected ({batch},)")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"labels must be integers, not {y.dtype}")
    if np.any((y < 0) | (y >= classes)):
        raise ValueError(f"labels must be in 0..{classes - 1} (the readout's classes)")
    return y.astype(np.int64)


def _named_policies(policies, form: str, cache_update: str) -> list[tuple[str, MemoPolicy]]:
    """(record name, policy) pairs: a registered predictor or oracle name stands for its default policy
    (golden_model.schemes); ``cache_update`` applies to predictors (an oracle caches computed outputs)."""
    from . import schemes  # the registry imports this package's modules

    out = []
    for p in policies:
        if isinstance(p, str):
            update = cache_update if schemes.get(p, ("predictor", "oracle")).kind == "predictor" else "compute"
            out.append((p, schemes.get("memo").golden_policy(0.0, predictor=p, form=form, cache_update=update)))
        else:
            name, policy = p
            if policy.form != form:
                raise ValueError(f"policy {name!r} has the {policy.form} form, the sweep the {form} one")
            out.append((name, policy))
    return out


def run_blocks(model: FixedPointNetwork, x_q, lengths, policy: MemoPolicy, theta_rows, workers: int,
               correlation: bool = False) -> tuple[np.ndarray, RunStats]:
    """(logits, statistics) of ``model.run`` over a stacked batch, run in row blocks (at least ``workers``,
    at most BLOCK_ROWS rows each) on ``workers`` threads and joined in order: the rows are independent, and
    numpy's array passes and BLAS release the GIL, so the element-wise passes use every core too (one BLAS
    thread each: more would compete for the same cores). One worker runs the blocks in turn (BLAS keeps
    its threads). Only the logits are kept of each block's outputs."""
    def block(rows):
        run = model.run(x_q[rows], lengths[rows], policy, theta_rows=theta_rows[:, rows], correlation=correlation)
        return model.logits(run.out, run.lengths), run.stats

    count = max(workers, -(-x_q.shape[0] // BLOCK_ROWS))
    blocks = [slice(b[0], b[-1] + 1) for b in np.array_split(np.arange(x_q.shape[0]), count) if b.size]
    if len(blocks) == 1:
        return block(blocks[0])
    if workers == 1:
        parts = [block(rows) for rows in blocks]
    else:
        with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(block, blocks))
    return np.concatenate([logits for logits, _ in parts]), RunStats.concatenate([stats for _, stats in parts])


def sweep(model: FixedPointNetwork, x, y, lengths=None, policies=SWEPT,
          thresholds=DEFAULT_THRESHOLDS, form: str = intops.RELATIVE, cache_update: str = "compute",
          progress: Callable[[str], None] | None = None, workers: int = 1) -> list[dict]:
    """Records of reuse and metric per (policy, threshold); see docs/memoization.md for the keys.

    ``policies`` are registered predictor or oracle names (``golden_model.schemes``) or (name, MemoPolicy)
    pairs; a record's ``policy`` is that name. Each policy's own threshold is
    replaced by every swept one. ``workers`` threads share each policy's rows (:func:`run_blocks`); the
    records do not depend on it."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, not {workers!r}")
    net = model.net
    if net.head is None:
        raise ValueError("a sweep needs a network with a readout head to measure accuracy")
    x, lengths = check_batch(x, lengths, net.input_size)
    y = check_labels(y, x.shape[0], net.head.weight.shape[0])
    thresholds = [float(t) for t in thresholds]
    if not thresholds:
        raise ValueError("no thresholds to sweep")
    for t in thresholds:
        intops.quantize_threshold(t, form)
    say = progress or (lambda message: None)
    float_metric = float(np.mean(net.predict(x, lengths) == y))
    x_q = model.quantize_input(x)
    off = MemoPolicy()
    base_logits, base_stats = run_blocks(model, x_q, lengths, off, np.zeros((net.num_layers, x.shape[0]), np.int64),
                                         workers, correlation=True)
    fixed_metric = accuracy(base_logits, y)
    correlation = base_stats.correlation()
    say(f"float accuracy {float_metric:.4f}, fixed-point {fixed_metric:.4f}")
    batch = x.shape[0]
    per_chunk = max(1, CHUNK_ROWS // batch)
    records = []
    for name, policy in _named_policies(policies, form, cache_update):
        for start in range(0, len(thresholds), per_chunk):
            chunk = thresholds[start:start + per_chunk]
            theta_q = np.array([intops.quantize_threshold(t, form) for t in chunk])
            rows = np.repeat(theta_q, batch)
            logits, stats = run_blocks(model, np.tile(x_q, (len(chunk), 1, 1)), np.tile(lengths, len(chunk)),
                                       policy, np.repeat(rows[None, :], net.num_layers, axis=0), workers)
            for k, theta in enumerate(chunk):
                part = slice(k * batch, (k + 1) * batch)
                records.append(_record(name, theta, form, stats, part, logits[part], y, float_metric,
                                       fixed_metric, correlation, net.gates))
            say(f"{name}: thresholds {chunk[0]:g}..{chunk[-1]:g} done")
    return records


def _record(name, theta, form, stats, part, logits, y, float_metric, fixed_metric, correlation, gates):
    ev, re = stats.evaluations[part].sum(axis=0), stats.reuses[part].sum(axis=0)  # (layers, dirs, gates)
    metric = accuracy(logits, y)
    return {
        "policy": name, "threshold": theta, "form": form,
        "reuse": float(re.sum() / ev.sum()),
        "reuse_per_layer": [float(r) for r in re.sum(axis=(1, 2)) / ev.sum(axis=(1, 2))],
        "reuse_per_gate": {g: float(re[..., i].sum() / ev[..., i].sum()) for i, g in enumerate(gates)},
        "metric": metric, "metric_loss": (fixed_metric - metric) * 100.0,
        "fixed_metric": fixed_metric, "float_metric": float_metric,
        "bnn_correlation": {g: [float(c) for c in correlation[:, i]] for i, g in enumerate(gates)},
    }


def pick_threshold(records: list[dict], policy: str, budget_pp: float = 1.0) -> dict | None:
    """The record of the largest threshold such that it and every smaller swept threshold lose at most
    ``budget_pp`` percentage points (conservative where the loss is not monotonic). None if even the
    smallest exceeds the budget."""
    if budget_pp < 0:
        raise ValueError(f"the loss budget must be >= 0 percentage points, not {budget_pp}")
    chosen = None
    for rec in sorted((r for r in records if r["policy"] == policy), key=lambda r: r["threshold"]):
        if rec["metric_loss"] > budget_pp + 1e-9:
            break
        chosen = rec
    return chosen
