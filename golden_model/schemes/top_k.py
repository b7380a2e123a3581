"""Predictor ``top-k``: the k inputs of [x ; h] that changed most since the previous step, weighted by
low-precision weights and accumulated since the neuron was last computed."""

from __future__ import annotations

from ..formats import FixedPointConfig
from ..predictors import TopK
from .predictor import PredictorEntry
from .registry import Cost, Parameter, register


class TopKPredictor(PredictorEntry):
    name = "top-k"
    summary = "the k most-changed inputs x low-precision weights, accumulated since the last compute"
    docs = "docs/predictors.md#top-k"
    hardware = "hw.tile_top_k:TopKFrontEnd"
    parameters = (Parameter("k", int, 4, "changed inputs counted per step"),
                  Parameter("weight_bits", int, 4, "bits of the predictor's copy of the weights"))

    def make(self, k, weight_bits):
        return TopK(k, weight_bits)

    def cost(self, inputs: int, config: FixedPointConfig, neurons: int = 1, *, k: int,
             weight_bits: int) -> Cost:
        total_bits = config.act.bits + weight_bits + 16
        return Cost(inputs, macs=float(k), shared_macs=float(inputs), neurons=neurons,
                    state_bits=inputs * weight_bits + 2 * total_bits, shared_state_bits=inputs * config.act.bits,
                    formula="k MACs + (N shared change/compare steps of the top-k selection) / neurons; "
                            "N low-precision weights + running and cached score")


register(TopKPredictor())
