"""CREW: computation reuse through each input's unique weights (Riera et al.; docs/crew.md).

In a quantized fully-connected layer input i meets the weights W[:, i] of all G*H neurons, but only
U_i distinct values among them. CREW multiplies v_i once by each of its unique weights (U_i products
instead of G*H) and builds every neuron's dot product by adding the products it needs, fetched by a
per-weight index into the input's unique values: W[n, i] = unique_i[index[n, i]].

Both steps are exact integer arithmetic, so the scheme changes no output: the accumulator of every
neuron is bit for bit the fixed-point baseline's (golden_model.fixed_model). The tables are computed
offline from the quantized weights (:func:`crew_tables`); the datapath is :func:`crew_dot`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .memo import OFF, MemoDirection, MemoPolicy, WrapsMemo

__all__ = ["CrewTables", "CrewPolicy", "CrewDirection", "crew_dot", "crew_tables", "index_bits", "used_products"]

#: Sequences per chunk of the gather (bounds the (batch, neurons, inputs) temporary).
_GATHER_ELEMENTS = 1 << 24


def index_bits(unique_count: int) -> int:
    """Bits of an index into ``unique_count`` values (at least 1)."""
    return max(1, int(unique_count - 1).bit_length())


@dataclass(frozen=True)
class CrewTables:
    """The CREW form of one weight matrix W (neurons, inputs): per input i its sorted unique values
    ``unique[i, :counts[i]]`` (padded with zeros to ``unique.shape[1]`` = the most of any input) and
    ``index`` (neurons, inputs) with W[n, i] == unique[i, index[n, i]]."""
    unique: np.ndarray    # (inputs, U_max) int64, zero past counts[i]
    counts: np.ndarray    # (inputs,) int64, U_i >= 1
    index: np.ndarray     # (neurons, inputs) int64, 0 <= index[n, i] < counts[i]

    @property
    def unique_max(self) -> int:
        return self.unique.shape[1]

    def weights(self) -> np.ndarray:
        """W rebuilt from the tables (what the index memory and the unique-value tables encode)."""
        return np.take_along_axis(self.unique, self.index.T, axis=1).T

    def restrict(self, columns: slice) -> CrewTables:
        """The tables of the inputs ``columns`` (e.g. the input part or the recurrent part of W)."""
        return CrewTables(self.unique[columns], self.counts[columns], self.index[:, columns])


def crew_tables(w: np.ndarray) -> CrewTables:
    """The unique values and indices of the integer matrix ``w`` (neurons, inputs), one input (column)
    at a time: offline work on the quantized weights."""
    w = np.asarray(w)
    if w.ndim != 2 or not np.issubdtype(w.dtype, np.integer):
        raise ValueError(f"crew_tables takes an integer matrix (neurons, inputs), not {w.dtype} of shape {w.shape}")
    columns = [np.unique(w[:, i], return_inverse=True) for i in range(w.shape[1])]
    counts = np.array([len(values) for values, _ in columns], dtype=np.int64)
    unique = np.zeros((w.shape[1], int(counts.max(initial=1))), dtype=np.int64)
    for i, (values, _) in enumerate(columns):
        unique[i, :len(values)] = values
    index = np.stack([inverse.reshape(-1) for _, inverse in columns], axis=1).astype(np.int64)
    return CrewTables(unique, counts, index)


def crew_dot(v: np.ndarray, tables: CrewTables) -> np.ndarray:
    """sum_i W[n, i] v[b, i] the CREW way: products[b, i, u] = v[b, i] * unique[i, u] (the multiply
    stage), then for every neuron the sum over i of products[b, i, index[n, i]] (the adder lanes).
    Exact int64; returns (batch, neurons)."""
    v = np.asarray(v, dtype=np.int64)
    products = v[:, :, None] * tables.unique[None, :, :]
    inputs = np.arange(tables.index.shape[1])[None, :]
    neurons = tables.index.shape[0]
    chunk = max(1, _GATHER_ELEMENTS // max(1, neurons * tables.index.shape[1]))
    out = np.empty((v.shape[0], neurons), dtype=np.int64)
    for start in range(0, v.shape[0], chunk):
        rows = slice(start, start + chunk)
        out[rows] = products[rows][:, inputs, tables.index].sum(axis=2)
    return out


@dataclass(frozen=True)
class CrewPolicy(WrapsMemo):
    """The CREW datapath under a memoization policy ``memo`` (default off: CREW alone, exact). With a
    predictor in ``memo`` the two compose: a reused neuron needs no additions, and a product is made
    only when a computed neuron uses it."""
    memo: MemoPolicy = field(default_factory=lambda: MemoPolicy(OFF))

    def direction(self, model, layer: int, direction: int, theta_q: np.ndarray, stats, correlation: bool):
        return CrewDirection(model, layer, direction, self, theta_q, stats, correlation)


class CrewDirection(MemoDirection):
    """One layer direction with CREW dot products: the memoization stepper of ``policy.memo`` whose
    products come from the unique-weight tables of the direction's W = [W_ih | W_hh]."""

    narrow = False  # its corrections and products are computed in int64 (golden_model.intops)

    def __init__(self, model, layer, direction, policy: CrewPolicy, theta_q, stats, correlation):
        super().__init__(model, layer, direction, policy.memo, theta_q, stats, correlation)
        self.tables = crew_tables(self.q.w)
        n_x = self.q.input_size
        self.x_tables = self.tables.restrict(slice(0, n_x))
        self.h_tables = self.tables.restrict(slice(n_x, None))

    def dot_x(self, x_t):
        return crew_dot(x_t, self.x_tables)

    def dot_h(self, h):
        return crew_dot(h, self.h_tables)

    def count_multiplications(self, hit, active):
        """The products made: per input, its unique weights that some computed neuron uses (all U_i when
        every neuron is computed)."""
        if not hit.any():
            return active * int(self.tables.counts.sum())
        return used_products(self.tables, ~hit & active[:, None])


def used_products(tables: CrewTables, neurons: np.ndarray, inputs: np.ndarray | None = None) -> np.ndarray:
    """Per batch row: the (input, unique weight) pairs that some neuron of the mask ``neurons`` (batch, G*H)
    uses on an input of the mask ``inputs`` (batch, N; None: every input): the products the multiply stage
    has to make."""
    index = tables.index
    used = np.zeros((neurons.shape[0], index.shape[1], tables.unique_max), dtype=bool)
    rows, cols = np.nonzero(neurons)
    used[rows[:, None], np.arange(index.shape[1])[None, :], index[cols]] = True
    if inputs is not None:
        used &= inputs[:, :, None]
    return used.sum(axis=(1, 2))
