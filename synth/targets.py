"""Synthesis targets: ``generic`` (Yosys ``synth``, an ASIC proxy), ``ice40`` (iCE40UP5K on the iCEBreaker
board) and ``ecp5`` (LFE5U-85F on the ULX3S board), with the capacities the fit check uses."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Target", "TARGETS", "get_target", "make_platform"]


@dataclass(frozen=True)
class Target:
    name: str
    device: str
    board: str | None
    #: clock of the board's oscillator (MHz); None for generic
    board_clock_mhz: float | None
    #: default clock constraint given to nextpnr (MHz), above what designs reach, so the placer works for fmax
    default_constraint_mhz: float | None
    #: resource -> amount available
    capacity: dict = field(default_factory=dict)
    #: DSP multiplier operand width (unsigned bits handled by one DSP in each operand)
    dsp_width: int = 0
    #: bits of one block RAM and the (width, depth) shapes it offers
    bram_shapes: tuple = ()
    description: str = ""


TARGETS = {
    "generic": Target("generic", "generic gates (Yosys internal cell library)", None, None, None,
                      description="Yosys synth + stat; per-gate CMOS costs as an ASIC-proxy transistor count"),
    "ice40": Target("ice40", "iCE40UP5K-SG48", "iCEBreaker", 12.0, 100.0,
                    capacity={"lut": 5280, "ff": 5280, "bram": 30, "spram": 4, "dsp": 8, "io": 39},
                    dsp_width=16,
                    bram_shapes=((2, 2048), (4, 1024), (8, 512), (16, 256)),
                    description="iCE40UP5K: 5280 LUT4/FF, 30 EBR x 4 Kbit, 4 SPRAM x 256 Kbit, 8 SB_MAC16"),
    "ecp5": Target("ecp5", "LFE5U-85F-6CABGA381", "ULX3S", 25.0, 250.0,
                   capacity={"lut": 83640, "ff": 83640, "bram": 208, "dsp": 156, "io": 365},
                   dsp_width=18,
                   bram_shapes=((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512)),
                   description="LFE5U-85F: 83640 LUT4/FF, 208 EBR x 18 Kbit, 156 MULT18X18D"),
}


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown target {name!r}; targets: {', '.join(TARGETS)}") from None


def make_platform(target: Target, constraint_mhz: float):
    """amaranth-boards platform of ``target`` with its oscillator constrained at ``constraint_mhz`` (the
    fmax search target; the board clock itself is unchanged) and a ``scan`` resource of three pins on a
    connector for :class:`synth.wrapper.ScanWrapper`. The ULX3S platform does not ask for openFPGALoader
    (needed only to program a board)."""
    from amaranth.build import Attrs, Clock, Pins, Resource, Subsignal

    if target.name == "ice40":
        from amaranth_boards.icebreaker import ICEBreakerPlatform as Base
        clk, attrs = "clk12", Attrs(IO_STANDARD="SB_LVCMOS")
        pins = {"si": ("1", ("pmod", 0)), "so": ("2", ("pmod", 0)), "load": ("3", ("pmod", 0))}
    elif target.name == "ecp5":
        from amaranth_boards.ulx3s import ULX3S_85F_Platform as Base
        clk, attrs = "clk25", Attrs(IO_TYPE="LVCMOS33")
        pins = {"si": ("0+", ("gpio", 0)), "so": ("0-", ("gpio", 0)), "load": ("1+", ("gpio", 0))}
    else:
        raise ValueError(f"target {target.name!r} has no board platform")

    resources = []
    for r in Base.resources:
        if r.name == clk:
            r = Resource(r.name, r.number, *[io for io in r.ios], Clock(constraint_mhz * 1e6),
                         *([Attrs(**r.attrs)] if r.attrs else []))
        resources.append(r)
    scan = Resource("scan", 0,
                    Subsignal("si", Pins(pins["si"][0], dir="i", conn=pins["si"][1])),
                    Subsignal("so", Pins(pins["so"][0], dir="o", conn=pins["so"][1])),
                    Subsignal("load", Pins(pins["load"][0], dir="i", conn=pins["load"][1])),
                    attrs)
    namespace = {"resources": resources + [scan]}
    platform_cls = type(f"{Base.__name__}_fuzzymemo", (Base,), namespace)
    platform_cls.required_tools = property(
        lambda self: [t for t in super(platform_cls, self).required_tools if t != "openFPGALoader"])
    return platform_cls()
