"""A block as a top level: Amaranth cannot make a port of a constant, and an input stream built with
``always_ready=True`` has ``ready`` = ``Const(1)``. :class:`ReadyPorts` wraps such a block with the same
members, its always-ready input streams as plain streams whose ``ready`` is driven 1 (what a producer of
the block may rely on), so ``fuzzymemo generate`` and the cocotb tests see the block's own logic with
``<name>__ready`` an output tied high."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["ReadyPorts"]


def _always_ready(member, flow) -> bool:
    return (member.is_signature and member.flow == flow and isinstance(member.signature, stream.Signature)
            and member.signature.always_ready)


def _always_ready_input(member) -> bool:
    return _always_ready(member, In)


class ReadyPorts(wiring.Component):
    """``block`` with each always-ready stream as a plain one: an input's ``ready`` tied to 1, an
    output's ``ready`` an input it ignores (the block never waits); every other member passes through.
    The block's ``latency`` (if any) is this component's too."""

    def __init__(self, block: wiring.Component):
        self.block = block
        members = {}
        for name, member in block.signature.members.items():
            if _always_ready_input(member):
                member = In(stream.Signature(member.signature.members["payload"].shape))
            elif _always_ready(member, Out):
                member = Out(stream.Signature(member.signature.members["payload"].shape))
            members[name] = member
        if hasattr(block, "latency"):
            self.latency = block.latency
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.block = block = self.block
        for name, member in block.signature.members.items():
            outer, inner = getattr(self, name), getattr(block, name)
            if _always_ready_input(member):
                m.d.comb += [inner.valid.eq(outer.valid), inner.payload.eq(outer.payload), outer.ready.eq(1)]
            elif _always_ready(member, Out):
                m.d.comb += [outer.valid.eq(inner.valid), outer.payload.eq(inner.payload)]
            elif member.is_port:
                m.d.comb += inner.eq(outer) if member.flow == In else outer.eq(inner)
            else:
                wiring.connect(m, wiring.flipped(outer), inner)
        return m
