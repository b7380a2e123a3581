"""Oracle ``oracle``: computes every neuron and reuses the cached output when the true output is within
the threshold of it: the upper bound of any predictor (paper Figure 1). It has no hardware."""

from __future__ import annotations

from .. import intops
from ..formats import FixedPointConfig
from ..memo import ORACLE, MemoPolicy
from .registry import Cost, ReuseEntry, register


class Oracle(ReuseEntry):
    name = "oracle"
    kind = "oracle"
    scheme = "memo"
    summary = "upper bound: the exact output compared with the cached one (computes every neuron)"
    docs = "docs/memoization.md#policies-memopolicykind"

    def cost(self, inputs: int, config: FixedPointConfig) -> Cost:
        return Cost(inputs, macs=float(inputs), formula="the neuron itself: N MACs (no work saved; a bound)")

    def golden_policy(self, threshold=0.0, form: str = intops.RELATIVE, cache_update: str = "compute"):
        if cache_update != "compute":
            raise ValueError(f"the oracle caches only computed outputs; cache_update {cache_update!r} is for "
                             f"predictors")
        return MemoPolicy(ORACLE, threshold, form)


register(Oracle())
