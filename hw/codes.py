"""Decoded forms of a binary count that the tile's parts register once per sequence."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Value

__all__ = ["thermometer"]


def _below(k: int, field: Value) -> Value:
    """k < ``field``, a constant where the field cannot exceed k (Verilator flags constant compares)."""
    return Const(0) if k >= (1 << len(field)) - 1 else Const(k, len(field)) < field


def thermometer(value, width: int) -> Value:
    """The ``width``-bit thermometer code of unsigned ``value``: bit k = (k < value).

    Built in two levels instead of ``width`` compares with constants (a carry chain or a LUT tree each,
    most of the x masks' cost in the BNN front end): the value's high and low fields are decoded once, a
    thermometer and a one-hot of the high field and a thermometer of the low one, and each bit is one
    3-input function of them, k < v  <=>  hi(k) < hi(v)  or  (hi(k) = hi(v) and lo(k) < lo(v))."""
    value = Value.cast(value)
    n = len(value)
    if width < 1:
        raise ValueError(f"thermometer width must be at least 1, not {width}")
    if n <= 2:
        return Cat(*(_below(k, value) for k in range(width)))
    low_bits = n // 2
    low, high = value[:low_bits], value[low_bits:]
    low_below = [_below(i, low) for i in range(1 << low_bits)]
    bits = []
    for k in range(width):
        h, i = k >> low_bits, k & ((1 << low_bits) - 1)
        if h >= 1 << len(high):      # k >= 2**n > every value
            bits.append(Const(0))
        else:
            bits.append(_below(h, high) | ((high == h) & low_below[i]))
    return Cat(*bits)
