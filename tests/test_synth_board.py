# amaranth: UnusedElaboratable=no
"""Board tops: the UART and the UART bridge in the Amaranth simulator (a host model on the serial lines),
and the board-top build of the tile (FUZZYMEMO_SYNTH_FULL=1)."""

from __future__ import annotations

import os

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator
from support import AddUnit

from synth.board import (
    CMD_CONTROL,
    CMD_RESET,
    CMD_STATUS,
    LINK_COUNTERS,
    RSP_STATUS,
    RSP_STREAM,
    UartBridge,
    bridge_map,
)
from synth.uart import UartRx, UartTx

D = 4  # clock cycles per bit


async def _send(ctx, line, data, stop=1):
    """8N1 frames of ``data`` on ``line``; ``stop=0``: a framing error (the stop bit low)."""
    for byte in data:
        for bit in [0, *((byte >> i) & 1 for i in range(8)), stop]:
            ctx.set(line, bit)
            await ctx.tick().repeat(D)
    ctx.set(line, 1)


async def _break(ctx, line, bits=30):
    """A break: the line held low for ``bits`` bit times."""
    ctx.set(line, 0)
    await ctx.tick().repeat(bits * D)
    ctx.set(line, 1)
    await ctx.tick().repeat(2 * D)


async def _receive(ctx, line, n):
    out = []
    while len(out) < n:
        while ctx.get(line):
            await ctx.tick()
        await ctx.tick().repeat(D + D // 2)
        byte = 0
        for i in range(8):
            byte |= ctx.get(line) << i
            await ctx.tick().repeat(D)
        assert ctx.get(line) == 1, "stop bit"
        out.append(byte)
    return out


def test_uart_loopback():
    m = Module()
    m.submodules.tx = tx = UartTx(D)
    m.submodules.rx = rx = UartRx(D)
    m.d.comb += rx.rx.eq(tx.tx)
    got = []
    sim = Simulator(m)
    sim.add_clock(1e-6)

    async def source(ctx):
        for byte in (0x55, 0x00, 0xFF, 0xA3):
            ctx.set(tx.data, byte)
            ctx.set(tx.valid, 1)
            await ctx.tick().until(tx.ready)
            ctx.set(tx.valid, 0)
            await ctx.tick()

    async def sink(ctx):
        while len(got) < 4:
            await ctx.tick()
            if ctx.get(rx.valid):
                got.append(ctx.get(rx.data))

    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run_until(1e-6 * 4 * 12 * D * 2)
    assert got == [0x55, 0x00, 0xFF, 0xA3]


def test_uart_reports_framing_errors_and_breaks():
    """A bad stop bit is an ``error`` pulse, not a byte (before: the byte silently vanished); a break is one
    error, not a run of zero bytes; the next good byte is received."""
    rx = UartRx(D)
    got, errors = [], []
    sim = Simulator(rx)
    sim.add_clock(1e-6)

    async def line(ctx):
        ctx.set(rx.rx, 1)
        await ctx.tick().repeat(5)
        await _send(ctx, rx.rx, [0x5A], stop=0)
        await ctx.tick().repeat(2 * D)
        await _send(ctx, rx.rx, [0x3C])
        await _break(ctx, rx.rx)
        await _send(ctx, rx.rx, [0xA5])
        await ctx.tick().repeat(2 * D)

    async def sink(ctx):
        while True:
            await ctx.tick()
            if ctx.get(rx.valid):
                got.append(ctx.get(rx.data))
            if ctx.get(rx.error):
                errors.append(len(got))

    sim.add_testbench(line)
    sim.add_testbench(sink, background=True)
    sim.run()
    assert got == [0x3C, 0xA5] and errors == [0, 1]


def test_bridge_reports_link_faults_and_resets_the_block():
    """The bridge's link counters in the status word: a framing error in the middle of a frame (the frame is
    discarded), a garbled header byte (no command) and the reset command, which clears them and the block."""
    async def host(ctx, line):
        await _send(ctx, line, [0x00, 0x34, 0x02])                 # i = 0x234: count = 1
        await ctx.tick().repeat(40 * D)
        await _send(ctx, line, [0x00])
        await _send(ctx, line, [0x34], stop=0)                     # framing error: the beat is not sent
        await ctx.tick().repeat(D)
        await _send(ctx, line, [0x55, CMD_STATUS])                 # 0x55 is no command
        await ctx.tick().repeat(80 * D)
        await _send(ctx, line, [CMD_RESET, CMD_STATUS])

    received = _bridge_exchange(host, 3 + 6 + 6)
    assert received == [RSP_STREAM, 0x34, 0x02, RSP_STATUS, 1, 0, 1, 0, 1, RSP_STATUS, 0, 0, 0, 0, 0]


def test_uart_divisor_checked():
    with pytest.raises(ValueError, match="divisor"):
        UartRx(2)


def test_bridge_map():
    bmap = bridge_map(AddUnit())
    assert bmap["in_streams"] == [{"name": "i", "command": 0, "payload_bits": 12, "bytes": 2}]
    assert bmap["out_streams"] == [{"name": "o", "tag": RSP_STREAM, "payload_bits": 12, "bytes": 2}]
    assert bmap["control"]["fields"] == {"offset": {"offset": 0, "width": 4}}
    assert bmap["status"]["bytes"] == 5                             # count, then the link counters
    assert list(bmap["status"]["fields"]) == ["count", *LINK_COUNTERS]


def _bridge_exchange(host, n: int) -> list[int]:
    """The first ``n`` bytes an AddUnit behind a UartBridge sends while ``host(ctx, line)`` drives its rx."""
    bridge = UartBridge(AddUnit(), D)
    sim = Simulator(bridge)
    sim.add_clock(1e-6)
    received = []

    async def drive(ctx):
        ctx.set(bridge.rx, 1)
        await ctx.tick().repeat(5)
        await host(ctx, bridge.rx)

    async def listen(ctx):
        received.extend(await _receive(ctx, bridge.tx, n))

    sim.add_testbench(drive)
    sim.add_testbench(listen)
    sim.run_until(1e-6 * 3000 * D)
    return received


def test_bridge_streams_control_and_status():
    async def host(ctx, line):
        await _send(ctx, line, [CMD_CONTROL, 3])                   # offset = 3
        await _send(ctx, line, [0x00, 0x34, 0x02])                 # i = 0x234
        await _send(ctx, line, [0x00, 0xFF, 0x0F])                 # i = 0xFFF -> wraps
        await ctx.tick().repeat(40 * D)
        await _send(ctx, line, [CMD_STATUS])

    received = _bridge_exchange(host, 3 + 3 + 6)
    assert received == [RSP_STREAM, 0x37, 0x02, RSP_STREAM, 0x02, 0x00, RSP_STATUS, 2, 0, 0, 0, 0]


@pytest.mark.skipif(os.environ.get("FUZZYMEMO_SYNTH_FULL") != "1", reason="set FUZZYMEMO_SYNTH_FULL=1")
@pytest.mark.parametrize("target", ["ice40", "ecp5"])
def test_tile_board_top_builds(target, tmp_path):
    from synth import configs
    from synth.flow import synthesize

    r = synthesize("tile", target, configs.preset("tile", target), tmp_path, wrapper="uart")
    assert r["wrapper"]["kind"] == "uart" and r["meets_board_clock"]
    assert r["fmax_mhz"] >= r["board_clock_mhz"] and (tmp_path / "bridge.json").exists()


def test_uart_wrapper_needs_an_fpga_target(capsys):
    from fuzzymemo.cli import main

    assert main(["synth", "--top", "bnn", "--target", "generic", "--wrapper", "uart"]) == 2
    assert "board top" in capsys.readouterr().err
