"""Random regression of the tile against the golden model (``fuzzymemo regress``; issue 14 deliverable 4).

One tile is built per reuse dataflow asked for (the baseline, the memoization scheme with each predictor
with hardware, every other scheme with a tile dataflow), each with random parameters: cell, hidden size,
most inputs, lanes, number formats and the most layers and directions it holds. Then, until the target
number of outputs is checked, every run loads a fresh random network of a random shape that fits the
tile (1 to its layers, 1 to its directions, 1 to its inputs) through ``wr`` (no rebuild) and streams
random sequences of random lengths with random valid gaps and back-pressure, at random scheme controls
(memoization: threshold, form, enable; delta: theta_x and theta_h per layer; similarity: levels per layer
and quantizer ranges). Every h_t of every layer of every sequence is compared with the golden model and
the tile's counters with the golden model's (``CompiledModel.run``). A failure is recorded with everything
needed to reproduce it (the tile and the run's seed) and does not stop the rest.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

import numpy as np

from golden_model import intops, schemes
from golden_model.fixed_model import FixedPointNetwork
from golden_model.formats import FixedPointConfig, QFormat
from golden_model.memo import MemoPolicy
from golden_model.network import Network
from golden_model.reuse_calibration import DELTA_GRID, LEVELS_GRID, input_ranges
from golden_model.sweep import DEFAULT_GRIDS
from sim.runner import SimulationError

from .compiled import CREW, DELTA, SIMILARITY, CompiledModel

__all__ = ["RegressTile", "FORMATS", "MEMO", "CONTROLS", "dataflows", "tiles", "random_network", "regress"]

log = logging.getLogger(__name__)

#: Most sequences and most steps of one run (a run is one load of a network and one simulation).
SEQUENCES, MAX_STEPS = 32, 24
#: The most layers and directions of a tile (each tile draws its own up to these).
MAX_LAYERS, MAX_DIRECTIONS = 3, 2
#: The memoization scheme (its tiles differ by predictor).
MEMO = "memo"
#: Number formats a tile draws from: the default and a narrower and a wider datapath.
FORMATS = (FixedPointConfig(),
           FixedPointConfig(weight=QFormat(6, 4), act=QFormat(10, 6), cell=QFormat(12, 7), preact=QFormat(9, 5),
                            bias_bits=20),
           FixedPointConfig(weight=QFormat(8, 7), act=QFormat(14, 10), cell=QFormat(16, 11), preact=QFormat(11, 7),
                            bias_bits=28))


@dataclasses.dataclass(frozen=True)
class RegressTile:
    """One built tile: ``scheme`` (None: the baseline tile) with ``predictor`` (memoization only) for
    networks of ``cell`` and ``hidden`` with up to ``inputs`` inputs, ``layers`` layers and ``directions``
    directions; ``lanes`` and the number formats ``formats`` (an index into :data:`FORMATS`)."""
    scheme: str | None
    predictor: str | None
    cell: str
    inputs: int
    hidden: int
    layers: int
    directions: int
    lanes: int
    formats: int
    #: CREW multipliers (a divisor of the lanes; None on other tiles)
    multipliers: int | None = None

    @property
    def label(self) -> str:
        return self.predictor if self.scheme == MEMO else (self.scheme or "baseline")


def dataflows(schemes_asked=None, predictors_asked=None) -> list[tuple[str | None, str | None]]:
    """The (scheme, predictor) pairs to regress: ``schemes_asked`` (names, "none": the baseline; "memo":
    each predictor of ``predictors_asked``, default every one with hardware) and ``predictors_asked``
    (memoization tiles; "none": the baseline). Neither: the baseline and every dataflow with hardware."""
    with_hardware = [e.name for e in schemes.entries(("predictor",)) if e.hardware]
    if not schemes_asked and not predictors_asked:
        schemes_asked = ["none", *(e.name for e in schemes.entries(("scheme",)) if e.hardware)]
    pairs = [(None, None) if p == "none" else (MEMO, p) for p in predictors_asked or ()]
    for name in schemes_asked or ():
        if name == MEMO:
            pairs += [(MEMO, p) for p in (predictors_asked or with_hardware) if p != "none"]
        else:
            pairs.append((None, None) if name == "none" else (name, None))
    return list(dict.fromkeys(pairs))


def _size(rng: np.random.Generator, most: int) -> int:
    """A size in 1..most, log-uniform: small and large shapes alike."""
    return int(np.clip(np.round(np.exp(rng.uniform(0, np.log(most)))), 1, most))


def tiles(pairs, seed: int, max_size: int = 16, per_dataflow: int = 1) -> list[RegressTile]:
    """``per_dataflow`` tiles of random parameters per (scheme, predictor) pair, sizes 1..``max_size``."""
    rng = np.random.default_rng(seed)
    out = []
    for scheme, predictor in [pair for _ in range(per_dataflow) for pair in pairs]:
        inputs, hidden = _size(rng, max_size), _size(rng, max_size)
        layers, directions = int(rng.integers(1, MAX_LAYERS + 1)), int(rng.integers(1, MAX_DIRECTIONS + 1))
        widest = max(inputs, hidden * (directions if layers > 1 else 1))   # lanes beyond it only multiply zeros
        lanes = int(rng.integers(1, min(8, widest) + 1))
        multipliers = int(rng.choice([m for m in range(1, lanes + 1) if lanes % m == 0])) if scheme == CREW else None
        out.append(RegressTile(scheme, predictor, str(rng.choice(["lstm", "gru"])), inputs, hidden, layers,
                               directions, lanes, int(rng.integers(len(FORMATS))), multipliers))
    return out


def random_network(cell: str, inputs: int, hidden: int, layers: int, directions: int, config: FixedPointConfig,
                   rng: np.random.Generator) -> Network:
    """Weights normal(0, 0.5) clipped inside the weight format, biases normal(0, 0.3)."""
    g, h = (4 if cell == "lstm" else 3), hidden
    most = 0.95 * config.weight.max_value

    def weights(shape):
        return np.clip(rng.normal(0, 0.5, shape), -most, most)

    spec = [[{"w_ih": weights((g * h, inputs if li == 0 else h * directions)), "w_hh": weights((g * h, h)),
              "b_ih": rng.normal(0, 0.3, g * h), "b_hh": rng.normal(0, 0.3, g * h)}
             for _ in range(directions)] for li in range(layers)]
    return Network.build(cell, spec)


def _build(tile: RegressTile, seed: int) -> CompiledModel:
    """The tile, elaborated for its largest network (the runs load smaller ones)."""
    config = FORMATS[tile.formats]
    net = random_network(tile.cell, tile.inputs, tile.hidden, tile.layers, tile.directions, config,
                         np.random.default_rng(seed))
    model = FixedPointNetwork(net, config)
    extra = {"unique_max": min(len(net.gates) * tile.hidden, 1 << config.weight.bits),
             "multipliers": tile.multipliers} if tile.scheme == CREW else {}
    return CompiledModel(model, scheme=tile.scheme, predictor=tile.predictor or "bnn", lanes=tile.lanes, **extra)


def _memo_controls(rng, model, x_q, lengths) -> dict:
    form = str(rng.choice(intops.THRESHOLD_FORMS))
    return {"threshold": float(rng.choice(DEFAULT_GRIDS[form][:8])), "form": form, "enable": bool(rng.random() < 0.9)}


def _delta_controls(rng, model, x_q, lengths) -> dict:
    layers = model.net.num_layers
    return {"threshold": tuple(int(v) for v in rng.choice(DELTA_GRID[:10], layers)),
            "theta_h": tuple(int(v) for v in rng.choice(DELTA_GRID[:10], layers))}


def _similarity_controls(rng, model, x_q, lengths) -> dict:
    """Levels per layer; the quantizer ranges of the baseline's own values, sometimes narrowed (saturation)."""
    ranges = input_ranges(model, x_q, model.run(x_q, lengths, MemoPolicy()), lengths)
    if rng.random() < 0.3:    # half of each range: the quantizer saturates
        ranges = [[lo // 2, max(hi // 2, lo // 2 + 1), lo_h // 2, max(hi_h // 2, lo_h // 2 + 1)]
                  for lo, hi, lo_h, hi_h in ranges]
    layers = model.net.num_layers
    return {"threshold": tuple(int(v) for v in rng.choice(LEVELS_GRID[5:], layers)), "ranges": ranges}


#: The run controls drawn per scheme; a scheme not listed runs at its defaults (None: the baseline tile).
CONTROLS = {None: lambda *a: {"enable": False}, MEMO: _memo_controls, DELTA: _delta_controls,
            SIMILARITY: _similarity_controls}


def _one_run(compiled: CompiledModel, tile: RegressTile, sim: str, run_seed: int) -> dict:
    """Load a random network that fits the tile, run random sequences; the run's figures (and a failure's
    reason) and the configuration it ran."""
    rng = np.random.default_rng(run_seed)
    layers, directions = int(rng.integers(1, tile.layers + 1)), int(rng.integers(1, tile.directions + 1))
    inputs = int(rng.integers(1, tile.inputs + 1))
    config = FORMATS[tile.formats]
    model = FixedPointNetwork(random_network(tile.cell, inputs, tile.hidden, layers, directions, config, rng), config)
    lengths = rng.integers(1, MAX_STEPS + 1, int(rng.integers(SEQUENCES // 4, SEQUENCES + 1)))
    steps = int(lengths.max())
    # slowly varying inputs (something to reuse), quantized; zero past each sequence's length
    x = np.cumsum(rng.normal(0, 0.3, (len(lengths), steps, inputs)), axis=1)
    x_q = intops.quantize(x, config.act) * (np.arange(steps)[None, :, None] < lengths[:, None, None])
    controls = CONTROLS.get(tile.scheme, lambda *a: {})(rng, model, x_q, lengths)
    pauses = {"valid_prob": float(rng.choice([1.0, 0.7, 0.4])), "ready_prob": float(rng.choice([1.0, 0.7, 0.4]))}
    drawn = {"config": repr((tile, layers, directions, inputs, sorted(controls.items()), sorted(pauses.items()))),
             "network": {"layers": layers, "directions": directions, "inputs": inputs},
             "controls": {k: (list(v) if isinstance(v, tuple) else v) for k, v in controls.items()} | pauses}
    try:
        run = compiled.run(sim, x_q, lengths, load=model, seed=int(rng.integers(1 << 30)), strict=False,
                           quiet=True, run_name=f"regress-{tile.label}", **controls, **pauses)
    except SimulationError as e:   # the simulation did not end (a hang, a crash): nothing was checked
        return {**drawn, "outputs": 0, "ok": False, "mismatches": 0, "sim_cycles": 0, "reuses": 0, "reason": str(e)}
    ok = bool(run.bit_exact and run.counters_ok)
    return {**drawn, "outputs": int(lengths.sum()) * tile.hidden * layers * directions, "ok": ok,
            "mismatches": int(run.mismatches + run.lost + run.extra), "sim_cycles": int(run.sim_cycles),
            "reuses": int(run.counters.get("reuses", 0)),
            "reason": None if ok else (run.report or "counters differ from the golden model's")}


def _say_tile(say, index: int, tile: RegressTile) -> None:
    say(f"tile {index}: {tile.label}, {tile.cell.upper()} I<={tile.inputs} H={tile.hidden} up to {tile.layers} "
        f"layer(s) x {tile.directions} direction(s), L={tile.lanes}, formats {tile.formats}")


def _build_all(drawn, sim: str, seed: int, say, failures: list) -> list:
    """Build every drawn tile; one that does not build is a failure (the others still run)."""
    built = []
    for index, tile in enumerate(drawn):
        _say_tile(say, index + 1, tile)
        compiled = _build(tile, seed * 7919 + index)
        try:
            compiled.build(sim)
        except SimulationError as e:
            failures.append({"tile": dataclasses.asdict(tile), "seed": seed, "stage": "build", "reason": str(e)})
            say(f"FAILURE: {tile} does not build: {str(e).splitlines()[0]}")
            continue
        built.append((tile, compiled))
    return built


def regress(target_outputs: int, sim: str, seed: int, pairs, max_size: int = 16, per_dataflow: int = 2,
            max_failures: int = 20, say: Callable[[str], None] = log.info) -> dict:
    """Run the regression of ``per_dataflow`` tiles of each (scheme, predictor) of ``pairs``
    (:func:`dataflows`) until ``target_outputs`` h elements are checked or ``max_failures`` failures are
    recorded; a summary dict (see docs/simulation.md)."""
    start = time.perf_counter()
    drawn = tiles(pairs, seed, max_size, per_dataflow)
    failures, configs = [], set()
    built = _build_all(drawn, sim, seed, say, failures)
    totals = {"outputs_checked": 0, "mismatches": 0, "runs": 0, "sim_cycles": 0, "reuses": 0}
    while built and totals["outputs_checked"] < target_outputs and len(failures) < max_failures:
        tile, compiled = built[totals["runs"] % len(built)]
        run_seed = seed * 1_000_003 + totals["runs"]
        result = _one_run(compiled, tile, sim, run_seed)
        configs.add(result.pop("config"))
        for key, value in (("outputs_checked", result["outputs"]), ("mismatches", result["mismatches"]),
                           ("runs", 1), ("sim_cycles", result["sim_cycles"]), ("reuses", result["reuses"])):
            totals[key] += value
        if not result["ok"]:
            failures.append({"tile": dataclasses.asdict(tile), "seed": seed, "stage": "run", "run_seed": run_seed,
                             **result})
            say(f"FAILURE: {tile} run seed {run_seed}: {result['reason'][:200]}")
        if totals["runs"] % 10 == 0:
            say(f"{totals['outputs_checked']} of {target_outputs} outputs checked in {totals['runs']} runs "
                f"({len(configs)} configurations), {len(failures)} failures")
    return {**totals, "configs": len(configs), "failures": failures, "tiles": [dataclasses.asdict(t) for t in drawn],
            "sim": sim, "seed": seed, "max_size": max_size, "seconds": time.perf_counter() - start}
