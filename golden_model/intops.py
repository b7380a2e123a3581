"""The integer operations of the datapath, each defined once.

This module is the numeric contract: the fixed-point model composes these functions and the RTL
reproduces each of them bit for bit. All functions take and return numpy integer arrays (or Python ints)
and broadcast over any leading axes. They compute in int64, except that an int32 array stays int32: the
fixed-point model passes int32 only where its formats prove every value fits
(:meth:`golden_model.formats.FixedPointConfig.int32_fits`), because half-width passes run about twice as
fast. See ``docs/numeric_contract.md``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from .formats import THETA_BITS, THETA_FRAC, FixedPointConfig, QFormat

SIGMOID = "sigmoid"
TANH = "tanh"
ACTIVATIONS = (SIGMOID, TANH)

RELATIVE = "relative"
ABSOLUTE = "absolute"
THRESHOLD_FORMS = (RELATIVE, ABSOLUTE)


def integers(x) -> np.ndarray:
    """``x`` as the array the functions below compute on: int32 stays int32, anything else becomes int64."""
    x = np.asarray(x)
    return x if x.dtype == np.int32 else np.asarray(x, dtype=np.int64)


def saturate(x, bits: int):
    """Clamp to the two's-complement range of ``bits`` bits."""
    return np.clip(x, -(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def round_shift(x, shift: int):
    """Arithmetic shift right by ``shift`` bits rounding half up (add 2**(shift-1), then floor);
    a negative ``shift`` is an exact shift left."""
    x = integers(x)
    if shift > 0:
        rounded = x + (1 << (shift - 1))
        rounded >>= shift
        return rounded
    return x << (-shift)


def rescale(x, from_frac: int, to_frac: int):
    """Change the number of fractional bits, rounding half up when bits are dropped."""
    return round_shift(x, from_frac - to_frac)


def quantize(values, fmt: QFormat):
    """Float to integer: round half up to the nearest multiple of 2**-frac, then saturate."""
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("cannot quantize NaN or infinite values")
    return saturate(np.floor(values * fmt.scale + 0.5), fmt.bits).astype(np.int64)


def dequantize(q, fmt: QFormat):
    return np.asarray(q, dtype=np.float64) / fmt.scale


def preact_limit(preact: QFormat) -> int:
    """Largest table index: the preactivation saturates symmetrically to +-(2**(bits-1) - 1)."""
    return (1 << (preact.bits - 1)) - 1


def to_preact(x, from_frac: int, preact: QFormat):
    """Requantize a wide value to the table argument: rescale, then saturate symmetrically."""
    limit = preact_limit(preact)
    rescaled = np.asarray(rescale(x, from_frac, preact.frac))
    return np.clip(rescaled, -limit, limit, out=rescaled if rescaled.ndim else None)


def activation_table(kind: str, preact: QFormat, out: QFormat) -> np.ndarray:
    """The half table of a sigmoid or tanh: entry m is f(m / 2**preact.frac) rounded half up to ``out``,
    for m = 0 .. 2**(preact.bits-1) - 1. Negative arguments use the symmetry (see :func:`activate`).
    Read-only, so that :func:`activate` makes its signed form once (:func:`converted`)."""
    if kind not in ACTIVATIONS:
        raise ValueError(f"unknown activation {kind!r}; expected one of {ACTIVATIONS}")
    m = np.arange(preact_limit(preact) + 1, dtype=np.float64) / preact.scale
    f = 1.0 / (1.0 + np.exp(-m)) if kind == SIGMOID else np.tanh(m)
    table = saturate(np.floor(f * out.scale + 0.5), out.bits).astype(np.int64)
    table.flags.writeable = False
    return table


def signed_activation_table(kind: str, table: np.ndarray, out: QFormat) -> np.ndarray:
    """The symmetry that lets one half table serve both signs, as a table over -L..L (entry L + m is
    f(m), L = len(table) - 1): sigmoid(-x) = 1 - sigmoid(x), tanh(-x) = -tanh(x)."""
    table = np.asarray(table, dtype=np.int64)
    mirrored = table[:0:-1]
    negative = (1 << out.frac) - mirrored if kind == SIGMOID else -mirrored
    return np.concatenate([negative, table])


def activate(kind: str, p, table: np.ndarray, out: QFormat):
    """Integer sigmoid/tanh of a table argument ``p`` (already saturated by :func:`to_preact`) from the
    half table (:func:`signed_activation_table`): one look-up per value. An argument beyond the table
    raises IndexError."""
    p = integers(p)
    signed = converted(table, f"signed {kind} {out.frac} {p.dtype.str}",
                       lambda half: signed_activation_table(kind, half, out).astype(p.dtype))
    limit = table.shape[0] - 1
    if p.size and p.min() < -limit:  # (np.take raises above the table but wraps below it)
        raise IndexError(f"activation argument {p.min()} is below the table's range -{limit}..{limit}")
    return np.take(signed, p + limit)


def neuron_preact(acc, bias, cfg: FixedPointConfig):
    """Accumulator plus bias (both of fraction cfg.acc_frac) to the table argument."""
    acc = integers(acc)
    return to_preact(acc if isinstance(bias, int) and bias == 0 else acc + bias, cfg.acc_frac, cfg.preact)


def gru_candidate_acc(acc_x, acc_h, r, cfg: FixedPointConfig):
    """GRU candidate accumulator: (W_in x + b_in) + r * (W_hn h + b_hn), the product rescaled back to the
    accumulator fraction. r is a gate output in the activation format."""
    return np.asarray(acc_x, dtype=np.int64) + round_shift(np.asarray(r, dtype=np.int64) * acc_h, cfg.act.frac)


def lstm_cell_update(i, f, g, o, c, tanh_table: np.ndarray, cfg: FixedPointConfig):
    """LSTM state update. Gate outputs i, f, g, o and h are in the activation format, c in the cell format.
    c' = sat_C(rescale(f*c) + rescale(i*g));  h' = sat_A(rescale(o * tanh(c')))."""
    a, cf = cfg.act.frac, cfg.cell.frac
    c_new = saturate(rescale(f * c, a + cf, cf) + rescale(i * g, 2 * a, cf), cfg.cell.bits)
    tanh_c = activate(TANH, to_preact(c_new, cf, cfg.preact), tanh_table, cfg.act)
    h_new = saturate(rescale(o * tanh_c, 2 * a, a), cfg.act.bits)
    return h_new, c_new


def gru_state_update(z, n, h, cfg: FixedPointConfig):
    """GRU state update h' = (1 - z) * n + z * h computed as n + z * (h - n), rescaled and saturated."""
    return saturate(n + rescale(z * (h - n), 2 * cfg.act.frac, cfg.act.frac), cfg.act.bits)


def sign_bits(q):
    """Binarization of the BNN: bit 1 for q >= 0 (sign(0) = +1), bit 0 for q < 0."""
    return (np.asarray(q) >= 0).astype(np.int8)


#: (float type, b): every integer of magnitude below 2**b is exact in the type (its significand bits).
_FLOAT_EXACT = ((np.float32, 24), (np.float64, 53))


def product_bits(a: np.ndarray, b: np.ndarray | None, b_largest: int | None = None) -> int:
    """A width that every partial sum of a @ b stays below in magnitude, from the operands themselves:
    |sum| <= terms x max|a| x max|b|, one pass over each (cheap beside the product; ``b_largest`` gives
    max|b| instead, for a matrix used again and again). Tight for the
    datapath, where the activations' -min_int is reached: 8-bit weights and activations over 768 terms
    (or 1023 with |w| <= 127) stay below 2**24, so their products run on float32, about twice as fast
    as float64; the format widths alone (acc_bits) would allow float32 up to 128 terms only."""
    if b_largest is None:
        b_largest = _largest_magnitude(b)
    return (a.shape[-1] * _largest_magnitude(a) * b_largest).bit_length()


def _largest_magnitude(a: np.ndarray) -> int:
    """max |a| (0 when empty) from two reductions, without an array of |a|."""
    return max(int(a.max(initial=0)), -int(a.min(initial=0)))


#: Converted copies of read-only operands (the weights, used at every step), least recently used last; an
#: entry holds its source array, so the memory its key names is not reused while it is cached.
_CONVERTED: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
_CONVERTED_MAX = 64
_CONVERTED_LOCK = threading.Lock()


def converted(b: np.ndarray, tag: str, convert: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``convert(b)``, made once per read-only ``b`` and ``tag`` (a writable ``b`` may change: converted
    every time). The weights are read-only (FixedPointNetwork), so their float copies for BLAS and the
    BNN's +-1 matrix are made once, not at every step."""
    if b.flags.writeable:
        return convert(b)
    key = (b.__array_interface__["data"][0], b.shape, b.strides, b.dtype.str, tag)
    with _CONVERTED_LOCK:
        entry = _CONVERTED.get(key)
        if entry is not None:
            _CONVERTED.move_to_end(key)
            return entry[1]
    result = convert(b)
    result.flags.writeable = False
    with _CONVERTED_LOCK:
        _CONVERTED[key] = (b, result)
        while len(_CONVERTED) > _CONVERTED_MAX:
            _CONVERTED.popitem(last=False)
    return result


def exact_matmul(a, b, bits: int | None = None, out=np.int64) -> np.ndarray:
    """The integer product a @ b, exactly, as ``out`` (int64, or int32 where the caller knows the sums fit),
    for integer arrays whose every partial sum of products stays below 2**``bits`` in magnitude. On float
    BLAS, the narrowest float that holds such integers, when ``bits`` <= 53: every product and every partial
    sum is then an integer the float represents, so the result is exact in any summation order; numpy's
    int64 matmul does not use BLAS. Else int64.

    ``bits`` None: :func:`product_bits` of the operands themselves."""
    if bits is None:
        a, b = np.asarray(a), np.asarray(b)
        bits = product_bits(a, b)
    for dtype, exact in _FLOAT_EXACT:
        if bits <= exact:
            b_float = converted(np.asarray(b), np.dtype(dtype).str, lambda m, t=dtype: np.asarray(m, dtype=t))
            return (np.asarray(a, dtype=dtype) @ b_float).astype(out)
    return (np.asarray(a, dtype=np.int64) @ np.asarray(b, dtype=np.int64)).astype(out, copy=False)


def bnn_output(input_bits, weight_bits, out=np.int64):
    """BNN neuron output 2 * popcount(XNOR(input bits, weight bits)) - N over the last axis, as ``out``.

    input_bits: (..., N) of 0/1; weight_bits: (neurons, N) of 0/1; returns (..., neurons).
    Computed as the +-1 dot product, which equals the XNOR-popcount form exactly (|partial sums| <= N)."""
    s_in = 2 * np.asarray(input_bits, dtype=np.int8) - 1
    s_w_t = converted(np.asarray(weight_bits), "+-1.T", lambda bits: (2 * np.asarray(bits, dtype=np.int8) - 1).T)
    return exact_matmul(s_in, s_w_t, s_w_t.shape[0].bit_length(), out)


def popcount_xnor_words(input_words, weight_words, width: int, n_bits: int):
    """The same output from packed words as the hardware consumes them (bit k of word j is element
    j*width + k); padding bits past ``n_bits`` are masked out. Used by the hardware tests."""
    total = 0
    for j, (a, b) in enumerate(zip(input_words, weight_words, strict=True)):
        valid = min(width, n_bits - j * width)
        mask = (1 << valid) - 1
        total += (~(a ^ b) & mask).bit_count()
    return 2 * total - n_bits


def pack_bits(bits, width: int):
    """Pack a 0/1 vector into ``width``-bit words, element j*width + k at bit k of word j. The words are
    Python integers, exact at any width (a BNN beat of 64 or more bits included)."""
    bits = np.asarray(bits).ravel()
    if bits.size and not np.isin(bits, (0, 1)).all():
        raise ValueError("pack_bits takes 0/1 values")
    bits = bits.astype(np.uint8)
    return [int.from_bytes(np.packbits(bits[start:start + width], bitorder="little").tobytes(), "little")
            for start in range(0, bits.size, width)]


def quantize_threshold(theta, form: str) -> int:
    """Threshold register value: relative thresholds are round(theta * 2**THETA_FRAC), absolute ones
    are integers in the units of the compared quantity; both must fit THETA_BITS unsigned bits."""
    if form not in THRESHOLD_FORMS:
        raise ValueError(f"unknown threshold form {form!r}; expected one of {THRESHOLD_FORMS}")
    theta = float(theta)
    if not np.isfinite(theta) or theta < 0:
        raise ValueError(f"threshold must be a finite number >= 0, not {theta}")
    q = int(np.floor(theta * (1 << THETA_FRAC) + 0.5)) if form == RELATIVE else int(round(theta))
    if form == ABSOLUTE and q != theta:
        raise ValueError(f"an absolute threshold is an integer count, not {theta}")
    if q >= 1 << THETA_BITS:
        limit = ((1 << THETA_BITS) - 1) / (1 << THETA_FRAC) if form == RELATIVE else (1 << THETA_BITS) - 1
        raise ValueError(f"{form} threshold {theta} is out of range; the largest is {limit}")
    return q


def within_threshold(new, cached, theta_q, form: str):
    """Memo-table compare: relative |new - cached| * 2**THETA_FRAC <= theta_q * |cached|;
    absolute |new - cached| <= theta_q."""
    diff = np.asarray(np.subtract(integers(new), integers(cached)))  # a fresh array: updated in place
    np.abs(diff, out=diff)
    theta_q = integers(theta_q)
    if form == RELATIVE:
        diff <<= THETA_FRAC
        bound = np.abs(cached)
        bound *= theta_q
        return diff <= bound
    if form == ABSOLUTE:
        return diff <= theta_q
    raise ValueError(f"unknown threshold form {form!r}; expected one of {THRESHOLD_FORMS}")


#: Fractional bits of the linear quantizer's gain and step registers (input similarity, docs/delta.md).
QUANT_FRAC = 16


def quantizer_registers(lo: int, hi: int, levels: int) -> tuple[int, int]:
    """The gain m and step g registers of a ``levels``-level linear quantizer over the activation-format
    integers [lo, hi], both with QUANT_FRAC fraction bits and computed in integers only:
    m = round(2**QUANT_FRAC * (levels-1) / (hi-lo)), g = round(2**QUANT_FRAC * (hi-lo) / (levels-1))."""
    lo, hi, levels = int(lo), int(hi), int(levels)
    if levels < 2:
        raise ValueError(f"a quantizer needs at least 2 levels, not {levels}")
    if hi <= lo:
        raise ValueError(f"a quantizer range needs lo < hi, not [{lo}, {hi}]")
    span, steps = hi - lo, levels - 1
    return ((steps << QUANT_FRAC) + span // 2) // span, ((span << QUANT_FRAC) + steps // 2) // steps


def linear_quantize(v, lo, m, levels):
    """Level index of the activation-format integer v: clamp(round_shift((v - lo) * m, QUANT_FRAC), 0,
    levels - 1). With lo = the format's min_int, levels = 2**bits (m = 2**QUANT_FRAC) it is v - lo."""
    v = np.asarray(v, dtype=np.int64)
    return np.clip(round_shift((v - lo) * np.asarray(m, dtype=np.int64), QUANT_FRAC), 0,
                   np.asarray(levels, dtype=np.int64) - 1)


def linear_dequantize(q, lo, g, fmt: QFormat):
    """The level index q back in the activation format: saturate(lo + round_shift(q * g, QUANT_FRAC))."""
    q = np.asarray(q, dtype=np.int64)
    return saturate(lo + round_shift(q * np.asarray(g, dtype=np.int64), QUANT_FRAC), fmt.bits)


def delta_update(v, ref, theta):
    """Delta-network change detector: input i's reference moves to v_i when |v_i - ref_i| >= theta and
    v_i != ref_i (an equal value needs no update, so theta = 0 updates exactly the inputs that changed).
    Returns (new references, deltas v - ref where updated else 0, updated mask)."""
    v = np.asarray(v, dtype=np.int64)
    diff = v - ref
    changed = (np.abs(diff) >= np.asarray(theta, dtype=np.int64)) & (diff != 0)
    return np.where(changed, v, ref), np.where(changed, diff, 0), changed
