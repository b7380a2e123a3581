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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from . import intops, schemes
from .delta import DELTA, SIMILARITY, DeltaPolicy, SimilarityPolicy, check_levels, check_theta, input_counts
from .files import existing_file, versioned_json
from .fixed_model import FixedPointNetwork, RunStats
from .formats import DELTA_THETA_BITS, DELTA_THETA_MAX
from .sequences import check_batch
from .sweep import CALIBRATION_GRIDS, accuracy, check_labels, run_blocks

#: The schemes whose reuse is by inputs (golden_model.delta), calibrated by their own search (below).
INPUT_SCHEMES = (DELTA, SIMILARITY)
#: Threshold granularities of :func:`calibrate`: one per layer, or per gate where that saves more.
LAYER_GRANULARITY, GATE_GRANULARITY = "layer", "gate"
GRANULARITIES = (LAYER_GRANULARITY, GATE_GRANULARITY)
#: The default granularity (every memoizing tile takes one threshold per gate: docs/predictors.md)
DEFAULT_GRANULARITY = GATE_GRANULARITY
#: The ``form`` a similarity calibration records: its thresholds are level counts.
LEVELS_FORM = "levels"
CALIBRATION_FORMAT = "fuzzymemo-calibration"
CALIBRATION_VERSION = 1
#: Rows (sequences x candidate threshold vectors) evaluated in one batch.
CHUNK_ROWS = 8192


@dataclass(frozen=True)
class Calibration:
    """A calibrated reuse policy: the predictor (or oracle) with its parameters and rule, one threshold per
    layer, or for a layer a tuple of one per gate (None: memo off), and the figures measured on the
    calibration data."""
    predictor: str
    thresholds: tuple[float | tuple[float, ...], ...] | None
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
        """True when the calibration reuses anything (memo off, or the baseline, when nothing fitted)."""
        return self.thresholds is not None

    def policy(self):
        """The golden-model policy (memo off when nothing fitted the budget)."""
        from .memo import MemoPolicy
        if not self.memo:
            return MemoPolicy()
        if self.scheme in INPUT_SCHEMES:
            return _scheme_policy(self.scheme, self.thresholds, self.parameters)
        return _policy(self.predictor, self.form, self.rule, self.parameters, self.cache_update,
                       tuple(self.thresholds))

    def as_dict(self) -> dict:
        out = {"format": CALIBRATION_FORMAT, "version": CALIBRATION_VERSION, **asdict(self), "memo": self.memo}
        out["thresholds"] = None if self.thresholds is None else [list(t) if isinstance(t, tuple) else t
                                                                  for t in self.thresholds]
        return out

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(self.as_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path) -> Calibration:
        path = existing_file(path, "calibration file")
        data = versioned_json(path, "fuzzymemo calibration file", CALIBRATION_FORMAT, CALIBRATION_VERSION,
                              hint="write one with 'fuzzymemo calibrate'")
        known = {f for f in cls.__dataclass_fields__}
        try:
            fields = {k: v for k, v in data.items() if k in known}
            if fields.get("thresholds") is not None:
                fields["thresholds"] = tuple(tuple(float(g) for g in t) if isinstance(t, list) else float(t)
                                             for t in fields["thresholds"])
            cal = cls(**fields)
            # names and parameters are checked even for a memo-off calibration, thresholds when given
            if cal.scheme in INPUT_SCHEMES:
                if cal.memo:
                    _scheme_policy(cal.scheme, cal.thresholds, cal.parameters)
            elif cal.scheme != "memo":
                raise ValueError(f"unknown calibrated scheme {cal.scheme!r}; expected memo or one of "
                                 f"{', '.join(INPUT_SCHEMES)}")
            else:
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
        gates = len(model.net.gates)
        for li, entry in enumerate(self.thresholds if self.memo else ()):
            if isinstance(entry, tuple) and len(entry) != gates:
                raise ValueError(f"{where} has {len(entry)} per-gate thresholds for layer {li}, whose cell has "
                                 f"{gates} gates")


def format_thresholds(thresholds) -> str:
    """Per-layer thresholds for a message: ``6, 8``, a per-gate layer as ``10/10/6/6``."""
    return ", ".join("/".join(f"{g:g}" for g in t) if isinstance(t, (tuple, list)) else f"{t:g}" for t in thresholds)


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


class StackedEvaluator:
    """Runs a reuse policy over a labelled batch at many parameter vectors, stacked into batches: the
    baseline's logits and margins once, then per vector the loss figures and the subclass's work figures."""

    def __init__(self, model: FixedPointNetwork, x, y, lengths):
        net = model.net
        if net.head is None:
            raise ValueError("calibration needs a network with a readout head to measure the loss")
        x, self.lengths = check_batch(x, lengths, net.input_size)
        self.model, self.y = model, check_labels(y, x.shape[0], net.head.weight.shape[0])
        self.x_q = model.quantize_input(x)
        self.base = model.run(self.x_q, self.lengths)
        self.base_logits = model.logits(self.base.out, self.lengths)
        self.fixed_metric = accuracy(self.base_logits, self.y)
        self.correct = self.base_logits.argmax(axis=1) == self.y

    def run_rows(self, chunk: list[tuple], batch: int) -> tuple[np.ndarray, RunStats]:
        """(logits, statistics) of the batch repeated once per vector of ``chunk`` (row block k has vector k)."""
        raise NotImplementedError

    def work(self, stats: RunStats, rows: slice, vector: tuple) -> dict:
        """The work figures (reuse, net_saving, ...) of the batch rows ``rows``, run at ``vector``."""
        raise NotImplementedError

    def __call__(self, vectors: list[tuple[float, ...]]) -> list[dict]:
        """Figures (reuse, net_saving, metric, metric_loss, ...) at each parameter vector."""
        batch = self.x_q.shape[0]
        per_chunk = max(1, CHUNK_ROWS // batch)
        out = []
        for start in range(0, len(vectors), per_chunk):
            chunk = vectors[start:start + per_chunk]
            logits, stats = self.run_rows(chunk, batch)
            for k, vec in enumerate(chunk):
                rows = slice(k * batch, (k + 1) * batch)
                metric = accuracy(logits[rows], self.y)
                out.append({"thresholds": list(vec), "metric": metric,
                            "metric_loss": (self.fixed_metric - metric) * 100.0, "fixed_metric": self.fixed_metric,
                            "estimated_loss": estimated_loss(self.base_logits, logits[rows], self.correct),
                            **self.work(stats, rows, vec)})
        return out

    def one_block(self, copies: int, policy) -> tuple[np.ndarray, RunStats]:
        """(logits, statistics) of the batch repeated ``copies`` times under ``policy``, as one block
        (:func:`~golden_model.sweep.run_blocks` splits the threshold rows of a MemoPolicy only)."""
        run = self.model.run(*self.tiled(copies), policy)
        return self.model.logits(run.out, run.lengths), run.stats

    def tiled(self, copies: int):
        return np.tile(self.x_q, (copies, 1, 1)), np.tile(self.lengths, copies)


class Evaluator(StackedEvaluator):
    """Runs one predictor over a labelled batch at many per-layer threshold vectors, stacked into batches."""

    def __init__(self, model: FixedPointNetwork, x, y, lengths, predictor: str, form: str, rule: str,
                 parameters: dict, cache_update: str = "compute"):
        if model.net.head is None:
            raise ValueError("calibration needs a network with a readout head to measure the loss")
        self.policy = _policy(predictor, form, rule, parameters, cache_update)
        self.form = form
        self.inputs, self.cost = layer_costs(model, predictor, parameters)
        super().__init__(model, x, y, lengths)

    def run_rows(self, chunk, batch):
        # a vector has one entry per layer, each a threshold or (per gate) a tuple of them
        if any(isinstance(t, tuple) for vec in chunk for t in vec):
            gates = len(self.model.net.gates)
            chunk = [tuple(t if isinstance(t, tuple) else (t,) * gates for t in vec) for vec in chunk]
        theta_q = np.vectorize(lambda t: intops.quantize_threshold(t, self.form), otypes=[np.int64])(
            np.array(chunk, dtype=np.float64))
        theta_rows = np.repeat(np.moveaxis(theta_q, 0, 1), batch, axis=1)   # (layers, chunk * batch[, gates])
        return run_blocks(self.model, *self.tiled(len(chunk)), self.policy, theta_rows, workers=1)

    def work(self, stats, rows, vector):
        return work_figures(stats, rows, self.inputs, self.cost)


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


def within_observed_too(record: dict, budget_pp: float) -> bool:
    """The input schemes' test: both the estimated and the observed loss within the budget (their errors
    gather on the sequences of small margin, where the pair estimate is optimistic)."""
    return _within(record, budget_pp) and record["metric_loss"] <= budget_pp + 1e-9


def choose_thresholds(evaluate: Callable[[list], list[dict]], grid: list[float], layers: int,
                      budget_pp: float, say: Callable[[str], None], label: Callable[[int], str] | None = None,
                      within: Callable[[dict, float], bool] = _within) -> tuple[tuple | None, dict | None]:
    """The per-layer threshold vector of the search in the module docstring and its figures. ``layers`` is
    the vector's length (a scheme with two thresholds per layer searches both); ``label`` names an entry;
    ``within`` is the budget test of a record (default: the estimated loss)."""
    label = label or (lambda li: f"layer {li}")
    shared = evaluate([(t,) * layers for t in grid])
    best_index, best = None, None
    for i, rec in enumerate(shared):
        if not within(rec, budget_pp):
            break
        best_index, best = i, rec
    if best is None:
        return None, shared[0]
    say(f"shared threshold {grid[best_index]:g}: reuse {best['reuse']:.1%}, estimated loss "
        f"{best['estimated_loss']:.2f} pp (observed {best['metric_loss']:.2f} pp)")
    index = [best_index] * layers
    if layers > 1:
        index, best = raise_greedily(evaluate, grid, index, lambda ix: tuple(grid[i] for i in ix), best,
                                     lambda rec: within(rec, budget_pp), say, label)
    return tuple(grid[i] for i in index), best


def raise_greedily(evaluate: Callable[[list], list[dict]], grid: list[float], index: list[int],
                   vector: Callable[[list[int]], tuple], best: dict, fits: Callable[[dict], bool],
                   say: Callable[[str], None], label: Callable[[int], str]) -> tuple[list[int], dict]:
    """Raise one entry of ``index`` (grid positions; ``vector`` makes the evaluated vector of them) by one
    grid step at a time while the record ``fits``, taking first the raise that increases the net saving
    most; stop when no raise fits or helps. Returns the final index and its record."""
    index = list(index)
    while True:
        moves = [k for k in range(len(index)) if index[k] + 1 < len(grid)]
        if not moves:
            break
        candidates = [[i + (j == k) for j, i in enumerate(index)] for k in moves]
        tried = [(rec, k) for rec, k in zip(evaluate([vector(c) for c in candidates]), moves, strict=True)
                 if fits(rec)]
        if not tried:
            break
        rec, k = max(tried, key=lambda pair: pair[0]["net_saving"])
        if rec["net_saving"] <= best["net_saving"]:
            break
        index[k] += 1
        best = rec
        say(f"{label(k)} threshold {grid[index[k]]:g}: net saving {rec['net_saving']:.1%}, "
            f"estimated loss {rec['estimated_loss']:.2f} pp")
    return index, best


def refine_per_gate(evaluate: Callable[[list], list[dict]], grid: list[float], thresholds: tuple[float, ...],
                    best: dict, gates: int, fits: Callable[[dict], bool], say: Callable[[str], None],
                    gate_names=None) -> tuple[tuple, dict]:
    """From per-layer ``thresholds`` (grid values), raise single gates' thresholds by :func:`raise_greedily`.
    Returns per-layer thresholds again when every layer's gates end equal, else one tuple of ``gates``
    thresholds per layer (docs/predictors.md, *Calibration*)."""
    layers = len(thresholds)
    names = gate_names or [str(g) for g in range(gates)]
    start = [grid.index(t) for t in thresholds for _ in range(gates)]

    def vector(ix):
        return tuple(tuple(grid[ix[li * gates + g]] for g in range(gates)) for li in range(layers))

    index, best = raise_greedily(evaluate, grid, start, vector, best, fits, say,
                                 lambda k: f"layer {k // gates} gate {names[k % gates]}")
    per_gate = vector(index)
    if all(len(set(row)) == 1 for row in per_gate):
        return tuple(row[0] for row in per_gate), best
    return per_gate, best


#: The most start views :func:`resolving_views` asks for (a budget of 0 pp asks for infinitely many).
MAX_VIEWS = 16


def resolving_views(sequences: int, budget_pp: float) -> int:
    """The input schemes' default number of start views: the fewest that give at least 100 / budget view
    sequences, so that one misclassified view costs no more than the budget and the observed loss can check
    the choice (at most :data:`MAX_VIEWS`). More views than that only add short suffixes, unlike any test
    sequence, whose small margins cost reuse (docs/delta.md, *Calibration*)."""
    if sequences < 1:
        raise ValueError("calibration needs at least one sequence")
    if budget_pp <= 0:
        return MAX_VIEWS
    return int(min(MAX_VIEWS, max(1, np.ceil(100.0 / (budget_pp * sequences) - 1e-9))))


def start_views(x, y, lengths, views: int):
    """Each sequence started at ``views`` offsets 0, L/views, 2L/views, ... of its length L (suffixes of at
    least 2 steps, zero padded, same label). Every reuse memory (the memo tables, the delta and similarity
    references) is cleared at a sequence's start and refilled by its first steps, so a scheme's error
    depends on where a sequence starts: the views let a small calibration split show it (docs/delta.md,
    *Calibration*; docs/predictors.md, *Calibration*)."""
    if views < 1:
        raise ValueError(f"views must be at least 1, not {views}")
    x, lengths = check_batch(x, lengths, None)
    y = np.asarray(y)
    xs, ys, ls = [], [], []
    for k in range(views):
        for i, n in enumerate(lengths):
            offset = (int(n) * k) // views
            if k and n - offset < 2:
                continue
            v = np.zeros_like(x[i])
            v[:n - offset] = x[i, offset:n]
            xs.append(v)
            ys.append(y[i])
            ls.append(n - offset)
    return np.stack(xs), np.array(ys), np.array(ls, dtype=np.int64)


#: ``form="auto"``: both threshold forms are calibrated and the one saving more on the calibration data wins.
AUTO_FORM = "auto"


def calibrate(model: FixedPointNetwork, x, y, lengths=None, predictor: str = "bnn", *, budget_pp: float = 1.0,
              form: str = AUTO_FORM, rule: str = "auto", parameters: dict | None = None,
              cache_update: str = "compute", grid=None, views: int = 1, granularity: str = DEFAULT_GRANULARITY,
              progress: Callable[[str], None] | None = None) -> Calibration:
    """Thresholds of ``predictor`` within ``budget_pp`` on the ``views`` start views of the (calibration)
    data x, y, in the threshold ``form`` (``auto``: both forms, the higher net saving; ``grid`` then must be
    None: each form's default grid): one per layer, then with ``granularity`` "gate" single gates raised
    where that saves more (:func:`refine_per_gate`). With one view (the sequences as given) the estimated
    loss must be within the budget; with more, the observed loss too (:func:`within_observed_too`): the
    views are there to make the observed loss fine enough to count, as for the input schemes."""
    if not np.isfinite(budget_pp) or budget_pp < 0:
        raise ValueError(f"the loss budget must be a finite number >= 0 percentage points, not {budget_pp}")
    if granularity not in GRANULARITIES:
        raise ValueError(f"unknown threshold granularity {granularity!r}; expected one of {GRANULARITIES}")
    if form == AUTO_FORM:
        if grid is not None:
            raise ValueError("a threshold grid belongs to one form: give --form relative or absolute with it")
        found = [calibrate(model, x, y, lengths, predictor, budget_pp=budget_pp, form=f, rule=rule,
                           parameters=parameters, cache_update=cache_update, views=views, granularity=granularity,
                           progress=progress)
                 for f in intops.THRESHOLD_FORMS]
        return max(found, key=lambda c: c.measured["net_saving"])
    parameters = schemes.get(predictor, ("predictor", "oracle")).resolve(parameters)
    grid = sorted(float(t) for t in (CALIBRATION_GRIDS[form] if grid is None else grid))
    if not grid:
        raise ValueError("no thresholds to calibrate over")
    say = progress or (lambda message: None)
    x, lengths = check_batch(x, lengths, model.net.input_size)
    evaluator = Evaluator(model, *start_views(x, y, lengths, views), predictor, form, rule, parameters,
                          cache_update)
    within = _within if views == 1 else within_observed_too
    thresholds, figures = choose_thresholds(evaluator, grid, model.net.num_layers, budget_pp,
                                            lambda message: say(f"{form}: {message}"), within=within)
    gates = model.net.gates
    if thresholds is not None and granularity == GATE_GRANULARITY and len(gates) > 1:
        thresholds, figures = refine_per_gate(evaluator, grid, thresholds, figures, len(gates),
                                              lambda rec: within(rec, budget_pp),
                                              lambda message: say(f"{form}: {message}"), gates)
    if thresholds is None:
        figures = {"reuse": 0.0, "net_saving": 0.0, "metric_loss": 0.0, "estimated_loss": 0.0,
                   "metric": evaluator.fixed_metric, "smallest_threshold_loss_pp": figures["estimated_loss"]}
    measured = {"sequences": int(x.shape[0]), "views": int(views), "view_sequences": int(evaluator.x_q.shape[0]),
                **figures}
    return Calibration(predictor, thresholds, form, rule, parameters, cache_update, "memo", float(budget_pp),
                       model_digest(model), measured)


#: The figures of every candidate that :func:`calibrate_best` keeps in the chosen calibration's ``measured``.
CANDIDATE_FIGURES = ("reuse", "net_saving", "estimated_loss", "metric_loss")


def calibrate_best(model: FixedPointNetwork, x, y, lengths, candidates: dict[str, dict], *,
                   progress: Callable[[str], None] | None = None, **options) -> Calibration:
    """:func:`calibrate` of every candidate predictor (name -> its parameters, in order of preference) on
    the same calibration data, and the calibration with the highest net saving there (ties, e.g. every
    candidate memo off: the first). A candidate that is memo off (net saving 0) beats a negative net
    saving; when every candidate reuses at a loss, the least costly is kept, as :func:`calibrate` keeps a
    single predictor's (the tile's cycles may still drop: the CLI warns). The predictor is chosen on
    the calibration data like its thresholds, so the test split still measures the choice; ``measured``
    gains ``candidates``: per name, ``memo`` and :data:`CANDIDATE_FIGURES` (docs/predictors.md, *Choosing the
    predictor*)."""
    if not candidates:
        raise ValueError("no predictors to choose from")
    say = progress or (lambda message: None)
    found = {name: calibrate(model, x, y, lengths, name, parameters=parameters,
                             progress=lambda message, name=name: say(f"{name}: {message}"), **options)
             for name, parameters in candidates.items()}
    best = max(found, key=lambda name: found[name].measured["net_saving"])   # the first of equals
    summary = {name: {"memo": cal.memo, **{k: float(cal.measured[k]) for k in CANDIDATE_FIGURES}}
               for name, cal in found.items()}
    return replace(found[best], measured={**found[best].measured, "candidates": summary})


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


# ---- the input-reuse schemes (delta, similarity; docs/delta.md) ----------------------------------------

#: delta thresholds searched by default, activation-format LSBs (with Q12.8, 64 = 0.25), up to the largest
#: the tile holds (DELTA_THETA_MAX = 255), so that every calibration runs in RTL
DELTA_GRID = (0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, DELTA_THETA_MAX)
#: similarity level counts searched by default, most first (the search moves towards fewer levels)
LEVELS_GRID = (4096, 1024, 512, 256, 128, 96, 64, 48, 32, 24, 16, 12, 8, 6, 4, 3, 2)


def _scheme_policy(scheme: str, thresholds, parameters: dict):
    """The golden policy of a calibrated delta or similarity scheme (through the registry); the per-layer
    parameters must have one entry per threshold."""
    params = dict(parameters)
    key = "theta_h" if scheme == DELTA else "ranges"
    given = params.get(key)
    if given is not None and (not isinstance(given, (list, tuple)) or len(given) != len(thresholds)):
        raise ValueError(f"{scheme} parameter {key} needs one entry per layer ({len(thresholds)}), not {given!r}")
    if scheme == SIMILARITY and given is not None:
        for r in given:
            if not isinstance(r, (list, tuple)) or len(r) != 4 or r[0] >= r[1] or r[2] >= r[3]:
                raise ValueError(f"a similarity range is [lo_x, hi_x, lo_h, hi_h] with lo < hi, not {r!r}")
    entry = schemes.get(scheme, ("scheme",))
    if scheme == DELTA:
        return entry.golden_policy(tuple(thresholds), theta_h=tuple(params.pop("theta_h", thresholds)), **params)
    return entry.golden_policy(tuple(thresholds), ranges=params.pop("ranges", None), **params)


def input_ranges(model: FixedPointNetwork, x_q: np.ndarray, run, lengths) -> list[list[int]]:
    """Per layer [lo_x, hi_x, lo_h, hi_h]: the activation-format integers the layer's input part and its
    recurrent part reach over the valid steps of the baseline ``run`` on ``x_q`` (0 included: h starts at 0)."""
    valid = np.arange(run.out.shape[1])[None, :] < lengths[:, None]
    out = []
    for li in range(model.net.num_layers):
        parts = []
        for values in (x_q if li == 0 else run.layer_outputs[li - 1], run.layer_outputs[li]):
            v = values[valid]
            lo, hi = min(int(v.min()), 0), max(int(v.max()), 0)
            parts += [lo, max(hi, lo + 1)]
        out.append(parts)
    return out


class SchemeEvaluator(StackedEvaluator):
    """The delta or similarity scheme over a labelled batch at many vectors: delta vectors are
    (theta_x per layer, theta_h per layer), similarity vectors levels per layer (``ranges`` per layer, or
    None: measured on this batch)."""

    def __init__(self, model: FixedPointNetwork, x, y, lengths, scheme: str, ranges=None):
        if scheme not in INPUT_SCHEMES:
            raise ValueError(f"unknown input-reuse scheme {scheme!r}; expected one of {INPUT_SCHEMES}")
        super().__init__(model, x, y, lengths)
        self.scheme, self.layers = scheme, model.net.num_layers
        if scheme == SIMILARITY and ranges is None:
            ranges = input_ranges(model, self.x_q, self.base, self.lengths)
        self.ranges = ranges

    def vector_length(self) -> int:
        return 2 * self.layers if self.scheme == DELTA else self.layers

    def run_rows(self, chunk, batch):
        per_entry = [np.repeat(np.array([vec[j] for vec in chunk], dtype=np.int64), batch)
                     for j in range(self.vector_length())]
        n = self.layers
        if self.scheme == DELTA:
            policy = DeltaPolicy(tuple(per_entry[:n]), tuple(per_entry[n:]))
        else:
            policy = SimilarityPolicy(tuple(per_entry), self.ranges)
        return self.one_block(len(chunk), policy)

    def work(self, stats, rows, vector):
        return scheme_work_figures(stats, rows, self.scheme)

    def settings(self, vector) -> dict:
        """The scheme's registers of ``vector``: theta_x and theta_h per layer, or levels and ranges per layer."""
        n = self.layers
        if self.scheme == DELTA:
            return {"theta_x": [int(v) for v in vector[:n]], "theta_h": [int(v) for v in vector[n:]]}
        return {"levels": [int(v) for v in vector], "ranges": self.ranges}


def scheme_work_figures(stats: RunStats, rows: slice, scheme: str) -> dict:
    """reuse (fraction of the baseline's multiplications avoided), net saving (the similarity quantizer's
    multiplications subtracted: one per input and step, two more per changed input), inputs unchanged."""
    base = float(stats.baseline_multiplications[rows].sum())
    done = float(stats.multiplications[rows].sum())
    counts = input_counts(stats)
    n = int(counts.inputs[rows].sum())
    changed = n - int(counts.unchanged[rows].sum())
    detector = float(n + 2 * changed) if scheme == SIMILARITY else 0.0
    return {"reuse": 1.0 - done / base if base else 0.0,
            "net_saving": (base - done - detector) / base if base else 0.0,
            "inputs_unchanged": counts.fraction_unchanged(rows),
            "inputs_unchanged_per_layer": [float(v) for v in counts.fraction_unchanged(rows, axis=1)],
            "inputs_unchanged_x_h": [float(v) for v in counts.fraction_unchanged(rows, axis=4)],
            "inputs_unchanged_per_step": [float(v) for v in counts.fraction_unchanged(rows, axis=3)],
            "macs_baseline": base, "macs_computed": done, "macs_detector": detector}


def _scheme_label(scheme: str, layers: int) -> Callable[[int], str]:
    if scheme == DELTA:
        return lambda j: f"layer {j % layers} theta_{'x' if j < layers else 'h'}"
    return lambda j: f"layer {j} levels"


def scheme_grid(scheme: str, grid=None) -> list[float]:
    """The searched values, checked: delta thresholds ascending, similarity levels descending."""
    if scheme == DELTA:
        values = sorted(float(check_theta(t)) for t in (DELTA_GRID if grid is None else grid))
        if values and values[-1] > DELTA_THETA_MAX:
            raise ValueError(f"delta threshold {values[-1]:g} does not fit the tile's {DELTA_THETA_BITS}-bit threshold "
                             f"registers (at most {DELTA_THETA_MAX} activation LSBs)")
        return values
    return sorted((float(check_levels(v)) for v in (LEVELS_GRID if grid is None else grid)), reverse=True)


def calibrate_scheme(model: FixedPointNetwork, x, y, lengths=None, scheme: str = DELTA, *, budget_pp: float = 1.0,
                     grid=None, views: int | None = None, progress: Callable[[str], None] | None = None
                     ) -> Calibration:
    """The delta thresholds (theta_x, theta_h per layer) or the similarity levels per layer (with the
    quantizer ranges measured on this data) within ``budget_pp`` of estimated and of observed loss on the
    ``views`` start views of the (calibration) data (None: :func:`resolving_views`), by the search of
    :func:`choose_thresholds`: first one value for everything, then one entry at a time (delta: larger
    thresholds; similarity: fewer levels)."""
    if not np.isfinite(budget_pp) or budget_pp < 0:
        raise ValueError(f"the loss budget must be a finite number >= 0 percentage points, not {budget_pp}")
    grid = scheme_grid(scheme, grid)
    if not grid:
        raise ValueError("no thresholds to calibrate over")
    x, lengths = check_batch(x, lengths, model.net.input_size)
    views = resolving_views(x.shape[0], budget_pp) if views is None else views
    ranges = None
    if scheme == SIMILARITY:   # the quantizer ranges of the calibration sequences themselves
        x_q = model.quantize_input(x)
        ranges = input_ranges(model, x_q, model.run(x_q, lengths), lengths)
    evaluator = SchemeEvaluator(model, *start_views(x, y, lengths, views), scheme, ranges)
    say = progress or (lambda message: None)
    layers = model.net.num_layers
    vector, figures = choose_thresholds(evaluator, grid, evaluator.vector_length(), budget_pp,
                                        lambda m: say(f"{scheme}: {m}"), _scheme_label(scheme, layers),
                                        within_observed_too)
    parameters = {} if scheme == DELTA else {"ranges": evaluator.ranges}
    if vector is None:
        figures = {"reuse": 0.0, "net_saving": 0.0, "metric_loss": 0.0, "estimated_loss": 0.0,
                   "metric": evaluator.fixed_metric, "smallest_threshold_loss_pp": figures["estimated_loss"]}
        thresholds = None
    else:
        thresholds = tuple(vector[:layers])
        if scheme == DELTA:
            parameters = {"theta_h": list(vector[layers:])}
    measured = {"sequences": int(x.shape[0]), "views": int(views), "view_sequences": int(evaluator.x_q.shape[0]),
                **figures}
    return Calibration("none", thresholds, intops.ABSOLUTE if scheme == DELTA else LEVELS_FORM, "auto", parameters,
                       "compute", scheme, float(budget_pp), model_digest(model), measured)


def evaluate_scheme(model: FixedPointNetwork, x, y, lengths, calibration: Calibration) -> dict:
    """The calibrated delta or similarity scheme on (test) data; similarity keeps the calibration's ranges."""
    calibration.check_model(model)
    ranges = calibration.parameters.get("ranges") if calibration.scheme == SIMILARITY else None
    evaluator = SchemeEvaluator(model, x, y, lengths, calibration.scheme, ranges)
    sequences = int(evaluator.x_q.shape[0])
    if not calibration.memo:
        return {"reuse": 0.0, "net_saving": 0.0, "metric": evaluator.fixed_metric, "metric_loss": 0.0,
                "estimated_loss": 0.0, "fixed_metric": evaluator.fixed_metric, "thresholds": None,
                "inputs_unchanged": 0.0, "sequences": sequences}
    vector = tuple(calibration.thresholds)
    if calibration.scheme == DELTA:
        vector += tuple(calibration.parameters.get("theta_h", calibration.thresholds))
    return {**evaluator([vector])[0], **evaluator.settings(vector), "sequences": sequences}


def sweep_scheme(model: FixedPointNetwork, x, y, lengths, scheme: str, values, ranges=None, theta_h=None,
                 progress: Callable[[str], None] | None = None) -> list[dict]:
    """Records of a delta or similarity sweep: at each value every layer's theta_x (theta_h the same, or
    the fixed ``theta_h``) or every layer's levels; similarity ranges given (from a calibration split) or
    measured on this data. The memoization sweep's keys (policy, threshold, reuse, metric, metric_loss,
    fixed_metric, float_metric) and the inputs unchanged."""
    values = [float(check_theta(v) if scheme == DELTA else check_levels(v)) for v in values]
    if not values:
        raise ValueError("no thresholds to sweep")
    if theta_h is not None:
        check_theta(theta_h, "theta_h")
    evaluator = SchemeEvaluator(model, x, y, lengths, scheme, ranges)
    layers = model.net.num_layers
    if scheme == DELTA:
        vectors = [(v,) * layers + ((v if theta_h is None else theta_h),) * layers for v in values]
    else:
        vectors = [(v,) * layers for v in values]
    x_float = intops.dequantize(evaluator.x_q, model.config.act)
    float_metric = float(np.mean(model.net.predict(x_float, evaluator.lengths) == evaluator.y))
    form = intops.ABSOLUTE if scheme == DELTA else LEVELS_FORM
    records = [{"policy": scheme, "threshold": value, "form": form, **rec, **evaluator.settings(vec),
                "float_metric": float_metric}
               for value, vec, rec in zip(values, vectors, evaluator(vectors), strict=True)]
    (progress or (lambda m: None))(f"{scheme}: {len(records)} values done")
    return records
