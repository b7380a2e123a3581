"""Scheme ``similarity``: computation reuse by input similarity (Riera et al., ISCA 2018; docs/delta.md).

Each layer's inputs [x ; h] are linearly quantized to ``levels`` levels over the part's calibrated range
and mapped back to the activation format; an input whose level is unchanged from the previous step costs
nothing, a changed one corrects every neuron's accumulator memory by W[:, i] * (d_i(t) - d_i(t-1))
(:mod:`golden_model.delta`). Exact baseline at the datapath's own resolution (2**act.bits levels over the
whole format)."""

from __future__ import annotations

from ..delta import SimilarityPolicy, check_levels
from ..formats import FixedPointConfig
from .delta import accumulator_cost
from .registry import Cost, Parameter, ReuseEntry, register

#: The paper's level count for speech networks.
DEFAULT_LEVELS = 16


class Similarity(ReuseEntry):
    name = "similarity"
    kind = "scheme"
    summary = "input similarity: [x ; h] quantized to a few levels; accumulators corrected by the changed inputs"
    docs = "docs/delta.md"
    #: the tile dataflow (hw.tile.Tile with TileParams.delta and .similarity)
    hardware = "hw.tile:Tile"
    parameters = (
        Parameter("levels", int, DEFAULT_LEVELS, "quantizer levels per layer part (a calibration chooses its own)"),
    )

    def cost(self, inputs: int, config: FixedPointConfig, neurons: int = 1, levels: int = DEFAULT_LEVELS,
             **params) -> Cost:
        levels = check_levels(levels)
        return accumulator_cost(inputs, config, neurons, max(1, (levels - 1).bit_length()), 3.0 * inputs,
                                "the previous level index (ceil(log2 levels) bits); per step one quantizer "
                                "multiply, and two dequantizer multiplies when it changed (bound: 3 N)")

    def golden_policy(self, threshold=None, ranges=None, **params):
        """``threshold`` is the level count (one value or one per layer; None: the ``levels`` parameter);
        ``ranges`` per layer (lo_x, hi_x, lo_h, hi_h) in activation integers (None: the whole format)."""
        resolved = self.resolve(params)
        threshold = resolved["levels"] if threshold is None else threshold
        levels = tuple(check_levels(v) for v in threshold) if isinstance(threshold, (tuple, list)) \
            else check_levels(threshold)
        return SimilarityPolicy(levels, None if ranges is None else tuple(tuple(int(v) for v in r) for r in ranges))


register(Similarity())
