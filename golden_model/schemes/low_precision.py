"""Predictor ``low-precision``: the neuron's dot product at low precision (weights and inputs narrowed).
It costs N (narrow) MACs per neuron, as many as the neuron: a reference, not a saving."""

from __future__ import annotations

from ..formats import FixedPointConfig
from ..predictors import LowPrecision
from .predictor import PredictorEntry
from .registry import Cost, Parameter, register


class LowPrecisionPredictor(PredictorEntry):
    name = "low-precision"
    summary = "the neuron at low precision (narrow weights x narrow inputs): N narrow MACs"
    docs = "docs/predictors.md#low-precision"
    hardware = "hw.tile_low_precision:LowPrecisionFrontEnd"
    parameters = (Parameter("weight_bits", int, 4, "bits of the predictor's copy of the weights"),
                  Parameter("input_bits", int, 4, "bits of the narrowed inputs (2 integer bits)"))

    def make(self, weight_bits, input_bits):
        return LowPrecision(weight_bits, input_bits)

    def cost(self, inputs: int, config: FixedPointConfig, neurons: int = 1, *, weight_bits: int,
             input_bits: int) -> Cost:
        s_bits = weight_bits + input_bits + inputs.bit_length()
        return Cost(inputs, macs=float(inputs), neurons=neurons, state_bits=inputs * weight_bits + s_bits,
                    formula="N narrow MACs (each counts one); N narrow weights + cached s_m")


register(LowPrecisionPredictor())
