"""Synthesis flows: :func:`synthesize` elaborates a registered block (or the tile), runs the open tools of a
target in a build directory and returns a JSON-able record.

* ``generic``: Yosys ``synth`` (hierarchy kept, memories kept as memory cells rather than flip-flops: an
  ASIC would use SRAM macros), flip-flops legalised to plain ``$_DFF_P_`` (enables and resets become
  gates) so that every cell is a gate of Yosys's CMOS cost table (``synth.reports.CMOS_GATE_TRANSISTORS``);
  memory bits are costed at 6 transistors each.
* ``ice40`` / ``ecp5``: the block behind :class:`synth.wrapper.ScanWrapper` on the amaranth-boards
  iCEBreaker / ULX3S platform: ``synth_ice40 -dsp`` / ``synth_ecp5``, nextpnr with ``--seed`` and
  ``--report``, then icepack / ecppack; fmax is nextpnr's achieved frequency of the clock.
"""

from __future__ import annotations

import json
import platform as _platform
import time
from pathlib import Path

from . import fit, reports
from .blocks import elaborate, get_block
from .targets import get_target, make_platform
from .tools import ToolError, log_reason, patched_environ, run_tool, tool_env, tool_path, tool_version
from .wrapper import ScanWrapper

__all__ = ["synthesize", "synthesize_design", "run_generic", "run_fpga", "design_name", "RECORD_KEYS"]

#: Keys every record has (None where the target has no such figure).
RECORD_KEYS = ("design", "block", "options", "target", "device", "lut", "ff", "bram", "dsp", "fmax_mhz",
               "cmos_transistors", "seed", "tools", "build_dir")


def design_name(top: str, options: dict) -> str:
    """Short name of a configuration, used for the build directory: ``tile-base`` (predictor none),
    ``tile-bnn``, ``tile-low-rank``..., ``delta_tile-similarity`` (the delta blocks' form)."""
    if "predictor" in options:
        return f"{top}-{'base' if options['predictor'] == 'none' else options['predictor']}"
    if "form" in options:
        return f"{top}-{options['form']}"
    return top


def _jsonable(options: dict) -> dict:
    return {k: (v if isinstance(v, (int, float, str, bool, type(None))) else str(v)) for k, v in options.items()}


def _base_record(top, design, resolved, target, build_dir, seed):
    return {"design": design, "block": top, "options": _jsonable(resolved),
            "target": target.name, "device": target.device, "board": target.board,
            "lut": None, "ff": None, "bram": None, "dsp": None, "fmax_mhz": None, "cmos_transistors": None,
            "seed": seed, "build_dir": str(build_dir), "host": _platform.node(), "python": _platform.python_version()}


# ---------------------------------------------------------------------------------------------- generic

GENERIC_SCRIPT = """\
# fuzzymemo generic flow (ASIC proxy): Yosys synth without memory_map, FFs legalised to $_DFF_P_ gates
read_rtlil {name}.il
hierarchy -top {name}
tee -q -o {name}.mem.json stat -json
synth -top {name} -run begin:fine
opt -fast -full
techmap
opt -fast
dfflegalize -cell $_DFF_P_ 01 -cell $_DFF_N_ 01
abc
opt -fast
hierarchy -check
check
tee -q -o {name}.stat.json stat -json
tee -q -o {name}.stat.txt stat
"""


def run_generic(component, name: str, build_dir: Path) -> dict:
    """Generic synthesis of ``component`` as module ``name`` in ``build_dir``: resources of the top and of
    every module (hierarchical totals)."""
    from amaranth.back import rtlil, verilog

    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / f"{name}.il").write_text(rtlil.convert(component, name=name))
    (build_dir / f"{name}.v").write_text(verilog.convert(component, name=name, emit_src=False))
    (build_dir / f"{name}.ys").write_text(GENERIC_SCRIPT.format(name=name))
    run_tool("yosys", [tool_path("yosys"), "-q", "-l", f"{name}.log", f"{name}.ys"],
             build_dir / f"{name}.out", build_dir)
    try:
        mems = reports.parse_yosys_stat(reports.load_json(build_dir / f"{name}.mem.json"))
        stat = reports.parse_yosys_stat(reports.load_json(build_dir / f"{name}.stat.json"))
    except (OSError, ValueError) as e:
        raise ToolError("yosys", build_dir / f"{name}.log", f"unreadable stat report: {e}") from None
    for mod, s in stat.items():
        s["memory_bits"] = mems.get(mod, {}).get("memory_bits", 0)
        if s["transistors"] is not None:
            s["transistors"] += reports.SRAM_TRANSISTORS_PER_BIT * s["memory_bits"]
    totals = reports.hierarchy_totals(stat, name)
    modules = {}
    for mod, t in totals.items():
        summary = reports.generic_summary(t["cells"], t["memory_bits"])
        modules[mod] = {**summary, "cmos_transistors": t["transistors"]}
    top = modules[name]
    return {"lut": None, "ff": top["ff"], "bram": top["memory_bits"], "dsp": None, "fmax_mhz": None,
            "cmos_transistors": top["cmos_transistors"], "gates": top["gates"], "memory_bits": top["memory_bits"],
            "cmos_logic_transistors": top["cmos_transistors"]
            - reports.SRAM_TRANSISTORS_PER_BIT * top["memory_bits"],
            "modules": modules,
            "reports": {"stat": f"{name}.stat.json", "log": f"{name}.log", "verilog": f"{name}.v"}}


# ------------------------------------------------------------------------------------------------- FPGA

BREAKDOWN_SCRIPT = """\
# fuzzymemo per-module FPGA resources: the bare block, technology-mapped with its hierarchy kept
read_rtlil {name}.il
synth_{family} {opts} -noflatten -top {name}
{tail}tee -q -o {name}.stat.json stat -json
"""


def fpga_breakdown(component, name: str, family: str, build_dir: Path) -> dict:
    """Per-module LUT4/FF/BRAM/DSP of ``component`` mapped to ``family`` without flattening (hierarchical
    totals; no optimisation across module boundaries, so the sum can differ a little from the flat build)."""
    from amaranth.back import rtlil

    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / f"{name}.il").write_text(rtlil.convert(component, name=name))
    opts = SYNTH_OPTS[family]
    tail = SYNTH_TAIL[family].format(flags="-noflatten ", name=name)
    (build_dir / f"{name}.ys").write_text(BREAKDOWN_SCRIPT.format(name=name, family=family, opts=opts, tail=tail))
    run_tool("yosys", [tool_path("yosys"), "-q", "-l", f"{name}.log", f"{name}.ys"], build_dir / f"{name}.out",
             build_dir)
    stat = reports.parse_yosys_stat(reports.load_json(build_dir / f"{name}.stat.json"))
    for s in stat.values():
        s["transistors"] = 0
    totals = reports.hierarchy_totals(stat, name)
    out = {}
    for mod, t in totals.items():
        s = reports.fpga_summary(t["cells"], family)
        out[mod] = {k: s[k] for k in ("lut", "ff", "bram", "dsp")}
    return out


#: Options of synth_ice40 / synth_ecp5. iCE40: map multipliers to SB_MAC16. ECP5: synth_ecp5 (a wrapper of
#: synth_lattice in Yosys 0.70) always maps LUTs with ABC9, whose abc_ops_reintegrate step trips an assertion
#: on the tile ("Assert GetSize(conn.first) == GetSize(conn.second) failed", kernel/rtlil.cc:3091) and no
#: option turns it off; so synth_ecp5 runs up to its map_luts step, the classic ABC maps the LUTs (as the
#: old synth_ecp5 -noabc9 did: abc -lut 4:7 -dress, wide LUTs through PFU muxes), and synth_ecp5 finishes
#: from map_cells. Both variants of a comparison use the same flow.
SYNTH_OPTS = {"ice40": "-dsp", "ecp5": "-run :map_luts"}
#: Commands after synth_<family> (before the stat).
SYNTH_TAIL = {"ice40": "", "ecp5": ("techmap -map +/lattice/latches_map.v\nabc -lut 4:7 -dress\nclean\n"
                                    "synth_ecp5 {flags}-top {name} -run map_cells:\n")}


def run_fpga(component, name: str, target, build_dir: Path, seed: int, constraint_mhz: float,
             breakdown=None, wrapper: str = "scan", baud: int = 115200) -> dict:
    """Place and route ``component`` on ``target`` behind the scan wrapper (``wrapper="scan"``) or as a
    board top behind a UART host link (``"uart"``, :class:`synth.board.BoardTop`; the clock constraint is
    then the board oscillator, whose frequency sets the baud divisor); bitstream and parsed reports."""
    build_dir.mkdir(parents=True, exist_ok=True)
    family = target.name
    tools = ["yosys", f"nextpnr-{family}", "icepack" if family == "ice40" else "ecppack"]
    env = tool_env(tools)
    if wrapper == "scan":
        top = ScanWrapper(component, dut_name=name)
    elif wrapper == "uart":
        from .board import BoardTop
        top = BoardTop(component, baud=baud, dut_name=name)
        constraint_mhz = target.board_clock_mhz
    else:
        raise ValueError(f"unknown wrapper {wrapper!r}; wrappers: scan, uart")
    overrides = {
        "nextpnr_opts": f"--seed {int(seed)} --report top.report.json --timing-allow-fail",
        "script_after_synth": SYNTH_TAIL[family].format(flags="", name="top") + "tee -q -o top.stat.json stat -json",
    }
    overrides["synth_opts"] = SYNTH_OPTS[family]
    with patched_environ(env):
        plat = make_platform(target, constraint_mhz)
        plan = plat.prepare(top, name="top", **overrides)
        plan.extract(str(build_dir))
    if wrapper == "uart":
        link = top.bridge.describe()
        (build_dir / "bridge.json").write_text(json.dumps({"baud": baud, **link}, indent=1))
        info = {"kind": "uart", "baud": baud, "divisor": link["divisor"], "protocol": "bridge.json"}
    else:
        info = top.info
    # Amaranth's build script, one tool at a time: each stage has its own log, and the synthesised netlist
    # is checked against the device before place and route.
    script = (build_dir / "build_top.sh").read_text().splitlines()
    header = [ln for ln in script if not ln.startswith('"$')]
    commands = [ln for ln in script if ln.startswith('"$')]
    if len(commands) != 3:
        raise ToolError("amaranth", build_dir / "build_top.sh", f"expected 3 tool commands, found {len(commands)}")
    stages = [("yosys", "top.rpt"), (f"nextpnr-{family}", "top.tim"), (tools[2], None)]
    started = time.monotonic()
    summary = None
    for (stage, log_name), command in zip(stages, commands, strict=True):
        stage_script = build_dir / f"run_{stage}.sh"
        stage_script.write_text("\n".join(header + [command]) + "\n")
        out = build_dir / f"{stage}.out"
        try:
            run_tool(stage, ["sh", stage_script.name], out, build_dir, env)
        except ToolError as e:
            log = build_dir / log_name if log_name and (build_dir / log_name).exists() else out
            raise ToolError(stage, log, log_reason(log, e.reason)) from None
        if stage == "yosys":
            try:
                cells = reports.parse_yosys_stat(reports.load_json(build_dir / "top.stat.json"))
            except (OSError, ValueError) as e:
                raise ToolError("yosys", build_dir / "top.rpt", f"unreadable stat report: {e}") from None
            top_cells = cells.get("top") or next(iter(cells.values()))
            summary = reports.fpga_summary(top_cells["cells"], family)
            fit.check_netlist(summary, target, build_dir / "top.stat.json")
    elapsed = time.monotonic() - started
    try:
        pnr = reports.parse_nextpnr_report(reports.load_json(build_dir / "top.report.json"))
    except (OSError, ValueError) as e:
        raise ToolError(f"nextpnr-{family}", build_dir / "top.tim", f"unreadable report: {e}") from None
    bitstream = build_dir / ("top.bin" if family == "ice40" else "top.bit")
    if not bitstream.exists():
        raise ToolError(tools[2], build_dir / "build.log", "no bitstream written")
    cell_bel = "ICESTORM_LC" if family == "ice40" else "TRELLIS_COMB"
    summary["logic_cells"] = pnr["utilization"].get(cell_bel, {}).get("used")
    record = {**summary, "fmax_mhz": pnr["fmax_mhz"], "clock_constraint_mhz": constraint_mhz,
              "board_clock_mhz": target.board_clock_mhz,
              "meets_board_clock": (pnr["fmax_mhz"] is not None and pnr["fmax_mhz"] >= target.board_clock_mhz),
              "utilization": pnr["utilization"], "fmax_by_clock": pnr["fmax"],
              "critical_path": pnr["critical_path"], "wrapper": info,
              "pnr_seconds": round(elapsed, 1),
              "reports": {"stat": "top.stat.json", "nextpnr": "top.report.json", "yosys_log": "top.rpt",
                          "nextpnr_log": "top.tim", "bitstream": bitstream.name}}
    if breakdown is not None:  # a function giving a fresh component
        record["modules"] = fpga_breakdown(breakdown(), name, family, build_dir / "breakdown")
    return record


# ------------------------------------------------------------------------------------------------- entry

def synthesize(top: str, target: str = "generic", options: dict | None = None, build_dir=None, seed: int = 1,
               constraint_mhz: float | None = None, check_fit: bool = True, breakdown: bool = False,
               wrapper: str = "scan", baud: int = 115200) -> dict:
    """Synthesise registered block ``top`` (with ``options``) for ``target``; returns the record and writes
    it to ``<build_dir>/record.json``. Raises ``ValueError`` for a configuration that cannot fit the target
    (before running the place-and-route tools) and :class:`ToolError` when a tool fails. ``breakdown`` adds
    per-module resources on the FPGA targets (one more Yosys run keeping the hierarchy); ``wrapper`` is
    "scan" (measurement top) or "uart" (board top with a UART host link at ``baud``)."""
    tgt = get_target(target)
    resolved = get_block(top).resolve(options)
    return synthesize_design(lambda: elaborate(top, resolved)[0], top, design_name(top, resolved), resolved, tgt.name,
                             build_dir, seed=seed, constraint_mhz=constraint_mhz, check_fit=check_fit,
                             breakdown=breakdown, wrapper=wrapper, baud=baud)


def synthesize_design(build, top: str, design: str, options: dict, target: str = "generic", build_dir=None,
                      seed: int = 1, constraint_mhz: float | None = None, check_fit: bool = True,
                      breakdown: bool = False, wrapper: str = "scan", baud: int = 115200) -> dict:
    """:func:`synthesize` of any component: ``build()`` gives a fresh one (module name ``top``), ``design``
    names the record (and the default build directory), ``options`` are what the record reports of it
    (JSON-able values; e.g. the tile parameters of a tile built outside the registry).

    Concurrent syntheses into one build directory (the default one of a design is shared by every run in
    a checkout) take turns: the directory's lock (:func:`sim.cache.locked`) is held from the first file
    written to ``record.json``, so each run reads only its own tools' output."""
    from sim.cache import locked

    tgt = get_target(target)
    build_dir = Path(build_dir) if build_dir is not None else Path("build") / "synth" / target / design
    build_dir = build_dir.resolve()
    with locked(build_dir):
        return _synthesize_in(build, top, design, options, tgt, build_dir, seed, constraint_mhz, check_fit,
                              breakdown, wrapper, baud)


def _synthesize_in(build, top, design, options, tgt, build_dir: Path, seed, constraint_mhz, check_fit, breakdown,
                   wrapper, baud) -> dict:
    name = top
    record = _base_record(top, design, options, tgt, build_dir, seed)
    started = time.monotonic()
    if tgt.name == "generic":
        record["tools"] = {"yosys": tool_version("yosys")}
        record.update(run_generic(build(), name, build_dir))
    else:
        if check_fit:
            record["estimate"] = fit.check_component(build(), top, fit.options_text(options), tgt,
                                                     build_dir / "estimate")
        mhz = constraint_mhz or tgt.default_constraint_mhz
        record["tools"] = {t: tool_version(t) for t in
                           ("yosys", f"nextpnr-{tgt.name}", "icepack" if tgt.name == "ice40" else "ecppack")}
        record["synth_opts"] = SYNTH_OPTS[tgt.name]
        record.update(run_fpga(build(), name, tgt, build_dir, seed, mhz, breakdown=build if breakdown else None,
                               wrapper=wrapper, baud=baud))
    import amaranth
    record["tools"]["amaranth"] = amaranth.__version__
    record["seconds"] = round(time.monotonic() - started, 1)
    (build_dir / "record.json").write_text(json.dumps(record, indent=1))
    return record
