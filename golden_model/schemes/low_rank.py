"""Predictor ``low-rank``: a rank-r view of each layer direction's weights (SVD offline, factors
quantized): z = B^T [x ; h] once per layer direction and step, then r MACs per neuron."""

from __future__ import annotations

from ..formats import FixedPointConfig
from ..predictors import LowRank
from .predictor import PredictorEntry
from .registry import Cost, Parameter, register


class LowRankPredictor(PredictorEntry):
    name = "low-rank"
    summary = "rank-r factorization of the weights (SVD, quantized): r MACs per neuron + a shared projection"
    docs = "docs/predictors.md#low-rank"
    hardware = "hw.tile_low_rank:LowRankFrontEnd"
    parameters = (Parameter("rank", int, 4, "rank r of the factorization"),
                  Parameter("bits", int, 8, "bits of each quantized factor"))

    def make(self, rank, bits):
        return LowRank(rank, bits)

    def cost(self, inputs: int, config: FixedPointConfig, neurons: int = 1, *, rank: int, bits: int) -> Cost:
        z_bits = config.act.bits + bits + inputs.bit_length()
        return Cost(inputs, macs=float(rank), shared_macs=float(rank * inputs), neurons=neurons,
                    state_bits=rank * bits + z_bits + bits + rank.bit_length(),
                    shared_state_bits=rank * inputs * bits,
                    formula="r MACs + (r x N shared MACs) / neurons; r factor words + cached s_m")


register(LowRankPredictor())
