"""Predictor ``bnn``: the paper's binarized neuron (XNOR-popcount of the signs of [x ; h] and of the
weights), b = 2 * popcount(XNOR) - N, compared with the b_m cached when the neuron was last computed."""

from __future__ import annotations

from .. import intops
from ..formats import FixedPointConfig
from ..memo import BNN, MemoPolicy, SignBnn
from .registry import Cost, ReuseEntry, register


def bnn_output_bits(inputs: int) -> int:
    """Width of a signed BNN output holding -N..N (the cached b_m)."""
    return inputs.bit_length() + 1


class BnnPredictor(ReuseEntry):
    name = "bnn"
    kind = "predictor"
    scheme = "memo"
    summary = "binarized neuron (MICRO 2019): XNOR-popcount of input and weight signs"
    docs = "docs/memoization.md#policies-memopolicykind"
    hardware = "hw.tile_bnn:BnnFrontEnd"

    def cost(self, inputs: int, config: FixedPointConfig) -> Cost:
        return Cost(inputs, bit_ops=inputs, state_bits=inputs + bnn_output_bits(inputs),
                    formula="N XNOR-popcount bits; N weight sign bits + cached b_m (bit_length(N) + 1 bits)")

    def golden_policy(self, threshold=0.0, form: str = intops.RELATIVE, cache_update: str = "compute"):
        return MemoPolicy(BNN, threshold, form, cache_update, SignBnn())


register(BnnPredictor())
