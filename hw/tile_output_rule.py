"""What the output-rule front ends share (:class:`hw.tile_low_rank.LowRankFrontEnd`,
:class:`hw.tile_bnn_planes.BitPlaneFrontEnd`): the gate's activation of a neuron in issue order and the
decision FIFO between :class:`hw.output_rule.OutputRuleTable` and the issue stage."""

from __future__ import annotations

from amaranth.hdl import Mux

from .activation import Activation
from .output_rule import OutputRuleTable, output_rule_layouts
from .tile_front_end import FrontEnd

__all__ = ["OutputRuleFrontEnd"]


class OutputRuleFrontEnd(FrontEnd):
    """Base of the front ends deciding by the output rule: subclasses build an ``OutputRuleTable`` whose
    ``s`` is the decision's ``context``, and call :meth:`_decisions`."""

    @classmethod
    def table_entry_bits(cls, params) -> int:
        """Memory bits per neuron of the front end's memo table (its ``s`` is the context)."""
        return OutputRuleTable.stored_bits(params.config, cls.context_shape(params).width)

    @staticmethod
    def gate_func(g):
        """The activation of gate ``g`` (issue order n = j*G + g): tanh for gate 2 (LSTM g, GRU n), else
        the sigmoid."""
        return Mux(g == 2, Activation.TANH, Activation.SIGMOID)

    def _decisions(self, m, table, memo_on):
        """Responses through the decision FIFO (context = the score s); updates (y, p, s) to the table."""
        layout = output_rule_layouts(self.params.neurons, self.params.config, table.s_bits, 0)["response"]
        self._queue_decisions(m, table, layout, memo_on, "s",
                              {"index": "index", "y": "y", "p": "p", "s": "context"})
