"""Calibration of a reuse policy's thresholds on held-out data, and its evaluation on other data
(docs/predictors.md, *Calibration*).

:func:`calibrate` chooses one threshold per layer on a calibration split only: first the largest threshold
shared by every layer whose estimated loss and every smaller one's stay within the budget, then, layer by
layer, raising one layer's threshold one grid step at a time while the estimated loss stays within the
budget, taking the raise that saves the most work first. When even the smallest threshold breaks the
budget the result is memo off (reuse 0). :func:`evaluate` measures a :class:`Calibration` on another split.

The **estimated loss** (:func:`estimated_loss`) is what a small calibration split can resolve: a split of
n sequences measures accuracy in steps of 100/n pp (1.85 pp for 54), coarser than a 1 pp budget, so the
observed loss is reported but the choice uses the chance that one sequence's memoization error (the drop
of its margin between the baseline's top class and the next) exceeds another correctly classified
sequence's margin, over all n^2 pairs.

Work saved is the **net saving**: (baseline MACs - MACs of the neurons computed - predictor cost) /
baseline MACs, the predictor cost counting each of its MACs as one and 64 XNOR-popcount bits as one (the
registered cost).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import intops, schemes
from .files import existing_file
from .fixed_model import FixedPointNetwork, RunStats
from .sequences import check_batch
from .sweep import DEFAULT_GRIDS, accuracy, check_labels

CALIBRATION_FORMAT = "fuzzymemo-calibration"
CALIBRATION_VERSION = 1
#: Rows (sequences x candidate threshold vectors) evaluated in one batch.
CHUNK_ROWS = 8192


@dataclass(frozen=True)
class Calibration:
    """A calibrated reuse policy: the predictor (or oracle) with its parameters and rule, one threshold per
    layer (None: memo off), and the figures measured on the calibration data."""
    predictor: str
    thresholds: tuple[float, ...] | None
    form: str = intops.RELATIVE
    rule: str = "auto"
    parameters: dict = field(default_factory=dict)
    cache_update: str = "compute"
    scheme: str = "memo"
    budget_pp: float = 1.0
    model_digest: str = ""
    measured: dict = field(default_factory=dict)

    @property
    def memo(self) -> bool:
        return self.thresholds is not None

    def policy(self):
        """The golden-model policy (memo off when nothing fitted the budget)."""
        from .memo import MemoPolicy
        if not self.memo:
            return MemoPolicy()
        return _policy(self.predictor, self.form, self.rule, self.parameters, self.cache_update,
                       tuple(self.thresholds))

    def as_dict(self) -> dict:
        out = {"format": CALIBRATION_FORMAT, "version": CALIBRATION_VERSION, **asdict(self), "memo": self.memo}
        out["thresholds"] = None if self.thresholds is None else list(self.thresholds)
        return out

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(self.as_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path) -> Calibration:
        path = existing_file(path, "calibration file")
        try:
            data = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path} is not a calibration file (JSON): {e}") from None
        if not isinstance(data, dict) or data.get("format") != CALIBRATION_FORMAT:
            raise ValueError(f"{path} is not a fuzzymemo calibration file (written by 'fuzzymemo calibrate')")
        if data.get("version") != CALIBRATION_VERSION:
            raise ValueError(f"{path} has calibration format version {data.get('version')}, this tool reads "
                             f"version {CALIBRATION_VERSION}")
        known = {f for f in cls.__dataclass_fields__}
        try:
            fields = {k: v for k, v in data.items() if k in known}
            if fields.get("thresholds") is not None:
                fields["thresholds"] = tuple(float(t) for t in fields["thresholds"])
            cal = cls(**fields)
            # names and parameters are checked even for a memo-off calibration, thresholds when given
            _policy(cal.predictor, cal.form, cal.rule, cal.parameters, cal.cache_update, cal.thresholds or 0.0)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: {e}") from None
        return cal

    def check_model(self, model: FixedPointNetwork, where: str = "the calibration") -> None:
        """A ValueError when the calibration was made for another model (or other formats)."""
        if self.model_digest and self.model_digest != model_digest(model):
            raise ValueError(f"{where} was calibrated for another model or other formats (digest "
                             f"{self.model_digest[:12]}, this model {model_digest(model)[:12]})")
        if self.memo and len(self.thresholds) != model.net.num_layers:
            raise ValueError(f"{where} has {len(self.thresholds)} per-layer thresholds for a "
                             f"{model.net.num_layers}-layer network")


def model_digest(model: FixedPointNetwork) -> str:
    """SHA-256 of the integer weights, biases and formats: what a calibration belongs to."""
    h = hashlib.sha256(str(model.config).encode())
    for layer in model.layers:
        for q in layer:
            for a in (q.w, q.bias_x, q.bias_h):
                h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    return h.hexdigest()


def _policy(predictor: str, form: str, rule: str, parameters: dict, cache_update: str, threshold=0.0):
    entry = schemes.get(predictor, ("predictor", "oracle"))
    update = cache_update if entry.kind == "predictor" else "compute"
    return schemes.get("memo", ("scheme",)).golden_policy(threshold, predictor=predictor, form=form, rule=rule,
                                                          cache_update=update, predictor_params=parameters)


def layer_costs(model: FixedPointNetwork, predictor: str, parameters: dict) -> np.ndarray:
    """(layers,) baseline MACs per neuron evaluation and (layers,) predictor MAC-equivalents per evaluation."""
    net, entry = model.net, schemes.get(predictor, ("predictor", "oracle"))
    inputs = np.array([net.layer_input_size(li) + net.hidden_size for li in range(net.num_layers)])
    neurons = len(net.gates) * net.hidden_size
    cost = np.array([entry.cost_at(int(n), model.config, neurons, parameters).mac_equivalent for n in inputs])
    return inputs.astype(np.float64), cost


def work_figures(stats: RunStats, rows: slice, inputs: np.ndarray, cost: np.ndarray) -> dict:
    """reuse (fraction of neuron evaluations skipped), net saving and MACs of the batch rows ``rows``."""
    ev = stats.evaluations[rows].sum(axis=(0, 2, 3)).astype(np.float64)   # per layer
    re = stats.reuses[rows].sum(axis=(0, 2, 3)).astype(np.float64)
    baseline = float((ev * inputs).sum())
    computed = float(((ev - re) * inputs).sum())
    predictor = float((ev * cost).sum())
    return {"reuse": float(re.sum() / ev.sum()) if ev.sum() else 0.0,
            "reuse_per_layer": [float(r / e) if e else 0.0 for r, e in zip(re, ev, strict=True)],
            "net_saving": (baseline - computed - predictor) / baseline if baseline else 0.0,
            "macs_baseline": baseline, "macs_computed": computed, "macs_predictor": predictor}


class Evaluator:
    """Runs one predictor over a labelled batch at many per-layer threshold vectors, stacked into batches."""

    def __init__(self, model: FixedPointNetwork, x, y, lengths, predictor: str, form: str, rule: str,
                 parameters: dict, cache_update: str = "compute"):
        net = model.net
        if net.head is None:
            raise ValueError("calibration needs a network with a readout head to measure the loss")
        x, self.lengths = check_batch(x, lengths, net.input_size)
        self.model, self.y = model, check_labels(y, x.shape[0], net.head.weight.shape[0])
        self.x_q = model.quantize_input(x)
        self.policy = _policy(predictor, form, rule, parameters, cache_update)
        self.form = form
        self.inputs, self.cost = layer_costs(model, predictor, parameters)
        base = model.run(self.x_q, self.lengths)
        self.base_logits = model.logits(base.out, self.lengths)
        self.fixed_metric = accuracy(self.base_logits, self.y)
        self.correct = self.base_logits.argmax(axis=1) == self.y

    def __call__(self, vectors: list[tuple[float, ...]]) -> list[dict]:
        """Figures (reuse, net_saving, metric, metric_loss, ...) at each per-layer threshold vector."""
        batch = self.x_q.shape[0]
        per_chunk = max(1, CHUNK_ROWS // batch)
        out = []
        for start in range(0, len(vectors), per_chunk):
            chunk = vectors[start:start + per_chunk]
            theta_q = np.array([[intops.quantize_threshold(t, self.form) for t in vec] for vec in chunk])
            theta_rows = np.repeat(theta_q.T, batch, axis=1)   # (layers, chunk * batch)
            run = self.model.run(np.tile(self.x_q, (len(chunk), 1, 1)), np.tile(self.lengths, len(chunk)),
                                 self.policy, theta_rows=theta_rows)
            logits = self.model.logits(run.out, run.lengths)
            for k, vec in enumerate(chunk):
                rows = slice(k * batch, (k + 1) * batch)
                metric = accuracy(logits[rows], self.y)
                out.append({"thresholds": list(vec), "metric": metric,
                            "metric_loss": (self.fixed_metric - metric) * 100.0, "fixed_metric": self.fixed_metric,
                            "estimated_loss": estimated_loss(self.base_logits, logits[rows], self.correct),
                            **work_figures(run.stats, rows, self.inputs, self.cost)})
        return out


def margins(logits: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Per sequence: the logit of class ``top`` less the largest other logit."""
    rows = np.arange(len(top))
    others = logits.astype(np.float64).copy()
    others[rows, top] = -np.inf
    return logits[rows, top] - others.max(axis=1)


def estimated_loss(base_logits: np.ndarray, logits: np.ndarray, correct: np.ndarray) -> float:
    """Estimated accuracy loss in pp of ``logits`` against the baseline's: the fraction of pairs (i, j) where
    sequence i's margin drop exceeds the margin of sequence j, j correctly classified by the baseline."""
    top = base_logits.argmax(axis=1)
    base = margins(base_logits, top)
    drop = base - margins(logits, top)
    hits = (drop[:, None] > base[None, :]) & correct[None, :]
    return float(hits.mean() * 100.0)


def _within(record: dict, budget_pp: float) -> bool:
    return record["estimated_loss"] <= budget_pp + 1e-9


def choose_thresholds(evaluate: Callable[[list], list[dict]], grid: list[float], layers: int,
                      budget_pp: float, say: Callable[[str], None]) -> tuple[tuple | None, dict | None]:
    """The per-layer threshold vector of the search in the module docstring and its figures."""
    shared = evaluate([(t,) * layers for t in grid])
    best_index, best = None, None
    for i, rec in enumerate(shared):
        if not _within(rec, budget_pp):
            break
        best_index, best = i, rec
    if best is None:
        return None, shared[0]
    say(f"shared threshold {grid[best_index]:g}: reuse {best['reuse']:.1%}, estimated loss "
        f"{best['estimated_loss']:.2f} pp (observed {best['metric_loss']:.2f} pp)")
    index = [best_index] * layers
    while layers > 1:
        moves = [li for li in range(layers) if index[li] + 1 < len(grid)]
        if not moves:
            break
        vectors = [tuple(grid[index[j] + (j == li)] for j in range(layers)) for li in moves]
        tried = [(rec, li) for rec, li in zip(evaluate(vectors), moves, strict=True) if _within(rec, budget_pp)]
        if not tried:
            break
        rec, li = max(tried, key=lambda pair: pair[0]["net_saving"])
        if rec["net_saving"] <= best["net_saving"]:
            break
        index[li] += 1
        best = rec
        say(f"layer {li} threshold {grid[index[li]]:g}: net saving {rec['net_saving']:.1%}, "
            f"estimated loss {rec['estimated_loss']:.2f} pp")
    return tuple(grid[i] for i in index), best


#: ``form="auto"``: both threshold forms are calibrated and the one saving more on the calibration data wins.
AUTO_FORM = "auto"


def calibrate(model: FixedPointNetwork, x, y, lengths=None, predictor: str = "bnn", *, budget_pp: float = 1.0,
              form: str = AUTO_FORM, rule: str = "auto", parameters: dict | None = None,
              cache_update: str = "compute", grid=None, progress: Callable[[str], None] | None = None
              ) -> Calibration:
    """Per-layer thresholds of ``predictor`` within ``budget_pp`` on the (calibration) data x, y, in the
    threshold ``form`` (``auto``: both forms, the higher net saving; ``grid`` then must be None: each
    form's default grid)."""
    if not np.isfinite(budget_pp) or budget_pp < 0:
        raise ValueError(f"the loss budget must be a finite number >= 0 percentage points, not {budget_pp}")
    if form == AUTO_FORM:
        if grid is not None:
            raise ValueError("a threshold grid belongs to one form: give --form relative or absolute with it")
        found = [calibrate(model, x, y, lengths, predictor, budget_pp=budget_pp, form=f, rule=rule,
                           parameters=parameters, cache_update=cache_update, progress=progress)
                 for f in intops.THRESHOLD_FORMS]
        return max(found, key=lambda c: c.measured["net_saving"])
    parameters = schemes.get(predictor, ("predictor", "oracle")).resolve(parameters)
    grid = sorted(float(t) for t in (DEFAULT_GRIDS[form] if grid is None else grid))
    if not grid:
        raise ValueError("no thresholds to calibrate over")
    say = progress or (lambda message: None)
    evaluator = Evaluator(model, x, y, lengths, predictor, form, rule, parameters, cache_update)
    thresholds, figures = choose_thresholds(evaluator, grid, model.net.num_layers, budget_pp,
                                            lambda message: say(f"{form}: {message}"))
    if thresholds is None:
        figures = {"reuse": 0.0, "net_saving": 0.0, "metric_loss": 0.0, "estimated_loss": 0.0,
                   "metric": evaluator.fixed_metric, "smallest_threshold_loss_pp": figures["estimated_loss"]}
    measured = {"sequences": int(evaluator.x_q.shape[0]), **figures}
    return Calibration(predictor, thresholds, form, rule, parameters, cache_update, "memo", float(budget_pp),
                       model_digest(model), measured)


def evaluate(model: FixedPointNetwork, x, y, lengths, calibration: Calibration) -> dict:
    """The calibrated policy on (test) data: reuse, net_saving, metric, metric_loss and the rest."""
    calibration.check_model(model)
    evaluator = Evaluator(model, x, y, lengths, calibration.predictor, calibration.form, calibration.rule,
                          calibration.parameters, calibration.cache_update)
    sequences = int(evaluator.x_q.shape[0])
    if not calibration.memo:   # memo off: the un-memoized baseline the evaluator has already run
        return {"reuse": 0.0, "net_saving": 0.0, "metric": evaluator.fixed_metric, "metric_loss": 0.0,
                "estimated_loss": 0.0, "fixed_metric": evaluator.fixed_metric, "thresholds": None,
                "sequences": sequences}
    return {**evaluator([tuple(calibration.thresholds)])[0], "sequences": sequences}
