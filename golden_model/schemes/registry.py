"""The registry of reuse schemes, predictors and oracles: one :class:`ReuseEntry` object per name.

An entry supplies everything the tool needs of it, so that adding one is one module plus one line in
:data:`golden_model.schemes.ENTRY_MODULES` (docs/architecture.md, *Adding a predictor or a scheme*):

* its CLI name (``name``), ``kind`` (``scheme``, ``predictor`` or ``oracle``) and declared ``parameters``;
* its golden-model policy (:meth:`ReuseEntry.golden_policy`: an object whose ``direction`` method gives
  :class:`golden_model.fixed_model.FixedPointNetwork` the stepper of one layer direction);
* its hardware front end (``hardware``, ``"module:Class"`` of a ``hw`` front-end component, imported only
  when :meth:`ReuseEntry.front_end` is asked for it: the golden model never imports ``hw``; None where the
  entry has no hardware);
* its cost model (:meth:`ReuseEntry.cost`, per neuron per step) and its docs entry (``docs``).

Modelled on hls4ml's backend registries: entries register themselves at import, lookups by name give
a clear error listing what is registered.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from ..formats import FixedPointConfig

__all__ = ["KINDS", "Cost", "Parameter", "ReuseEntry", "check_names", "entries", "get", "names", "register"]

#: ``scheme``: a way of reusing work (memoization, delta, CREW); ``predictor``: what decides a reuse in
#: the memoization scheme; ``oracle``: an upper bound that computes everything (no hardware).
KINDS = ("scheme", "predictor", "oracle")


@dataclass(frozen=True)
class Parameter:
    """One parameter of an entry (a CLI option of the commands that select it)."""
    name: str
    type: type
    default: Any
    help: str
    choices: tuple | None = None

    def as_dict(self) -> dict:
        out = {"name": self.name, "type": self.type.__name__, "default": self.default, "help": self.help}
        if self.choices is not None:
            out["choices"] = list(self.choices)
        return out


@dataclass(frozen=True)
class Cost:
    """Work and storage an entry adds to one neuron per step, beside the neuron's own N MACs.

    ``macs`` counts multiply-accumulates of any width, ``bit_ops`` XNOR-popcount bits, ``state_bits``
    the storage the entry keeps per neuron (copies of weights included). ``shared_macs`` is work done once
    per layer direction and step for all its ``neurons`` (a low-rank projection), ``shared_state_bits``
    storage kept once per layer direction."""
    inputs: int
    macs: float = 0.0
    bit_ops: int = 0
    state_bits: int = 0
    formula: str = ""
    shared_macs: float = 0.0
    shared_state_bits: int = 0
    neurons: int = 1

    @property
    def mac_equivalent(self) -> float:
        """The cost in MACs per neuron: each MAC counts one, each 64 bits of XNOR-popcount one, shared work
        divided among the layer direction's neurons (the net saving's predictor cost, docs/predictors.md)."""
        return self.macs + self.bit_ops / 64 + self.shared_macs / self.neurons

    def as_dict(self) -> dict:
        return {"inputs": self.inputs, "neurons": self.neurons, "baseline_macs": self.inputs, "macs": self.macs,
                "bit_ops": self.bit_ops, "shared_macs": self.shared_macs, "mac_equivalent": self.mac_equivalent,
                "state_bits": self.state_bits, "shared_state_bits": self.shared_state_bits,
                "formula": self.formula}


def check_names(owner: str, given: dict, known: dict, noun: str) -> None:
    """A ValueError naming every key of ``given`` that ``known`` lacks, and what ``owner`` takes instead
    (shared by the scheme registry and hw.registry's block options)."""
    unknown = sorted(set(given) - set(known))
    if unknown:
        takes = ", ".join(known) or f"no {noun}s"
        raise ValueError(f"{owner} has no {noun} {', '.join(unknown)}; it takes {takes}")


class ReuseEntry:
    """Base class of a registered scheme, predictor or oracle; subclasses set the class attributes and
    override the methods their kind needs."""

    name: str = ""
    kind: str = ""
    summary: str = ""
    docs: str = ""
    parameters: tuple[Parameter, ...] = ()
    #: predictors and oracles: the name of the scheme they decide for
    scheme: str | None = None
    #: the hardware front end as "module:Class" (None: no hardware)
    hardware: str | None = None

    def cost(self, inputs: int, config: FixedPointConfig, neurons: int = 1, **params) -> Cost:
        """Per neuron per step for a neuron of ``inputs`` (N = n_x + H) inputs in the formats ``config``, in
        a layer direction of ``neurons`` gate neurons (G * H), with the entry's ``params``."""
        raise NotImplementedError(f"{type(self).__name__} defines no cost model")

    def golden_policy(self, threshold=0.0, **params):
        """The golden-model policy at ``threshold`` (one value or one per layer) with ``params``."""
        raise NotImplementedError(f"{self.kind} {self.name!r} has no golden-model policy of its own")

    def front_end(self, params: dict | None = None):
        """The hardware front end class (``hardware`` imported; a class with ``configure`` is configured
        with the entry's resolved ``params``), or None for an entry without hardware."""
        if self.hardware is None:
            return None
        module, _, name = self.hardware.partition(":")
        cls = getattr(importlib.import_module(module), name)
        return cls.configure(**self.resolve(params)) if hasattr(cls, "configure") else cls

    def resolve(self, params: dict | None = None) -> dict:
        """Declared defaults overlaid with ``params``; an unknown or ill-typed parameter is a ValueError."""
        params = dict(params or {})
        known = {p.name: p for p in self.parameters}
        check_names(f"{self.kind} {self.name!r}", params, known, "parameter")
        out = {}
        for name, p in known.items():
            value = params.get(name, p.default)
            if not isinstance(value, p.type):
                raise ValueError(f"{self.name} parameter {name} must be of type {p.type.__name__}, not {value!r}")
            if p.choices is not None and value not in p.choices:
                raise ValueError(f"{self.name} parameter {name} must be one of {list(p.choices)}, not {value!r}")
            out[name] = value
        return out

    def as_dict(self, inputs: int, config: FixedPointConfig, neurons: int = 1) -> dict:
        """The entry as ``fuzzymemo schemes --json`` lists it, its cost at ``inputs`` inputs per neuron and
        ``neurons`` neurons per layer direction, with its default parameters."""
        return {"name": self.name, "kind": self.kind, "summary": self.summary, "scheme": self.scheme,
                "hardware": self.hardware, "docs": self.docs,
                "parameters": [p.as_dict() for p in self.parameters],
                "cost": self.cost_at(inputs, config, neurons).as_dict()}

    def cost_at(self, inputs: int, config: FixedPointConfig, neurons: int = 1, params: dict | None = None) -> Cost:
        """:meth:`cost` with the entry's declared defaults overlaid with ``params``."""
        return self.cost(inputs, config, neurons, **self.resolve(params))


_ENTRIES: dict[str, ReuseEntry] = {}


def register(entry: ReuseEntry) -> ReuseEntry:
    """Add ``entry`` under its name (once); returns it, so a module can keep a handle."""
    if not isinstance(entry, ReuseEntry):
        raise TypeError(f"a registered entry must be a ReuseEntry, not {type(entry).__name__}")
    if not entry.name or entry.kind not in KINDS:
        raise ValueError(f"entry {entry.name!r} needs a name and a kind in {KINDS}, not {entry.kind!r}")
    if entry.name in _ENTRIES:
        raise ValueError(f"{entry.kind} {entry.name!r} is registered twice")
    _ENTRIES[entry.name] = entry
    return entry


def get(name: str, kinds: tuple[str, ...] = KINDS) -> ReuseEntry:
    """The entry called ``name`` among ``kinds``; a clear ValueError naming what is registered otherwise."""
    entry = _ENTRIES.get(name)
    if entry is None or entry.kind not in kinds:
        known = ", ".join(names(kinds)) or "none"
        what = " or ".join(kinds)
        raise ValueError(f"unknown {what} {name!r}; registered: {known}")
    return entry


def names(kinds: tuple[str, ...] = KINDS) -> list[str]:
    """Registered names of ``kinds``, in registration order."""
    return [n for n, e in _ENTRIES.items() if e.kind in kinds]


def entries(kinds: tuple[str, ...] = KINDS) -> list[ReuseEntry]:
    return [e for e in _ENTRIES.values() if e.kind in kinds]
