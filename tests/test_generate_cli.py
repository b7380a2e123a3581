# amaranth: UnusedElaboratable=no
"""``fuzzymemo generate`` and the block registry."""

from __future__ import annotations

import argparse
import gc
import json

import pytest
from amaranth.hdl import Fragment

from fuzzymemo.commands import generate as gen
from golden_model.formats import FixedPointConfig, QFormat
from hw import registry
from hw.tile_params import CrewShape, TileParams


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
    (["--top", "crew_tile", "--lanes", "4", "--multipliers", "2", "--unique_max", "20"], "crew_tile",
     {"lanes": 4, "multipliers": 2, "unique_max": 20}),
    (["--top", "delta_tile", "--form", "similarity", "--hidden", "5"], "delta_tile",
     {"form": "similarity", "hidden": 5}),
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
    (["--top", "crew_tile", "--lanes", "4", "--multipliers", "3"], "3 CREW multipliers do not divide the 4 lanes"),
    (["--top", "delta_tile", "--form", "sparse"], "must be one of"),
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


@pytest.mark.parametrize("block,options,dataflow", [
    ("crew_tile", {"multipliers": 2, "unique_max": 9}, {"crew": CrewShape(9, 2)}),
    ("delta_tile", {}, {"delta": True}),
    ("delta_tile", {"form": "similarity"}, {"delta": True, "similarity": True}),
])
def test_dataflow_tiles_are_the_tiles_run_simulates(block, options, dataflow):
    """The registry's CREW and delta tiles are the Tile of the TileParams that ``fuzzymemo run --scheme``
    builds (CompiledModel), shape and formats from the options, memories zero."""
    shape = {"cell": "gru", "input_size": 6, "hidden": 5, "slots": 2, "lanes": 4, "max_steps": 100}
    tile = registry.build(block, {**shape, **options, "weight": "Q6.4"})
    config = FixedPointConfig(weight=QFormat(6, 4))
    assert tile.params == TileParams(**shape, config=config, **dataflow)
    Fragment.get(tile, None)   # and it elaborates
