"""Properties of the integer operations (the numeric contract)."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from golden_model import intops
from golden_model.formats import THETA_BITS, THETA_FRAC, FixedPointConfig, QFormat

ints = st.integers(-(1 << 40), 1 << 40)


@given(ints, st.integers(0, 20))
def test_round_shift_is_round_half_up(x, shift):
    expected = math.floor(Fraction(x, 1 << shift) + Fraction(1, 2)) if shift else x
    assert int(intops.round_shift(x, shift)) == expected


@given(ints, st.integers(1, 20))
def test_negative_shift_is_exact_left_shift(x, shift):
    assert int(intops.round_shift(x, -shift)) == x << shift


@given(ints, st.integers(2, 32))
def test_saturate_clamps_to_twos_complement(x, bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    assert int(intops.saturate(x, bits)) == min(max(x, lo), hi)


@given(st.floats(-100, 100), st.integers(4, 16), st.integers(0, 10))
def test_quantize_rounds_half_up_and_saturates(v, bits, frac):
    fmt = QFormat(bits, frac)
    q = int(intops.quantize(v, fmt))
    exact = math.floor(Fraction(v) * (1 << frac) + Fraction(1, 2))
    assert q == min(max(exact, fmt.min_int), fmt.max_int)


def test_quantize_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        intops.quantize([1.0, np.nan], QFormat(8, 4))


@pytest.mark.parametrize("kind", intops.ACTIVATIONS)
@pytest.mark.parametrize("preact,out", [(QFormat(11, 7), QFormat(12, 8)), (QFormat(8, 4), QFormat(8, 6))])
def test_activation_matches_float_within_half_lsb_and_is_symmetric(kind, preact, out):
    table = intops.activation_table(kind, preact, out)
    limit = intops.preact_limit(preact)
    p = np.arange(-limit, limit + 1)
    y = intops.activate(kind, p, table, out)
    arg = p / preact.scale
    ref = 1 / (1 + np.exp(-arg)) if kind == intops.SIGMOID else np.tanh(arg)
    assert np.max(np.abs(y / out.scale - ref)) <= 0.5 / out.scale + 1e-12
    mirrored = (1 << out.frac) - y[::-1] if kind == intops.SIGMOID else -y[::-1]
    assert np.array_equal(y, mirrored)


@pytest.mark.parametrize("kind", intops.ACTIVATIONS)
def test_activation_of_a_writable_table_and_outside_the_table(kind):
    """A table the caller built itself (writable: its signed form is not cached) gives the same values as
    the read-only one; an argument past either end of the table is an error, not a wrapped look-up."""
    preact, out = QFormat(8, 4), QFormat(8, 6)
    table = intops.activation_table(kind, preact, out)
    assert not table.flags.writeable
    p = np.arange(-127, 128)
    assert np.array_equal(intops.activate(kind, p, table.copy(), out), intops.activate(kind, p, table, out))
    for outside in (-128, 128):
        with pytest.raises(IndexError):
            intops.activate(kind, np.array([0, outside]), table, out)


def test_to_preact_saturates_symmetrically():
    preact = QFormat(8, 4)
    assert intops.to_preact(np.array([10**9, -10**9]), 10, preact).tolist() == [127, -127]


@given(st.lists(st.booleans(), min_size=1, max_size=300), st.data(), st.sampled_from([1, 3, 8, 32, 64, 100, 128]))
def test_bnn_output_equals_packed_xnor_popcount(input_bits, data, width):
    n = len(input_bits)
    weight_bits = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    a, w = np.array(input_bits, dtype=np.int8), np.array(weight_bits, dtype=np.int8)
    b = int(intops.bnn_output(a[None, :], w[None, :])[0, 0])
    assert b == 2 * int(np.sum(a == w)) - n
    assert b == intops.popcount_xnor_words(intops.pack_bits(a, width), intops.pack_bits(w, width), width, n)


@pytest.mark.parametrize("bits", [8, 23, 24, 25, 52, 53, 54, 62])
def test_exact_matmul_is_exact_at_the_float_limits(bits):
    """Operands whose partial sums reach just below 2**bits (the worst case for the float path: the largest
    magnitudes, one sign) give the int64 product exactly, on each path (float32, float64, int64)."""
    rng = np.random.default_rng(bits)
    n = 8
    each = (1 << bits) // n - 1                     # n products of this size stay below 2**bits
    a_max = 1 << ((each.bit_length() + 1) // 2)
    b_max = each // a_max
    a = rng.integers(a_max - 3, a_max + 1, (5, n), dtype=np.int64) * rng.choice([-1, 1], (5, 1))
    b = rng.integers(b_max - 3, b_max + 1, (n, 7), dtype=np.int64) * rng.choice([-1, 1], (1, 7))
    b[:, 0] = b_max                                 # one column of a single sign: the sums' bound is reached
    a[0] = a_max
    expected = a @ b
    assert np.abs(expected).max() < 1 << bits and np.abs(expected).max() > 1 << (bits - 2)
    for got in (intops.exact_matmul(a, b, bits), intops.exact_matmul(a, b)):   # given, or bounded from a and b
        assert got.dtype == np.int64 and np.array_equal(got, expected)


def test_exact_matmul_float32_path_would_round_past_its_bound():
    """The bound matters: one bit past float32's 24 the float32 product is not exact, so exact_matmul takes
    float64 there (the test above at 25)."""
    a = np.array([[1 << 24, 1]], dtype=np.int64)
    b = np.array([[1], [1]], dtype=np.int64)
    assert int((a.astype(np.float32) @ b.astype(np.float32))[0, 0]) != (1 << 24) + 1
    assert intops.exact_matmul(a, b, 26)[0, 0] == (1 << 24) + 1
    assert intops.exact_matmul(a, b)[0, 0] == (1 << 24) + 1      # the operands' own bound: 2 * 2**24


def test_exact_matmul_bounds_from_the_operands_where_no_width_is_given():
    """Without ``bits`` the bound is terms x max|a| x max|b|: 1024 terms of 127 x 128 stay below 2**24
    (float32), of 128 x 128 reach it and of 255 x 128 (a delta input) pass it (float64). Each path gives
    the int64 product."""
    b = np.full((1024, 2), -128, dtype=np.int64)
    for a_max, bits in ((127, 24), (128, 25), (255, 25)):
        a = np.full((3, 1024), -a_max, dtype=np.int64)
        assert intops.product_bits(a, b) == bits
        assert np.array_equal(intops.exact_matmul(a, b), a @ b)


def test_pack_bits_is_exact_at_64_bits_and_wider():
    # bit 63 set: a 64-bit word must stay positive (it went negative in int64); bits >= 64 must not be lost
    bits = np.zeros(200, dtype=np.int8)
    bits[[0, 63, 64, 127, 199]] = 1
    assert intops.pack_bits(bits, 64) == [1 | 1 << 63, 1 | 1 << 63, 0, 1 << 7]
    assert intops.pack_bits(bits, 128) == [1 | 1 << 63 | 1 << 64 | 1 << 127, 1 << 71]
    assert intops.pack_bits(np.ones(5, dtype=np.int8), 8) == [31]
    with pytest.raises(ValueError, match="0/1"):
        intops.pack_bits([0, 2], 8)


def test_sign_of_zero_is_plus_one():
    assert intops.sign_bits(np.array([-1, 0, 1])).tolist() == [0, 1, 1]


@given(st.integers(-5000, 5000), st.integers(-5000, 5000), st.integers(0, (1 << THETA_BITS) - 1))
def test_relative_threshold_is_exact_rational_compare(new, cached, theta_q):
    expected = abs(new - cached) <= Fraction(theta_q, 1 << THETA_FRAC) * abs(cached)
    assert bool(intops.within_threshold(new, cached, theta_q, intops.RELATIVE)) == expected
    assert bool(intops.within_threshold(new, cached, theta_q, intops.ABSOLUTE)) == (abs(new - cached) <= theta_q)


@pytest.mark.parametrize("theta,form,message", [
    (-0.1, "relative", ">= 0"), (float("nan"), "relative", "finite"), (300.0, "relative", "out of range"),
    (1.5, "absolute", "integer"), (70000, "absolute", "out of range"), (0.1, "fuzzy", "unknown threshold form")])
def test_bad_thresholds_are_rejected(theta, form, message):
    with pytest.raises(ValueError, match=message):
        intops.quantize_threshold(theta, form)


def test_lstm_cell_update_matches_float_closely():
    cfg = FixedPointConfig()
    rng = np.random.default_rng(1)
    a = cfg.act
    i, f, o = (intops.quantize(rng.uniform(0, 1, 1000), a) for _ in range(3))
    g = intops.quantize(rng.uniform(-1, 1, 1000), a)
    c = intops.quantize(rng.uniform(-3, 3, 1000), cfg.cell)
    table = intops.activation_table(intops.TANH, cfg.preact, a)
    h, c_new = intops.lstm_cell_update(i, f, g, o, c, table, cfg)
    d = intops.dequantize
    c_ref = d(f, a) * d(c, cfg.cell) + d(i, a) * d(g, a)
    assert np.max(np.abs(d(c_new, cfg.cell) - c_ref)) <= 1.0 / cfg.cell.scale
    assert np.max(np.abs(d(h, a) - d(o, a) * np.tanh(d(c_new, cfg.cell)))) < 4.0 / a.scale


def test_gru_state_update_is_convex_combination():
    cfg = FixedPointConfig()
    one = 1 << cfg.act.frac
    n, h = np.array([100, -50]), np.array([-30, 70])
    assert intops.gru_state_update(np.array([0, 0]), n, h, cfg).tolist() == n.tolist()
    assert intops.gru_state_update(np.array([one, one]), n, h, cfg).tolist() == h.tolist()


def test_converted_copies_of_read_only_operands_are_made_once(monkeypatch):
    """intops.converted: a read-only operand's conversion is made once (and is read-only itself); a writable
    one, which may change, is converted every time; the cache keeps at most _CONVERTED_MAX entries."""
    calls = []

    def to_float(m):
        calls.append(1)
        return m.astype(np.float32)

    fixed = np.arange(6).reshape(2, 3)
    fixed.flags.writeable = False
    first = intops.converted(fixed, "f", to_float)
    assert intops.converted(fixed, "f", to_float) is first and not first.flags.writeable and len(calls) == 1
    assert np.array_equal(intops.converted(fixed.T, "f", to_float), fixed.T)      # a view of other strides
    writable = np.arange(3)
    intops.converted(writable, "f", to_float)
    writable[0] = 7
    assert intops.converted(writable, "f", to_float)[0] == 7
    monkeypatch.setattr(intops, "_CONVERTED_MAX", 2)
    for k in range(4):
        other = np.full(3, k)
        other.flags.writeable = False
        intops.converted(other, "f", to_float)
    assert len(intops._CONVERTED) <= 2
