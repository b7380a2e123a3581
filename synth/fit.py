"""Fit check before place and route: a quick word-level Yosys pass (no technology mapping) counts the
design's multipliers, memories and flip-flops; a resource model turns them into DSP blocks, block RAMs and
flip-flops of the target (plus the scan wrapper's flip-flops). A configuration that cannot fit is refused
with a :class:`FitError` naming the resource, before the slow tools run. LUTs are not estimated here: a
design that fits every other resource but not the LUTs is stopped by nextpnr, whose message the flow
reports."""

from __future__ import annotations

from math import ceil
from pathlib import Path

from .blocks import elaborate
from .tools import run_tool, tool_path

__all__ = ["FitError", "estimate", "check_fit", "check_component", "COARSE_SCRIPT"]


class FitError(ValueError):
    """The configuration cannot fit the target."""


COARSE_SCRIPT = """\
# fuzzymemo fit estimate: word-level netlist, no technology mapping
read_rtlil {name}.il
hierarchy -top {name}
proc
flatten
opt_expr
opt_clean
opt -nodffe -nosdff
wreduce
opt_clean
memory_collect
opt_clean
write_json {name}.coarse.json
"""

_FF_TYPES = ("$dff", "$dffe", "$sdff", "$sdffe", "$sdffce", "$adff", "$adffe", "$aldff", "$aldffe", "$dffsr",
             "$dffsre")

#: memories at most this many bits are assumed to become logic rather than a block RAM
SMALL_MEMORY_BITS = 256


def _count(component, name: str, build_dir: Path) -> dict:
    import json

    from amaranth.back import rtlil

    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / f"{name}.il").write_text(rtlil.convert(component, name=name))
    (build_dir / f"{name}.coarse.ys").write_text(COARSE_SCRIPT.format(name=name))
    run_tool("yosys", [tool_path("yosys"), "-q", "-l", f"{name}.coarse.log", f"{name}.coarse.ys"],
             build_dir / f"{name}.coarse.out", build_dir)
    data = json.loads((build_dir / f"{name}.coarse.json").read_text())
    mod = data["modules"].get(name) or next(iter(data["modules"].values()))
    muls, mems, ff = [], [], 0
    for cell in mod["cells"].values():
        t, p = cell["type"], cell.get("parameters", {})

        def num(key, p=p):
            v = p.get(key, 0)
            return int(v, 2) if isinstance(v, str) else int(v)
        if t == "$mul":
            muls.append((num("A_WIDTH"), num("B_WIDTH")))
        elif t in ("$mem_v2", "$mem"):
            mems.append((num("WIDTH"), num("SIZE")))
        elif t in _FF_TYPES:
            ff += num("WIDTH")
    return {"multipliers": muls, "memories": mems, "ff": ff}


def estimate(component, name: str, target, build_dir: Path, wrapper_ff: int = 0) -> dict:
    """Resource estimate of ``component`` on ``target``: {"dsp", "bram", "ff", "memory_bits", ...}."""
    counts = _count(component, name, Path(build_dir))
    w = target.dsp_width
    dsp = 0
    for a, b in counts["multipliers"]:
        if min(a, b) >= 2 and a + b >= 10:   # small products stay in LUTs
            dsp += ceil(a / w) * ceil(b / w)
    bram = 0
    for width, depth in counts["memories"]:
        if width * depth > SMALL_MEMORY_BITS:
            bram += min(ceil(width / sw) * ceil(depth / sd) for sw, sd in target.bram_shapes)
    return {"dsp": dsp, "bram": bram, "ff": counts["ff"] + wrapper_ff,
            "memory_bits": sum(a * b for a, b in counts["memories"]),
            "multipliers": [list(m) for m in counts["multipliers"]],
            "memories": [list(m) for m in counts["memories"]]}


def check_fit(top: str, options: dict, target, build_dir: Path) -> dict:
    """Estimate ``top`` with ``options`` on ``target``; raise :class:`FitError` if it cannot fit."""
    component, _ = elaborate(top, options)
    return check_component(component, top, options_text(options), target, build_dir)


def check_component(component, top: str, label: str, target, build_dir: Path) -> dict:
    """:func:`check_fit` of a component (module name ``top``, described as ``top label`` in the error)."""
    from .wrapper import port_bits

    wrapper_ff = sum(len(v) for side in port_bits(component) for _, v in side) + 1
    est = estimate(component, top, target, build_dir, wrapper_ff)
    cap = target.capacity
    problems = []
    if est["dsp"] > cap.get("dsp", 0):
        problems.append(f"{est['dsp']} DSP multipliers ({len(est['multipliers'])} products, "
                        f"{target.dsp_width}x{target.dsp_width} bits each) but the device has {cap['dsp']}")
    if est["bram"] > cap.get("bram", 0):
        problems.append(f"{est['bram']} block RAMs for {est['memory_bits']} memory bits "
                        f"(memories {est['memories']} as [width, depth]) but the device has {cap['bram']}")
    if est["ff"] > cap.get("ff", 0):
        problems.append(f"{est['ff']} flip-flops (including {wrapper_ff} of the scan wrapper) but the device "
                        f"has {cap['ff']}")
    if problems:
        raise FitError(f"{top} {label} cannot fit the {target.device}: needs "
                       + "; ".join(problems) + ". Choose a smaller configuration (fewer lanes, smaller "
                       "hidden/input sizes) or a larger target.")
    return est


def check_netlist(summary: dict, target, stat_path) -> None:
    """After synthesis, before place and route: the mapped cell counts against the device (exact counts;
    on iCE40 a logic cell holds one LUT4 and one FF, so max(LUT, FF) cells at least)."""
    cap = target.capacity
    need = {"lut": summary["lut"], "ff": summary["ff"], "bram": summary["bram"], "dsp": summary["dsp"]}
    if target.name == "ice40":
        need["spram"] = summary.get("spram", 0)
        need["lut"] = max(summary["lut"], summary["ff"])
    over = [f"{n} {k.upper() if k != 'lut' else ('logic cells' if target.name == 'ice40' else 'LUT4')} of "
            f"{cap[k]}" for k, n in need.items() if k in cap and n > cap[k]]
    if over:
        raise FitError(f"the synthesised design does not fit the {target.device}: it needs " + ", ".join(over)
                       + f" (Yosys cell counts: {stat_path}); place and route not run. Choose a smaller "
                       "configuration or a larger target.")


def options_text(options: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in options.items())
