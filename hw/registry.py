"""Registry of the hardware blocks that ``fuzzymemo generate`` can write as Verilog (and that the lint test
checks): block name -> builder taking the parsed options.

To add a block, add ONE :func:`register` call at the end of this file::

    register("bnn", _bnn, "BNN XNOR-popcount unit", opt("width", int, 32, "B, bits per cycle"), ...)

where the builder ``_bnn(options: dict) -> wiring.Component`` receives every declared option (defaults
filled in, values converted by the option's ``type``). :data:`LINT_CONFIGS` (optional) lists extra option
sets the lint test elaborates besides the defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from golden_model.schemes.registry import check_names

__all__ = ["Option", "Block", "opt", "register", "names", "get", "build", "BLOCKS", "parse_bool"]


def parse_bool(value) -> bool:
    """A registry option's boolean: True/False or the strings true/false, yes/no, on/off, 1/0."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected a boolean (true/false), not {value!r}")


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
        check_names(f"block {self.name!r}", options, known, "option")
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


# Datapath units (dot product, activation, LSTM/GRU element-wise). Number formats are options written
# Q<bits>.<frac>; defaults are FixedPointConfig()'s.

def _qformat(text):
    from .checks import parse_qformat
    return parse_qformat(text)


def _format_options():
    from golden_model.formats import FixedPointConfig
    d = FixedPointConfig()
    return (opt("weight", _qformat, str(d.weight), "weight format"),
            opt("act", _qformat, str(d.act), "activation format"),
            opt("cell", _qformat, str(d.cell), "LSTM cell-state format"),
            opt("preact", _qformat, str(d.preact), "table argument format"),
            opt("bias_bits", int, d.bias_bits, "bias width (fraction weight.frac + act.frac)"))


_qformat.__name__ = "QFormat"
_FORMATS = _format_options()
_NARROW = {"weight": "Q4.2", "act": "Q6.3", "cell": "Q8.4", "preact": "Q6.3", "bias_bits": 10}
_WIDE = {"weight": "Q16.12", "act": "Q16.12", "cell": "Q24.18", "preact": "Q14.10", "bias_bits": 40}


def _dot_product(o):
    from .checks import config_from_options
    from .dot_product import DotProductUnit
    return DotProductUnit(o["lanes"], o["max_inputs"], config_from_options(o))


def _activation(o):
    from .activation import ActivationUnit
    from .checks import config_from_options
    return ActivationUnit(config_from_options(o))


def _lstm_cell(o):
    from .checks import config_from_options
    from .lstm_cell import LstmCellUnit
    return LstmCellUnit(config_from_options(o))


def _gru_candidate(o):
    from .checks import config_from_options
    from .gru import GruCandidateUnit
    return GruCandidateUnit(config_from_options(o), o["max_inputs"])


def _gru_state(o):
    from .checks import config_from_options
    from .gru import GruStateUnit
    return GruStateUnit(config_from_options(o))


register("dot_product", _dot_product, "Dot-product unit: L MACs per cycle, exact accumulator, bias, requantize",
         opt("lanes", int, 8, "L, multiply-accumulates per cycle"),
         opt("max_inputs", int, 256, "N_max, longest neuron row (sets the accumulator width)"), *_FORMATS,
         lint_configs=({"lanes": 1, "max_inputs": 1, **_NARROW}, {"lanes": 7, "max_inputs": 100, **_WIDE}))
register("activation", _activation, "Sigmoid/tanh unit: folded half tables in ROM, one lookup per cycle",
         *_FORMATS, lint_configs=(_NARROW, _WIDE))
register("lstm_cell", _lstm_cell, "LSTM element-wise update: c' and h' from i, f, g, o and c", *_FORMATS,
         lint_configs=(_NARROW, _WIDE))
register("gru_candidate", _gru_candidate, "GRU candidate: acc_x + r * acc_h, requantized to the tanh argument",
         opt("max_inputs", int, 256, "N_max of the dot products feeding it (sets the accumulator width)"),
         *_FORMATS, lint_configs=({"max_inputs": 1, **_NARROW}, {"max_inputs": 100, **_WIDE}))
register("gru_state", _gru_state, "GRU state update h' = n + z * (h - n)", *_FORMATS,
         lint_configs=(_NARROW, _WIDE))
def _tile(o):
    """The tile of a registry option set (``fuzzymemo generate --top tile``); memories zero (load through
    ``wr``). The LSTM cell-state format is the option ``cell_format`` (``cell`` is the cell type)."""
    from .checks import config_from_options
    from .tile import Tile
    from .tile_bnn import BnnFrontEnd
    from .tile_params import TileParams
    formats = {**o, "cell": o["cell_format"]}
    params = TileParams(cell=o["cell"], input_size=o["input_size"], hidden=o["hidden"], slots=o["slots"],
                        lanes=o["lanes"], bnn_width=o["bnn_width"], config=config_from_options(formats),
                        front_end=BnnFrontEnd if parse_bool(o["memo"]) else None, max_steps=o["max_steps"],
                        cache_update=o["cache_update"])
    return Tile(params)


register("tile", _tile,
         "Accelerator tile: LSTM/GRU layer engine with BNN-predicted fuzzy memoization (docs/tile.md)",
         opt("cell", str, "lstm", "cell type", choices=("lstm", "gru")),
         opt("input_size", int, 3, "I_max, largest per-step input of any slot"),
         opt("hidden", int, 4, "H, hidden size"),
         opt("slots", int, 1, "layer-directions whose weights the tile holds"),
         opt("lanes", int, 2, "L, multiply-accumulates per cycle"),
         opt("bnn_width", int, 8, "B, BNN sign bits per cycle"),
         opt("memo", str, "true", "memoization hardware present (false: the baseline tile)",
             choices=("true", "false", "1", "0", "yes", "no")),
         opt("max_steps", int, 4096, "longest sequence the step counter holds"),
         opt("cache_update", str, "compute", "memo-table b_m policy", choices=("compute", "always")),
         # the format options, with the LSTM cell-state format renamed cell_format ("cell" is the cell type)
         *(Option(**{**o.__dict__, "name": "cell_format"}) if o.name == "cell" else o for o in _FORMATS),
         lint_configs=({"cell": "gru", "memo": "false", "input_size": 5, "hidden": 3, "lanes": 2,
                        **{("cell_format" if k == "cell" else k): v for k, v in _NARROW.items()}},
                       {"cell": "gru", "input_size": 6, "hidden": 5, "slots": 3, "lanes": 4, "bnn_width": 5,
                        "cache_update": "always"}))
