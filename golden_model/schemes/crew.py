"""Scheme ``crew``: computation reuse through each input's unique weights (Riera et al.; docs/crew.md).

Exact: the products of every input with its few distinct weights are made once per step and each
neuron's dot product adds the products it needs, fetched by index (:mod:`golden_model.crew`)."""

from __future__ import annotations

from ..crew import CrewPolicy
from ..formats import FixedPointConfig
from .registry import Cost, ReuseEntry, register


class Crew(ReuseEntry):
    name = "crew"
    kind = "scheme"
    summary = "unique-weight reuse: each input times its distinct weights once, neurons add products by index"
    docs = "docs/crew.md"
    #: the tile dataflow (hw.tile.Tile elaborates it; a scheme without one cannot run in RTL)
    hardware = "hw.tile:Tile"

    def cost(self, inputs: int, config: FixedPointConfig, neurons: int = 1) -> Cost:
        # a bound from the shape alone: input i has U_i <= min(G*H, 2**weight bits) unique weights, whose
        # products are made once per step for all the layer direction's neurons
        unique = min(neurons, 1 << config.weight.bits)
        return Cost(inputs, shared_macs=float(inputs * unique), neurons=neurons,
                    state_bits=inputs * max(1, (unique - 1).bit_length()) - inputs * config.weight.bits,
                    formula="products: sum_i U_i per layer step (bound U_i <= min(G*H, 2^weight bits)); the "
                            "neuron's N multiplications become N additions; an index of ceil(log2 U_i) bits "
                            "replaces each weight")

    def golden_policy(self, threshold=0.0, **params):
        self.resolve(params)
        return CrewPolicy()


register(Crew())
