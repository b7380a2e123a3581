"""Oracle ``oracle``: computes every neuron and reuses the cached output when the true output is within
the threshold of it: the upper bound of any predictor (paper Figure 1). It has no hardware; its decision
is counted as free, so its net saving is its reuse (the bound a free predictor would reach)."""

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
    docs = "docs/predictors.md#oracle"

    def cost(self, inputs: int, config: FixedPointConfig, neurons: int = 1) -> Cost:
        return Cost(inputs, neurons=neurons, formula="a bound: the decision counted free (it needs the neuron "
                                                     "computed, N MACs, so it saves nothing in hardware)")

    def golden_policy(self, threshold=0.0, form: str = intops.RELATIVE, cache_update: str = "compute",
                      rule: str | None = None):
        if cache_update != "compute":
            raise ValueError(f"the oracle caches only computed outputs; cache_update {cache_update!r} is for "
                             f"predictors")
        if rule not in (None, "output"):
            raise ValueError("the oracle compares outputs (the output rule); it has no score")
        return MemoPolicy(ORACLE, threshold, form)


register(Oracle())
