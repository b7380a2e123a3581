# amaranth: UnusedElaboratable=no
"""Generated Verilog of every registered block (defaults and its lint configurations) passes
``verilator --lint-only -Wall`` with the waiver list of sim/waivers.py and compiles with ``iverilog -g2012``."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from fuzzymemo.commands.generate import generate
from hw import registry
from sim.runner import verilator_executable
from sim.waivers import VERILATOR_WAIVERS, verilator_waiver_args

CASES = [(name, {}) for name in registry.names()] + [
    (name, cfg) for name in registry.names() for cfg in registry.get(name).lint_configs]


@pytest.mark.parametrize("block,options", CASES,
                         ids=[f"{n}-" + ("-".join(f"{k}{v}" for k, v in o.items()) or "default") for n, o in CASES])
def test_lint(block, options, tmp_path):
    v_path, _ = generate(block, tmp_path, options)
    lint = subprocess.run([verilator_executable(), "--lint-only", "-Wall", *verilator_waiver_args(),
                           "--top-module", block, str(v_path)], check=False, capture_output=True,
                          text=True)
    assert lint.returncode == 0, f"verilator lint of {block} {options}:\n{lint.stderr[-5000:]}"
    if shutil.which("iverilog") is None and os.environ.get("CI") != "true":
        pytest.skip("iverilog not installed")
    comp = subprocess.run(["iverilog", "-g2012", "-o", str(tmp_path / "a.vvp"), "-s", block, str(v_path)],
                          check=False, capture_output=True, text=True)
    assert comp.returncode == 0, f"iverilog of {block} {options}:\n{comp.stderr[-5000:]}"


def test_waivers_are_documented():
    assert VERILATOR_WAIVERS and all(reason.strip() for reason in VERILATOR_WAIVERS.values())
    assert verilator_waiver_args() == [f"-Wno-{code}" for code in VERILATOR_WAIVERS]
