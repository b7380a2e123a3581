# amaranth: UnusedElaboratable=no
"""``fuzzymemo generate`` and the block registry."""

from __future__ import annotations

import argparse
import gc
import json

import pytest

from fuzzymemo.commands import generate as gen
from hw import registry


def _parse(argv):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    gen.register(sub)
    return parser.parse_args(["generate", *argv])


def test_list(capsys):
    args = _parse(["--list"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    for name in ("bnn", "memo_table"):
        assert f"{name}:" in out


def test_registry_has_blocks():
    assert {"bnn", "memo_table"} <= set(registry.names())


@pytest.mark.parametrize("argv,module,params", [
    (["--top", "bnn", "--width", "16", "--max_inputs", "100"], "bnn", {"width": 16, "max_inputs": 100}),
    (["--top", "memo_table", "-p", "entries=64", "-p", "cache_update=always"], "memo_table",
     {"entries": 64, "cache_update": "always"}),
    (["--top", "bnn", "--name", "my_bnn"], "my_bnn", {"width": 32}),
])
def test_generate_writes_verilog(tmp_path, argv, module, params):
    args = _parse([*argv, "--out", str(tmp_path)])
    assert args.func(args) == 0
    text = (tmp_path / f"{module}.v").read_text()
    assert f"module {module}(" in text
    desc = json.loads((tmp_path / f"{module}.json").read_text())
    assert desc["module"] == module
    for k, v in params.items():
        assert desc["options"][k] == v
    assert any(name.endswith("__payload") for name in desc["ports"])


@pytest.mark.parametrize("argv,match", [
    (["--top", "nope"], "unknown block 'nope'"),
    (["--top", "memo_table", "--width", "3"], "has no option width"),
    (["--top", "bnn", "--width", "x"], "cannot read 'x' as int"),
    (["--top", "bnn", "--width", "0"], "width must be in"),
    (["--top", "memo_table", "--cache_update", "sometimes"], "must be one of"),
    (["--top", "bnn", "-p", "width"], "NAME=VALUE"),
    (["--top", "bnn", "--name", "9x"], "not a Verilog identifier"),
    ([], "--top NAME is required"),
])
@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_generate_errors(tmp_path, argv, match):
    args = _parse([*argv, "--out", str(tmp_path)])
    with pytest.raises(ValueError, match=match):
        args.func(args)
    gc.collect()  # a component whose constructor raised is reported unused when collected: here, filtered


def test_missing_out():
    args = _parse(["--top", "bnn"])
    with pytest.raises(ValueError, match="--out DIR is required"):
        args.func(args)


def test_register_twice_is_an_error():
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("bnn", lambda o: None, "again")
