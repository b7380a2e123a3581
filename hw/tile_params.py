"""Elaboration parameters of the accelerator tile (``hw.tile.Tile``) and its cycle model.

See ``docs/tile.md``. :class:`TileParams` is a frozen, validated dataclass; every size the tile's
memories and counters need is a derived property here, so the RTL (``hw/tile.py``), the memory image
(``hw/tile_image.py``) and the host (``sim/tile_host.py``) agree on one definition.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import unsigned
from amaranth.lib import memory
from amaranth.lib.wiring import In
from amaranth.utils import ceil_log2

from golden_model.formats import FixedPointConfig
from golden_model.network import CELLS, GATES, Network

from .bnn import MAX_WIDTH, bnn_output_shape
from .checks import check_config, check_int
from .dot_product import MAX_LANES
from .memo_table import CACHE_UPDATES, MAX_ENTRIES

__all__ = ["TileParams", "count_shape", "default_bnn_width", "default_lanes", "expected_cycles", "index_shape",
           "read_port", "step_overhead", "write_port"]


def index_shape(n: int):
    """unsigned shape holding 0..n-1 (at least one bit)."""
    return unsigned(max(1, (max(n, 1) - 1).bit_length()))


def count_shape(n: int):
    """unsigned shape holding 0..n."""
    return unsigned(max(1, n.bit_length()))


def read_port(depth: int, width: int) -> In:
    """Signature member of a component using a read port of a ``depth`` x ``width``-bit memory (it drives
    ``addr`` and ``en``, gets ``data``): connect it to ``memory.read_port()``."""
    return In(memory.ReadPort.Signature(addr_width=ceil_log2(depth), shape=unsigned(width)))


def write_port(depth: int, width: int) -> In:
    """Signature member of a component using a write port of a ``depth`` x ``width``-bit memory."""
    return In(memory.WritePort.Signature(addr_width=ceil_log2(depth), shape=unsigned(width)))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


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
    memo        -- memoization hardware present (False: the baseline tile)
    max_steps   -- longest sequence the step counter holds
    cache_update -- memo-table b_m policy, "compute" (default) or "always" (golden_model.memo.CACHE_UPDATES)
    front_end   -- the predictor front end class (a :class:`hw.tile_front_end.FrontEnd` subclass); "auto"
                   (default): :class:`hw.tile_bnn.BnnFrontEnd` when ``memo``, None for the baseline
    """

    cell: str
    input_size: int
    hidden: int
    slots: int = 1
    lanes: int = 4
    bnn_width: int = 32
    config: FixedPointConfig = FixedPointConfig()
    memo: bool = True
    max_steps: int = 4096
    cache_update: str = "compute"
    front_end: object = "auto"

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
        if not isinstance(self.memo, bool):
            raise TypeError(f"TileParams.memo must be a bool, not {type(self.memo).__name__}")
        if not isinstance(self.cache_update, str):
            raise TypeError(f"TileParams.cache_update must be a str, not {type(self.cache_update).__name__}")
        if self.cache_update not in CACHE_UPDATES:
            raise ValueError(f"TileParams.cache_update must be one of {CACHE_UPDATES}, not {self.cache_update!r}")
        self.config.check_sizes(self.n_max)  # ValueError naming the formats
        if self.config.act.bits > 32:
            raise ValueError(f"the activation format {self.config.act} is wider than the memo table's 32 bits")
        if self.neurons > MAX_ENTRIES:
            raise ValueError(f"{self.neurons} neurons per slot exceed the memo table's {MAX_ENTRIES} entries")
        from .tile_front_end import check_front_end
        if isinstance(self.front_end, str) and self.front_end == "auto":
            from .tile_bnn import BnnFrontEnd
            object.__setattr__(self, "front_end", BnnFrontEnd if self.memo else None)
        elif self.memo != (self.front_end is not None):
            raise ValueError(f"TileParams.front_end must be a front-end class when memo is True and None when it is "
                             f"False, not {self.front_end!r} with memo={self.memo}")
        if self.front_end is not None:
            check_front_end("TileParams.front_end", self.front_end)
            from .tile_image import MEM_IDS
            names = set(self.front_end.memories(self))
            if not names <= set(MEM_IDS) - {"weight", "bias", "bias_hn"}:
                raise ValueError(f"the front end's memories {sorted(names)} must be memory names of "
                                 f"hw.tile_image.MEM_NAMES other than the tile's own")

    # ------------------------------------------------------------------------------------ construction
    @classmethod
    def for_network(cls, net, config: FixedPointConfig | None = None, lanes: int | None = None,
                    bnn_width: int | None = None, memo: bool = True, **kwargs) -> TileParams:
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
                   config=config, memo=memo, **kwargs)

    # ----------------------------------------------------------------------------------- derived sizes
    @property
    def gates(self) -> int:
        """G: 4 (LSTM i, f, g, o) or 3 (GRU r, z, n)."""
        return len(GATES[self.cell])

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
        return _ceil_div(self.input_size, self.lanes)

    @property
    def h_rows(self) -> int:
        """KH = ceil(H / L): weight rows of the recurrent part of a neuron."""
        return _ceil_div(self.hidden, self.lanes)

    @property
    def rows_per_neuron(self) -> int:
        return self.x_rows + self.h_rows

    @property
    def sign_rows(self) -> int:
        """KB = ceil(N_max / B): sign-bit rows reserved per neuron."""
        return _ceil_div(self.n_max, self.bnn_width)

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

    def depths(self) -> dict[str, int]:
        """Rows of every run-time-loadable memory (the keys of :func:`hw.tile_image.memory_image`)."""
        d = {"weight": self.slots * self.neurons * self.rows_per_neuron,
             "bias": self.slots * self.neurons}
        if self.cell == "gru":
            d["bias_hn"] = self.slots * self.hidden
        d.update({name: depth for name, (depth, _) in self._front_end_memories().items()})
        return d

    def widths(self) -> dict[str, int]:
        """Word width in bits of every run-time-loadable memory."""
        w = {"weight": self.lanes * self.config.weight.bits, "bias": self.config.bias_bits}
        if self.cell == "gru":
            w["bias_hn"] = self.config.bias_bits
        w.update({name: width for name, (_, width) in self._front_end_memories().items()})
        return w

    def _front_end_memories(self) -> dict[str, tuple[int, int]]:
        """The predictor front end's run-time-loadable memories, name -> (depth, width)."""
        return self.front_end.memories(self) if self.front_end is not None else {}

    def check_run(self, slot: int, n_x: int) -> None:
        """Raise ValueError if a sequence with these run-time inputs is outside what the tile holds."""
        check_int("slot", slot, 0, self.slots - 1)
        check_int("n_x", n_x, 1, self.input_size)


def default_lanes(inputs: list[int], hidden: int, cap: int = 8) -> int:
    """The default lane count L for layers of ``inputs`` inputs per step and ``hidden`` units: the largest
    power of two <= ``cap`` dividing every layer's input size and the hidden size (so no dot-product beat
    is partly empty)."""
    sizes = [*inputs, hidden]
    lanes = 1
    while lanes * 2 <= cap and all(s % (lanes * 2) == 0 for s in sizes):
        lanes *= 2
    return lanes


def default_bnn_width(inputs: list[int], hidden: int, lanes: int, floor: int = 8) -> int:
    """The default BNN width B: the smallest power of two >= ``floor`` whose BNN pass over a neuron
    (ceil(N/B) cycles, N = n_x + H) costs at most a quarter of its dot product (ceil(n_x/L) + ceil(H/L)
    beats), or one cycle when the dot product is shorter than four beats: the BNN, running ahead, then
    limits the speedup to >= 4x."""
    width = floor
    for n_x in inputs:
        beats = _ceil_div(n_x, lanes) + _ceil_div(hidden, lanes)
        budget = max(1, beats // 4)
        while _ceil_div(n_x + hidden, width) > budget:
            width *= 2
    return width


def x_beats(params: TileParams, n_x: int) -> int:
    """Dot-product beats of the input part of one neuron: ceil(n_x / L)."""
    return _ceil_div(n_x, params.lanes)


def neuron_beats(params: TileParams, n_x: int) -> int:
    """Dot-product beats of one computed neuron: ceil(n_x / L) + ceil(H / L)."""
    return x_beats(params, n_x) + params.h_rows


def bnn_beats(params: TileParams, n_x: int) -> int:
    """BNN beats of one neuron: ceil((n_x + H) / B)."""
    return _ceil_div(n_x + params.hidden, params.bnn_width)


def _update_latency(params: TileParams) -> int:
    from .gru import GruStateUnit
    from .lstm_cell import LstmCellUnit
    return (GruStateUnit if params.cell == "gru" else LstmCellUnit).latency


def pipeline_latency(params: TileParams) -> int:
    """Cycles from the issue of a computed neuron's last beat (stage 0) to its h element leaving the
    element-wise unit: the sum of the ``latency`` of every component on the way (docs/tile.md)."""
    from .activation import ActivationUnit
    from .dot_product import DotProductUnit
    from .tile_gates import gate_feed_class
    from .tile_issue import IssueStage
    from .tile_merge import Merge
    return (IssueStage.latency + DotProductUnit.latency + gate_feed_class(params.cell).latency
            + ActivationUnit.latency + Merge.latency + _update_latency(params))


def step_overhead(params: TileParams) -> int:
    """Cycles of a step beyond its dot-product beats (baseline): the drain from the last beat to the last
    h written (:func:`pipeline_latency`), plus the step barrier (``StepSequencer.latency``), less the last
    beat's own cycle (counted in the beats); see docs/tile.md."""
    from .tile_sequencer import StepSequencer
    return pipeline_latency(params) + StepSequencer.latency - 1


def _step_cycles(params: TileParams, n_x: int, miss_mask) -> int:
    """Cycles of one memoizing step (step start to the next step start) for a hit/miss pattern in issue
    order (True = miss), by the recurrence of docs/tile.md: decision k reaches the issue stage at
    ``lead + k*interval`` (the front end's ``decision_timing``); the issue takes it when the previous
    neuron is done (a miss occupies it for ``beats`` cycles, a hit for one); a miss's h leaves
    ``beats + overhead`` after its issue, a hit's ``hit_tail`` after (token FIFO, merge, update, barrier)."""
    from .tile_issue import IssueStage
    from .tile_merge import Merge
    from .tile_sequencer import StepSequencer
    lead, interval = params.front_end.decision_timing(params, n_x)
    beats = neuron_beats(params, n_x)
    over = step_overhead(params)
    hit_tail = IssueStage.token_latency + Merge.latency + _update_latency(params) + StepSequencer.latency
    free, end = 0, 0
    for k, miss in enumerate(miss_mask):
        issue = max(lead + k * interval, free)
        if miss:
            free = issue + beats
            end = max(end, issue + beats + over)
        else:
            free = issue + 1
            end = max(end, issue + hit_tail)
    return end


def expected_cycles(params: TileParams, n_x: int, steps: int, misses_per_step=None, memo_enable: bool = True) -> int:
    """Expected value of the ``cycles`` counter for one sequence of ``steps`` steps of ``n_x`` inputs,
    the x stream always valid and the h stream always ready.

    Baseline (memo hardware absent, ``memo_enable`` False or ``misses_per_step`` None): exact,
    ``n_x - 1 + steps * (G*H*beats + overhead)`` (the first step's x load, then every step).

    Memoizing: ``misses_per_step`` is either one miss count per step (or one count for every step;
    the misses are then assumed spread evenly over the step's neurons) or a (steps, G*H) boolean array of
    misses in issue order (n = j*G + g), which makes the model exact (docs/tile.md, *Cycle model*)."""
    check_int("steps", steps, 1)
    params.check_run(0, n_x)
    beats = neuron_beats(params, n_x)
    nn = params.neurons
    if misses_per_step is None or params.front_end is None or not memo_enable:
        return n_x - 1 + steps * (nn * beats + step_overhead(params))
    import numpy as np
    arr = np.asarray(misses_per_step)
    if arr.ndim == 0:
        arr = np.full(steps, int(arr))
    if arr.shape[0] != steps:
        raise ValueError(f"misses_per_step has {arr.shape[0]} entries for {steps} steps")
    total = n_x - 1
    for row in arr:
        if np.ndim(row) == 0:
            miss = check_int("misses per step", int(row), 0, nn)
            mask = [(k + 1) * miss // nn > k * miss // nn for k in range(nn)]
        else:
            if len(row) != nn:
                raise ValueError(f"a miss mask row has {len(row)} entries, the tile {nn} neurons")
            mask = [bool(v) for v in row]
        total += _step_cycles(params, n_x, mask)
    return total
