"""Compositions of delta, memoization and CREW (golden_model.compose, docs/composition.md): exact at zero
thresholds, the same outputs as the schemes they are made of, counts against a literal loop, and the
combinations refused."""

from dataclasses import dataclass

import numpy as np
import pytest
from support import same_outputs, smooth_model

from golden_model.compose import (
    CORRECTIONS,
    DEFERRED,
    EAGER,
    SNAPSHOT,
    ComposedDirection,
    ComposedPolicy,
    adds_up,
    evaluate_policy,
    work_figures,
)
from golden_model.crew import CrewPolicy
from golden_model.delta import DeltaPolicy, SimilarityPolicy
from golden_model.memo import ORACLE, PREDICTED, MemoPolicy

#: The oracle at threshold 0 reuses only an output equal to the computed one: exact.
EXACT_ORACLE = MemoPolicy(ORACLE, 0, form="absolute")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers,dirs", [(1, 1), (2, 2)])
def test_zero_thresholds_are_the_baseline(cell, layers, dirs):
    model, x, lengths = smooth_model(cell, layers, dirs)
    full_resolution = 1 << model.config.act.bits
    policies = [ComposedPolicy(DeltaPolicy(0, 0), EXACT_ORACLE, correction=EAGER),
                ComposedPolicy(DeltaPolicy(0, 0), crew=True),
                ComposedPolicy(SimilarityPolicy(full_resolution), crew=True),
                ComposedPolicy(DeltaPolicy(0, 0), EXACT_ORACLE, crew=True, correction=EAGER),
                ComposedPolicy(memo=EXACT_ORACLE, crew=True)]
    base = model.run(x, lengths)
    for policy in policies:
        run = model.run(x, lengths, policy)
        assert same_outputs(run, base), policy
        assert 0 <= run.stats.multiplications_avoided() < 1


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_compositions_compute_what_their_parts_compute(cell):
    """The correction changes only the cost: every form gives the outputs of delta then memo; at theta 0 they
    are memoization's alone, and with memo off delta's alone (counts too)."""
    model, x, lengths = smooth_model(cell, 2, 2)
    memo = MemoPolicy(PREDICTED, 0.3)
    alone = model.run(x, lengths, memo)
    for correction, crew in [(c, False) for c in CORRECTIONS] + [(EAGER, True), (DEFERRED, True)]:
        run = model.run(x, lengths, ComposedPolicy(DeltaPolicy(0, 0), memo, crew, correction))
        assert same_outputs(run, alone)
        assert np.array_equal(run.stats.reuses, alone.stats.reuses)
    delta = DeltaPolicy(3, (2, 5))
    ref = model.run(x, lengths, ComposedPolicy(delta, memo, correction=EAGER))
    for correction in (DEFERRED, SNAPSHOT):
        run = model.run(x, lengths, ComposedPolicy(delta, memo, correction=correction))
        assert same_outputs(run, ref)
        assert run.stats.multiplications.sum() <= ref.stats.multiplications.sum()
    assert same_outputs(model.run(x, lengths, ComposedPolicy(delta, memo, crew=True)), ref)
    d = model.run(x, lengths, delta)
    dc = model.run(x, lengths, ComposedPolicy(delta, crew=True))
    assert same_outputs(d, dc)
    assert dc.stats.multiplications.sum() < d.stats.multiplications.sum()
    # the delta part alone is delta's own multiplications
    eager_off = model.run(x, lengths, ComposedPolicy(delta, MemoPolicy(), crew=True, correction=EAGER))
    assert same_outputs(eager_off, d)


# ---- counts against a literal loop -------------------------------------------------------------------

class _Recording(ComposedDirection):
    """Records, per step, what the count depends on: the hits, the active rows, the changed inputs, the
    effective inputs and whether it is a sequence's first step."""
    log: dict = {}

    def count_multiplications(self, hit, active):
        e = np.concatenate([self.detector.effective(k, self.stored[k]) for k in (0, 1)], axis=1)
        self.log.setdefault((self.layer, self.direction), []).append(
            (hit.copy(), active.copy(), np.concatenate(self.changed_mask, axis=1).copy(), e, active & ~self.started))
        return super().count_multiplications(hit, active)


@dataclass(frozen=True, eq=False)
class _RecordingPolicy(ComposedPolicy):
    def direction(self, model, layer, direction, theta_q, stats, correlation):
        detector = self.inputs.detector(model, layer, theta_q.shape[0])
        return _Recording(model, layer, direction, detector, theta_q, stats, correlation, self)


def _literal(w, steps, correction, crew):
    """Multiplications per batch row of one layer direction, one sequence, step, neuron and input at a time,
    and how many times a stale neuron was computed."""
    neurons, n = w.shape
    stale_computed = 0
    batch = steps[0][0].shape[0]
    out = np.zeros(batch, dtype=np.int64)
    for b in range(batch):
        fresh = [False] * neurons
        snap = [[0] * n for _ in range(neurons)]
        for hit, active, changed, e, first in steps:
            if not active[b]:
                continue
            computed = [not hit[b, k] for k in range(neurons)]
            ch = [bool(changed[b, i]) for i in range(n)]
            if correction == EAGER:
                if crew:
                    out[b] += sum(len(set(w[:, i].tolist())) for i in range(n) if ch[i])
                else:
                    out[b] += neurons * sum(ch)
                continue
            is_fresh = [computed[k] and (fresh[k] or first[b]) for k in range(neurons)]
            is_stale = [computed[k] and not is_fresh[k] for k in range(neurons)]
            stale_computed += sum(is_stale)
            if correction == SNAPSHOT:
                for k in range(neurons):
                    if computed[k]:
                        out[b] += sum(int(e[b, i]) != snap[k][i] for i in range(n))   # snap starts at 0
                        snap[k] = [int(v) for v in e[b]]
            elif crew:
                for i in range(n):
                    if ch[i]:
                        out[b] += len({int(w[k, i]) for k in range(neurons) if is_fresh[k]})
                    out[b] += len({int(w[k, i]) for k in range(neurons) if is_stale[k]})
            else:
                out[b] += sum(sum(ch) for k in range(neurons) if is_fresh[k])
                out[b] += sum(n for k in range(neurons) if is_stale[k])
            fresh = computed
    return out, stale_computed


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("correction,crew", [(EAGER, False), (DEFERRED, False), (SNAPSHOT, False),
                                             (EAGER, True), (DEFERRED, True)])
def test_counts_match_a_literal_loop(cell, correction, crew):
    model, x, lengths = smooth_model(cell, 2, 2, hidden=4, batch=5, steps=7)
    _Recording.log = {}
    policy = _RecordingPolicy(DeltaPolicy(4, 6), MemoPolicy(PREDICTED, 0.3), crew, correction)
    run = model.run(x, lengths, policy)
    assert run.stats.reuses.sum() > 0   # the memo part reuses something
    stale = 0
    for (layer, direction), steps in _Recording.log.items():
        w = model.layers[layer][direction].w
        counts, stale_computed = _literal(w, steps, correction, crew)
        assert np.array_equal(run.stats.multiplications[:, layer, direction], counts)
        stale += stale_computed
    assert run.stats.multiplications_avoided() > 0
    assert correction == EAGER or stale > 0   # a reused neuron was computed again: its deferred correction


def test_work_figures_and_adds_up():
    model, x, lengths = smooth_model("lstm")
    y = np.arange(len(x)) % model.net.head.weight.shape[0]
    assert adds_up(0.5, 0.5) == pytest.approx(0.75)
    assert adds_up() == 0
    run = model.run(x, lengths, ComposedPolicy(DeltaPolicy(2, 2), MemoPolicy(PREDICTED, 0.3), correction=DEFERRED))
    free = work_figures(model, run.stats)
    paid = work_figures(model, run.stats, predictor="bnn-planes")
    assert free["avoided"] == pytest.approx(run.stats.multiplications_avoided())
    assert paid["net_saving"] < free["net_saving"] == pytest.approx(free["avoided"])
    crew = evaluate_policy(model, x, y, lengths, CrewPolicy())   # exact: no loss
    assert crew["metric_loss"] == 0 and crew["avoided"] > 0
    assert crew["avoided"] == pytest.approx(crew["net_saving"])


# ---- refused combinations ----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,message", [
    ({"inputs": DeltaPolicy(2, 2)}, "at least two"),
    ({"memo": MemoPolicy(PREDICTED, 0.2)}, "at least two"),
    ({"crew": True}, "at least two"),
    ({"inputs": DeltaPolicy(2, 2), "memo": MemoPolicy(ORACLE, 2)}, "correction='eager'"),
    ({"inputs": DeltaPolicy(2, 2), "memo": MemoPolicy(ORACLE, 2), "correction": SNAPSHOT}, "correction='eager'"),
    ({"inputs": DeltaPolicy(2, 2), "crew": True, "correction": SNAPSHOT}, "own delta"),
    ({"inputs": DeltaPolicy(2, 2), "memo": MemoPolicy(PREDICTED, 0.2), "correction": "lazy"}, "unknown correction"),
    ({"inputs": MemoPolicy(PREDICTED, 0.2), "crew": True}, "DeltaPolicy or a SimilarityPolicy"),
    ({"inputs": DeltaPolicy(2, 2), "memo": CrewPolicy()}, "crew=True flag"),
    ({"inputs": DeltaPolicy(2, 2), "crew": 1}, "True or False"),
])
def test_bad_combinations_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ComposedPolicy(**kwargs)
