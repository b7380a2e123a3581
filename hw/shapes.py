"""Shapes and memory-port signature members shared by the tile's parts."""

from __future__ import annotations

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, memory
from amaranth.lib.wiring import In
from amaranth.utils import ceil_log2

__all__ = ["count_shape", "sequence_out_layout", "index_shape", "memory_depth", "read_port", "sequence_layout",
           "write_port"]


def memory_depth(rows: int) -> int:
    """The depth a memory of ``rows`` rows is given: at least 2, because a one-row memory has a zero-width
    address, which Amaranth writes as ``wire [-1:0]`` and Verilator rejects (hidden size 1)."""
    return max(2, rows)


def index_shape(n: int):
    """unsigned shape holding 0..n-1 (at least one bit)."""
    return unsigned(max(1, (max(n, 1) - 1).bit_length()))


def count_shape(n: int):
    """unsigned shape holding 0..n."""
    return unsigned(max(1, n.bit_length()))


def read_port(depth: int, width: int) -> In:
    """Signature member of a component using a read port of a ``depth`` x ``width``-bit memory (it drives
    ``addr`` and ``en``, gets ``data``): connect it to ``memory.read_port()``."""
    return In(memory.ReadPort.Signature(addr_width=ceil_log2(depth), shape=unsigned(width)))


def write_port(depth: int, width: int) -> In:
    """Signature member of a component using a write port of a ``depth`` x ``width``-bit memory."""
    return In(memory.WritePort.Signature(addr_width=ceil_log2(depth), shape=unsigned(width)))


def sequence_layout(bits: int) -> data.StructLayout:
    """An element of a streamed sequence going in: ``data`` (signed), ``first`` (element 0 of the sequence),
    ``last`` (its final element). The tile's x stream and the layer chain's buffer reader."""
    return data.StructLayout({"data": signed(bits), "first": 1, "last": 1})


def sequence_out_layout(bits: int) -> data.StructLayout:
    """An element of a streamed sequence coming out: ``data`` (signed), ``last`` (the sequence's final
    element). The tile's h stream and the layer chain's buffer writer."""
    return data.StructLayout({"data": signed(bits), "last": 1})
