"""Test vectors of the datapath units (dot product, activation, LSTM cell, GRU) with the expected outputs
from :mod:`golden_model.intops`. Shared by the Amaranth-simulator tests and the cocotb testbenches, so
both score against the same golden functions.

Every generator returns ``(inputs, expected)``: lists of payload dicts (field name -> Python int, arrays
as lists) in the units' stream layouts. Corner cases come first, then random vectors.
"""

from __future__ import annotations

import random

import numpy as np

from golden_model import intops
from golden_model.formats import FixedPointConfig, QFormat

__all__ = [
    "CONFIGS",
    "UNITS",
    "activation_most_negative",
    "activation_vectors",
    "config_by_name",
    "dot_product_vectors",
    "gru_candidate_vectors",
    "gru_state_vectors",
    "lstm_cell_vectors",
    "output_input_index",
    "unit_vectors",
]

#: Named formats the unit tests elaborate (default, tiny tables, shift-left paths, wide).
CONFIGS = {
    "default": FixedPointConfig(),
    "narrow": FixedPointConfig(weight=QFormat(4, 2), act=QFormat(6, 3), cell=QFormat(8, 4),
                               preact=QFormat(6, 3), bias_bits=10),
    # cell.frac > 2 * act.frac and preact.frac > cell.frac: the left-shift paths of rescale;
    # acc_frac == preact.frac: no rounding in the dot product's requantization
    "shifts": FixedPointConfig(weight=QFormat(6, 6), act=QFormat(8, 3), cell=QFormat(10, 8),
                               preact=QFormat(9, 9), bias_bits=14),
    "wide": FixedPointConfig(weight=QFormat(16, 12), act=QFormat(16, 12), cell=QFormat(24, 18),
                             preact=QFormat(14, 10), bias_bits=40),
}


def config_by_name(name: str) -> FixedPointConfig:
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown test configuration {name!r}; expected one of {sorted(CONFIGS)}") from None


def _rand(rng: random.Random, fmt_or_bits, small: bool = False) -> int:
    bits = fmt_or_bits.bits if isinstance(fmt_or_bits, QFormat) else fmt_or_bits
    if small:  # a narrower range, so sums stay in the interesting (non-saturated) region
        bits = max(2, bits - rng.randint(1, max(1, bits - 2)))
    return rng.randint(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def _extremes(fmt: QFormat, one: bool = False):
    values = [fmt.min_int, fmt.max_int, 0, -1, 1]
    if one:
        values.append(1 << fmt.frac)
    return values


# ----------------------------------------------------------------------------------------- dot product

def dot_product_vectors(cfg: FixedPointConfig, lanes: int, max_inputs: int, count: int, seed: int):
    """Neurons for a DotProductUnit: ``inputs`` are beats (``weights``, ``acts``, ``bias``, ``last``),
    ``expected`` one ``{acc, preact}`` per neuron. Returns ``(beats, expected, neurons)``."""
    rng = random.Random(seed)
    # not cfg.bias: QFormat stops at 32 bits while bias_bits may reach 48
    w_fmt, a_fmt, b_bits = cfg.weight, cfg.act, cfg.bias_bits
    b_min, b_max = -(1 << (b_bits - 1)), (1 << (b_bits - 1)) - 1
    neurons = []
    shift = cfg.acc_frac - cfg.preact.frac
    limit = intops.preact_limit(cfg.preact)
    # corners
    for n in sorted({1, lanes, max_inputs, max(1, max_inputs - 1), min(max_inputs, lanes + 1)}):
        for w, x in ((w_fmt.min_int, a_fmt.min_int), (w_fmt.max_int, a_fmt.min_int),
                     (w_fmt.min_int, a_fmt.max_int), (w_fmt.max_int, a_fmt.max_int), (0, 0)):
            for b in (b_min, b_max, 0):
                neurons.append(([w] * n, [x] * n, b))
    # rounding ties and the saturation edges of the preactivation, through the bias with zero products
    half = 1 << (shift - 1) if shift > 0 else 0
    for base in (0, 1, -1, 2, -2, limit, -limit, limit + 1, -limit - 1, limit - 1, -limit + 1):
        for delta in {half, -half, 0, half - 1, half + 1}:
            b = (base << shift) + delta
            if b_min <= b <= b_max:
                neurons.append(([0], [0], b))
                neurons.append(([0] * max_inputs, [rng.randint(a_fmt.min_int, a_fmt.max_int)] * max_inputs, b))
    # random: full range, narrowed ranges, sparse
    while len(neurons) < count:
        n = rng.randint(1, max_inputs)
        style = rng.randrange(4)
        w = [_rand(rng, w_fmt, small=style == 1) for _ in range(n)]
        x = [_rand(rng, a_fmt, small=style == 1) for _ in range(n)]
        if style == 2:
            x = [v if rng.random() < 0.2 else 0 for v in x]
        b = _rand(rng, b_bits, small=style != 0)
        neurons.append((w, x, b))
    beats, expected = [], []
    for w, x, b in neurons:
        nb = -(-len(w) // lanes)
        wp = w + [0] * (nb * lanes - len(w))
        xp = x + [0] * (nb * lanes - len(x))
        for k in range(nb):
            beats.append({"weights": wp[k * lanes:(k + 1) * lanes], "acts": xp[k * lanes:(k + 1) * lanes],
                          # bias on the first beat; the others carry junk the unit must ignore
                          "bias": b if k == 0 else _rand(rng, b_bits), "last": int(k == nb - 1)})
        dot = int(np.dot(np.asarray(w, dtype=np.int64), np.asarray(x, dtype=np.int64)))
        expected.append({"acc": dot + b, "preact": int(intops.neuron_preact(dot, b, cfg))})
    return beats, expected, neurons


# ------------------------------------------------------------------------------------------ activation

def activation_vectors(cfg: FixedPointConfig, count: int, seed: int, exhaustive_max: int = 1 << 14):
    """(preact, func) in, ``{value, preact}`` out (the preactivation travels with its value). Every table
    argument of both functions when there are at most ``exhaustive_max`` of them, else the table edges plus
    ``count`` random arguments. ``func`` is 0 for sigmoid, 1 for tanh (hw.activation.Activation)."""
    rng = random.Random(seed)
    limit = intops.preact_limit(cfg.preact)
    tables = {k: intops.activation_table(k, cfg.preact, cfg.act) for k in intops.ACTIVATIONS}
    if 2 * (2 * limit + 1) <= exhaustive_max:
        args = [(p, f) for p in range(-limit, limit + 1) for f in (0, 1)]
        rng.shuffle(args)
    else:
        edges = [0, 1, -1, 2, -2, limit, -limit, limit - 1, -limit + 1, limit // 2, -(limit // 2)]
        args = [(p, f) for p in edges for f in (0, 1)]
        args += [(rng.randint(-limit, limit), rng.randrange(2)) for _ in range(count)]
    inputs, expected = [], []
    for p, f in args:
        kind = intops.TANH if f else intops.SIGMOID
        inputs.append({"preact": p, "func": f})
        expected.append({"value": int(intops.activate(kind, p, tables[kind], cfg.act)), "preact": p})
    return inputs, expected


def activation_most_negative(cfg: FixedPointConfig):
    """The one argument outside intops' domain, -2**(preact.bits-1): the unit treats it as -limit."""
    limit = intops.preact_limit(cfg.preact)
    tables = {k: intops.activation_table(k, cfg.preact, cfg.act) for k in intops.ACTIVATIONS}
    inputs = [{"preact": -limit - 1, "func": f} for f in (0, 1)]
    expected = [{"value": int(intops.activate(k, -limit, tables[k], cfg.act)), "preact": -limit - 1}
                for k in intops.ACTIVATIONS]
    return inputs, expected


# ------------------------------------------------------------------------------------------- LSTM cell

def lstm_cell_vectors(cfg: FixedPointConfig, count: int, seed: int):
    """(i, f, g, o, c) in, (h, c) out."""
    rng = random.Random(seed)
    a, cell = cfg.act, cfg.cell
    one = 1 << a.frac
    tanh_table = intops.activation_table(intops.TANH, cfg.preact, cfg.act)
    rows = []
    gate_corners = _extremes(a, one=True)
    for i in gate_corners:
        for g in gate_corners:
            for c in _extremes(cell):
                rows.append((i, rng.choice(gate_corners), g, rng.choice(gate_corners), c))
    # c saturation both ways, and the cell state exactly at the rails
    rows += [(a.max_int, a.max_int, a.max_int, a.max_int, cell.max_int),
             (a.max_int, a.max_int, a.min_int, a.max_int, cell.min_int),
             (a.min_int, a.min_int, a.max_int, a.min_int, cell.max_int),
             (one, one, one, one, cell.max_int), (one, one, -one, one, cell.min_int),
             (0, 0, 0, 0, 0), (0, one, 0, one, cell.max_int), (0, one, 0, -one, cell.min_int)]
    while len(rows) < count:
        if rng.random() < 0.5:  # realistic: sigmoid gates in [0, 1], g in [-1, 1]
            i, f, o = (rng.randint(0, one) for _ in range(3))
            g = rng.randint(-one, one)
            c = _rand(rng, cell, small=True)
        else:
            i, f, g, o, c = tuple(_rand(rng, a) for _ in range(4)) + (_rand(rng, cell),)
        rows.append((i, f, g, o, c))
    arr = np.asarray(rows, dtype=np.int64)
    h, c_new = intops.lstm_cell_update(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4], tanh_table, cfg)
    inputs = [dict(zip("ifgoc", map(int, r), strict=True)) for r in rows]
    expected = [{"h": int(hh), "c": int(cc)} for hh, cc in zip(h, c_new, strict=True)]
    return inputs, expected


# ------------------------------------------------------------------------------------------------- GRU

def gru_candidate_vectors(cfg: FixedPointConfig, max_inputs: int, count: int, seed: int):
    """(acc_x, acc_h, r) in, (acc, preact) out; accumulators of ``cfg.acc_bits(max_inputs)`` bits."""
    rng = random.Random(seed)
    acc_bits = cfg.acc_bits(max_inputs)
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    a = cfg.act
    one = 1 << a.frac
    rows = []
    r_corners = _extremes(a, one=True)
    acc_corners = [lo, hi, 0, -1, 1, 1 << (cfg.acc_frac - 1), -(1 << (cfg.acc_frac - 1))]
    for x in acc_corners:
        for h in acc_corners:
            for r in r_corners:
                rows.append((x, h, r))
    # rounding ties of the r * acc_h product
    for h in (1, -1, 3, -3, 1 << a.frac, -(1 << a.frac)):
        rows.append((0, h, 1 << (a.frac - 1) if a.frac else 1))
    while len(rows) < count:
        bits = rng.randint(2, acc_bits) if rng.random() < 0.7 else acc_bits
        x = rng.randint(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
        h = rng.randint(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
        r = rng.randint(0, one) if rng.random() < 0.5 else _rand(rng, a)
        rows.append((x, h, r))
    arr = np.asarray(rows, dtype=np.int64)
    cand = intops.gru_candidate_acc(arr[:, 0], arr[:, 1], arr[:, 2], cfg)
    pre = intops.neuron_preact(cand, 0, cfg)
    inputs = [{"acc_x": int(x), "acc_h": int(h), "r": int(r)} for x, h, r in rows]
    expected = [{"acc": int(cc), "preact": int(pp)} for cc, pp in zip(cand, pre, strict=True)]
    return inputs, expected


def gru_state_vectors(cfg: FixedPointConfig, count: int, seed: int):
    """(z, n, h) in, h' out."""
    rng = random.Random(seed)
    a = cfg.act
    one = 1 << a.frac
    corners = _extremes(a, one=True)
    rows = [(z, n, h) for z in corners for n in corners for h in corners]
    while len(rows) < count:
        if rng.random() < 0.5:
            z, n, h = rng.randint(0, one), rng.randint(-one, one), rng.randint(-one, one)
        else:
            z, n, h = (_rand(rng, a) for _ in range(3))
        rows.append((z, n, h))
    arr = np.asarray(rows, dtype=np.int64)
    h_new = intops.gru_state_update(arr[:, 0], arr[:, 1], arr[:, 2], cfg)
    inputs = [{"z": int(z), "n": int(n), "h": int(h)} for z, n, h in rows]
    expected = [{"h": int(v)} for v in h_new]
    return inputs, expected


# ------------------------------------------------------------------------------------ one entry point

#: The units these vectors are for (the names of their hw.registry entries).
UNITS = ("dot_product", "activation", "lstm_cell", "gru_candidate", "gru_state")


def unit_vectors(params: dict):
    """``(inputs, expected)`` for ``params``: ``unit`` (one of :data:`UNITS`), ``cfg`` (a name of
    :data:`CONFIGS`), ``count``, ``seed`` and, per unit, ``lanes`` / ``max_inputs``. The cocotb testbench
    and the pytest side both call this, so they agree on the vectors without passing them around."""
    unit, cfg = params["unit"], config_by_name(params["cfg"])
    count, seed = int(params["count"]), int(params["seed"])
    if unit == "dot_product":
        beats, expected, _ = dot_product_vectors(cfg, params["lanes"], params["max_inputs"], count, seed)
        return beats, expected
    if unit == "activation":
        inputs, expected = activation_vectors(cfg, count, seed)
        extra_in, extra_out = activation_most_negative(cfg)
        return inputs + extra_in, expected + extra_out
    if unit == "lstm_cell":
        return lstm_cell_vectors(cfg, count, seed)
    if unit == "gru_candidate":
        return gru_candidate_vectors(cfg, params["max_inputs"], count, seed)
    if unit == "gru_state":
        return gru_state_vectors(cfg, count, seed)
    raise ValueError(f"unknown unit {unit!r}; expected one of {UNITS}")


def output_input_index(unit: str, inputs) -> list[int]:
    """For each output, the index of the input whose transfer completes it (a dot product's last beat)."""
    if unit == "dot_product":
        return [k for k, beat in enumerate(inputs) if beat["last"]]
    return list(range(len(inputs)))
