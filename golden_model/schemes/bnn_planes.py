"""Predictor ``bnn-planes``: multi-bit-plane binarization (ReBNet-style residual levels): the binarized
neuron over ``planes`` residual sign planes of [x ; h], so that small changes of an input move the score."""

from __future__ import annotations

from ..formats import FixedPointConfig
from ..predictors import BitPlaneBnn
from .predictor import PredictorEntry, score_bits
from .registry import Cost, Parameter, register


class BitPlanePredictor(PredictorEntry):
    name = "bnn-planes"
    summary = "binarized neuron over residual bit planes of the inputs (ReBNet-style)"
    docs = "docs/predictors.md#bnn-planes"
    hardware = "hw.tile_bnn_planes:BitPlaneFrontEnd"
    parameters = (Parameter("planes", int, 3, "residual sign planes of the inputs (1 = the paper's BNN)"),)

    def make(self, planes):
        return BitPlaneBnn(planes)

    def cost(self, inputs: int, config: FixedPointConfig, neurons: int = 1, *, planes: int) -> Cost:
        return Cost(inputs, bit_ops=planes * inputs, neurons=neurons,
                    state_bits=inputs + score_bits(inputs << planes) + config.weight.bits,
                    formula="planes x N XNOR-popcount bits; N weight sign bits + cached s_m + gain mean|w|")


register(BitPlanePredictor())
