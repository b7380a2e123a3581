"""Elaboration parameters of the accelerator tile (``hw.tile.Tile``) and its cycle model.

See ``docs/tile.md``. :class:`TileParams` is a frozen, validated dataclass; every size the tile's
memories and counters need is a derived property here, so the RTL (``hw/tile.py``), the memory image
(``hw/tile_image.py``) and the host (``sim/tile_host.py``) agree on one definition.
"""

from __future__ import annotations

from dataclasses import dataclass

from golden_model.formats import FixedPointConfig
from golden_model.network import CELLS, GATES, Network

from .bnn import MAX_WIDTH, bnn_output_shape
from .checks import check_config, check_int
from .dot_product import MAX_LANES
from .memo_table import CACHE_UPDATES, MAX_ENTRIES

__all__ = ["TileParams", "default_bnn_width", "default_lanes", "expected_cycles", "PIPELINE"]

#: Fixed latencies of the tile's pipeline (cycles), used by :func:`expected_cycles`; see docs/tile.md.
PIPELINE = {
    # issue stage 0 (counters, memory addresses) -> stage 1 (memory data, DotProductUnit.i)
    "issue": 1,
    # DotProductUnit.latency
    "dot": 4,
    # GRU only: pairing register is combinational; GruCandidateUnit.latency
    "candidate": 3,
    # ActivationUnit.latency
    "activation": 2,
    # merge -> element-wise input register
    "merge": 1,
    # LstmCellUnit.latency / GruStateUnit.latency
    "lstm_update": 5,
    "gru_update": 2,
    # BNN feeder stage 1, BnnUnit.LATENCY, MemoTable.LATENCY, decision FIFO (SyncFIFOBuffered)
    "bnn_feed": 1,
    "bnn": 2,
    "memo": 2,
    "decision_fifo": 1,
}

#: Depth of the decision FIFO (BNN/memo-table decisions queued ahead of the dot-product unit).
DECISION_DEPTH = 16
#: Depth of the token FIFO (hit/miss of every issued neuron, in order, to the merge stage).
TOKEN_DEPTH = 16
#: Depth of the tag FIFO (kind of every dot product in flight).
TAG_DEPTH = 8
#: Depth of the h output FIFO.
OUT_DEPTH = 8


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
        if self.memo:
            d["sign"] = self.slots * self.neurons * self.sign_rows
        return d

    def widths(self) -> dict[str, int]:
        """Word width in bits of every run-time-loadable memory."""
        w = {"weight": self.lanes * self.config.weight.bits, "bias": self.config.bias_bits}
        if self.cell == "gru":
            w["bias_hn"] = self.config.bias_bits
        if self.memo:
            w["sign"] = self.bnn_width
        return w

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


def step_overhead(params: TileParams) -> int:
    """Cycles of a step beyond its dot-product beats (baseline): the drain from the last beat to the last
    h written, plus the step barrier (see docs/tile.md)."""
    p = PIPELINE
    back = p["dot"] + p["activation"] + p["merge"]
    back += p["candidate"] + p["gru_update"] if params.cell == "gru" else p["lstm_update"]
    return p["issue"] + back


def _step_cycles(params: TileParams, n_x: int, miss_mask) -> int:
    """Cycles of one memoizing step (step start to the next step start) for a hit/miss pattern in issue
    order (True = miss), by the recurrence of docs/tile.md: decision k reaches the issue stage at
    ``lead + k*kb``; the issue takes it when the previous neuron is done (a miss occupies it for
    ``beats`` cycles, a hit for one); a miss's h leaves ``beats + overhead`` after its issue, a hit's
    ``hit_tail`` after."""
    p = PIPELINE
    kb, beats = bnn_beats(params, n_x), neuron_beats(params, n_x)
    lead = p["bnn_feed"] + kb + p["bnn"] + p["memo"] + p["decision_fifo"]
    over = step_overhead(params)
    update = p["gru_update"] if params.cell == "gru" else p["lstm_update"]
    hit_tail = 4 + update
    free, end = 0, 0
    for k, miss in enumerate(miss_mask):
        issue = max(lead + k * kb, free)
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
    if misses_per_step is None or not params.memo or not memo_enable:
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
