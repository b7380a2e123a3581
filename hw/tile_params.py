"""Elaboration parameters of the accelerator tile (``hw.tile.Tile``).

See ``docs/tile.md``. :class:`TileParams` is a frozen, validated dataclass; every size the tile's
memories and counters need is a derived property here, so the RTL (``hw/tile.py``), the memory image
(``hw/tile_image.py``), the cycle model (``hw/tile_cycles.py``) and the host agree on one definition.
This module imports no tile part: the parts import it (the predictor front end is a parameter, a class
given by the caller, e.g. from the scheme registry).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.lib import data

from golden_model.formats import THETA_BITS, FixedPointConfig
from golden_model.network import CELLS, GATES, Network

from .bnn import MAX_WIDTH, bnn_output_shape
from .checks import check_config, check_int, silence_unused
from .dot_product import MAX_LANES
from .memo_table import CACHE_UPDATES, MAX_ENTRIES
from .shapes import memory_depth
from .tile_memories import MEM_IDS, TILE_MEMORIES

#: Similarity quantizer registers per part and slot, in ``predictor`` word order (hw.delta_detect), and
#: their width: lo, the gain m and step g (golden_model.intops.quantizer_registers), the level count, the
#: level q0 of 0 and its value e0 (what a first step's h_{-1} = 0 quantizes to).
QUANTIZER_REGISTERS = ("lo", "m", "g", "levels", "q0", "e0")
QUANTIZER_BITS = 32

__all__ = ["FRONT_END_METHODS", "CrewShape", "TileParams", "ceil_div", "check_front_end", "check_part_params",
           "default_bnn_width", "default_crew_lanes", "default_lanes", "MIN_BEATS", "REUSE_BOUND"]

#: The class methods a front end defines (docs/hw/front_end.md), computable from the parameters alone.
FRONT_END_METHODS = ("memories", "context_shape", "decision_timing", "image_words", "counters")


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class CrewShape:
    """The CREW dataflow of a tile (docs/crew.md, *Hardware*): products of each input's unique weights
    made by ``multipliers`` (M, dividing the lanes) multipliers into one product bank per lane, then the L
    lanes add products fetched by index. ``unique_max`` (U_max) is the most unique weights of any input
    the tile holds: it sizes the index (ceil(log2 U_max) bits), the unique-value table and the banks."""

    unique_max: int
    multipliers: int

    def __post_init__(self):
        check_int("CrewShape.unique_max", self.unique_max, 1, 1 << 16)
        check_int("CrewShape.multipliers", self.multipliers, 1, MAX_LANES)

    @property
    def index_bits(self) -> int:
        return max(1, (self.unique_max - 1).bit_length())

    @property
    def stride(self) -> int:
        """Rows of a neuron row's slots in the banks and the table: 2**index_bits >= U_max, so that an
        address is row and slot side by side (no multiplier in the address path)."""
        return 1 << self.index_bits


@dataclass(frozen=True)
class TileParams:
    """Elaboration parameters of one tile. See the table in ``docs/tile.md``.

    cell        -- "lstm" or "gru"
    input_size  -- I_max, the largest per-step input of any slot
    hidden      -- H
    slots       -- layer-directions whose weights the tile holds (slot = layer * num_directions + direction)
    lanes       -- L, multiply-accumulates per cycle
    bnn_width   -- B, sign bits per cycle of the BNN unit
    config      -- golden_model FixedPointConfig (number formats)
    max_steps   -- longest sequence the step counter holds
    cache_update -- memo-table b_m policy, "compute" (default) or "always" (golden_model.memo.CACHE_UPDATES)
    front_end   -- the predictor front end class (a :class:`hw.tile_front_end.FrontEnd` subclass, e.g.
                   :class:`hw.tile_bnn.BnnFrontEnd`), or None (default): the baseline tile, no reuse hardware
    crew        -- a :class:`CrewShape`: the CREW dataflow (index memory in place of the weight memory,
                   product stage, product banks); None (default): weights and L multipliers
    delta       -- the delta dataflow (docs/delta.md, *Hardware*): a change detector over [x ; h], per-neuron
                   accumulator memories corrected by the changed inputs, weights stored input-major, the L
                   lanes holding L neurons of one input; False (default): neuron-major dot products
    similarity  -- (with delta) the input-similarity form: the detector compares quantizer levels
    """

    cell: str
    input_size: int
    hidden: int
    slots: int = 1
    lanes: int = 4
    bnn_width: int = 32
    config: FixedPointConfig = FixedPointConfig()
    max_steps: int = 4096
    cache_update: str = "compute"
    front_end: type | None = None
    crew: CrewShape | None = None
    delta: bool = False
    similarity: bool = False

    def __post_init__(self):
        if not isinstance(self.cell, str):
            raise TypeError(f"TileParams.cell must be a str, not {type(self.cell).__name__}")
        if self.cell not in CELLS:
            raise ValueError(f"TileParams.cell must be one of {CELLS}, not {self.cell!r}")
        check_int("TileParams.input_size", self.input_size, 1)
        check_int("TileParams.hidden", self.hidden, 1)
        check_int("TileParams.slots", self.slots, 1, 1 << 12)
        check_int("TileParams.lanes", self.lanes, 1, MAX_LANES)
        check_int("TileParams.bnn_width", self.bnn_width, 1, MAX_WIDTH)
        check_int("TileParams.max_steps", self.max_steps, 1, 1 << 31)
        check_config(self.config)
        if not isinstance(self.cache_update, str):
            raise TypeError(f"TileParams.cache_update must be a str, not {type(self.cache_update).__name__}")
        if self.cache_update not in CACHE_UPDATES:
            raise ValueError(f"TileParams.cache_update must be one of {CACHE_UPDATES}, not {self.cache_update!r}")
        self.config.check_sizes(self.n_max)  # ValueError naming the formats
        if self.config.act.bits > 32:
            raise ValueError(f"the activation format {self.config.act} is wider than the memo table's 32 bits")
        if self.neurons > MAX_ENTRIES:
            raise ValueError(f"{self.neurons} neurons per slot exceed the memo table's {MAX_ENTRIES} entries")
        if self.crew is not None:
            self._check_crew()
        if not isinstance(self.delta, bool):
            raise TypeError(f"TileParams.delta must be a bool, not {type(self.delta).__name__}")
        if self.delta and (self.crew is not None or self.front_end is not None):
            raise ValueError("the delta dataflow has neither a CREW product stage nor a memoization front end")
        if not isinstance(self.similarity, bool):
            raise TypeError(f"TileParams.similarity must be a bool, not {type(self.similarity).__name__}")
        if self.similarity and not self.delta:
            raise ValueError("TileParams.similarity is a form of the delta dataflow: it needs delta=True")
        if self.front_end is not None:
            check_front_end("TileParams.front_end", self.front_end)
            names = set(self.front_end.memories(self))
            if not names <= set(MEM_IDS) - set(TILE_MEMORIES):
                raise ValueError(f"the front end's memories {sorted(names)} must be memory names of "
                                 f"hw.tile_memories.MEM_NAMES other than the tile's own {TILE_MEMORIES}")

    def _check_crew(self) -> None:
        if not isinstance(self.crew, CrewShape):
            raise TypeError(f"TileParams.crew must be a CrewShape or None, not {type(self.crew).__name__}")
        if self.front_end is not None:
            raise ValueError("a CREW tile has no memoization front end (TileParams.crew with front_end)")
        if self.lanes % self.crew.multipliers:
            raise ValueError(f"{self.crew.multipliers} CREW multipliers do not divide the {self.lanes} lanes")
        if self.crew.unique_max > 1 << self.config.weight.bits:
            raise ValueError(f"U_max {self.crew.unique_max} exceeds the {1 << self.config.weight.bits} values of "
                             f"the weight format {self.config.weight}")

    @property
    def memo(self) -> bool:
        """The tile has reuse hardware (a front end); False: the baseline tile."""
        return self.front_end is not None

    # ------------------------------------------------------------------------------------ construction
    @classmethod
    def for_network(cls, net, config: FixedPointConfig | None = None, lanes: int | None = None,
                    bnn_width: int | None = None, front_end: type | None = None, **kwargs) -> TileParams:
        """Parameters holding every layer-direction of ``net`` (a golden ``Network`` or a
        ``FixedPointNetwork``, whose config is then the default). ``lanes`` and ``bnn_width`` default to
        :func:`default_lanes` and :func:`default_bnn_width` of the network: the one place these defaults
        are derived."""
        if hasattr(net, "net") and hasattr(net, "layers") and isinstance(net.net, Network):
            config = config if config is not None else net.config
            net = net.net
        if not isinstance(net, Network):
            raise TypeError(f"net must be a golden_model Network or FixedPointNetwork, not {type(net).__name__}")
        config = config if config is not None else FixedPointConfig()
        inputs = [net.layer_input_size(li) for li in range(net.num_layers)]
        if lanes is not None:  # before the BNN-width rule divides by it
            check_int("TileParams.lanes", lanes, 1, MAX_LANES)
            widest = max(*inputs, net.hidden_size)
            if lanes > widest:
                raise ValueError(f"{lanes} lanes exceed the network's widest row part (max(inputs, hidden) = "
                                 f"{widest}): the extra lanes would only multiply zeros")
        lanes = default_lanes(inputs, net.hidden_size) if lanes is None else lanes
        bnn_width = default_bnn_width(inputs, net.hidden_size, lanes) if bnn_width is None else bnn_width
        input_size = max(inputs)
        return cls(cell=net.cell, input_size=input_size, hidden=net.hidden_size,
                   slots=net.num_layers * net.num_directions, lanes=lanes, bnn_width=bnn_width,
                   config=config, front_end=front_end, **kwargs)

    # ----------------------------------------------------------------------------------- derived sizes
    @property
    def gates(self) -> int:
        """G: 4 (LSTM i, f, g, o) or 3 (GRU r, z, n)."""
        return len(GATES[self.cell])

    @property
    def theta_shape(self):
        """The tile's ``theta`` input: one THETA_BITS threshold per gate (gate g at bits g*THETA_BITS; a
        memoizing tile compares each neuron with its gate's), or for a delta tile one THETA_BITS word
        (theta_x and theta_h, ``hw.delta_detect``)."""
        return THETA_BITS if self.delta else data.ArrayLayout(THETA_BITS, self.gates)

    @property
    def neurons(self) -> int:
        """Neurons of one slot, G * H; issue order n = j * G + g (hidden unit j, gate g)."""
        return self.gates * self.hidden

    @property
    def n_max(self) -> int:
        """N_max = I_max + H, the longest neuron row."""
        return self.input_size + self.hidden

    @property
    def x_rows(self) -> int:
        """KX = ceil(I_max / L): weight rows reserved for the input part of a neuron."""
        return ceil_div(self.input_size, self.lanes)

    @property
    def h_rows(self) -> int:
        """KH = ceil(H / L): weight rows of the recurrent part of a neuron."""
        return ceil_div(self.hidden, self.lanes)

    @property
    def rows_per_neuron(self) -> int:
        return self.x_rows + self.h_rows

    @property
    def sign_rows(self) -> int:
        """KB = ceil(N_max / B): sign-bit rows reserved per neuron."""
        return ceil_div(self.n_max, self.bnn_width)

    @property
    def acc_bits(self) -> int:
        return self.config.acc_bits(self.n_max)

    @property
    def b_bits(self) -> int:
        """Width of a BNN output b (signed, holds -N_max..N_max)."""
        return bnn_output_shape(self.n_max).width

    @property
    def step_bits(self) -> int:
        return max(1, self.max_steps.bit_length())

    @property
    def neuron_groups(self) -> int:
        """Delta: NG = ceil(G*H / L), groups of L neurons (issue order) a changed input updates together."""
        return ceil_div(self.neurons, self.lanes)

    @property
    def columns(self) -> int:
        """Delta: input columns of a slot's input-major weights, I_max (input part) + H (recurrent part)."""
        return self.input_size + self.hidden

    @property
    def unique_rows(self) -> int:
        """CREW: rows of the unique-value table and of each product bank per slot, (KX + KH) * stride."""
        return self.rows_per_neuron * self.crew.stride

    def depths(self) -> dict[str, int]:
        """Rows of every run-time-loadable memory (the keys of :func:`hw.tile_image.memory_image`), at least
        2 each (:func:`hw.shapes.memory_depth`). On a CREW tile ``weight`` holds the indices and
        ``predictor`` the unique-value table."""
        weight_rows = (self.columns * self.neuron_groups if self.delta else self.neurons * self.rows_per_neuron)
        d = {"weight": self.slots * weight_rows,
             "bias": self.slots * self.neurons}
        if self.cell == "gru":
            d["bias_hn"] = self.slots * self.hidden
        d.update({name: depth for name, (depth, _) in self._front_end_memories().items()})
        return {name: memory_depth(rows) for name, rows in d.items()}

    def widths(self) -> dict[str, int]:
        """Word width in bits of every run-time-loadable memory."""
        lane_bits = self.crew.index_bits if self.crew is not None else self.config.weight.bits
        w = {"weight": self.lanes * lane_bits, "bias": self.config.bias_bits}
        if self.cell == "gru":
            w["bias_hn"] = self.config.bias_bits
        w.update({name: width for name, (_, width) in self._front_end_memories().items()})
        return w

    def _front_end_memories(self) -> dict[str, tuple[int, int]]:
        """The reuse front end's run-time-loadable memories, name -> (depth, width): the predictor front
        end's, or CREW's unique-value table (L weights and a row-end bit per word)."""
        if self.crew is not None:
            return {"predictor": (self.slots * self.unique_rows, self.lanes * self.config.weight.bits + 1)}
        if self.similarity:   # the quantizer registers of every slot (hw.delta_detect.QUANTIZER_REGISTERS)
            return {"predictor": (self.slots * 2 * len(QUANTIZER_REGISTERS), QUANTIZER_BITS)}
        return self.front_end.memories(self) if self.front_end is not None else {}

    def check_run(self, slot: int, n_x: int) -> None:
        """Raise ValueError if a sequence with these run-time inputs is outside what the tile holds."""
        check_int("slot", slot, 0, self.slots - 1)
        check_int("n_x", n_x, 1, self.input_size)


def check_front_end(name: str, cls) -> type:
    """``cls`` is a front-end class: a class defining every :data:`FRONT_END_METHODS` (the interface of
    :class:`hw.tile_front_end.FrontEnd`)."""
    if not isinstance(cls, type):
        raise TypeError(f"{name} must be a front-end class (hw.tile_front_end.FrontEnd subclass), not {cls!r}")
    missing = [meth for meth in FRONT_END_METHODS if not callable(getattr(cls, meth, None))]
    if missing:
        raise TypeError(f"{name} {cls.__name__} does not define {', '.join(missing)}")
    return cls


_UNSET = object()


def check_part_params(component, params, predicted=_UNSET):
    """The parameters of a tile part (hw/tile_*.py): ``params`` a :class:`TileParams` and ``predicted``
    (when given) a bool that may be True only with a front end (``params.front_end``); else a TypeError /
    ValueError naming the part, which is marked used (no Amaranth warning about it)."""
    name = type(component).__name__
    try:
        if not isinstance(params, TileParams):
            raise TypeError(f"{name}: params must be a hw.tile_params.TileParams, not {type(params).__name__}")
        if predicted is not _UNSET:
            if not isinstance(predicted, bool):
                raise TypeError(f"{name}: predicted must be a bool, not {type(predicted).__name__}")
            if predicted and params.front_end is None:
                raise ValueError(f"{name}: predicted=True needs a front end (TileParams.front_end); the params "
                                 f"have none")
    except (TypeError, ValueError):
        silence_unused(component)
        raise
    return params


#: The reuse the default BNN width is sized for: up to this fraction of neurons reused, the BNN's
#: decisions (ceil(N/B) cycles each) keep ahead of the misses' dot products (docs/hw/front_end.md, *Sizing B*).
REUSE_BOUND = 0.9

#: The fewest dot-product beats per neuron at which one decision per cycle keeps ahead of the misses up
#: to :data:`REUSE_BOUND` reuse, 1 / (1 - r): the bound :func:`default_lanes` keeps.
MIN_BEATS = round(1 / (1 - REUSE_BOUND))


def default_lanes(inputs: list[int], hidden: int, cap: int = 8) -> int:
    """The default lane count L for layers of ``inputs`` inputs per step and ``hidden`` units: the largest
    power of two <= ``cap`` (the resource target: ``cap`` multipliers, the iCE40UP5K's 8 DSPs) for which
    every layer's neuron still takes at least :data:`MIN_BEATS` dot-product beats, ceil(n_x/L) + ceil(H/L).
    Rows are zero-padded, so L need not divide the sizes; beyond that bound more lanes only make the
    predictor's one decision per cycle the bottleneck at high reuse (docs/hw/front_end.md, *Sizing B*),
    and a network too small for it gets L = 1."""
    lanes = 1
    while lanes * 2 <= cap and all(ceil_div(n_x, lanes * 2) + ceil_div(hidden, lanes * 2) >= MIN_BEATS
                                   for n_x in inputs):
        lanes *= 2
    return lanes


def default_bnn_width(inputs: list[int], hidden: int, lanes: int, floor: int = 8) -> int:
    """The default BNN width B: the smallest power of two >= ``floor`` whose BNN pass over a neuron
    (kb = ceil(N/B) cycles, N = n_x + H) fits the dot-product time a neuron is left at
    :data:`REUSE_BOUND` reuse, kb <= max(1, floor((1 - r) * beats)), beats = ceil(n_x/L) + ceil(H/L):
    about B >= L / (1 - r). Hits are free only while the decisions come at least as fast as the misses'
    beats leave room for them, so a smaller B paces the misses (a run of hits costs kb cycles each)."""
    width = floor
    for n_x in inputs:
        beats = ceil_div(n_x, lanes) + ceil_div(hidden, lanes)
        budget = max(1, int((1 - REUSE_BOUND) * beats + 1e-9))
        while ceil_div(n_x + hidden, width) > budget:
            width *= 2
    return width


def default_crew_lanes(inputs: list[int], hidden: int, multipliers: int, factor: int = 4) -> int:
    """The default adder lanes L of a CREW tile of M = ``multipliers``: ``factor`` * M, halved while it
    exceeds the network's widest row part (max(inputs, hidden)) and stays a multiple of M. The additions
    (G*H*N per step) then take about M/L of the baseline's cycles, beside the product phase."""
    lanes, widest = factor * multipliers, max(*inputs, hidden)
    while lanes > widest and lanes > multipliers:
        lanes //= 2
    return max(lanes, multipliers)
