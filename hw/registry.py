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

__all__ = ["Option", "Block", "opt", "register", "names", "get", "build", "BLOCKS", "tile_predictors",
           "tile_front_end"]


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
    return MemoTable(o["entries"], o["y_bits"], o["b_bits"], o["cache_update"], o["epoch_bits"])


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
         opt("epoch_bits", int, 8, "width of the epoch tags (valid bits): a sweep every 2**epoch_bits - 1 clears"),
         lint_configs=({"entries": 2, "y_bits": 2, "b_bits": 2, "cache_update": "always", "epoch_bits": 2},
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
def tile_predictors() -> tuple[str, ...]:
    """Values of the tile's ``predictor`` option: ``none`` (the baseline tile) and every registered
    predictor with a hardware front end (golden_model.schemes entries with ``hardware``)."""
    from golden_model import schemes
    return ("none", *(e.name for e in schemes.entries(("predictor",)) if e.hardware is not None))


#: tile option -> predictor parameter it sets (the parameters a predictor declares that have no tile
#: option keep their registry defaults)
TILE_PREDICTOR_OPTIONS = {"rank": "rank", "factor_bits": "bits", "planes": "planes", "k": "k",
                          "weight_bits": "weight_bits", "input_bits": "input_bits"}


def tile_front_end(o):
    """The front-end class of a tile option set: None for ``predictor`` none, else the scheme registry's
    (``schemes.get(name).front_end``, configured from the tile options of TILE_PREDICTOR_OPTIONS)."""
    from golden_model import schemes
    if o["predictor"] == "none":
        return None
    entry = schemes.get(o["predictor"], ("predictor",))
    declared = {p.name for p in entry.parameters}
    params = {param: o[name] for name, param in TILE_PREDICTOR_OPTIONS.items() if param in declared}
    try:   # the golden policy the hardware implements (its default rule) checks cache_update against it
        entry.golden_policy(cache_update=o["cache_update"], **params)
    except ValueError as e:
        raise ValueError(f"predictor {entry.name}: {e}") from None
    return entry.front_end(params)


def _tile_params(o):
    """The TileParams of a registry option set. The LSTM cell-state format is the option ``cell_format``
    (``cell`` is the cell type)."""
    from .checks import config_from_options
    from .tile_params import TileParams
    formats = {**o, "cell": o["cell_format"]}
    return TileParams(cell=o["cell"], input_size=o["input_size"], hidden=o["hidden"], slots=o["slots"],
                      lanes=o["lanes"], bnn_width=o["bnn_width"], config=config_from_options(formats),
                      front_end=tile_front_end(o), max_steps=o["max_steps"], cache_update=o["cache_update"])


def _tile(o):
    """The tile of a registry option set (``fuzzymemo generate --top tile``); memories zero (load through
    ``wr``)."""
    from .tile import Tile
    return Tile(_tile_params(o))


def _layer_chain(o):
    """The tile with layers sequenced in hardware (docs/hw/layer_chain.md): slots and I_max from the
    network's shape; memories zero (load through ``wr``)."""
    from .layer_chain import ChainShape, LayerChain
    width = o["directions"] * o["hidden"] if o["layers"] > 1 else 0
    params = _tile_params({**o, "slots": o["layers"] * o["directions"], "input_size": max(o["x_size"], width)})
    return LayerChain(params, ChainShape(o["layers"], o["directions"], o["x_size"], o["chain_steps"]))


_SHAPE_OPTIONS = (opt("cell", str, "lstm", "cell type", choices=("lstm", "gru")),
                  opt("input_size", int, 3, "I_max, largest per-step input of any slot"),
                  opt("hidden", int, 4, "H, hidden size"),
                  opt("slots", int, 1, "layer-directions whose weights the tile holds"))
register("tile", _tile,
         "Accelerator tile: LSTM/GRU layer engine with predictor-driven fuzzy memoization (docs/tile.md)",
         *_SHAPE_OPTIONS,
         opt("lanes", int, 2, "L, multiply-accumulates per cycle"),
         opt("predictor", str, "bnn", "memoization predictor hardware (none: the baseline tile)",
             choices=tile_predictors()),
         opt("bnn_width", int, 8, "B, BNN sign bits per cycle (predictor bnn)"),
         opt("rank", int, 4, "rank r of the factorization (predictor low-rank)"),
         opt("factor_bits", int, 8, "bits of each low-rank factor (predictor low-rank)"),
         opt("planes", int, 3, "residual sign planes of the inputs (predictor bnn-planes)"),
         opt("k", int, 4, "changed inputs counted per step (predictor top-k)"),
         opt("weight_bits", int, 4, "bits of the predictor's copy of the weights (predictors top-k, low-precision)"),
         opt("input_bits", int, 4, "bits of the narrowed inputs (predictor low-precision)"),
         opt("max_steps", int, 4096, "longest sequence the step counter holds"),
         opt("cache_update", str, "compute", "memo-table b_m policy", choices=("compute", "always")),
         # the format options, with the LSTM cell-state format renamed cell_format ("cell" is the cell type)
         *(Option(**{**o.__dict__, "name": "cell_format"}) if o.name == "cell" else o for o in _FORMATS),
         lint_configs=({"cell": "gru", "predictor": "none", "input_size": 5, "hidden": 3, "lanes": 2,
                        **{("cell_format" if k == "cell" else k): v for k, v in _NARROW.items()}},
                       {"cell": "gru", "input_size": 6, "hidden": 5, "slots": 3, "lanes": 4, "bnn_width": 5,
                        "cache_update": "always"},
                       {"cell": "lstm", "predictor": "low-rank", "input_size": 4, "hidden": 3, "slots": 2,
                        "rank": 2, "factor_bits": 5},
                       {"cell": "gru", "predictor": "top-k", "input_size": 3, "hidden": 3, "k": 2, "weight_bits": 3},
                       {"cell": "lstm", "predictor": "bnn-planes", "input_size": 3, "hidden": 2, "planes": 2},
                       # I_max <= L: one beat covers the inputs (a compare n_x <= L was constant: found by lint)
                       {"cell": "gru", "input_size": 2, "hidden": 3, "lanes": 2, "bnn_width": 4},
                       # I_max = 15 fills n_x's 4 bits (a compare n_x <= 15 was constant: found by regress)
                       {"cell": "lstm", "predictor": "low-precision", "input_size": 15, "hidden": 14, "lanes": 6}))


register("layer_chain", _layer_chain,
         "The tile with layers sequenced in hardware: the host sends x once and gets the last layer's h "
         "(docs/hw/layer_chain.md)",
         *(o for o in BLOCKS["tile"].options if o.name not in ("input_size", "slots")),
         opt("layers", int, 2, "layers of the network"),
         opt("directions", int, 2, "1, or 2 (bidirectional)", choices=(1, 2)),
         opt("x_size", int, 3, "inputs per step of layer 0"),
         opt("chain_steps", int, 64, "longest sequence the chain's buffers hold"),
         lint_configs=({"cell": "gru", "predictor": "none", "layers": 1, "directions": 1, "x_size": 2, "hidden": 3,
                        "chain_steps": 1},
                       {"cell": "lstm", "layers": 3, "directions": 2, "x_size": 5, "hidden": 3, "lanes": 3,
                        "chain_steps": 9}))


# The low-rank predictor's blocks (docs/hw/low_rank.md). Always-ready input streams are exposed as plain
# streams with ready tied high (hw.top.ReadyPorts).

def _output_rule_table(o):
    from .checks import config_from_options
    from .output_rule import OutputRuleTable
    from .top import ReadyPorts
    return ReadyPorts(OutputRuleTable(o["entries"], config_from_options(o), o["s_bits"], o["gain_bits"]))


def _low_rank_projection(o):
    from .low_rank import Projection
    from .top import ReadyPorts
    return ReadyPorts(Projection(o["inputs"], o["hidden"], o["act_bits"], o["rank"], o["bits"], o["depth"]))


def _low_rank_scorer(o):
    from .low_rank import LowRankScorer
    return LowRankScorer(o["neurons"], o["rank"], o["bits"], o["z_bits"], o["depth"])


register("output_rule_table", _output_rule_table,
         "Output-rule memo table: cached (y, p, s) per neuron, p^ from the score change, act, compare",
         opt("entries", int, 256, "neurons (table depth)"),
         opt("s_bits", int, 24, "width of the predictor score s"),
         opt("gain_bits", int, 0, "width of the per-lookup gain (0: gain 1, no multiplier)"), *_FORMATS,
         lint_configs=({"entries": 2, "s_bits": 2, **_NARROW},
                       {"entries": 300, "s_bits": 40, "gain_bits": 12, **_WIDE}))
register("low_rank_projection", _low_rank_projection,
         "Low-rank projection z = B^T [x ; h], accumulated as the elements arrive (two banks per part)",
         opt("inputs", int, 16, "I_max, x elements per step"),
         opt("hidden", int, 16, "H, h elements per step"),
         opt("act_bits", int, 12, "width of an element (activation format)"),
         opt("rank", int, 4, "r, factors per row"),
         opt("bits", int, 8, "width of a factor"),
         opt("depth", int, 256, "rows of the factor memory"),
         lint_configs=({"inputs": 1, "hidden": 1, "act_bits": 2, "rank": 1, "bits": 2, "depth": 2},
                       {"inputs": 100, "hidden": 64, "act_bits": 16, "rank": 8, "bits": 12, "depth": 5000}))
register("low_rank_scorer", _low_rank_scorer,
         "Low-rank scorer s = A_n . z, one neuron per cycle",
         opt("neurons", int, 64, "G*H, neurons per step"),
         opt("rank", int, 4, "r, factors per row"),
         opt("bits", int, 8, "width of a factor"),
         opt("z_bits", int, 26, "width of a projection element z_k"),
         opt("depth", int, 256, "rows of the factor memory"),
         lint_configs=({"neurons": 1, "rank": 1, "bits": 2, "z_bits": 2, "depth": 2},
                       {"neurons": 1000, "rank": 8, "bits": 12, "z_bits": 40, "depth": 5000}))


# The CREW blocks (docs/crew.md, *Hardware*): the adder lanes over product banks and the product stage.
# Always-ready streams are exposed as plain ones (hw.top.ReadyPorts, inputs and outputs).

def _crew_sum(o):
    from .checks import config_from_options
    from .crew_sum import CrewSumUnit
    from .tile_params import CrewShape
    from .top import ReadyPorts
    return ReadyPorts(CrewSumUnit(o["lanes"], o["max_inputs"], config_from_options(o),
                                  CrewShape(o["unique_max"], o["multipliers"]), o["rows"]))


def _crew_products(o):
    from .crew_products import ProductStage
    from .tile_params import CrewShape
    from .top import ReadyPorts

    return ReadyPorts(ProductStage(_dataflow_params(o, crew=CrewShape(o["unique_max"], o["multipliers"]))))


register("crew_sum", _crew_sum, "CREW adder lanes: L products fetched by index from per-lane product banks, summed",
         opt("lanes", int, 8, "L, adder lanes"),
         opt("max_inputs", int, 256, "N_max, longest neuron row (sets the accumulator width)"),
         opt("multipliers", int, 2, "M, products written per cycle (divides L)"),
         opt("unique_max", int, 16, "U_max, most unique weights of an input"),
         opt("rows", int, 8, "rows of a neuron (KX + KH)"), *_FORMATS,
         lint_configs=({"lanes": 1, "max_inputs": 1, "multipliers": 1, "unique_max": 1, "rows": 1, **_NARROW},
                       {"lanes": 6, "max_inputs": 100, "multipliers": 3, "unique_max": 37, "rows": 17, **_WIDE}))
register("crew_products", _crew_products,
         "CREW product stage: each input of the step times its unique weights, M products per cycle",
         opt("cell", str, "lstm", "cell type", choices=("lstm", "gru")),
         opt("input_size", int, 8, "I_max, largest per-step input of any slot"),
         opt("hidden", int, 8, "H, hidden size"),
         opt("slots", int, 1, "layer-directions whose tables the stage holds"),
         opt("lanes", int, 4, "L, adder lanes"),
         opt("multipliers", int, 2, "M, multipliers (divides L)"),
         opt("unique_max", int, 16, "U_max, most unique weights of an input"),
         *(Option(**{**o.__dict__, "name": "cell_format"}) if o.name == "cell" else o for o in _FORMATS),
         lint_configs=({"cell": "gru", "input_size": 1, "hidden": 1, "lanes": 1, "multipliers": 1, "unique_max": 1,
                        **{("cell_format" if k == "cell" else k): v for k, v in _NARROW.items()}},
                       {"cell": "lstm", "input_size": 13, "hidden": 7, "slots": 3, "lanes": 6, "multipliers": 3,
                        "unique_max": 40, **{("cell_format" if k == "cell" else k): v for k, v in _WIDE.items()}}))


# The delta-tile blocks (docs/delta.md, *Hardware*): change detector, correction engine, emitter. Always-ready
# input streams are plain ones (hw.top.ReadyPorts), always-ready output streams plain ones too (ready unused).

def _dataflow_params(o, **dataflow):
    """TileParams of a shape option set (:func:`_delta_options`, ``max_steps`` where the block has it) and
    a dataflow (``crew=``, ``delta=``, ``similarity=``)."""
    from .checks import config_from_options
    from .tile_params import TileParams
    steps = {"max_steps": o["max_steps"]} if "max_steps" in o else {}
    return TileParams(cell=o["cell"], input_size=o["input_size"], hidden=o["hidden"], slots=o["slots"],
                      lanes=o["lanes"], config=config_from_options({**o, "cell": o["cell_format"]}), **steps,
                      **dataflow)


def _delta_params(o, similarity=False):
    return _dataflow_params(o, delta=True, similarity=similarity)


def _delta_detect(o):
    from .delta_detect import ChangeDetector
    from .top import ReadyPorts
    return ReadyPorts(ChangeDetector(_delta_params(o, similarity=o["form"] == "similarity")))


def _delta_engine(o):
    from .delta_engine import DeltaEngine
    from .top import ReadyPorts
    return ReadyPorts(DeltaEngine(_delta_params(o)))


def _delta_emit(o):
    from .delta_emit import DeltaEmitter
    return DeltaEmitter(_delta_params(o))


def _delta_options():
    return (opt("cell", str, "lstm", "cell type", choices=("lstm", "gru")),
            opt("input_size", int, 8, "I_max, largest per-step input of any slot"),
            opt("hidden", int, 8, "H, hidden size"),
            opt("slots", int, 1, "layer-directions the tile holds"),
            opt("lanes", int, 4, "L, neurons a changed input updates per cycle"),
            *(Option(**{**o.__dict__, "name": "cell_format"}) if o.name == "cell" else o for o in _FORMATS))


def _delta_formats(formats):
    return {("cell_format" if k == "cell" else k): v for k, v in formats.items()}


register("delta_detect", _delta_detect,
         "Delta change detector: each x and h element against its reference (delta) or level (similarity)",
         *_delta_options(),
         opt("form", str, "delta", "delta (references, thresholds) or similarity (quantizer levels)",
             choices=("delta", "similarity")),
         lint_configs=({"cell": "gru", "input_size": 1, "hidden": 1, "lanes": 1, **_delta_formats(_NARROW)},
                       {"form": "similarity", "input_size": 1, "hidden": 1, "lanes": 1, **_delta_formats(_NARROW)},
                       {"form": "similarity", "cell": "gru", "input_size": 13, "hidden": 7, "slots": 3, "lanes": 6,
                        **_delta_formats(_WIDE)}))
register("delta_engine", _delta_engine,
         "Delta correction engine: per group of L neurons, the accumulators corrected by the changed inputs",
         *_delta_options(),
         lint_configs=({"cell": "gru", "input_size": 1, "hidden": 1, "lanes": 1, **_delta_formats(_NARROW)},
                       {"cell": "gru", "input_size": 13, "hidden": 7, "slots": 3, "lanes": 5, **_delta_formats(_WIDE)}))
register("delta_emit", _delta_emit,
         "Delta emitter: the corrected accumulators out as dot-product results and tags, in issue order",
         *_delta_options(),
         lint_configs=({"cell": "gru", "input_size": 1, "hidden": 1, "lanes": 1, **_delta_formats(_NARROW)},
                       {"cell": "gru", "input_size": 13, "hidden": 7, "slots": 3, "lanes": 5, **_delta_formats(_WIDE)},
                       {"cell": "lstm", "input_size": 2, "hidden": 3, "slots": 2, "lanes": 7}))


# The whole tile of the other dataflows (docs/crew.md and docs/delta.md, *Hardware*): what ``fuzzymemo run
# --scheme crew|delta|similarity`` simulates, memories zero (loaded through ``wr``), for generate and synth.

def _crew_tile(o):
    from .tile import Tile
    from .tile_params import CrewShape
    return Tile(_dataflow_params(o, crew=CrewShape(o["unique_max"], o["multipliers"])))


def _delta_tile(o):
    from .tile import Tile
    return Tile(_delta_params(o, similarity=o["form"] == "similarity"))


_STEPS = opt("max_steps", int, 4096, "longest sequence the step counter holds")
register("crew_tile", _crew_tile,
         "CREW tile: the tile with an index memory, a product stage of M multipliers and L adder lanes",
         *_delta_options(), _STEPS,
         opt("multipliers", int, 2, "M, multipliers of the product stage (divides L)"),
         opt("unique_max", int, 16, "U_max, most unique weights of an input"),
         lint_configs=({"cell": "gru", "input_size": 1, "hidden": 1, "lanes": 1, "multipliers": 1, "unique_max": 1,
                        **_delta_formats(_NARROW)},
                       {"input_size": 13, "hidden": 7, "slots": 3, "lanes": 6, "multipliers": 3, "unique_max": 40,
                        **_delta_formats(_WIDE)}))
register("delta_tile", _delta_tile,
         "Delta tile: change detector over [x ; h], accumulators corrected by the changed inputs",
         *_delta_options(), _STEPS,
         opt("form", str, "delta", "delta (references, thresholds) or similarity (quantizer levels)",
             choices=("delta", "similarity")),
         lint_configs=({"cell": "gru", "input_size": 1, "hidden": 1, "lanes": 1, **_delta_formats(_NARROW)},
                       {"form": "similarity", "input_size": 13, "hidden": 7, "slots": 3, "lanes": 5,
                        **_delta_formats(_WIDE)}))
