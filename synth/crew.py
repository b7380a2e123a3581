"""CREW cost study (docs/synthesis.md, *CREW*): the CREW tile of a network against two baseline tiles of
the same network on one target, each built from its :class:`hw.tile_params.TileParams` (the caller derives
them, e.g. ``fuzzymemo.compiled.CompiledModel``):

* ``crew``: L adder lanes, M multipliers, index memory, unique-value table, product banks;
* ``base-lanes``: the baseline tile with L lanes (equal lanes: L multipliers, the weight memory);
* ``base-mults``: the baseline tile with M lanes (equal multipliers: the tile ``fuzzymemo run --scheme
  crew`` compares cycles with);
* ``base-dsp`` (optional): the baseline tile of another lane count, e.g. the one using as many DSP blocks
  as the CREW tile measures (an equal DSP budget).

Each design is synthesised and placed on its own; one that does not fit the device (the fit check, the
post-synthesis check or nextpnr) is recorded with the tool's reason instead of figures, and the others
still run. The ratios are CREW over each baseline."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from .compare import module_breakdown
from .fit import FitError
from .flow import synthesize_design
from .tools import ToolError

__all__ = ["DESIGNS", "RATIO_METRICS", "tile_options", "crew_compare", "ratios"]

#: design label -> what it is
DESIGNS = {"crew": "CREW tile (L adder lanes, M multipliers)",
           "base-lanes": "baseline tile, equal lanes (L)",
           "base-mults": "baseline tile, equal multipliers (M lanes)",
           "base-dsp": "baseline tile of a chosen lane count (e.g. as many DSP blocks as the CREW tile)"}
#: figures whose CREW / baseline ratio is reported
RATIO_METRICS = ("lut", "ff", "bram", "dsp", "fmax_mhz", "cmos_transistors", "gates", "memory_bits")


def tile_options(params) -> dict:
    """The record's ``options`` of a tile built from ``params``: its fields as JSON-able values, CREW's
    shape flattened (``unique_max``, ``multipliers``, ``index_bits``; ``multipliers`` = lanes on a baseline
    tile) and ``scheme`` (crew or none)."""
    out = {}
    for f in fields(params):
        v = getattr(params, f.name)
        if f.name in ("crew", "front_end"):
            continue
        out[f.name] = v if isinstance(v, (int, float, str, bool, type(None))) else str(v)
    crew = params.crew
    out["scheme"] = "crew" if crew is not None else "none"
    out["multipliers"] = crew.multipliers if crew is not None else params.lanes
    if crew is not None:
        out["unique_max"], out["index_bits"] = crew.unique_max, crew.index_bits
    return out


def _tile(params):
    from hw.tile import Tile

    return Tile(params)   # memories zero: loaded at run time through wr, as the registry's tile


def ratios(crew: dict, base: dict) -> dict:
    """{metric: crew / base} of two records (None where either figure is missing or the base is 0)."""
    out = {}
    for k in RATIO_METRICS:
        c, b = crew.get(k), base.get(k)
        if c is None and b is None:
            continue
        out[k] = round(c / b, 3) if c is not None and b else None
    return out


def crew_compare(designs: dict, target: str, build_dir=None, seed: int = 1, constraint_mhz: float | None = None,
                 check_fit: bool = True, breakdown: bool = True, workload: str | None = None) -> dict:
    """Synthesise ``designs`` ({label: TileParams}, the labels of :data:`DESIGNS`, ``crew`` first) on
    ``target``; returns {"target", "workload", "designs": {label: record or {"design", "fits": False,
    "error", "tool"}}, "ratios": {baseline label: ratios}, "modules": {baseline label: per-module rows}}."""
    if list(designs)[:1] != ["crew"] or not set(designs) <= set(DESIGNS):
        raise ValueError(f"crew_compare takes the designs {', '.join(DESIGNS)} (crew first), not {', '.join(designs)}")
    root = Path(build_dir) if build_dir is not None else Path("build") / "synth" / target
    records = {}
    for label, params in designs.items():
        design = f"tile-{label}"
        try:
            records[label] = synthesize_design(lambda p=params: _tile(p), "tile", design, tile_options(params), target,
                                               root / design, seed=seed, constraint_mhz=constraint_mhz,
                                               check_fit=check_fit, breakdown=breakdown)
            records[label]["fits"] = True
        except (FitError, ToolError) as e:
            if isinstance(e, ToolError) and e.log is None:
                raise   # a tool missing or not runnable: no design figure at all
            tool = e.tool if isinstance(e, ToolError) else "fit check"
            records[label] = {"design": design, "block": "tile", "options": tile_options(params), "target": target,
                              "fits": False, "tool": tool, "error": str(e)}
    crew = records["crew"]
    out = {"target": target, "workload": workload, "designs": records, "ratios": {}, "modules": {}}
    for label, rec in records.items():
        if label == "crew" or not (crew["fits"] and rec["fits"]):
            continue
        out["ratios"][label] = ratios(crew, rec)
        out["modules"][label] = module_breakdown(rec, crew)
    return out
