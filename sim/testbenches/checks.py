"""End-of-test checks shared by the cocotb testbenches of the stream blocks."""

from __future__ import annotations

from cocotb.triggers import RisingEdge

__all__ = ["check_rate_and_latency", "finish"]


async def finish(dut, sink, scoreboard, what: str, drain: int = 5) -> None:
    """After the last expected item: ``drain`` more cycles (anything extra would arrive then), then no
    protocol error on the sink's stream and the scoreboard complete and bit-exact; logs ``what``."""
    for _ in range(drain):
        await RisingEdge(dut.clk)
    assert not sink.protocol_errors, sink.protocol_errors
    scoreboard.check()
    dut._log.info("%s checked; %s", what, scoreboard.report())


def check_rate_and_latency(in_cycles: list[int], out_cycles: list[int], latency: int) -> None:
    """Inputs accepted one per cycle (``in_cycles`` consecutive) and every output exactly ``latency``
    cycles after its input (``out_cycles[k]`` belongs to ``in_cycles[k]``)."""
    span = in_cycles[-1] - in_cycles[0] + 1
    assert span == len(in_cycles), f"{len(in_cycles)} inputs took {span} cycles (expected one per cycle)"
    latencies = {o - i for o, i in zip(out_cycles, in_cycles, strict=True)}
    assert latencies == {latency}, f"latencies {sorted(latencies)}, documented {latency}"
