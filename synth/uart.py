"""A small 8N1 UART (amaranth-stdio is not on PyPI): :class:`UartRx` and :class:`UartTx`, ``divisor``
clock cycles per bit."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["UartRx", "UartTx"]


class UartRx(wiring.Component):
    """``rx`` line in; ``data`` with a one-cycle ``valid`` pulse per received byte. A frame whose stop bit
    is low (a framing error: a wrong baud rate, noise, a break) gives a one-cycle ``error`` pulse instead
    of ``valid``; after a break (all bits low) the receiver waits for the line to go high before the next
    start bit, so a break (the line held low) is one error, not a stream of zero bytes. The line goes
    through a two-flip-flop synchroniser; bits are sampled mid-bit."""

    def __init__(self, divisor: int):
        if divisor < 4:
            raise ValueError(f"UART divisor must be at least 4 clock cycles per bit, not {divisor}")
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "data": Out(8), "valid": Out(1), "error": Out(1)})

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        s0, line = Signal(init=1), Signal(init=1)
        m.d.sync += [s0.eq(self.rx), line.eq(s0)]
        timer = Signal(range(d))
        bits = Signal(range(8))
        shreg = Signal(8)
        m.d.sync += [self.valid.eq(0), self.error.eq(0)]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(d // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(~line):
                    m.d.sync += [timer.eq(d - 1), bits.eq(0)]
                    m.next = "DATA"
                with m.Else():
                    m.next = "IDLE"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [shreg.eq(Cat(shreg[1:], line)), timer.eq(d - 1), bits.eq(bits + 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(line):
                    m.d.sync += [self.data.eq(shreg), self.valid.eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += self.error.eq(1)
                    m.next = "IDLE"
                    with m.If(shreg == 0):           # a break: one error for the whole low stretch
                        m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(line):
                    m.next = "IDLE"
        return m


class UartTx(wiring.Component):
    """``data``/``valid``/``ready`` byte input (a byte is taken when both are high); ``tx`` line out."""

    def __init__(self, divisor: int):
        if divisor < 4:
            raise ValueError(f"UART divisor must be at least 4 clock cycles per bit, not {divisor}")
        self.divisor = divisor
        super().__init__({"data": In(8), "valid": In(1), "ready": Out(1), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        timer = Signal(range(d))
        bits = Signal(range(10))
        shreg = Signal(10, init=0x3FF)
        m.d.comb += self.tx.eq(shreg[0])
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.ready.eq(1)
                with m.If(self.valid):
                    m.d.sync += [shreg.eq(Cat(Const(0, 1), self.data, Const(1, 1))), timer.eq(d - 1),
                                 bits.eq(9)]
                    m.next = "SEND"
            with m.State("SEND"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(bits != 0):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], Const(1, 1))), timer.eq(d - 1), bits.eq(bits - 1)]
                with m.Else():
                    m.next = "IDLE"
        return m
