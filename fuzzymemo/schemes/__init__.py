"""Reuse schemes and predictors, registered by name (:mod:`fuzzymemo.schemes.registry`).

To add one, write its module (a :class:`~fuzzymemo.schemes.registry.ReuseEntry` subclass and a
``register(...)`` call) and add the module to :data:`ENTRY_MODULES`: every command that selects a scheme
or a predictor (``fuzzymemo schemes``, ``sweep``, ``calibrate``, ``run``) then offers it.
"""

from __future__ import annotations

import importlib

from .registry import KINDS, Cost, Parameter, ReuseEntry, entries, get, names, register

#: The modules whose import registers an entry, in the order ``fuzzymemo schemes`` lists them.
ENTRY_MODULES = (
    "fuzzymemo.schemes.memo",     # scheme: neuron-level fuzzy memoization (MICRO 2019)
    "fuzzymemo.schemes.bnn",      # predictor: the paper's binarized neuron
    "fuzzymemo.schemes.oracle",   # oracle: the exact output compared (upper bound)
)

for _module in ENTRY_MODULES:
    importlib.import_module(_module)

__all__ = ["ENTRY_MODULES", "KINDS", "Cost", "Parameter", "ReuseEntry", "entries", "get", "names", "register"]
