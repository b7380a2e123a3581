"""Board tops: a block (the tile) behind a UART host link, for the iCEBreaker and the ULX3S.

:class:`UartBridge` turns any ``wiring.Component`` into a byte protocol. It sorts the block's top-level
members into input streams (``amaranth.lib.stream``, consumed by the block), output streams, control
inputs (every other input, packed in declaration order into one control word held in a register) and
status outputs (every other output, packed likewise). Multi-byte values are little-endian; a payload or
word of ``w`` bits takes ceil(w/8) bytes, its bit 0 first.

host -> board:

* ``0x00 + k`` followed by the payload bytes of input stream ``k`` (declaration order): one beat, held
  valid until the block takes it (bytes arriving meanwhile are dropped and counted, ``link_dropped``, so
  the host should not run ahead of a stalled stream);
* ``0x40`` followed by the control word: sets every control input (a pulse input such as the tile's
  ``clear_counters`` is set and then cleared by a second ``0x40``);
* ``0x41``: status request;
* ``0x42``: reset the block (its registers, not its memories) and the link error counters; the recovery
  from a block that waits for input that never comes (e.g. a tile sequence without ``last``).

Faults on the line are reported, never silent: the status word ends with three link counters (8 bits
each, saturating, after the block's status outputs), ``link_framing_errors`` (bytes whose stop bit was
low: a wrong baud rate, noise, a break), ``link_dropped`` (bytes that came while a beat waited for the
block to take it) and ``link_bad_commands`` (a byte that is no command where a command was due: a
garbled header, or the host out of step). A framing error also ends the frame being received (a
partial frame or a beat the block has not taken is discarded), so a break (the line held low for a
frame or longer) brings the receiver back to a command boundary: the host's recovery is a break, then
``0x42`` (:meth:`synth.host_link.HostLink.reset`).

board -> host:

* ``0x80 + j`` followed by the payload bytes of one beat of output stream ``j``;
* ``0xC1`` followed by the status word (a snapshot of every status output), in reply to ``0x41``.

:func:`bridge_map` gives the layout (stream indices, byte counts, the bit offset of every control and
status port) as a dict, which :meth:`UartBridge.describe` also writes next to a board build, for the
host side.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Elaboratable, Module, ResetInserter, Signal, Value
from amaranth.lib import stream
from amaranth.lib.wiring import In

from .uart import UartRx, UartTx

__all__ = ["UartBridge", "BoardTop", "bridge_map", "CMD_CONTROL", "CMD_RESET", "CMD_STATUS", "LINK_COUNTERS",
           "RSP_STATUS", "RSP_STREAM"]

CMD_CONTROL, CMD_STATUS, CMD_RESET = 0x40, 0x41, 0x42
#: The link's own status fields, after the block's (saturating counters).
LINK_COUNTERS = ("link_framing_errors", "link_dropped", "link_bad_commands")
LINK_COUNTER_BITS = 8
RSP_STREAM, RSP_STATUS = 0x80, 0xC1


def _nbytes(bits: int) -> int:
    return max(1, -(-bits // 8))


def _saturating_increment(counter: Signal):
    """``counter`` + 1, held at its maximum (an error count must not wrap to look clean)."""
    return counter.eq(counter + (counter != (1 << len(counter)) - 1))


def _sort(component):
    in_streams, out_streams, controls, status = [], [], [], []
    for name, member in component.signature.members.items():
        value = getattr(component, name)
        if member.is_signature and isinstance(member.signature, stream.Signature):
            (in_streams if member.flow == In else out_streams).append((name, value))
        elif member.is_signature:
            for path, sub, v in member.signature.flatten(value):
                flow = sub.flow if member.flow == In else sub.flow.flip()
                full = ".".join([name, *map(str, path)])
                (controls if flow == In else status).append((full, Value.cast(v)))
        else:
            (controls if member.flow == In else status).append((name, Value.cast(value)))
    return in_streams, out_streams, controls, status


def bridge_map(component) -> dict:
    """The protocol layout of ``component`` behind a :class:`UartBridge`."""
    ins, outs, controls, status = _sort(component)

    def fields(ports):
        out, offset = {}, 0
        for name, v in ports:
            out[name] = {"offset": offset, "width": len(v)}
            offset += len(v)
        return out, offset

    cfields, cbits = fields(controls)
    sfields, sbits = fields(status + [(name, Signal(LINK_COUNTER_BITS)) for name in LINK_COUNTERS])
    return {
        "in_streams": [{"name": n, "command": k, "payload_bits": len(Value.cast(s.payload)),
                        "bytes": _nbytes(len(Value.cast(s.payload)))} for k, (n, s) in enumerate(ins)],
        "out_streams": [{"name": n, "tag": RSP_STREAM + j, "payload_bits": len(Value.cast(s.payload)),
                         "bytes": _nbytes(len(Value.cast(s.payload)))} for j, (n, s) in enumerate(outs)],
        "control": {"command": CMD_CONTROL, "bits": cbits, "bytes": _nbytes(cbits), "fields": cfields},
        "status": {"command": CMD_STATUS, "tag": RSP_STATUS, "bits": sbits, "bytes": _nbytes(sbits),
                   "fields": sfields},
        "reset": {"command": CMD_RESET},
    }


class UartBridge(Elaboratable):
    """``dut`` behind the byte protocol of this module; ``rx``/``tx`` are the UART lines."""

    def __init__(self, dut, divisor: int, dut_name: str = "dut"):
        self.dut, self.divisor, self.dut_name = dut, divisor, dut_name
        self.ins, self.outs, self.controls, self.status = _sort(dut)
        if len(self.ins) > CMD_CONTROL or len(self.outs) > RSP_STATUS - RSP_STREAM:
            raise ValueError("too many streams for the UART bridge protocol")
        self.rx = Signal(init=1)
        self.tx = Signal(init=1)

    def describe(self) -> dict:
        return {"divisor": self.divisor, **bridge_map(self.dut)}

    def elaborate(self, platform):
        m = Module()
        dut_reset = Signal()
        m.submodules[self.dut_name] = ResetInserter(dut_reset)(self.dut)
        m.submodules.uart_rx = rx = UartRx(self.divisor)
        m.submodules.uart_tx = tx = UartTx(self.divisor)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx)]

        in_bytes = [_nbytes(len(Value.cast(s.payload))) for _, s in self.ins]
        cbits = sum(len(v) for _, v in self.controls)
        framing, dropped, bad = counters = [Signal(LINK_COUNTER_BITS, name=n) for n in LINK_COUNTERS]
        cbytes = _nbytes(cbits)
        rx_bytes = max([cbytes, *in_bytes])

        # ---- host -> board
        buf = Signal(8 * rx_bytes)
        idx = Signal(range(rx_bytes + 1))
        last = Signal(range(rx_bytes + 1))
        sel = Signal(range(len(self.ins) + 1))    # len(self.ins): the control word
        ctrl = Signal(max(cbits, 1))
        status_req = Signal()
        offset = 0
        for _, v in self.controls:
            m.d.comb += v.eq(ctrl[offset:offset + len(v)])
            offset += len(v)
        m.d.sync += dut_reset.eq(0)
        with m.If(rx.error):
            m.d.sync += _saturating_increment(framing)
        with m.FSM(name="host_rx"):
            with m.State("CMD"):
                with m.If(rx.valid):
                    known = Signal()
                    for k in range(len(self.ins)):
                        with m.If(rx.data == k):
                            m.d.comb += known.eq(1)
                            m.d.sync += [sel.eq(k), idx.eq(0), last.eq(in_bytes[k] - 1)]
                            m.next = "DATA"
                    with m.If(rx.data == CMD_CONTROL):
                        m.d.comb += known.eq(1)
                        m.d.sync += [sel.eq(len(self.ins)), idx.eq(0), last.eq(cbytes - 1)]
                        m.next = "DATA"
                    with m.If(rx.data == CMD_STATUS):
                        m.d.comb += known.eq(1)
                        m.d.sync += status_req.eq(1)
                    with m.If(rx.data == CMD_RESET):
                        m.d.comb += known.eq(1)
                        m.d.sync += [dut_reset.eq(1), *(c.eq(0) for c in counters)]
                    with m.If(~known):
                        m.d.sync += _saturating_increment(bad)
            with m.State("DATA"):
                with m.If(rx.valid):
                    m.d.sync += [buf.word_select(idx, 8).eq(rx.data), idx.eq(idx + 1)]
                    with m.If(idx == last):
                        m.next = "APPLY"
                with m.If(rx.error):                 # the frame is damaged: back to a command boundary
                    m.next = "CMD"
            with m.State("APPLY"):
                with m.If(rx.valid):
                    m.d.sync += _saturating_increment(dropped)
                with m.If(sel == len(self.ins)):
                    m.d.sync += ctrl.eq(buf[:len(ctrl)])
                    m.next = "CMD"
                with m.Else():
                    m.next = "PUSH"
            with m.State("PUSH"):
                with m.If(rx.valid):                 # the host ran ahead of a stalled stream
                    m.d.sync += _saturating_increment(dropped)
                for k, (_, s) in enumerate(self.ins):
                    with m.If(sel == k):
                        m.d.comb += [s.valid.eq(1), s.payload.eq(buf[:len(Value.cast(s.payload))])]
                        with m.If(s.ready):
                            m.next = "CMD"
                with m.If(rx.error):                 # a break gives up a beat the block does not take
                    m.next = "CMD"

        self._transmit(m, tx, status_req, counters)
        return m

    def _transmit(self, m: Module, tx: UartTx, status_req: Signal, counters: list) -> None:
        """Board -> host: output stream beats as they come, the status word when ``status_req``."""
        out_bytes = [_nbytes(len(Value.cast(s.payload))) for _, s in self.outs]
        status_word = Cat(*(v for _, v in self.status), *counters)
        sbits = len(status_word)
        tx_bytes = max([_nbytes(sbits), *out_bytes])
        txbuf = Signal(8 * tx_bytes)
        header = Signal(8)
        left = Signal(range(tx_bytes + 1))
        with m.FSM(name="host_tx"):
            with m.State("IDLE"):
                with m.If(status_req):
                    m.d.sync += [status_req.eq(0), txbuf.eq(status_word), header.eq(RSP_STATUS),
                                 left.eq(_nbytes(sbits))]
                    m.next = "HEADER"
                for j, (_, s) in enumerate(self.outs):  # the first valid stream wins
                    with m.Elif(s.valid):
                        m.d.comb += s.ready.eq(1)
                        m.d.sync += [txbuf.eq(s.payload), header.eq(RSP_STREAM + j), left.eq(out_bytes[j])]
                        m.next = "HEADER"
            with m.State("HEADER"):
                m.d.comb += [tx.data.eq(header), tx.valid.eq(1)]
                with m.If(tx.ready):
                    m.next = "BODY"
            with m.State("BODY"):
                m.d.comb += [tx.data.eq(txbuf[:8]), tx.valid.eq(1)]
                with m.If(tx.ready):
                    m.d.sync += [txbuf.eq(txbuf >> 8), left.eq(left - 1)]
                    with m.If(left == 1):
                        m.next = "IDLE"


class BoardTop(Elaboratable):
    """``dut`` behind a :class:`UartBridge` on the board's UART (``baud``, 8N1), clocked by the board
    oscillator (the platform's default clock)."""

    def __init__(self, dut, baud: int = 115200, dut_name: str = "dut", clock_hz: float | None = None):
        self.dut, self.baud, self.dut_name, self.clock_hz = dut, baud, dut_name, clock_hz
        self.bridge = None

    def divisor(self, clock_hz: float) -> int:
        return max(4, round(clock_hz / self.baud))

    def elaborate(self, platform):
        from amaranth.lib import io

        m = Module()
        clock_hz = platform.default_clk_frequency if platform is not None else self.clock_hz
        self.bridge = bridge = UartBridge(self.dut, self.divisor(clock_hz), self.dut_name)
        m.submodules.bridge = bridge
        if platform is not None:
            uart = platform.request("uart", 0, dir={"rx": "-", "tx": "-"})
            m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
            m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
            m.d.comb += [bridge.rx.eq(rx_buf.i), tx_buf.o.eq(bridge.tx)]
        return m
