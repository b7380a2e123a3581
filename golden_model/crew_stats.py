"""CREW statistics of a quantized network (docs/crew.md): per layer direction, the unique weights each
input meets, the multiplications per step of CREW against the fixed-point baseline, and the weight
storage of both, computed from the integer weights alone (vectorised, no run needed).

For a layer direction with W (neurons = G*H, inputs = n_x + H) and U_i distinct values in column i:

* multiplications per step: baseline ``neurons * inputs``; CREW ``sum_i U_i`` (each input times each
  of its unique weights once; every neuron computed, i.e. CREW alone without memoization).
* storage, baseline: ``neurons * inputs * weight_bits`` (the weight memory).
* storage, CREW, two index encodings (both reported, labelled):

  - ``uniform`` -- the hardware's: ONE index width per layer direction, ``b = index_bits(U_max)``
    (:func:`golden_model.crew.index_bits`, at least 1), and every input's table padded to U_max entries:
    ``neurons * inputs * b + inputs * U_max * weight_bits``.
  - ``per_input`` -- the paper's compressed storage: input i's indices are ``ceil(log2 U_i)`` bits wide
    (0 bits when U_i = 1: a single value needs no index) and its table holds exactly U_i values:
    ``sum_i (neurons * ceil(log2 U_i) + U_i * weight_bits)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .crew import index_bits

__all__ = ["DirectionStats", "unique_counts", "per_input_index_bits", "direction_stats", "network_stats",
           "summarize"]


def unique_counts(w: np.ndarray) -> np.ndarray:
    """U_i: the number of distinct values in each column of the integer matrix ``w`` (neurons, inputs)."""
    w = np.asarray(w)
    if w.ndim != 2 or not np.issubdtype(w.dtype, np.integer) or w.shape[0] == 0:
        raise ValueError(f"unique_counts takes a non-empty integer matrix (neurons, inputs), not {w.dtype} "
                         f"of shape {w.shape}")
    s = np.sort(w, axis=0)
    return 1 + np.count_nonzero(np.diff(s, axis=0), axis=0).astype(np.int64)


def per_input_index_bits(counts: np.ndarray) -> np.ndarray:
    """ceil(log2 U_i) per input: the paper's per-input index width (0 for a single unique value)."""
    counts = np.asarray(counts, dtype=np.int64)
    return np.array([int(u - 1).bit_length() for u in counts.ravel()], dtype=np.int64).reshape(counts.shape)


@dataclass(frozen=True)
class DirectionStats:
    """CREW statistics of one layer direction (see the module docstring for the definitions)."""
    layer: int
    direction: int
    neurons: int
    inputs: int
    weight_bits: int
    counts: np.ndarray   # (inputs,) U_i

    @property
    def unique_max(self) -> int:
        return int(self.counts.max())

    @property
    def multiplications_baseline(self) -> int:
        """Per step: every neuron times every input."""
        return self.neurons * self.inputs

    @property
    def multiplications_crew(self) -> int:
        """Per step: every input times each of its unique weights."""
        return int(self.counts.sum())

    @property
    def index_bits_uniform(self) -> int:
        return index_bits(self.unique_max)

    @property
    def storage_baseline(self) -> int:
        return self.neurons * self.inputs * self.weight_bits

    def storage(self, encoding: str) -> dict:
        """Index-memory and table bits of ``encoding`` (``uniform`` or ``per_input``), and their total."""
        if encoding == "uniform":
            index = self.neurons * self.inputs * self.index_bits_uniform
            tables = self.inputs * self.unique_max * self.weight_bits
        elif encoding == "per_input":
            index = self.neurons * int(per_input_index_bits(self.counts).sum())
            tables = int(self.counts.sum()) * self.weight_bits
        else:
            raise ValueError(f"unknown index encoding {encoding!r}; expected 'uniform' or 'per_input'")
        return {"index_bits": index, "table_bits": tables, "total_bits": index + tables,
                "ratio": (index + tables) / self.storage_baseline}

    def as_dict(self) -> dict:
        c = self.counts
        return {
            "layer": self.layer, "direction": self.direction, "neurons": self.neurons, "inputs": self.inputs,
            "weight_bits": self.weight_bits,
            "unique_per_input": {"median": float(np.median(c)), "p90": float(np.percentile(c, 90)),
                                 "max": int(c.max()), "mean": float(c.mean()), "min": int(c.min()),
                                 "counts": [int(u) for u in c]},
            "multiplications_per_step": {"baseline": self.multiplications_baseline,
                                         "crew": self.multiplications_crew,
                                         "reduction": self.multiplications_baseline / self.multiplications_crew,
                                         "avoided": 1 - self.multiplications_crew / self.multiplications_baseline},
            "index_bits": {"uniform": self.index_bits_uniform,
                           "per_input_mean": float(per_input_index_bits(c).mean()),
                           "weight_bits": self.weight_bits},
            "storage_bits": {"baseline": self.storage_baseline, "uniform": self.storage("uniform"),
                             "per_input": self.storage("per_input")},
        }


def direction_stats(w: np.ndarray, weight_bits: int, layer: int = 0, direction: int = 0) -> DirectionStats:
    """The statistics of the integer weight matrix ``w`` (neurons, inputs) of ``weight_bits``-bit weights."""
    counts = unique_counts(w)
    return DirectionStats(layer, direction, int(w.shape[0]), int(w.shape[1]), int(weight_bits), counts)


def network_stats(model) -> list[DirectionStats]:
    """Per layer direction of the FixedPointNetwork ``model``, in (layer, direction) order; W = [W_ih | W_hh]."""
    bits = model.config.weight.bits
    return [direction_stats(q.w, bits, li, d) for li, layer in enumerate(model.layers) for d, q in enumerate(layer)]


def summarize(stats: list[DirectionStats]) -> dict:
    """The whole network: unique weights per input pooled over every layer direction's inputs, and the
    multiplications and storage bits summed."""
    counts = np.concatenate([s.counts for s in stats])
    base_mult = sum(s.multiplications_baseline for s in stats)
    crew_mult = sum(s.multiplications_crew for s in stats)
    base_bits = sum(s.storage_baseline for s in stats)
    out = {"unique_per_input": {"median": float(np.median(counts)), "p90": float(np.percentile(counts, 90)),
                                "max": int(counts.max()), "mean": float(counts.mean())},
           "multiplications_per_step": {"baseline": base_mult, "crew": crew_mult, "reduction": base_mult / crew_mult,
                                        "avoided": 1 - crew_mult / base_mult},
           "storage_bits": {"baseline": base_bits}}
    for encoding in ("uniform", "per_input"):
        total = sum(s.storage(encoding)["total_bits"] for s in stats)
        out["storage_bits"][encoding] = {"total_bits": total, "ratio": total / base_bits}
    return out
