"""The IO-reduction top an FPGA build wraps a block in (a block is not a board design: its ports far
outnumber the pins, and a port driven straight from a pin has no launching register).

:class:`ScanWrapper` puts every port of the block behind a scan chain:

* every **input** bit of the block (stream payloads, ``valid`` of input streams, ``ready`` of output
  streams, control inputs) is a bit of one shift register ``in_sr`` that shifts in from pin ``si`` every
  cycle; the block sees registers, never pins;
* every **output** bit is captured into shift register ``out_sr`` when the (registered) pin ``load`` is
  high, and shifted out to pin ``so`` otherwise: every output stays observable, so nothing is optimised
  away, and every output path ends in a register.

Timing is then measured register to register through the block (the IO paths of ``si``/``so``/``load``
are one flip-flop deep and are not part of the clock's fmax). The wrapper costs ``in_bits + out_bits + 1``
flip-flops and about ``out_bits`` LUTs (the load/shift multiplexer); a baseline and a memoizing tile have
the same ports, so the cost cancels in an overhead comparison.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Elaboratable, Module, Signal, Value

__all__ = ["port_bits", "ScanWrapper"]


def port_bits(component) -> tuple[list[tuple[str, Value]], list[tuple[str, Value]]]:
    """(inputs, outputs) of a ``wiring.Component``: lists of (dotted path, Value), from the block's view."""
    from amaranth.lib.wiring import In

    inputs, outputs = [], []
    for path, member, value in component.signature.flatten(component):
        name = ".".join(str(p) for p in path)
        (inputs if member.flow == In else outputs).append((name, Value.cast(value)))
    return inputs, outputs


class ScanWrapper(Elaboratable):
    """``dut`` behind a scan-in / capture-and-scan-out chain. Without a platform the pins are the
    ``si``/``load`` inputs and ``so`` output attributes; with one they are requested as resource
    ``scan`` (see :func:`synth.targets.scan_resource`)."""

    def __init__(self, dut, dut_name: str = "dut"):
        self.dut, self.dut_name = dut, dut_name
        inputs, outputs = port_bits(dut)
        self.inputs, self.outputs = inputs, outputs
        self.in_bits = sum(len(v) for _, v in inputs)
        self.out_bits = sum(len(v) for _, v in outputs)
        self.si = Signal()
        self.so = Signal()
        self.load = Signal()

    @property
    def info(self) -> dict:
        return {"kind": "scan", "in_bits": self.in_bits, "out_bits": self.out_bits,
                "ff": self.in_bits + self.out_bits + 1}

    def elaborate(self, platform):
        m = Module()
        m.submodules[self.dut_name] = self.dut
        si, so, load = self.si, self.so, self.load
        if platform is not None:
            from amaranth.lib import io

            pins = platform.request("scan", 0, dir={"si": "-", "so": "-", "load": "-"})
            m.submodules.si_buf = si_buf = io.Buffer("i", pins.si)
            m.submodules.so_buf = so_buf = io.Buffer("o", pins.so)
            m.submodules.load_buf = load_buf = io.Buffer("i", pins.load)
            m.d.comb += [si.eq(si_buf.i), so_buf.o.eq(so), load.eq(load_buf.i)]

        in_sr = Signal(max(self.in_bits, 1), reset_less=True)
        m.d.sync += in_sr.eq(Cat(si, in_sr[:-1]) if self.in_bits > 1 else si)
        offset = 0
        for _, value in self.inputs:
            m.d.comb += value.eq(in_sr[offset:offset + len(value)])
            offset += len(value)

        load_r = Signal(reset_less=True)
        out_sr = Signal(max(self.out_bits, 1), reset_less=True)
        m.d.sync += load_r.eq(load)
        captured = Cat(*(v for _, v in self.outputs)) if self.outputs else Signal()
        with m.If(load_r):
            m.d.sync += out_sr.eq(captured)
        with m.Else():
            m.d.sync += out_sr.eq(out_sr >> 1)
        m.d.comb += so.eq(out_sr[0])
        return m
