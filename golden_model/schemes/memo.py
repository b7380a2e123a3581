"""Scheme ``memo``: neuron-level fuzzy memoization (Silfa et al., MICRO 2019; docs/memoization.md).

Every gate neuron's last computed output y_m is cached; a predictor (or the oracle) decides per neuron and
step whether y_m is reused and the neuron's dot product skipped. The decision belongs to the predictor
entries (``kind`` predictor or oracle, ``scheme = "memo"``), and so does the hardware: a predictor's front
end holds the memo table with its own state. This entry owns the memo table's semantics and cost."""

from __future__ import annotations

from .. import intops
from ..formats import FixedPointConfig
from ..memo import CACHE_UPDATES, RULES
from .registry import Cost, Parameter, ReuseEntry, get, register

#: The predictor a memoizing tile uses unless told otherwise.
DEFAULT_PREDICTOR = "bnn"


class Memoization(ReuseEntry):
    name = "memo"
    kind = "scheme"
    summary = "neuron-level fuzzy memoization: reuse a neuron's cached output when its predictor agrees"
    docs = "docs/memoization.md"
    #: the tile dataflow (hw.tile.Tile elaborates it; a scheme without one cannot run in RTL)
    hardware = "hw.tile:Tile"
    parameters = (
        Parameter("predictor", str, DEFAULT_PREDICTOR, "what decides a reuse (a registered predictor or oracle)"),
        Parameter("form", str, intops.RELATIVE, "threshold form", intops.THRESHOLD_FORMS),
        Parameter("cache_update", str, "compute", "when the predictor's cached output changes", CACHE_UPDATES),
        Parameter("rule", str, "auto", "decision rule (auto: the predictor's own default)", ("auto",) + RULES),
    )

    def cost(self, inputs: int, config: FixedPointConfig, neurons: int = 1, **params) -> Cost:
        # per neuron: the cached output y_m and its valid bit (the predictor adds its own state)
        return Cost(inputs, state_bits=config.act.bits + 1, neurons=neurons,
                    formula="y_m (activation bits) + valid bit; the output rule adds p_m (preactivation bits)")

    def golden_policy(self, threshold=0.0, predictor_params: dict | None = None, **params):
        """The policy of the predictor ``params["predictor"]`` (with its ``predictor_params``)."""
        p = self.resolve(params)
        predictor = get(p["predictor"], ("predictor", "oracle"))
        extra = dict(predictor_params or {})
        return predictor.golden_policy(threshold, form=p["form"], cache_update=p["cache_update"],
                                       rule=None if p["rule"] == "auto" else p["rule"], **extra)


register(Memoization())
