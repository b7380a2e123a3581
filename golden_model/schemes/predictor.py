"""The base of the memoization scheme's predictor entries: a registered predictor is a
:class:`PredictorEntry` subclass that declares its parameters, builds its integer predictor
(:mod:`golden_model.predictors`) and states its cost; the golden policy is the same for all of them."""

from __future__ import annotations

from .. import intops
from ..memo import PREDICTED, RULES, MemoPolicy
from .registry import ReuseEntry


def score_bits(magnitude: int) -> int:
    """Signed width holding -magnitude..magnitude (a cached score s_m)."""
    return max(1, int(magnitude)).bit_length() + 1


class PredictorEntry(ReuseEntry):
    kind = "predictor"
    scheme = "memo"
    #: the decision rule used unless one is asked for (memo.RULES)
    default_rule = "output"

    def make(self, **params):
        """The integer predictor object with the resolved ``params``."""
        raise NotImplementedError(f"predictor {self.name!r} builds no predictor")

    def golden_policy(self, threshold=0.0, form: str = intops.RELATIVE, cache_update: str = "compute",
                      rule: str | None = None, **params):
        rule = self.default_rule if rule is None else rule
        if rule not in RULES:
            raise ValueError(f"unknown decision rule {rule!r}; expected one of {RULES}")
        return MemoPolicy(PREDICTED, threshold, form, cache_update, self.make(**self.resolve(params)), rule)
