"""The tile's run-time-loadable memories as the ``wr`` stream addresses them: memory ids, the ``wr``
payload, and the write port that stores a memory's transfers (shared by the tile and its front ends)."""

from __future__ import annotations

from amaranth.hdl import Signal
from amaranth.lib import data, enum

__all__ = ["MEM_IDS", "MEM_NAMES", "TILE_MEMORIES", "MemId", "wr_layout", "write_from"]


class MemId(enum.Enum, shape=2):
    """``wr.payload.mem``: which memory a run-time write goes to. ``PREDICTOR`` is the predictor front end's
    memory (its layout is the front end's: BNN sign words, low-rank factors). Writes to a memory the tile
    does not have (``PREDICTOR`` on the baseline tile, ``BIAS_HN`` on an LSTM tile) are accepted and
    ignored."""
    WEIGHT = 0
    BIAS = 1
    BIAS_HN = 2
    PREDICTOR = 3


#: memory_image key of every MemId.
MEM_NAMES = {MemId.WEIGHT: "weight", MemId.BIAS: "bias", MemId.BIAS_HN: "bias_hn", MemId.PREDICTOR: "predictor"}
#: MemId of every memory_image key.
MEM_IDS = {name: mem_id for mem_id, name in MEM_NAMES.items()}


def write_from(m, mem, name: str, wr) -> None:
    """Give memory ``mem`` (memory_image key ``name``) a write port storing every transfer of the ``wr``
    stream (payload :func:`wr_layout`) addressed to it; data bits past the memory's width are ignored."""
    wp = mem.write_port()
    fire = Signal(name=f"wr_{name}")
    m.d.comb += [
        fire.eq(wr.valid & wr.ready & (wr.payload.mem == MEM_IDS[name])),
        wp.addr.eq(wr.payload.addr),
        wp.data.eq(wr.payload.data[:len(wp.data)]),
        wp.en.eq(fire),
    ]


def wr_layout(params) -> data.StructLayout:
    """Payload of the ``wr`` stream: ``mem`` (:class:`MemId`), ``addr`` (row), ``data`` (raw word, as wide
    as the widest memory; higher bits are ignored)."""
    depths, widths = params.depths(), params.widths()
    return data.StructLayout({
        "mem": MemId,
        "addr": max(1, (max(depths.values()) - 1).bit_length()),
        "data": max(widths.values()),
    })


#: The memories the tile itself owns (a front end's memories are the others of :data:`MEM_NAMES`).
TILE_MEMORIES = ("weight", "bias", "bias_hn")
