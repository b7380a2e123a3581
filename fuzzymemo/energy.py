"""Energy of a tile run from counted events: what the RTL's counters and the golden model count, times
per-event energies (docs/energy.md).

An :class:`Event` is one kind of work (a multiply-accumulate at the weight x activation widths, a memory
read of so many bits from a memory of so many bits, an XNOR-popcount bit, a clocked register bit ...),
how many times the run did it and what one costs. :func:`tile_events` lists the events of one tile run
(the baseline tile, or a memo / CREW / delta tile) from the tile parameters (``TileParams``: lanes,
widths, memory shapes), the per-pass counters of the run (cycles, evaluations, reuses and the scheme's
own: ``products``, ``x_changed``, ``h_changed``, ``corrections``) and the steps run; :func:`breakdown`
sums them per component; :func:`energy_figures` gives the JSON entries of ``fuzzymemo run`` for a
baseline run and a reuse run.

The default per-event energies (:data:`DEFAULT_TABLE`) are Horowitz's 45 nm figures (ISSCC 2014), scaled
by bit width (multipliers with the product of the operand widths, adders with the width, SRAM per bit
with the square root of the memory's size); a JSON or TOML file overrides any of them
(:func:`load_table`).
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from golden_model.formats import THETA_BITS
from hw.tile_bnn import BnnFrontEnd
from hw.tile_bnn_planes import BitPlaneFrontEnd
from hw.tile_low_precision import LowPrecisionFrontEnd
from hw.tile_low_rank import LowRankFrontEnd
from hw.tile_top_k import TopKFrontEnd

__all__ = ["DEFAULT_TABLE", "Event", "breakdown", "energy_figures", "load_table", "tile_events"]

#: Per-event energies in pJ and their scaling references (docs/energy.md, *Table*). Technology: 45 nm,
#: 0.9 V, from M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, p. 10-14
#: (integer add 8 bit 0.03 pJ, 32 bit 0.1 pJ; integer multiply 8 bit 0.2 pJ, 32 bit 3.1 pJ; 64-bit SRAM
#: read 8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ). ``register_bit_pj`` is this model's assumption (no figure
#: in the source).
DEFAULT_TABLE = {
    "mul_pj": 0.2,              # an 8 x 8-bit integer multiply; scaled by (a * b) / (8 * 8)
    "mul_ref_bits": 64,
    "add_pj": 0.03,             # an 8-bit integer add; scaled by n / 8
    "add_ref_bits": 8,
    "sram_bit_pj": 10.0 / 64,   # per bit read from an 8 KB SRAM (64-bit word: 10 pJ); scaled by sqrt(size / 8 KB)
    "sram_ref_bits": 8 * 1024 * 8,
    "sram_min_bits": 1024,      # smaller memories cost as much per bit as a 1 kbit one
    "sram_write_factor": 1.0,   # a written bit costs this many read bits
    "popcount_bit_pj": 0.03 / 8,  # an XNOR and about one full-adder cell of the popcount tree per bit
    "register_bit_pj": 0.01,    # a clocked flip-flop bit per cycle (clock load and toggling); an assumption
}

#: Components of a breakdown, in report order.
COMPONENTS = ("mac", "adder", "weight_memory", "bias_memory", "state_memory", "cell", "registers",
              "predictor_memory", "predictor_ops", "memo_table", "products", "product_bank", "unique_table",
              "accumulator_memory", "detector")


def load_table(path=None) -> dict:
    """The energy table: :data:`DEFAULT_TABLE` with the entries of the JSON or TOML file ``path`` (None:
    the defaults). ValueError naming the problem for an unreadable file, an unknown key or a value that
    is not a finite number >= 0."""
    table = dict(DEFAULT_TABLE)
    if path is None:
        return table
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ValueError(f"energy table {path}: cannot read it ({e.strerror or e})") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"energy table {path}: not valid {'TOML' if path.suffix.lower() == '.toml' else 'JSON'} "
                         f"({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"energy table {path}: must be a table of names to numbers")
    unknown = sorted(set(data) - set(DEFAULT_TABLE))
    if unknown:
        raise ValueError(f"energy table {path}: unknown entries {', '.join(unknown)} (known: "
                         f"{', '.join(DEFAULT_TABLE)})")
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"energy table {path}: {key} must be a finite number >= 0, not {value!r}")
        if key.endswith("_bits") and value <= 0:
            raise ValueError(f"energy table {path}: {key} must be > 0, not {value!r}")
    return table | {k: float(v) for k, v in data.items()}


def mul_pj(table: dict, a_bits: int, b_bits: int) -> float:
    return table["mul_pj"] * a_bits * b_bits / table["mul_ref_bits"]


def add_pj(table: dict, bits: int) -> float:
    return table["add_pj"] * bits / table["add_ref_bits"]


def sram_bit_pj(table: dict, memory_bits: int) -> float:
    return table["sram_bit_pj"] * math.sqrt(max(memory_bits, table["sram_min_bits"]) / table["sram_ref_bits"])


@dataclass(frozen=True)
class Event:
    """``count`` times an event of ``pj`` picojoules, in ``component`` (one of :data:`COMPONENTS`)."""
    component: str
    name: str
    count: int
    pj: float

    @property
    def energy_pj(self) -> float:
        return self.count * self.pj


class _Events:
    def __init__(self, table):
        self.table, self.items = table, []

    def add(self, component, name, count, pj):
        if count:
            self.items.append(Event(component, name, int(count), float(pj)))

    def read(self, component, name, bits, memory_bits):
        self.add(component, f"{name} read bit", bits, sram_bit_pj(self.table, memory_bits))

    def write(self, component, name, bits, memory_bits):
        self.add(component, f"{name} write bit", bits,
                 sram_bit_pj(self.table, memory_bits) * self.table["sram_write_factor"])


def _memory_bits(params) -> dict[str, int]:
    depths, widths = params.depths(), params.widths()
    return {name: depths[name] * widths[name] for name in depths}


def tile_events(params, passes: list[dict], steps: int, table: dict | None = None) -> list[Event]:
    """The events of a run of ``steps`` steps per pass (the batch's summed lengths) on a tile of
    ``params`` (``hw.tile_params.TileParams``), from ``passes``: per layer-direction pass its ``n_x``,
    ``counters`` and ``memo_enable`` (``sim.tile_host.TileRun.passes``). With memoization disabled the
    front end scores nothing (its feeder runs only with the sampled enable, ``hw.tile_front_end``) and
    the memo table is neither read nor written: only its per-step work on every element (the low-rank
    projection, the top-k change tracking) is charged."""
    t = DEFAULT_TABLE if table is None else table
    ev, p, cfg = _Events(t), params, params.config
    wb, ab, acc, H, L = cfg.weight.bits, cfg.act.bits, params.acc_bits, params.hidden, params.lanes
    mem = _memory_bits(p)
    state_bits = (p.input_size + H) * ab        # the x and h operand buffers
    mac = mul_pj(t, wb, ab) + add_pj(t, acc)
    cycles = sum(ps["counters"]["cycles"] for ps in passes)
    for ps in passes:
        c, n_x = ps["counters"], ps["n_x"]
        N, neuron_steps = n_x + H, steps * p.neurons
        words = -(-n_x // L) + -(-H // L)      # weight words (beats) of a neuron row
        if p.delta:
            corrections = c["corrections"]
            ev.add("mac", f"MAC {wb}x{ab}b + {acc}b add", corrections * L, mac)
            ev.read("weight_memory", "weight", corrections * p.widths()["weight"], mem["weight"])
            ev.read("accumulator_memory", "accumulator", corrections * L * acc + neuron_steps * acc, p.neurons * acc)
            ev.write("accumulator_memory", "accumulator", corrections * L * acc, p.neurons * acc)
            ev.read("state_memory", "x/h input", steps * N * ab, state_bits)
            ev.add("detector", f"change test ({ab}b subtract + compare)", steps * N, 2 * add_pj(t, ab))
            if p.similarity:
                ev.add("detector", f"quantizer multiply {ab}x16b", steps * N, mul_pj(t, ab, 16))
            ev.add("registers", "reference register write bit", (c["x_changed"] + c["h_changed"]) * ab,
                   t["register_bit_pj"])
            ev.read("bias_memory", "bias", neuron_steps * cfg.bias_bits, mem["bias"])
            ev.add("adder", f"bias add {acc}b", neuron_steps, add_pj(t, acc))
        else:
            computed = c["evaluations"] - c["reuses"]
            if p.crew is not None:
                M, ib = p.crew.multipliers, p.crew.index_bits
                prod_bits = wb + ab
                ev.add("products", f"multiply {wb}x{ab}b", c["products"] * M, mul_pj(t, wb, ab))
                ev.read("unique_table", "unique-value table", c["products"] * M * wb, mem["predictor"])
                bank_bits = p.unique_rows * prod_bits    # one bank per lane
                ev.write("product_bank", "product bank", c["products"] * M * prod_bits, bank_bits)
                ev.read("product_bank", "product bank", computed * N * prod_bits, bank_bits)
                ev.add("adder", f"accumulate {acc}b", computed * N, add_pj(t, acc))
                ev.read("weight_memory", f"index ({ib}b)", computed * words * L * ib, mem["weight"])
                ev.read("state_memory", "x/h input", steps * N * ab, state_bits)   # once per step, to the products
            else:
                ev.add("mac", f"MAC {wb}x{ab}b + {acc}b add", computed * N, mac)
                ev.read("weight_memory", "weight", computed * words * p.widths()["weight"], mem["weight"])
                ev.read("state_memory", "x/h operand", computed * words * L * ab, state_bits)
            ev.read("bias_memory", "bias", computed * cfg.bias_bits, mem["bias"])
            ev.add("adder", f"bias add {acc}b", computed, add_pj(t, acc))
            if p.front_end is not None:
                scored = ps["memo_enable"]
                _predictor_events(ev, p, c["evaluations"] * scored, computed * scored, steps, n_x, mem)
        _cell_events(ev, p, steps, n_x, state_bits)
    # operand, product / accumulator and result registers; CREW: index, product and accumulator per adder
    # lane and the M multipliers' operands
    register_bits = L * (wb + ab) + L * acc + ab
    if p.crew is not None:
        register_bits = L * (p.crew.index_bits + wb + ab) + L * acc + ab + p.crew.multipliers * (wb + ab)
    if p.front_end is not None and any(ps["memo_enable"] for ps in passes):
        register_bits += p.bnn_width + p.front_end.context_shape(p).width
    ev.add("registers", f"datapath register bit x cycle ({register_bits} bits)", cycles * register_bits,
           t["register_bit_pj"])
    return ev.items


def _cell_events(ev, p, steps, n_x, state_bits) -> None:
    """What both tiles do every step whatever the reuse: the x buffer's writes, every neuron's activation
    (an interpolation multiply), the cell update, h (and c) written."""
    t, ab, cb, H = ev.table, p.config.act.bits, p.config.cell.bits, p.hidden
    ev.write("state_memory", "x", steps * n_x * ab, state_bits)
    ev.add("cell", f"activation ({ab}x{ab}b multiply + add)", steps * p.neurons, mul_pj(t, ab, ab) + add_pj(t, ab))
    mults, adds = (3, 1) if p.cell == "lstm" else (3, 2)
    ev.add("cell", f"cell update ({mults} multiplies, {adds} adds at {max(ab, cb)}b)", steps * H,
           mults * mul_pj(t, ab, max(ab, cb)) + adds * add_pj(t, max(ab, cb)))
    ev.write("state_memory", "h", steps * H * ab, state_bits)
    if p.cell == "lstm":
        ev.read("state_memory", "c", steps * H * cb, H * cb)
        ev.write("state_memory", "c", steps * H * cb, H * cb)


def _predictor_events(ev, p, evaluations, computed, steps, n_x, mem) -> None:
    """The front end's work: its memory (each evaluation reads its neuron's share of the slot's predictor
    rows), its operations by predictor, the decision (a multiply and a compare) and the memo table (an entry of
    the front end's ``table_entry_bits`` read per evaluation, written per computed neuron)."""
    t, fe, ab, wb = ev.table, p.front_end, p.config.act.bits, p.config.weight.bits
    N = n_x + p.hidden
    per_neuron = mem["predictor"] // (p.slots * p.neurons)
    ev.read("predictor_memory", "predictor", evaluations * per_neuron, mem["predictor"])
    if issubclass(fe, BitPlaneFrontEnd):
        ev.add("predictor_ops", f"XNOR-popcount bit ({fe.planes} planes)", evaluations * fe.planes * N,
               t["popcount_bit_pj"])
        ev.add("predictor_ops", f"plane sum and gain ({wb}b multiply)", evaluations,
               fe.planes * add_pj(t, p.b_bits) + mul_pj(t, p.b_bits, wb))
    elif issubclass(fe, BnnFrontEnd):
        ev.add("predictor_ops", "XNOR-popcount bit", evaluations * N, t["popcount_bit_pj"])
    elif issubclass(fe, LowRankFrontEnd):
        ev.add("predictor_ops", f"projection MAC {ab}x{fe.bits}b", steps * fe.rank * N,
               mul_pj(t, ab, fe.bits) + add_pj(t, 2 * fe.bits + ab))
        ev.add("predictor_ops", f"score MAC {fe.bits}x{fe.bits}b", evaluations * fe.rank,
               mul_pj(t, fe.bits, fe.bits) + add_pj(t, fe.score_width(p)))
    elif issubclass(fe, LowPrecisionFrontEnd):
        ev.add("predictor_ops", f"narrow MAC {fe.weight_bits}x{fe.input_bits}b", evaluations * N,
               mul_pj(t, fe.weight_bits, fe.input_bits) + add_pj(t, fe.score_width(p)))
    elif issubclass(fe, TopKFrontEnd):
        # every element's change from its previous value and its place among the k largest (hw.top_k's
        # InputChanges and TopKList, which run on every element whatever the enable)
        k = fe.entries(p)
        ev.add("predictor_ops", f"top-k change and insert ({ab + 1}b subtract + {k} compares)", steps * N,
               (1 + k) * add_pj(t, ab + 1))
        ev.add("predictor_ops", f"top-k MAC {ab}x{fe.weight_bits}b", evaluations * k,
               mul_pj(t, ab, fe.weight_bits) + add_pj(t, fe.score_width(p)))
    ctx = fe.context_shape(p).width
    ev.add("predictor_ops", f"decision ({ctx}x{THETA_BITS}b multiply + {ctx + THETA_BITS}b compare)", evaluations,
           mul_pj(t, ctx, THETA_BITS) + add_pj(t, ctx + THETA_BITS))
    entry = fe.table_entry_bits(p)   # the table's own width: cached output, context, what else it stores
    ev.read("memo_table", "memo table", evaluations * entry, p.neurons * entry)
    ev.write("memo_table", "memo table", computed * entry, p.neurons * entry)


def breakdown(events: list[Event]) -> dict[str, float]:
    """pJ per component (those with events, in :data:`COMPONENTS` order)."""
    sums: dict[str, float] = {}
    for e in events:
        sums[e.component] = sums.get(e.component, 0.0) + e.energy_pj
    return {k: sums[k] for k in COMPONENTS if k in sums}


def run_events(compiled, run, table: dict | None = None) -> list[Event]:
    """:func:`tile_events` of a ``sim.tile_host.TileRun`` of ``compiled`` (a ``fuzzymemo.compiled.CompiledModel``)."""
    return tile_events(compiled.params, run.passes, int(run.lengths.sum()), table)


def energy_figures(baseline: tuple, scheme: tuple, table: dict | None = None, source: str = "default") -> dict:
    """The energy entries of ``fuzzymemo run``'s JSON for the (CompiledModel, TileRun) pairs of the
    baseline tile and the reuse tile: totals in pJ (and nJ), the saving and the per-component breakdown."""
    table = DEFAULT_TABLE if table is None else table
    base, reuse = breakdown(run_events(*baseline, table)), breakdown(run_events(*scheme, table))
    e_base, e_reuse = sum(base.values()), sum(reuse.values())
    return {
        "energy_baseline_pj": e_base, "energy_pj": e_reuse,
        "energy_baseline_nj": e_base / 1000.0, "energy_scheme_nj": e_reuse / 1000.0,
        "energy_saving": 1.0 - e_reuse / e_base if e_base else 0.0,
        "energy_breakdown_baseline_pj": base, "energy_breakdown_pj": reuse, "energy_table": source,
    }


def energy_line(r: dict) -> str:
    """The summary line of a run's energy figures."""
    top = sorted(r["energy_breakdown_pj"].items(), key=lambda kv: -kv[1])[:3]
    parts = ", ".join(f"{k} {v / r['energy_pj']:.0%}" for k, v in top) if r["energy_pj"] else "-"
    return (f"  energy baseline {r['energy_baseline_nj']:.1f} nJ, {r['scheme']} {r['energy_scheme_nj']:.1f} nJ: "
            f"saving {r['energy_saving']:.1%} (largest: {parts}; table {r['energy_table']})")
