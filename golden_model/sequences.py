"""Batches of variable-length sequences and the traversal shared by the float and fixed-point models.

A batch is ``x`` of shape (batch, time, features), batch first, with optional per-sequence ``lengths``.
Steps at or past a sequence's length are padding: they change no state and their outputs are zero,
as PyTorch's packed sequences give them. The backward direction of a bidirectional layer starts at
each sequence's own last valid step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np


def check_batch(x, lengths, input_size: int | None, name: str = "input") -> tuple[np.ndarray, np.ndarray]:
    """Validate a batch and return (x as float64, lengths as int64). ``input_size`` None accepts any
    feature count; ``name`` is what the messages call x."""
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"{name} must have shape (batch, time, features), got shape {x.shape} "
                         f"({x.ndim} dimensions)")
    if 0 in x.shape:
        raise ValueError(f"{name} of shape {x.shape} is empty")
    if input_size is not None and x.shape[2] != input_size:
        raise ValueError(f"{name} has {x.shape[2]} features, the network expects {input_size}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"{name} must be a real numeric array, not {x.dtype}")
    if not np.all(np.isfinite(x)):
        first = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise ValueError(f"{name} contains NaN or infinite values (first at index {first})")
    batch, steps = x.shape[:2]
    if lengths is None:
        return x.astype(np.float64), np.full(batch, steps, dtype=np.int64)
    lengths = np.asarray(lengths)
    if lengths.ndim != 1:
        raise ValueError(f"lengths must have shape (batch,), got shape {lengths.shape}")
    if lengths.shape[0] != batch:
        raise ValueError(f"{name} has {batch} sequences but lengths has {lengths.shape[0]} entries")
    if not np.issubdtype(lengths.dtype, np.integer):
        raise TypeError(f"lengths must be integers, not {lengths.dtype}")
    bad = (lengths < 1) | (lengths > steps)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"lengths[{i}] = {int(lengths[i])} is out of range 1..{steps} (the time axis)")
    return x.astype(np.float64), lengths.astype(np.int64)


class DirectionRunner(Protocol):
    def step(self, t: int, x_t: np.ndarray, active: np.ndarray) -> np.ndarray:
        """Advance the sequences where ``active`` by one step on input x_t; return h_t (batch, hidden)."""


def run_layers(x: np.ndarray, lengths: np.ndarray, num_layers: int, num_directions: int,
               make_runner: Callable[[int, int], DirectionRunner]) -> list[np.ndarray]:
    """Run every layer and direction over the batch; returns every layer's output (B, T, D*H), the input of
    the next layer (the last one is the network's output)."""
    batch, steps = x.shape[:2]
    out = x
    layer_outputs = []
    for layer in range(num_layers):
        layer_out = None  # (B, T, D*H), allocated once the first step shows H and the dtype
        for direction in range(num_directions):
            runner = make_runner(layer, direction)
            order = range(steps - 1, -1, -1) if direction else range(steps)
            for t in order:
                active = t < lengths
                h = runner.step(t, out[:, t], active)
                if layer_out is None:
                    layer_out = np.zeros((batch, steps, num_directions * h.shape[1]), dtype=h.dtype)
                hs = h.shape[1]
                # padding steps stay zero
                np.copyto(layer_out[:, t, direction * hs:(direction + 1) * hs], h, where=active[:, None])
        out = layer_out
        layer_outputs.append(out)
    return layer_outputs


def last_valid(out: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Output at each sequence's last valid step: (B, T, F) -> (B, F)."""
    return out[np.arange(out.shape[0]), lengths - 1]
