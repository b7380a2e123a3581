"""Compositions of the reuse schemes: delta (or input similarity) with neuron-level memoization, CREW with
delta, and all three (issue 11 item 4, issue 12 item 5; docs/composition.md).

A :class:`ComposedPolicy` names the input-reuse form (``inputs``: a DeltaPolicy or SimilarityPolicy), the
memoization policy of the neurons (``memo``) and whether the products are made the CREW way (``crew``).
CREW with memoization alone is :class:`golden_model.crew.CrewPolicy` (a product is made only when a
computed neuron uses it); ``ComposedPolicy(memo=..., crew=True)`` is that policy.

What stays exact. The delta memory holds, per neuron, acc = W e(t) for the effective inputs e(t) (the
references). A neuron the predictor reuses outputs y_m and needs no dot product, but its accumulator must
still track W e(t) for the step it is next computed. Two ways, both exact, both giving every computed
neuron the same accumulator W e(t) (so the outputs of the two are bit for bit the same; only their cost
differs):

* ``eager``    -- every neuron's accumulator is corrected by every changed input, reused or not: the
                  memoization saves no multiplication at all (it only adds its predictor's cost). This
                  is the only form the oracle admits (it decides from every neuron's true output).
* ``deferred`` -- a reused neuron's accumulator is not corrected; it goes stale. A computed neuron whose
                  accumulator is fresh (it was computed, or corrected, at the previous step) is corrected
                  by the changed inputs (one multiplication each); a stale one is recomputed from the
                  references, W[n, :] e(t): N = n_x + H multiplications, as the baseline's.
* ``snapshot`` -- the bound of deferring: each neuron keeps a copy s_n of the effective inputs it was last
                  computed with (G*H*N stored values: as large as the weight memory) and is corrected by
                  W[n, i] (e_i(t) - s_n,i) over the inputs that differ from its copy. Not with CREW: the
                  deltas differ from neuron to neuron, so no product is shared by an input's neurons.

Multiplications per step and batch row (``count_multiplications``), with C the changed inputs of [x ; h]:

=========================  =======================================================================
delta + memo, eager        |C| * G*H (delta's own)
delta + memo, deferred     sum over computed neurons of |C| (fresh) or N (stale)
delta + memo, snapshot     sum over computed neurons n of |{i : e_i(t) != s_n,i}|
CREW + delta               sum over changed i of U_i: each delta times each unique weight of its input
CREW + delta + memo, eager the same (every accumulator is corrected)
CREW + delta + memo,       per input i: the unique weights used by a fresh computed neuron when i changed
deferred                   (delta products) plus those used by a stale computed neuron (reference products)
=========================  =======================================================================

A sequence's first step is a full computation under every form (all inputs changed, no neuron valid).
The predictor's own cost (docs/predictors.md, *Net saving*) is not a multiplication of the datapath; the
net saving of :func:`work_figures` subtracts it, and the similarity quantizer's work.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .crew import CrewPolicy, crew_dot, crew_tables, used_products
from .delta import SIMILARITY, DeltaDirection, DeltaPolicy, SimilarityPolicy, input_counts
from .memo import OFF, ORACLE, MemoPolicy, WrapsMemo
from .reuse_calibration import StackedEvaluator, layer_costs

__all__ = ["EAGER", "DEFERRED", "SNAPSHOT", "CORRECTIONS", "ComposedPolicy", "ComposedDirection", "work_figures",
           "evaluate_policy", "adds_up"]

EAGER = "eager"
DEFERRED = "deferred"
SNAPSHOT = "snapshot"
CORRECTIONS = (EAGER, DEFERRED, SNAPSHOT)


@dataclass(frozen=True, eq=False)
class ComposedPolicy(WrapsMemo):
    """Delta or similarity reuse on the inputs (``inputs``), memoization on the neurons (``memo``) and CREW
    products (``crew``), composed; ``correction`` says how a reused neuron's accumulator follows (module
    docstring). At least two schemes must be on."""
    inputs: DeltaPolicy | SimilarityPolicy | None = None
    memo: MemoPolicy = field(default_factory=MemoPolicy)
    crew: bool = False
    correction: str = DEFERRED

    def __post_init__(self):
        if self.inputs is not None and not isinstance(self.inputs, (DeltaPolicy, SimilarityPolicy)):
            raise ValueError(f"the input-reuse part of a composition is a DeltaPolicy or a SimilarityPolicy, "
                             f"not {type(self.inputs).__name__}")
        if not isinstance(self.memo, MemoPolicy):
            raise ValueError(f"the neuron part of a composition is a MemoPolicy, not {type(self.memo).__name__} "
                             f"(CREW is the crew=True flag)")
        if not isinstance(self.crew, bool):
            raise ValueError(f"crew is True or False, not {self.crew!r}")
        if self.correction not in CORRECTIONS:
            raise ValueError(f"unknown correction {self.correction!r}; expected one of {CORRECTIONS}")
        on = (self.inputs is not None) + (self.memo.kind != OFF) + self.crew
        if on < 2:
            raise ValueError("a composition needs at least two of inputs (delta/similarity), memo and crew; "
                             "for one scheme use its own policy (DeltaPolicy, MemoPolicy, CrewPolicy)")
        if self.crew and self.correction == SNAPSHOT:
            raise ValueError("CREW shares an input's products among its neurons, but under the snapshot correction "
                             "every neuron has its own delta: use correction='deferred' or 'eager' with crew=True")
        if self.inputs is not None and self.memo.kind == ORACLE and self.correction != EAGER:
            raise ValueError("the oracle decides from every neuron's true output, so every accumulator must be "
                             "corrected each step: compose it with correction='eager'")

    def direction(self, model, layer: int, direction: int, theta_q: np.ndarray, stats, correlation: bool):
        if self.inputs is None:   # CREW with memoization: the existing composition
            return CrewPolicy(self.memo).direction(model, layer, direction, theta_q, stats, correlation)
        detector = self.inputs.detector(model, layer, theta_q.shape[0])
        return ComposedDirection(model, layer, direction, detector, theta_q, stats, correlation, self)


class ComposedDirection(DeltaDirection):
    """One layer direction of a :class:`ComposedPolicy` with inputs: the delta stepper under the policy's
    memoization, its corrections the CREW way when ``crew``, counted by the policy's ``correction``."""

    def __init__(self, model, layer, direction, detector, theta_q, stats, correlation, policy: ComposedPolicy):
        super().__init__(model, layer, direction, detector, theta_q, stats, correlation, memo=policy.memo)
        self.policy_composed = policy
        self.fresh = np.zeros((theta_q.shape[0], self.q.w.shape[0]), dtype=bool)
        if policy.crew:
            n_x = self.q.input_size
            self.tables = crew_tables(self.q.w)
            self.part_tables = [self.tables.restrict(slice(0, n_x)), self.tables.restrict(slice(n_x, None))]
        if policy.correction == SNAPSHOT:
            self.snapshot = np.zeros(self.fresh.shape + (self.q.w.shape[1],), dtype=np.int64)

    def part_dot(self, part, delta):
        if self.policy_composed.crew:
            return crew_dot(delta, self.part_tables[part])
        return super().part_dot(part, delta)

    def count_multiplications(self, hit, active):
        policy = self.policy_composed
        act = active[:, None]
        changed = np.concatenate(self.changed_mask, axis=1)          # (batch, N); a first step: its nonzero inputs
        if policy.correction == EAGER or policy.memo.kind == OFF:
            self.fresh = np.where(act, True, self.fresh)
            if policy.crew:
                return changed.astype(np.int64) @ self.tables.counts
            return self.changed * self.q.w.shape[0]
        first = active & ~self.started
        computed = ~hit & act
        fresh = (self.fresh | first[:, None]) & computed
        stale = computed & ~fresh
        self.fresh = np.where(act, computed, self.fresh)
        if policy.correction == SNAPSHOT:
            e = np.concatenate([self.detector.effective(k, self.stored[k]) for k in (0, 1)], axis=1)
            differ = (e[:, None, :] != self.snapshot).sum(axis=2)
            cost = differ   # the snapshot starts at zero: a first step costs its nonzero inputs, as delta's
            self.snapshot = np.where(computed[:, :, None], e[:, None, :], self.snapshot)
            return (cost * computed).sum(axis=1)
        if policy.crew:
            t = self.tables
            return used_products(t, fresh, changed) + used_products(t, stale)
        return fresh.sum(axis=1) * self.changed + stale.sum(axis=1) * self.q.w.shape[1]


def work_figures(model, stats, rows: slice = slice(None), predictor: str | None = None,
                 parameters: dict | None = None, similarity: bool = False) -> dict:
    """The work of the batch rows ``rows`` of a run: ``avoided`` (fraction of the baseline's multiplications
    not made), ``net_saving`` (the predictor's MAC-equivalents per neuron evaluation, docs/predictors.md, and
    the similarity quantizer's one per input and two per changed input subtracted too) and the parts."""
    base = float(stats.baseline_multiplications[rows].sum())
    done = float(stats.multiplications[rows].sum())
    cost = 0.0
    if predictor is not None:
        _, per_eval = layer_costs(model, predictor, parameters or {})
        cost = float((stats.evaluations[rows].sum(axis=(0, 2, 3)) * per_eval).sum())
    detector = 0.0
    counts = input_counts(stats)
    if similarity and counts is not None:
        n = int(counts.inputs[rows].sum())
        detector = float(n + 2 * (n - int(counts.unchanged[rows].sum())))
    ev = float(stats.evaluations[rows].sum())
    return {"avoided": 1.0 - done / base if base else 0.0,
            "net_saving": (base - done - cost - detector) / base if base else 0.0,
            "neurons_reused": float(stats.reuses[rows].sum()) / ev if ev else 0.0,
            "inputs_unchanged": counts.fraction_unchanged(rows) if counts is not None else 0.0,
            "multiplications": done, "multiplications_baseline": base, "predictor_cost": cost,
            "detector_cost": detector}


class _PolicyEvaluator(StackedEvaluator):
    def __init__(self, model, x, y, lengths, policy, predictor, parameters, similarity):
        super().__init__(model, x, y, lengths)
        self.policy, self.predictor, self.parameters, self.similarity = policy, predictor, parameters, similarity

    def run_rows(self, chunk, batch):
        return self.one_block(len(chunk), self.policy)

    def work(self, stats, rows, vector):
        return work_figures(self.model, stats, rows, self.predictor, self.parameters, self.similarity)


def evaluate_policy(model, x, y, lengths, policy, predictor: str | None = None, parameters: dict | None = None
                    ) -> dict:
    """Any policy (a scheme alone or composed) on labelled data: metric, metric_loss (pp against the
    fixed-point baseline), estimated_loss and :func:`work_figures`; ``predictor`` names the memoization's
    predictor whose cost the net saving subtracts (None: no predictor, e.g. the oracle or memo off)."""
    similarity = getattr(getattr(policy, "inputs", policy), "kind", None) == SIMILARITY
    return _PolicyEvaluator(model, x, y, lengths, policy, predictor, parameters, similarity)([()])[0]


def adds_up(*avoided: float) -> float:
    """The fraction avoided if the schemes' savings were independent: 1 - prod(1 - a)."""
    rest = 1.0
    for a in avoided:
        rest *= 1.0 - a
    return 1.0 - rest
