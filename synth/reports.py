"""Parsers of the tools' machine-readable reports: Yosys ``stat -json`` and
nextpnr ``--report`` JSON, into plain dicts; and the resource summary of each target."""

from __future__ import annotations

import json
import re
from pathlib import Path

__all__ = ["load_json", "parse_yosys_stat", "hierarchy_totals", "generic_summary", "fpga_summary",
           "parse_nextpnr_report", "SRAM_TRANSISTORS_PER_BIT"]

#: ASIC-proxy cost of one memory bit (a 6T SRAM cell; periphery not counted).
SRAM_TRANSISTORS_PER_BIT = 6

#: Transistors per Yosys internal gate: the table behind ``stat -tech cmos`` (Yosys ``kernel/cost.h``,
#: ``CellCosts::cmos_gate_cost``). The flow costs each module's own gates with it rather than reading
#: ``estimated_num_transistors``: Yosys 0.70 includes a module's submodules in that local figure, so adding
#: the submodules' totals to it counted their logic again at every level of the hierarchy.
CMOS_GATE_TRANSISTORS = {"$_BUF_": 1, "$_NOT_": 2, "$_AND_": 6, "$_NAND_": 4, "$_OR_": 6, "$_NOR_": 4,
                         "$_ANDNOT_": 6, "$_ORNOT_": 6, "$_XOR_": 12, "$_XNOR_": 12, "$_AOI3_": 6, "$_OAI3_": 6,
                         "$_AOI4_": 8, "$_OAI4_": 8, "$_MUX_": 12, "$_NMUX_": 10, "$_DFF_P_": 16, "$_DFF_N_": 16}


def load_json(path) -> dict:
    """JSON of a report; Yosys ``tee -o`` may put log lines before the object, which are skipped."""
    text = Path(path).read_text()
    start = text.find("{")
    if start < 0:
        raise ValueError(f"{path}: no JSON object in the report")
    return json.loads(text[start:])


def _name(s: str) -> str:
    return s[1:] if s.startswith("\\") else s


def _local_transistors(cells: dict, modules) -> tuple[int, bool]:
    """CMOS transistors of a module's own gates (:data:`CMOS_GATE_TRANSISTORS`), and whether some own cell
    has no cost: a cell that is neither a costed gate, a submodule instance (in ``modules``) nor a memory
    (costed per bit by the caller), e.g. a FPGA primitive."""
    total, partial = 0, False
    for t, n in cells.items():
        if t in CMOS_GATE_TRANSISTORS:
            total += n * CMOS_GATE_TRANSISTORS[t]
        elif t not in modules and not t.startswith("$mem"):
            partial = True
    return total, partial


def parse_yosys_stat(data: dict) -> dict:
    """Yosys ``stat -json`` -> {module: {"cells": {type: n}, "num_cells", "memory_bits", "transistors",
    "transistors_partial"}} (local counts, submodule instances listed as cells of the module's type;
    ``transistors`` those of the module's own gates, :func:`_local_transistors`)."""
    if "modules" not in data:
        raise ValueError("not a Yosys stat -json report (no 'modules')")
    names = {_name(mod) for mod in data["modules"]}
    out = {}
    for mod, s in data["modules"].items():
        cells = {_name(k): int(v) for k, v in (s.get("num_cells_by_type") or {}).items()}
        transistors, partial = _local_transistors(cells, names)
        out[_name(mod)] = {"cells": cells, "num_cells": int(s.get("num_cells", sum(cells.values()))),
                           "memory_bits": int(s.get("num_memory_bits", 0) or 0),
                           "transistors": transistors, "transistors_partial": partial}
    return out


def hierarchy_totals(modules: dict, top: str) -> dict:
    """Totals of each module including its submodules: {module: {"cells": {type: n} of leaf cells,
    "memory_bits", "transistors", "instances"}} for ``top`` and everything below it."""
    memo: dict = {}

    def total(mod):
        if mod in memo:
            return memo[mod]
        s = modules[mod]
        cells, bits, trans = {}, s["memory_bits"], s["transistors"] or 0
        for t, n in s["cells"].items():
            if t in modules:
                sub = total(t)
                for st, sn in sub["cells"].items():
                    cells[st] = cells.get(st, 0) + n * sn
                bits += n * sub["memory_bits"]
                trans += n * sub["transistors"]
            else:
                cells[t] = cells.get(t, 0) + n
        memo[mod] = {"cells": cells, "memory_bits": bits, "transistors": trans}
        return memo[mod]

    if top not in modules:
        raise ValueError(f"module {top!r} not in the report (modules: {', '.join(modules)})")
    total(top)
    return memo


_FF_RE = re.compile(r"^\$_(DFF|DFFE|SDFF|SDFFE|SDFFCE|ALDFF|ALDFFE|DFFSR|DFFSRE|DLATCH|SR)_")


def generic_summary(cells: dict, memory_bits: int, mem_cells: dict | None = None) -> dict:
    """Resources of a generic netlist: gates, flip-flops, memory bits and CMOS transistors."""
    ff = sum(n for t, n in cells.items() if _FF_RE.match(t))
    mems = sum(n for t, n in cells.items() if t.startswith("$mem"))
    gates = sum(n for t, n in cells.items() if t.startswith("$_") and not _FF_RE.match(t))
    return {"gates": gates, "ff": ff, "memories": mems, "memory_bits": memory_bits}


# FPGA cell libraries after synth_ice40 / synth_ecp5.
_ICE40 = {"lut": ("SB_LUT4",), "carry": ("SB_CARRY",), "bram": ("SB_RAM40_4K", "SB_RAM40_4KNR", "SB_RAM40_4KNW",
                                                                  "SB_RAM40_4KNRNW"),
          "spram": ("SB_SPRAM256KA",), "dsp": ("SB_MAC16",)}
_ECP5 = {"lut": ("LUT4",), "carry": ("CCU2C",), "bram": ("DP16KD", "PDPW16KD"), "dsp": ("MULT18X18D",),
         "alu": ("ALU54B",), "lutram": ("TRELLIS_DPR16X4",)}


def fpga_summary(cells: dict, family: str) -> dict:
    """LUT4/FF/BRAM/DSP counts from the post-synthesis cell list (one flattened module).

    ``lut`` counts LUT4 positions: on ECP5 a CCU2C carry cell occupies two LUT4s of a slice and a
    TRELLIS_DPR16X4 distributed RAM two more, so they are added; on iCE40 the SB_CARRY sits beside its LUT."""
    lib = {"ice40": _ICE40, "ecp5": _ECP5}[family]
    out = {k: sum(cells.get(t, 0) for t in types) for k, types in lib.items()}
    ff_prefix = "SB_DFF" if family == "ice40" else "TRELLIS_FF"
    out["ff"] = sum(n for t, n in cells.items() if t.startswith(ff_prefix))
    if family == "ecp5":
        out["lut"] += 2 * out["carry"] + 2 * out["lutram"]
    return out


def parse_nextpnr_report(data: dict) -> dict:
    """nextpnr ``--report`` JSON -> {"utilization": {bel: {"used", "available"}}, "fmax": {clock:
    {"achieved", "constraint"}}, "fmax_mhz": slowest achieved clock (None without clocks)}."""
    if "utilization" not in data:
        raise ValueError("not a nextpnr --report file (no 'utilization')")
    util = {k: {"used": int(v["used"]), "available": int(v["available"])} for k, v in data["utilization"].items()}
    fmax = {}
    for clk, v in (data.get("fmax") or {}).items():
        fmax[clk] = {"achieved": float(v["achieved"]), "constraint": float(v["constraint"])}
    worst = min((v["achieved"] for v in fmax.values()), default=None)
    critical = None
    for p in data.get("critical_paths") or ():
        steps = p.get("path") or []
        if not steps or p.get("from") != p.get("to"):
            continue  # keep register-to-register paths of one clock
        delay = sum(float(s.get("delay", 0)) for s in steps)
        if critical is None or delay > critical["delay_ns"]:
            critical = {"clock": p.get("from"), "from": steps[0]["from"]["cell"], "to": steps[-1]["to"]["cell"],
                        "delay_ns": round(delay, 3), "steps": len(steps)}
    return {"utilization": util, "fmax": fmax, "fmax_mhz": round(worst, 2) if worst is not None else None,
            "critical_path": critical}
