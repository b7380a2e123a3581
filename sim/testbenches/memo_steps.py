"""The streams of a memo table used as the tile uses it, shared by the cocotb testbenches of
hw.memo_table.MemoTable (tb_memo_table) and hw.output_rule.OutputRuleTable (tb_output_rule): lookups in,
responses scored in order, and for every miss of a neuron the step computes its update (the payload in
:attr:`MemoSteps.computed`, set per step), under the phase's valid gaps and back-pressure."""

from __future__ import annotations

import random

from cocotb.triggers import RisingEdge

from golden_model import intops
from golden_model.formats import THETA_BITS
from sim.scoreboard import Scoreboard
from sim.streams import StreamDriver, StreamSink, stream_codec, wait_until
from sim.testbenches.checks import finish
from sim.testbenches.memo_ref import FORMS

__all__ = ["THETA_MAX", "MemoSteps", "theta_choices"]

THETA_MAX = (1 << THETA_BITS) - 1


def theta_choices(form: str) -> list[int]:
    """Threshold register values worth a sequence (zero twice as often), by threshold form."""
    if form == intops.RELATIVE:
        return [0, 0, 16, 64, 128, 256, 1024, THETA_MAX]
    return [0, 0, 1, 2, 5, 20, THETA_MAX]


class MemoSteps:
    """``phases``: [valid_prob, ready_prob] of the sequences in turn; :attr:`lookups` and :attr:`hits`
    count the expected decisions."""

    def __init__(self, dut, design: dict, rng: random.Random, name: str, phases):
        self.dut, self.rng, self.phases = dut, rng, phases
        self.lookups = self.hits = 0
        self.sb = Scoreboard(name)
        self.upd, self.look = (StreamDriver(dut, name, dut.clk, stream_codec(design, name),
                                            rng=random.Random(rng.random())) for name in ("update", "lookup"))
        #: index -> update payload of the neurons the current step computes
        self.computed: dict[int, dict] = {}
        self.sink = StreamSink(dut, "response", dut.clk, stream_codec(design, "response"),
                               rng=random.Random(rng.random()), callback=self._on_response)

    def _on_response(self, item) -> None:
        self.sb.receive(item)
        if not item["hit"] and item["index"] in self.computed:
            self.upd.send(self.computed[item["index"]])   # the neuron computed: its update to the table

    async def sequences(self, count: int):
        """Async iterator over ``count`` sequences: for each, the rates of its phase, its controls and a
        one-cycle ``clear``, then yields (seq, form, theta, enable): the forms alternate, sequence 0 has
        theta 0, sequence 1 the largest theta, sequence 2 memoization off, the others a random theta."""
        for seq in range(count):
            valid_prob, ready_prob = self.phases[seq % len(self.phases)]
            self.look.valid_prob = self.upd.valid_prob = valid_prob
            self.sink.ready_prob = ready_prob
            form = FORMS[seq % 2]
            theta = (0, THETA_MAX)[seq] if seq < 2 else self.rng.choice(theta_choices(form))
            enable = int(seq != 2)
            self.dut.theta.value, self.dut.form.value, self.dut.enable.value = theta, FORMS.index(form), enable
            self.dut.clear.value = 1
            await RisingEdge(self.dut.clk)
            self.dut.clear.value = 0
            yield seq, form, theta, enable

    def lookup(self, item: dict, expected: dict, context=None) -> None:
        self.look.send(item)
        self.sb.expect(expected, context)
        self.lookups += 1
        self.hits += expected["hit"]

    async def end_step(self, what: str) -> None:
        """Every response of the step in and every update taken (before the next step looks up)."""
        await wait_until(self.dut, lambda: self.sb.pending == 0 and self.upd.idle, 50 * self.sb.pending + 200, what)

    async def finish(self, what: str) -> None:
        await finish(self.dut, self.sink, self.sb, f"{what}: {self.lookups} lookups ({self.hits} hits)")
