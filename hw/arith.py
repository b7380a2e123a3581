"""Amaranth expressions of the integer operations of :mod:`golden_model.intops`.

Each helper builds the combinational expression of one intops function, with every intermediate as
wide as it needs to be (Amaranth widens ``+``, ``-`` and ``*`` exactly), so the result equals the
golden model's int64 arithmetic bit for bit as long as the final value fits the signal it is assigned to.
The saturating helpers guarantee that fit themselves.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Value, signed

from golden_model import intops
from golden_model.formats import QFormat

__all__ = ["balanced_sum", "clip_symmetric", "rescale", "round_shift", "rounding_offset", "saturate", "to_preact",
           "to_preact_offset"]


def round_shift(x: Value, shift: int) -> Value:
    """:func:`intops.round_shift`: arithmetic shift right rounding half up (add 2**(shift-1), floor);
    a negative ``shift`` is an exact shift left."""
    x = Value.cast(x)
    if shift > 0:
        return (x + Const(1 << (shift - 1), signed(shift + 1))) >> shift
    if shift < 0:
        return x << (-shift)
    return x


def rounding_offset(shift: int) -> int:
    """The 2**(shift-1) that :func:`round_shift` adds before its floor (0 when no bits are dropped)."""
    return 1 << (shift - 1) if shift > 0 else 0


def rescale(x: Value, from_frac: int, to_frac: int) -> Value:
    """:func:`intops.rescale`."""
    return round_shift(x, from_frac - to_frac)


def _clamp(x: Value, lo: int, hi: int, bits: int) -> Value:
    x = Value.cast(x)
    lo_c, hi_c = Const(lo, signed(bits)), Const(hi, signed(bits))
    clamped = Mux(x > hi_c, hi_c, Mux(x < lo_c, lo_c, x))
    return clamped[:bits].as_signed()


def _signed_fit(x: Value, bits: int):
    """(x as a signed value, whether it fits ``bits`` bits: its bits from ``bits - 1`` up all equal, a test
    without a carry chain, unlike two magnitude compares after the adder that usually produces x)."""
    x = Value.cast(x)
    if not x.shape().signed:
        x = Cat(x, Const(0, 1)).as_signed()
    if len(x) <= bits:
        return Cat(x, x[-1].replicate(bits - len(x))).as_signed(), Const(1)
    top = x[bits - 1:]
    return x, (top == 0) | (top == (1 << len(top)) - 1)


def saturate(x: Value, bits: int) -> Value:
    """:func:`intops.saturate`: clamp to the two's-complement range of ``bits`` bits; the result is
    ``signed(bits)``."""
    x, fits = _signed_fit(x, bits)
    hi, lo = Const((1 << (bits - 1)) - 1, signed(bits)), Const(-(1 << (bits - 1)), signed(bits))
    return Mux(fits, x[:bits].as_signed(), Mux(x[-1], lo, hi))


def clip_symmetric(x: Value, limit: int, bits: int) -> Value:
    """Clamp to ``-limit .. limit``; the result is ``signed(bits)`` (``limit < 2**(bits-1)``). At the
    largest limit, 2**(bits-1) - 1 (:func:`intops.preact_limit`), the range test is :func:`saturate`'s
    with -2**(bits-1) excluded by an equality (in parallel, again no carry chain)."""
    assert 0 <= limit < (1 << (bits - 1))
    if limit != (1 << (bits - 1)) - 1:
        return _clamp(x, -limit, limit, bits)
    x, fits = _signed_fit(x, bits)
    inside = fits & (x != -(1 << (bits - 1)))
    return Mux(inside, x[:bits].as_signed(), Mux(x[-1], Const(-limit, signed(bits)), Const(limit, signed(bits))))


def to_preact(x: Value, from_frac: int, preact: QFormat) -> Value:
    """:func:`intops.to_preact`: rescale to the preactivation fraction, then saturate symmetrically
    to +-:func:`intops.preact_limit`; the result is ``signed(preact.bits)``."""
    return clip_symmetric(rescale(x, from_frac, preact.frac), intops.preact_limit(preact), preact.bits)


def to_preact_offset(x_offset: Value, from_frac: int, preact: QFormat) -> Value:
    """:func:`to_preact` of x given ``x_offset`` = x + ``rounding_offset(from_frac - preact.frac)`` (the
    offset added earlier, e.g. into an accumulator's initial value): only the shift and the saturation
    remain, no adder."""
    x_offset, shift = Value.cast(x_offset), from_frac - preact.frac
    shifted = x_offset >> shift if shift > 0 else x_offset << -shift
    return clip_symmetric(shifted, intops.preact_limit(preact), preact.bits)


def balanced_sum(terms) -> Value:
    """Sum of ``terms`` as a balanced adder tree (exact: Amaranth widens every addition)."""
    terms = [Value.cast(t) for t in terms]
    if not terms:
        raise ValueError("balanced_sum needs at least one term")
    while len(terms) > 1:
        pairs = [terms[k] + terms[k + 1] for k in range(0, len(terms) - 1, 2)]
        if len(terms) % 2:
            pairs.append(terms[-1])
        terms = pairs
    return terms[0]
