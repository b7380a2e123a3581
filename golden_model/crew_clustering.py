"""Weight clustering for CREW (docs/crew.md): fewer unique weights per input, at a calibrated accuracy cost.

Per input column of every layer direction's integer W, the distinct quantized weights are reduced to at
most K values by a deterministic 1-D k-means in the integer domain: the column's histogram (each distinct
value weighted by how many neurons hold it) starts from K weighted-quantile centres (existing values) and
runs Lloyd iterations (nearest centre, a tie going to the lower one; each centre the half-up rounded
weighted mean of its values) until the centres stop moving. Centres are integers in the weight format,
so the clustered network is an ordinary fixed-point network with the same formats. A column with at
most K distinct values is unchanged; the clustering is no longer exact.

K is chosen honestly (:func:`calibrate_clusters`): on a calibration split, the smallest K whose accuracy
loss against the unclustered fixed-point model stays within a budget (percentage points); its loss on
the test split is then measured, never used to choose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fixed_model import FixedPointNetwork
from .network import DirectionWeights, Network
from .reuse_calibration import estimated_loss

__all__ = ["CANDIDATE_CLUSTERS", "ClusterChoice", "accuracy", "calibrate_clusters", "cluster_column",
           "cluster_columns", "clustered_network"]

#: The K scanned by :func:`calibrate_clusters` before it refines between the last failing and the first
#: passing one.
CANDIDATE_CLUSTERS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
_MAX_ITERATIONS = 100


def _round_half_up(values: np.ndarray) -> np.ndarray:
    return np.floor(values + 0.5).astype(np.int64)


def cluster_column(column: np.ndarray, k: int) -> np.ndarray:
    """``column`` (integers) with its distinct values reduced to at most ``k`` integer centres."""
    if k < 1:
        raise ValueError(f"the number of clusters must be at least 1, not {k}")
    values, inverse, weights = np.unique(column, return_inverse=True, return_counts=True)
    if len(values) <= k:
        return np.asarray(column, dtype=np.int64).copy()
    cumulative = np.cumsum(weights)
    targets = (np.arange(k) + 0.5) / k * cumulative[-1]
    centres = np.unique(values[np.searchsorted(cumulative, targets, side="left")])
    for _ in range(_MAX_ITERATIONS):
        assign = np.searchsorted((centres[:-1] + centres[1:]) / 2, values, side="left")
        mass = np.bincount(assign, weights=weights, minlength=len(centres))
        sums = np.bincount(assign, weights=weights * values, minlength=len(centres))
        kept = mass > 0
        new = np.unique(_round_half_up(sums[kept] / mass[kept]))
        if np.array_equal(new, centres):
            break
        centres = new
    assign = np.searchsorted((centres[:-1] + centres[1:]) / 2, values, side="left")
    return centres[assign][inverse.reshape(-1)].astype(np.int64)


def cluster_columns(w: np.ndarray, k: int) -> np.ndarray:
    """The integer matrix ``w`` (neurons, inputs) with every column clustered to at most ``k`` values."""
    w = np.asarray(w)
    if w.ndim != 2 or not np.issubdtype(w.dtype, np.integer):
        raise ValueError(f"cluster_columns takes an integer matrix (neurons, inputs), not {w.dtype} of shape "
                         f"{w.shape}")
    return np.stack([cluster_column(w[:, i], k) for i in range(w.shape[1])], axis=1) if w.shape[1] else w.copy()


def clustered_network(model: FixedPointNetwork, k: int) -> FixedPointNetwork:
    """``model`` with every layer direction's W = [W_ih | W_hh] clustered per input to at most ``k`` values:
    a new Network whose weights are the integer centres in the weight format (so they quantize back to
    exactly those integers), the same biases, readout and formats."""
    scale = model.config.weight.scale
    layers = []
    for li, layer in enumerate(model.layers):
        dirs = []
        for d, q in enumerate(layer):
            w = cluster_columns(q.w, k) / scale
            n_x = q.input_size
            orig = model.net.layers[li][d]
            dirs.append(DirectionWeights(w[:, :n_x], w[:, n_x:], orig.b_ih, orig.b_hh))
        layers.append(tuple(dirs))
    net = model.net
    meta = dict(net.meta, crew_clusters=int(k))
    return FixedPointNetwork(Network(net.cell, net.input_size, net.hidden_size, tuple(layers), net.head, meta),
                             model.config)


def accuracy(model: FixedPointNetwork, x, y, lengths) -> float:
    """Fixed-point classification accuracy of ``model`` on a labelled batch."""
    return float(np.mean(_logits(model, x, lengths).argmax(axis=1) == np.asarray(y)))


@dataclass(frozen=True)
class ClusterChoice:
    """The K chosen on the calibration split, and every K tried there (K -> loss in pp)."""
    k: int
    budget_pp: float
    calibration_accuracy: float       # unclustered fixed-point model
    calibration_loss_pp: float        # of K against it
    tried: dict


def _logits(model: FixedPointNetwork, x, lengths) -> np.ndarray:
    if model.net.head is None:
        raise ValueError("clustering is calibrated on accuracy, which needs a readout head; the model has none")
    run = model.run(x, lengths)
    return model.logits(run.out, run.lengths)


def calibrate_clusters(model: FixedPointNetwork, x, y, lengths, budget_pp: float = 1.0,
                       candidates=CANDIDATE_CLUSTERS) -> ClusterChoice:
    """The smallest K whose accuracy loss on the calibration batch (x, y, lengths) against the unclustered
    ``model`` is within ``budget_pp`` percentage points, the loss being the larger of the observed one and
    the margin estimate of ``golden_model.reuse_calibration.estimated_loss`` (a small calibration split
    observes losses in coarse steps, so the observed loss alone chose K that lost 1.3-2.8 pp on the test
    splits): the ``candidates`` are scanned in increasing order up to the first that passes, then every K
    between the last failing candidate and it is tried in increasing order. K = the most unique weights of
    any input reproduces ``model`` (loss 0), so a K is always found."""
    if budget_pp < 0 or not np.isfinite(budget_pp):
        raise ValueError(f"the loss budget must be a finite number >= 0 pp, not {budget_pp}")
    y = np.asarray(y)
    base_logits = _logits(model, x, lengths)
    correct = base_logits.argmax(axis=1) == y
    base = float(correct.mean())
    widest = max(int(len(np.unique(q.w[:, i]))) for layer in model.layers for q in layer for i in range(q.w.shape[1]))
    tried: dict[int, float] = {}

    def loss(k: int) -> float:
        if k not in tried:
            if k >= widest:
                tried[k] = 0.0
            else:
                logits = _logits(clustered_network(model, k), x, lengths)
                observed = 100 * (base - float(np.mean(logits.argmax(axis=1) == y)))
                tried[k] = max(observed, estimated_loss(base_logits, logits, correct))
        return tried[k]

    grid = sorted({int(c) for c in candidates if 1 <= c < widest} | {widest})
    previous = 0
    for k in grid:
        if loss(k) <= budget_pp:
            chosen = next((j for j in range(previous + 1, k) if loss(j) <= budget_pp), k)
            return ClusterChoice(chosen, float(budget_pp), base, tried[chosen], dict(sorted(tried.items())))
        previous = k
    raise AssertionError("unreachable: the widest K reproduces the model")
