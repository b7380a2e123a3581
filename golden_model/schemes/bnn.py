"""Predictor ``bnn``: the paper's binarized neuron (XNOR-popcount of the signs of [x ; h] and of the
weights), b = 2 * popcount(XNOR) - N, compared with the b_m cached when the neuron was last computed
(the paper's score rule by default; the output rule is offered too)."""

from __future__ import annotations

from ..formats import FixedPointConfig
from ..predictors import BitPlaneBnn
from .predictor import PredictorEntry, score_bits
from .registry import Cost, register


def bnn_output_bits(inputs: int) -> int:
    """Width of a signed BNN output holding -N..N (the cached b_m)."""
    return score_bits(inputs)


class BnnPredictor(PredictorEntry):
    name = "bnn"
    summary = "binarized neuron (MICRO 2019): XNOR-popcount of input and weight signs"
    docs = "docs/predictors.md#bnn"
    hardware = "hw.tile_bnn:BnnFrontEnd"
    default_rule = "score"

    def make(self):
        return BitPlaneBnn(1)

    def cost(self, inputs: int, config: FixedPointConfig, neurons: int = 1) -> Cost:
        return Cost(inputs, bit_ops=inputs, state_bits=inputs + bnn_output_bits(inputs), neurons=neurons,
                    formula="N XNOR-popcount bits; N weight sign bits + cached b_m (bit_length(N) + 1 bits)")


register(BnnPredictor())
