"""Registry of the hardware blocks that ``fuzzymemo generate`` can write as Verilog (and that the lint test
checks): block name -> builder taking the parsed options.

To add a block, add ONE :func:`register` call at the end of this file::

    register("bnn", _bnn, "BNN XNOR-popcount unit", opt("width", int, 32, "B, bits per cycle"), ...)

where the builder ``_bnn(options: dict) -> wiring.Component`` receives every declared option (defaults
filled in, values converted by the option's ``type``). :data:`LINT_CONFIGS` (optional) lists extra option
sets the lint test elaborates besides the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Option", "Block", "opt", "register", "names", "get", "build", "BLOCKS"]


@dataclass(frozen=True)
class Option:
    """One configuration option of a block: ``--<name> VALUE`` on the command line."""
    name: str
    type: Callable[[str], Any]
    default: Any
    help: str = ""
    choices: tuple | None = None

    def convert(self, value):
        if isinstance(value, str) and self.type is not str:
            try:
                value = self.type(value)
            except (TypeError, ValueError) as e:
                raise ValueError(f"option {self.name}: cannot read {value!r} as "
                                 f"{getattr(self.type, '__name__', self.type)}: {e}") from None
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"option {self.name} must be one of {list(self.choices)}, not {value!r}")
        return value


def opt(name: str, type: Callable[[str], Any], default: Any, help: str = "", choices=None) -> Option:
    return Option(name, type, default, help, tuple(choices) if choices is not None else None)


@dataclass(frozen=True)
class Block:
    name: str
    builder: Callable[[dict], Any]
    help: str
    options: tuple[Option, ...] = ()
    lint_configs: tuple[dict, ...] = field(default=())

    def resolve(self, options: dict | None = None) -> dict:
        """Defaults overlaid with ``options`` (converted); unknown names are an error."""
        options = dict(options or {})
        known = {o.name: o for o in self.options}
        unknown = sorted(set(options) - set(known))
        if unknown:
            takes = ", ".join(known) or "no options"
            raise ValueError(f"block {self.name!r} has no option {', '.join(unknown)}; it takes {takes}")
        return {name: o.convert(options.get(name, o.default)) for name, o in known.items()}


#: name -> Block, in registration order.
BLOCKS: dict[str, Block] = {}


def register(name: str, builder: Callable[[dict], Any], help: str, *options: Option,
             lint_configs: tuple[dict, ...] = ()) -> None:
    """Register a block: ``builder(options) -> wiring.Component``; ``options`` declare its parameters."""
    if name in BLOCKS:
        raise ValueError(f"block {name!r} is registered twice")
    BLOCKS[name] = Block(name, builder, help, tuple(options), tuple(lint_configs))


def names() -> list[str]:
    return list(BLOCKS)


def get(name: str) -> Block:
    try:
        return BLOCKS[name]
    except KeyError:
        raise ValueError(f"unknown block {name!r}; known blocks: {', '.join(BLOCKS)}") from None


def build(name: str, options: dict | None = None):
    """Elaborate-ready component of block ``name`` with ``options`` (strings are converted)."""
    block = get(name)
    return block.builder(block.resolve(options))


# --------------------------------------------------------------------------------------------------------
# Builders (import inside, so that listing the registry stays cheap and one broken block cannot hide others)

def _bnn(o):
    from .bnn import BnnUnit
    return BnnUnit(o["width"], o["max_inputs"])


def _memo_table(o):
    from .memo_table import MemoTable
    return MemoTable(o["entries"], o["y_bits"], o["b_bits"], o["cache_update"])


# --------------------------------------------------------------------------------------------------------
# One register() call per block.

register("bnn", _bnn, "BNN predictor: XNOR-popcount of packed sign bits, B bits per cycle",
         opt("width", int, 32, "B, sign bits per cycle"),
         opt("max_inputs", int, 256, "N_max, most valid bits of one neuron"),
         lint_configs=({"width": 1, "max_inputs": 1}, {"width": 7, "max_inputs": 100}))
register("memo_table", _memo_table, "Memo table: cached (y, b) per neuron, threshold compare, one lookup per cycle",
         opt("entries", int, 256, "neurons (table depth)"),
         opt("y_bits", int, 12, "width of the cached output y"),
         opt("b_bits", int, 10, "width of the BNN output b"),
         opt("cache_update", str, "compute", "b_m policy", choices=("compute", "always")),
         lint_configs=({"entries": 2, "y_bits": 2, "b_bits": 2, "cache_update": "always"},
                       {"entries": 100, "y_bits": 16, "b_bits": 12, "cache_update": "compute"}))
