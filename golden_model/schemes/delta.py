"""Scheme ``delta``: delta-network reuse (DeltaRNN/EdgeDRNN; docs/delta.md).

Every input of [x ; h] keeps a reference value that moves to the input only when it has changed by at
least theta (theta_x on the input part, theta_h on the recurrent part, activation-format LSBs); each
neuron's accumulator memory is corrected by W[:, i] * (v_i - ref_i) of the inputs that moved
(:mod:`golden_model.delta`). Exact baseline at theta = 0."""

from __future__ import annotations

from ..delta import DeltaPolicy, check_theta
from ..formats import FixedPointConfig
from .registry import Cost, Parameter, ReuseEntry, register

#: ``theta_h`` unless told otherwise: the same as theta_x.
SAME_AS_X = -1


def accumulator_cost(inputs: int, config: FixedPointConfig, neurons: int, per_input_bits: int,
                     shared_macs: float, detector: str) -> Cost:
    """The cost of an accumulator-memory scheme (delta, similarity): per neuron the accumulator, per input
    the stored value ``per_input_bits`` (shared by the layer direction) and the change detector's work."""
    return Cost(inputs, state_bits=config.acc_bits(inputs), shared_state_bits=inputs * per_input_bits,
                shared_macs=shared_macs, neurons=neurons,
                formula=f"per neuron: the accumulator memory (acc_bits(N); a GRU candidate neuron keeps its "
                        f"input and recurrent parts apart: two); per input: {detector}; the neuron's N "
                        f"multiplications become one per changed input")


class Delta(ReuseEntry):
    name = "delta"
    kind = "scheme"
    summary = "delta network: per-input references move when |change| >= theta; accumulators corrected by deltas"
    docs = "docs/delta.md"
    #: the tile dataflow (hw.tile.Tile with TileParams.delta)
    hardware = "hw.tile:Tile"
    parameters = (
        Parameter("theta_h", int, SAME_AS_X, "recurrent-part threshold in activation LSBs (-1: theta_x's)"),
    )

    def cost(self, inputs: int, config: FixedPointConfig, neurons: int = 1, **params) -> Cost:
        return accumulator_cost(inputs, config, neurons, config.act.bits, 0.0,
                                "the reference (activation bits) and one compare |v - ref| >= theta per step")

    def golden_policy(self, threshold=0.0, theta_h=SAME_AS_X, **params):
        """``threshold`` is theta_x (one value or one per layer); ``theta_h`` one value or one per layer."""
        if not isinstance(theta_h, (tuple, list)):
            theta_h = self.resolve({"theta_h": theta_h, **params})["theta_h"]
            if theta_h != SAME_AS_X:
                check_theta(theta_h, "theta_h")
        else:
            self.resolve(params)
        same = not isinstance(theta_h, (tuple, list)) and theta_h == SAME_AS_X
        return DeltaPolicy(_ints(threshold, "theta_x"), _ints(threshold if same else theta_h, "theta_h"))


def _ints(values, what: str):
    if isinstance(values, (tuple, list)):
        return tuple(check_theta(v, what) for v in values)
    return check_theta(values, what)


register(Delta())
