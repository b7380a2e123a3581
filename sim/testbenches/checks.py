"""End-of-test checks shared by the cocotb testbenches of the stream blocks."""

from __future__ import annotations

from cocotb.triggers import RisingEdge

from sim.scoreboard import Scoreboard
from sim.streams import CycleCounter, StreamDriver, StreamSink, stream_codec, wait_until

__all__ = ["back_to_back", "check_rate_and_latency", "finish"]


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


async def back_to_back(dut, design: dict, i: str, o: str, items: list, latency: int, expected: list | None = None):
    """Throughput and latency of a stream block: ``items`` sent on input stream ``i`` back to back with output
    stream ``o`` always ready; every output ``latency`` cycles after its input, inputs one per cycle
    (:func:`check_rate_and_latency`) and, given ``expected``, the outputs bit-exact in order."""
    counter = CycleCounter(dut.clk)
    in_cycles: list[int] = []
    sb = Scoreboard(f"{design['name']}.{o} back to back")
    sink = StreamSink(dut, o, dut.clk, stream_codec(design, o), counter=counter,
                      callback=sb.receive if expected is not None else None)
    drv = StreamDriver(dut, i, dut.clk, stream_codec(design, i), counter=counter,
                       on_send=lambda item, c: in_cycles.append(c))
    if expected is not None:
        sb.expect_many(expected)
    drv.send_many(items)
    await wait_until(dut, lambda: sink.received == len(items), 5 * len(items) + 100, f"{o} outputs")
    if expected is not None:
        sb.check()
    check_rate_and_latency(in_cycles, sink.cycles, latency)
