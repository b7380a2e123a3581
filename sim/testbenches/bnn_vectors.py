"""Random and corner test vectors of the BNN unit, with expected outputs from golden_model.intops.

A neuron is a list of beats ``{"x", "w", "count", "last"}`` (the BnnUnit input layout) and its expected
output b. "packed" neurons use full beats and one partial last beat (intops.pack_bits /
intops.popcount_xnor_words, the form the tile feeds); "ragged" neurons use any count 0..B per beat
(checked with intops.bnn_output on the valid bits)."""

from __future__ import annotations

import random

import numpy as np

from golden_model import intops
from golden_model.formats import FixedPointConfig, QFormat
from golden_model.predictors import BitPlaneBnn
from hw.bnn_planes import plane_bits_of


def _beats_packed(x_bits, w_bits, width):
    xs, ws = intops.pack_bits(x_bits, width), intops.pack_bits(w_bits, width)
    n = len(x_bits)
    beats = []
    for j, (xw, ww) in enumerate(zip(xs, ws, strict=True)):
        count = min(width, n - j * width)
        beats.append({"x": xw, "w": ww, "count": count, "last": int(j == len(xs) - 1)})
    expected = intops.popcount_xnor_words(xs, ws, width, n)
    return beats, int(expected)


def _beats_ragged(rng: random.Random, x_bits, w_bits, width):
    n = len(x_bits)
    beats, pos = [], 0
    while pos < n:
        count = rng.choice([0, 1, width, rng.randint(0, width)]) if rng.random() < 0.3 else rng.randint(1, width)
        count = min(count, n - pos)
        x = w = 0
        for k in range(count):
            x |= int(x_bits[pos + k]) << k
            w |= int(w_bits[pos + k]) << k
        # bits past count are garbage on purpose: the unit must ignore them
        x |= rng.getrandbits(width) & ~((1 << count) - 1) & ((1 << width) - 1)
        w |= rng.getrandbits(width) & ~((1 << count) - 1) & ((1 << width) - 1)
        pos += count
        beats.append({"x": x, "w": w, "count": count, "last": int(pos == n)})
    expected = intops.bnn_output(np.asarray(x_bits)[None, :], np.asarray(w_bits)[None, :])[0, 0]
    return beats, int(expected)


def _bits(rng: random.Random, n: int, kind: str):
    if kind == "zeros":
        return [0] * n
    if kind == "ones":
        return [1] * n
    p = rng.choice([0.5, 0.5, 0.1, 0.9]) if kind == "random" else float(kind)
    return [int(rng.random() < p) for _ in range(n)]


def corner_neurons(width: int, max_inputs: int):
    """(x_bits, w_bits) corners: all-zero and all-one bits (b = +N), opposite bits (b = -N, the most
    negative), N = 1, N = max_inputs, N one off a multiple of the width."""
    rng = random.Random(12345)
    sizes = sorted({1, max_inputs, min(max_inputs, width), max(1, min(max_inputs, width - 1)),
                    min(max_inputs, width + 1), max(1, max_inputs - 1)})
    out = []
    for n in sizes:
        out += [([0] * n, [0] * n), ([1] * n, [1] * n), ([0] * n, [1] * n), ([1] * n, [0] * n),
                (_bits(rng, n, "random"), _bits(rng, n, "random"))]
    return out


def make_neurons(seed: int, count: int, width: int, max_inputs: int, *, corners: bool = True):
    """``count`` random neurons (plus the corners first): list of (beats, expected_b, description)."""
    rng = random.Random(seed)
    pairs = corner_neurons(width, max_inputs) if corners else []
    for _ in range(count):
        n = rng.choice([rng.randint(1, max_inputs), max_inputs, rng.randint(1, min(max_inputs, 3 * width))])
        kinds = rng.choice([("random", "random"), ("random", "random"), ("zeros", "random"), ("ones", "ones")])
        pairs.append((_bits(rng, n, kinds[0]), _bits(rng, n, kinds[1])))
    neurons = []
    for x_bits, w_bits in pairs:
        if rng.random() < 0.5:
            beats, b = _beats_packed(x_bits, w_bits, width)
            kind = "packed"
        else:
            beats, b = _beats_ragged(rng, x_bits, w_bits, width)
            kind = "ragged"
        neurons.append((beats, b, f"{kind} N={len(x_bits)} beats={len(beats)}"))
    return neurons


def plane_neuron(planes: int, frac: int, width: int, values, weights, desc: str = ""):
    """One neuron of a :class:`hw.bnn_planes.BitPlaneUnit`: (beats, expected score, description), the
    expected score from golden_model.predictors.BitPlaneBnn(planes) (act.frac = ``frac``) of the integer
    inputs ``values`` against the integer weights ``weights``; plane l's bits at word l of each beat's x."""
    predictor = BitPlaneBnn(planes)
    cfg = FixedPointConfig(act=QFormat(max(frac + 2, 12), frac))
    w = np.asarray(weights, dtype=np.int64)[None]
    s = int(predictor.score(predictor.prepare(w, cfg), None, np.asarray(values)[None], np.ones(1, bool))[0, 0])
    bits, signs = [plane_bits_of(v, planes, frac) for v in values], intops.sign_bits(w[0])
    beats = []
    for start in range(0, len(values), width):
        chunk = range(start, min(start + width, len(values)))
        x = sum(bits[i][level] << (level * width + i - start) for i in chunk for level in range(planes))
        beats.append({"x": x, "w": sum(int(signs[i]) << (i - start) for i in chunk), "count": len(chunk),
                      "last": int(chunk.stop == len(values))})
    return beats, s, desc or f"planes={planes} N={len(values)} beats={len(beats)}"


def make_plane_neurons(seed: int, count: int, width: int, max_inputs: int, planes: int, frac: int, *,
                       corners: bool = True, value_bits: int = 12):
    """``count`` random bit-plane neurons (corners first: N = 1 and max_inputs with all-zero, extreme and
    same-sign values): list of (beats, expected score, description)."""
    rng = np.random.default_rng(seed)
    low, high = -(1 << (value_bits - 1)), (1 << (value_bits - 1))
    cases = []
    if corners:
        for n in sorted({1, max_inputs, min(max_inputs, width + 1)}):
            for v in (0, low, high - 1, 1 << (frac - 1), -1):
                cases += [([v] * n, [1] * n), ([v] * n, [-1] * n)]
    for _ in range(count):
        n = int(rng.integers(1, max_inputs + 1))
        cases.append((rng.integers(low, high, n), rng.integers(-64, 64, n)))
    return [plane_neuron(planes, frac, width, v, w) for v, w in cases]
