"""Reuse schemes and predictors, registered by name (:mod:`golden_model.schemes.registry`): pure Python
beside the golden model they define (each entry's hardware front end is named, not imported).

To add one, write its module (a :class:`~golden_model.schemes.registry.ReuseEntry` subclass and a
``register(...)`` call) and add the module to :data:`ENTRY_MODULES`: every command that selects a scheme
or a predictor (``fuzzymemo schemes``, ``sweep``, ``calibrate``, ``run``) then offers it.
"""

from __future__ import annotations

import importlib

from .registry import KINDS, Cost, Parameter, ReuseEntry, entries, get, names, register

#: The modules whose import registers an entry, in the order ``fuzzymemo schemes`` lists them.
ENTRY_MODULES = (
    "golden_model.schemes.memo",     # scheme: neuron-level fuzzy memoization (MICRO 2019)
    "golden_model.schemes.bnn",      # predictor: the paper's binarized neuron
    "golden_model.schemes.bnn_planes",   # predictor: residual bit planes of the inputs
    "golden_model.schemes.low_rank",     # predictor: rank-r factorization of the weights
    "golden_model.schemes.top_k",        # predictor: the k most-changed inputs
    "golden_model.schemes.low_precision",  # predictor: the neuron at low precision
    "golden_model.schemes.oracle",   # oracle: the exact output compared (upper bound)
    "golden_model.schemes.crew",     # scheme: unique-weight computation reuse (CREW)
    "golden_model.schemes.delta",    # scheme: delta network (per-input references, thresholds theta_x/theta_h)
    "golden_model.schemes.similarity",   # scheme: input similarity (linear quantization, Riera et al. 2018)
)

for _module in ENTRY_MODULES:
    importlib.import_module(_module)

__all__ = ["ENTRY_MODULES", "KINDS", "Cost", "Parameter", "ReuseEntry", "entries", "get", "names", "register"]
