# amaranth: UnusedElaboratable=no
"""The host side of the UART board protocol (synth/host_link.py): frame encoding/decoding and its errors,
and end to end in the Amaranth simulator: a tiny tile with empty memories behind ``UartBridge``, the host
(``TileLink`` over ``HostLink``) on a bit-banged serial line loads a golden network's weights through
``wr``, runs sequences with memoization on and reads the counters; every h and the evaluation/reuse counts
equal the golden FixedPointNetwork."""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import pytest
from amaranth.sim import Simulator
from support import AddUnit, normal_network, random_inputs

from golden_model import intops
from golden_model.fixed_model import FixedPointNetwork
from golden_model.memo import PREDICTED, MemoPolicy
from synth import board
from synth.board import CMD_CONTROL, CMD_STATUS, RSP_STATUS, RSP_STREAM, UartBridge, bridge_map
from synth.host_link import HostLink, LinkError, TileLink, describe_link, stream_layouts

D = 4  # clock cycles per bit


class BytePipe:
    """An in-memory transport: what the host writes is recorded, reads come from ``incoming``."""

    def __init__(self, incoming=b""):
        self.written = bytearray()
        self.incoming = bytearray(incoming)

    def write(self, data):
        self.written += data

    def read(self, n):
        out = bytes(self.incoming[:n])
        del self.incoming[:n]
        return out


class SimSerial:
    """A serial line into a :class:`UartBridge` in the Amaranth simulator, as a blocking transport: bytes
    written are bit-banged onto ``rx`` (8N1, ``D`` clocks per bit) by a background testbench; ``read(n)``
    advances the simulation until n bytes have been decoded from ``tx`` (or ``timeout_cycles`` pass: fewer
    bytes, like a serial port's timeout)."""

    def __init__(self, bridge, timeout_cycles=200_000):
        self.out, self.got = deque(), deque()
        self.bad_stop = set()       # indices (in write order) of bytes sent with a low stop bit
        self.sent = 0
        self.timeout_cycles = timeout_cycles
        self.cycles = 0
        self.sim = sim = Simulator(bridge)
        sim.add_clock(1e-6)

        async def drive(ctx):
            ctx.set(bridge.rx, 1)
            while True:
                if self.out:
                    byte = self.out.popleft()
                    if byte is None:                      # a break: the line low for 3 frames
                        ctx.set(bridge.rx, 0)
                        await ctx.tick().repeat(30 * D)
                        ctx.set(bridge.rx, 1)
                        await ctx.tick().repeat(D)
                        continue
                    stop = int(self.sent not in self.bad_stop)
                    self.sent += 1
                    for bit in [0, *((byte >> i) & 1 for i in range(8)), stop]:
                        ctx.set(bridge.rx, bit)
                        await ctx.tick().repeat(D)
                    ctx.set(bridge.rx, 1)
                    if not stop:                          # the line idles after a damaged frame
                        await ctx.tick().repeat(D)
                else:
                    await ctx.tick()

        async def listen(ctx):
            while True:
                while ctx.get(bridge.tx):
                    await ctx.tick()
                await ctx.tick().repeat(D + D // 2)
                byte = 0
                for i in range(8):
                    byte |= ctx.get(bridge.tx) << i
                    await ctx.tick().repeat(D)
                assert ctx.get(bridge.tx) == 1, "stop bit"
                self.got.append(byte)

        async def count(ctx):
            while True:
                await ctx.tick()
                self.cycles += 1

        sim.add_testbench(drive, background=True)
        sim.add_testbench(listen, background=True)
        sim.add_testbench(count, background=True)

    def write(self, data):
        self.out.extend(data)

    def send_break(self):
        self.out.append(None)

    def read(self, n):
        start = self.cycles
        while len(self.got) < n and self.cycles - start < self.timeout_cycles:
            self.sim.advance()
        return bytes(self.got.popleft() for _ in range(min(n, len(self.got))))


# ------------------------------------------------------------------------------------- encoder / decoder

def _add_link(incoming=b""):
    return HostLink.from_component(AddUnit(), BytePipe(incoming))


def test_encode_control_beat_status():
    link = _add_link()
    link.set_controls(offset=3)
    link.send("i", 0x234)
    assert bytes(link.transport.written) == bytes([CMD_CONTROL, 3, 0x00, 0x34, 0x02])
    assert link.controls == {"offset": 3}
    assert link.encode_control({}) == bytes([CMD_CONTROL, 3])         # held word

    link = _add_link(bytes([RSP_STREAM, 0x37, 0x02, RSP_STATUS, 2, 0, 0, 0, 0]))
    assert link.status() == {"count": 2, **dict.fromkeys(board.LINK_COUNTERS, 0)}   # the beat before it is queued
    assert bytes(link.transport.written) == bytes([CMD_STATUS])
    assert link.receive("o") == 0x237


def test_tile_layouts_and_description_roundtrip():
    from hw.tile import Tile
    from hw.tile_bnn import BnnFrontEnd
    from hw.tile_params import TileParams

    fixed = FixedPointNetwork(normal_network("lstm", 3, 4, seed=3))
    params = TileParams.for_network(fixed, lanes=2, bnn_width=8, front_end=BnnFrontEnd)
    bridge = UartBridge(Tile(params), D)
    lay = stream_layouts(bridge.dut)
    assert lay["x"] == {"data": {"offset": 0, "width": 12, "signed": True},
                        "first": {"offset": 12, "width": 1, "signed": False},
                        "last": {"offset": 13, "width": 1, "signed": False}}
    import json

    desc = json.loads(json.dumps(describe_link(bridge)))
    link = HostLink.from_description(desc, BytePipe())
    frame = link.encode_beat("x", {"data": -1, "last": 1})
    assert frame == bytes([0x00, 0xFF, 0x2F])
    assert desc["out_streams"][0]["name"] == "h" and desc["layouts"]["h"]["last"]["offset"] == 12
    link.transport.incoming += bytes([RSP_STREAM, 0x00, 0x18, RSP_STREAM, 0x05, 0x00])
    assert link.receive("h") == {"data": -2048, "last": 1}
    assert link.receive("h") == {"data": 5, "last": 0}
    link.transport.incoming += bytes([RSP_STATUS]) + (7 << 1).to_bytes(desc["status"]["bytes"], "little")
    assert link.status("cycles") == 7
    # h stops without link faults (the input cut short): a timeout naming the stream and the sequence
    idle = bytes([RSP_STATUS]) + bytes(desc["status"]["bytes"])
    link.transport.incoming += idle + idle                 # the status before the run, then after the timeout
    with pytest.raises(TimeoutError, match=r"h of the sequence of 1 steps on slot 0: 0 of 4 outputs before the "
                                           r"read timed out: the tile waits for x"):
        TileLink(link, hidden=4).run_sequence(np.zeros((1, 3), dtype=int), clear=False)


def test_errors():
    link = _add_link()
    with pytest.raises(ValueError, match="no control field 'ofset'"):
        link.set_controls(ofset=1)
    with pytest.raises(ValueError, match="does not fit 4 bits"):
        link.set_controls(offset=16)
    with pytest.raises(ValueError, match="does not fit"):
        link.set_controls(offset=-1)
    assert link.controls == {"offset": 0} and not link.transport.written   # nothing sent or kept
    with pytest.raises(ValueError, match="no input stream 'o'"):
        link.send("o", 1)
    with pytest.raises(ValueError, match="does not fit 12 bits"):
        link.send("i", 1 << 12)
    with pytest.raises(ValueError, match="no payload layout"):
        link.send("i", {"data": 1})
    with pytest.raises(ValueError, match="not an integer"):
        link.send("i", 1.5)
    with pytest.raises(ValueError, match="no output stream"):
        link.receive("i")
    with pytest.raises(ValueError, match="no status field 'cnt'"):
        link.status("cnt")
    with pytest.raises(ValueError, match="unknown header byte 0x42"):
        _add_link(bytes([0x42, 0, 0])).receive("o")
    with pytest.raises(ValueError, match="truncated"):
        _add_link(bytes([RSP_STREAM, 0x37])).receive("o")
    with pytest.raises(ValueError, match="bits set above"):
        _add_link(bytes([RSP_STREAM, 0x00, 0x10])).receive("o")
    with pytest.raises(ValueError, match="malformed frame"):
        _add_link().decode_frame(bytes([RSP_STATUS, 1]))
    with pytest.raises(TimeoutError):
        _add_link().receive("o")

    x_link = HostLink(bridge_map(AddUnit()), BytePipe(), {"i": {"v": {"offset": 0, "width": 4, "signed": True}}})
    with pytest.raises(ValueError, match=r"i.v: 8 does not fit 4 bits signed \(-8..7\)"):
        x_link.send("i", {"v": 8})
    with pytest.raises(ValueError, match="has no field 'w'"):
        x_link.send("i", {"w": 0})
    with pytest.raises(ValueError, match="not a tile"):
        TileLink(x_link, hidden=4)


# ------------------------------------------------------------------------------------------ end to end

@pytest.mark.parametrize("cell", [pytest.param("lstm", marks=pytest.mark.slow), "gru"])   # Amaranth-simulated UART
def test_tile_end_to_end_over_uart(cell):
    """Load through wr, two memoizing sequences (the second with another threshold), every h and the
    evaluation/reuse counters equal to the golden model; the memories start empty."""
    from fuzzymemo.compiled import CompiledModel
    from hw.tile import Tile

    start = time.perf_counter()
    fixed = FixedPointNetwork(normal_network(cell, 3, 4, seed=3))
    compiled = CompiledModel(fixed, lanes=2, bnn_width=8)
    params = compiled.params
    bridge = UartBridge(Tile(params), D)
    serial = SimSerial(bridge)
    tile = TileLink(HostLink.from_description(describe_link(bridge), serial), hidden=params.hidden)

    tile.load_model(compiled)
    xs = random_inputs(fixed.config, 2, 4, 3, seed=5, scale=0.3)
    total_reuses = 0
    for x, (theta, form) in zip(xs, [(2, "absolute"), (0.3, "relative")], strict=True):
        run = tile.run_sequence(x, memo_enable=1, theta=intops.quantize_threshold(theta, form), form=form)
        gold = fixed.run(x[None], policy=MemoPolicy(PREDICTED, theta, form))
        assert np.array_equal(run.h, gold.out[0]), f"\n{run.h}\n!=\n{gold.out[0]}"
        assert run.lasts == [x.shape[0] * params.hidden - 1]
        assert run.counters["evaluations"] == int(gold.stats.evaluations.sum()) == x.shape[0] * params.neurons
        assert run.counters["reuses"] == int(gold.stats.reuses.sum())
        assert run.counters["cycles"] > 0 and np.any(run.h != 0)
        total_reuses += run.counters["reuses"]
    assert total_reuses > 10, "the thresholds should give real reuse"
    # the whole batch as a network run (sans-IO plan over this transport), the second sequence shorter
    lengths = np.array([4, 2])
    outputs, passes = tile.run_network(xs, lengths, inputs=[3])
    gold = fixed.run(xs, lengths, policy=MemoPolicy("off"))
    assert np.array_equal(outputs[-1], gold.out)
    assert passes[0]["counters"]["evaluations"] == int(gold.stats.evaluations.sum())
    assert tile.link.status("busy") == 0
    print(f"e2e: {serial.cycles} clock cycles simulated in {time.perf_counter() - start:.1f} s")


def test_link_faults_are_reported_and_reset():
    link = _add_link(bytes([RSP_STATUS, 0, 0, 2, 0, 1]))
    with pytest.raises(LinkError, match=r"serial link faults during sequence 3: 2 framing error\(s\) \(bytes with a "
                                        r"low stop bit.*; 1 byte\(s\) that were no command.*reset it"):
        link.check_link("sequence 3")
    link.transport.incoming += bytes([RSP_STREAM, 1, 0, RSP_STATUS, 0, 0, 2, 0, 1, RSP_STATUS, 0, 0, 0, 0, 0])
    assert link.reset() == {"count": 0, **dict.fromkeys(board.LINK_COUNTERS, 0)}
    assert link.transport.written.endswith(bytes([CMD_STATUS, board.CMD_RESET, CMD_STATUS]))
    with pytest.raises(TimeoutError):
        link.receive("o")                                  # the beat sent before the reset is discarded


@pytest.mark.slow   # the faults themselves are checked on the direct link (test_tile_faults.py)
def test_tile_faults_over_uart():
    """Over the UART: a sequence sent without `last` leaves the tile busy, and the next run says so; a
    framing error on an x byte is counted by the board and the host reports it (the h read times out,
    then the link counters); each time TileLink.reset() (a break and the reset command) and loading the
    model again recover, and the next sequence is bit-exact."""
    from fuzzymemo.compiled import CompiledModel
    from hw.tile import Tile
    from sim.tile_protocol import controls, sequence_beats

    fixed = FixedPointNetwork(normal_network("lstm", 3, 4, seed=3))
    compiled = CompiledModel(fixed, lanes=2, bnn_width=8)
    bridge = UartBridge(Tile(compiled.params), D)
    serial = SimSerial(bridge, timeout_cycles=20_000)
    link = HostLink.from_description(describe_link(bridge), serial)
    tile = TileLink(link, hidden=4)
    tile.load_model(compiled)
    xs = random_inputs(fixed.config, 2, 3, 3, seed=5, scale=0.3)
    gold = fixed.run(xs[1:], policy=MemoPolicy("off")).out[0]

    beats = sequence_beats(xs[0])
    beats[-1]["last"] = 0                                  # a host that never ends the sequence
    link.set_controls(**controls(slot=0, n_x=3))
    link.send_many("x", beats[:6])
    for _ in range(4):
        link.receive("h")                                  # step 0 done: the tile takes the rest
    link.send_many("x", beats[6:])
    with pytest.raises(RuntimeError, match="the tile is busy before the sequence of 3 steps on slot 0: an "
                                           "earlier sequence did not end"):
        tile.run_sequence(xs[1])
    tile.reset()
    assert np.array_equal(tile.run_sequence(xs[1]).h, gold)

    # the first x payload byte: after the status request (1 byte), the controls (1 + word) and the x header
    serial.bad_stop = {serial.sent + 3 + link.map["control"]["bytes"]}
    with pytest.raises(LinkError, match=r"h of the sequence of 3 steps on slot 0: 0 of 12 outputs before the read "
                                        r"timed out; serial link faults: 1 framing error"):
        tile.run_sequence(xs[1], clear=False)
    tile.reset()
    assert link.link_errors() == dict.fromkeys(board.LINK_COUNTERS, 0)
    tile.load_model(compiled)
    assert np.array_equal(tile.run_sequence(xs[1]).h, gold)
