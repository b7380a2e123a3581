"""Shared pieces of the low-rank cocotb testbenches (tb_projection, tb_low_rank_scorer): the factor memory
behind a block's read port, random factor rows, and the golden z and s of golden_model.predictors.LowRank.

The blocks read their factor rows through ``memory.ReadPort`` ports (``<port>__addr``, ``<port>__en``
out, ``<port>__data`` in); :func:`serve_read_port` plays the memory: a synchronous read (the word at the
address of a cycle with ``en`` high is on ``data`` from the next cycle, held otherwise), as Amaranth's
``memory.Memory`` read port the tile connects."""

from __future__ import annotations

import random

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

from golden_model.predictors import LowRank, Prepared
from hw.low_rank import factor_word

__all__ = ["factor_rows", "golden_s", "golden_z", "serve_read_port", "signed_range"]


def signed_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def factor_rows(rng: random.Random, rows: int, rank: int, bits: int, shift_bits: int = 0):
    """(factors (rows, rank) int64, memory words): random fields over the whole signed range with corners
    (the most negative and positive values, zero); random bits in the ``shift_bits`` above the fields."""
    lo, hi = signed_range(bits)
    f = np.array([[rng.choice([lo, hi, 0, rng.randint(lo, hi)]) if rng.random() < 0.25 else rng.randint(lo, hi)
                   for _ in range(rank)] for _ in range(rows)], dtype=np.int64).reshape(rows, rank)
    extras = [rng.getrandbits(shift_bits) if shift_bits else 0 for _ in range(rows)]
    return f, [factor_word(row, bits, extra) for row, extra in zip(f, extras, strict=True)], extras


def golden_z(v, b) -> np.ndarray:
    """z = v @ B (LowRank.score with A = I: the projection alone)."""
    rank = b.shape[1]
    prepared = Prepared({"a": np.eye(rank, dtype=np.int64), "b": np.asarray(b, dtype=np.int64)}, None, 0)
    return LowRank(rank).score(prepared, None, np.asarray(v, dtype=np.int64)[None], None)[0]


def golden_s(z, a) -> np.ndarray:
    """s = A z for the rows of ``a`` (LowRank.score with B = I: the scorer alone)."""
    rank = a.shape[1]
    prepared = Prepared({"a": np.asarray(a, dtype=np.int64), "b": np.eye(rank, dtype=np.int64)}, None, 0)
    return LowRank(rank).score(prepared, None, np.asarray(z, dtype=np.int64)[None], None)[0]


def serve_read_port(dut, port: str, words: dict[int, int], clk: str = "clk"):
    """Start the memory behind read port ``port`` of ``dut``: ``words`` (address -> word, read live, so
    the test may change it; 0 elsewhere). Returns the task."""
    addr, en, data = (getattr(dut, f"{port}__{n}") for n in ("addr", "en", "data"))
    data.value = 0

    async def run():
        edge, read_only = RisingEdge(getattr(dut, clk)), ReadOnly()
        while True:
            await read_only
            try:
                read = int(addr.value) if int(en.value) else None
            except ValueError:   # X or Z before reset / before the producer drives
                read = None
            await edge
            if read is not None:
                data.value = words.get(read, 0)

    return cocotb.start_soon(run())
