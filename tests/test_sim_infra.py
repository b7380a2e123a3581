# amaranth: UnusedElaboratable=no
"""sim.streams.PayloadCodec and sim.scoreboard.Scoreboard (no simulator needed)."""

from __future__ import annotations

import pytest
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from hw.memo_table import ThresholdForm, memo_layouts
from sim.runner import Design, port_info, shape_json
from sim.scoreboard import Scoreboard, ScoreboardError
from sim.streams import PayloadCodec, stream_codec


def test_codec_struct_roundtrip_matches_amaranth_layout():
    layout = memo_layouts(12, 12, 8)["response"]
    codec = PayloadCodec.from_shape(layout)
    value = {"hit": 1, "y": -2048, "index": 11, "b": 127}
    raw = codec.pack(value)
    assert codec.unpack(raw) == value
    # same bits as Amaranth's own packing
    assert raw == layout.const(value).as_value().value


def test_codec_nested_and_array():
    layout = data.StructLayout({"a": signed(3), "arr": data.ArrayLayout(unsigned(2), 3),
                                "s": data.StructLayout({"x": unsigned(1), "y": signed(4)})})
    codec = PayloadCodec.from_shape(layout)
    value = {"a": -4, "arr": [3, 0, 1], "s": {"x": 1, "y": -8}}
    assert codec.unpack(codec.pack(value)) == value
    assert codec.pack(value) == layout.const(value).as_value().value


def test_codec_errors():
    codec = PayloadCodec.from_shape(data.StructLayout({"a": signed(3), "b": unsigned(2)}))
    with pytest.raises(ValueError, match="does not fit a signed 3-bit field"):
        codec.pack({"a": 4, "b": 0})
    with pytest.raises(KeyError, match="missing"):
        codec.pack({"a": 1})
    with pytest.raises(KeyError, match="unknown payload fields"):
        codec.pack({"a": 1, "b": 0, "c": 1})
    assert PayloadCodec.from_shape(ThresholdForm).width == 1


def test_port_info_and_stream_codec():
    from hw.bnn import BnnUnit
    ports = port_info(BnnUnit(8, 40))
    assert {"i__valid", "i__ready", "i__payload", "o__valid", "o__ready", "o__payload"} <= set(ports)
    assert ports["i__payload"]["dir"] == "in" and ports["i__ready"]["dir"] == "out"
    assert stream_codec({"ports": ports}, "o").signed
    assert shape_json(signed(7)) == {"kind": "int", "width": 7, "signed": True}


def test_design_build_dir_depends_on_config():
    a = Design(name="x", config={"n": 1}, toplevel="x", verilog="module x; endmodule")
    b = Design(name="x", config={"n": 2}, toplevel="x", verilog="module x; endmodule")
    assert a.build_dir("icarus") != b.build_dir("icarus")
    assert a.build_dir("icarus").parent == a.build_dir("verilator").parent


def test_scoreboard_in_order():
    sb = Scoreboard("t")
    sb.expect_many([1, 2, 3])
    for v in (1, 2, 3):
        sb.receive(v)
    sb.check()
    assert sb.ok and sb.matched == 3


def test_scoreboard_reports_mismatch_missing_and_extra():
    sb = Scoreboard("t")
    sb.expect(1, "first")
    sb.expect(2)
    sb.receive(5)
    with pytest.raises(ScoreboardError, match=r"#0: expected 1, received 5 \[first\]"):
        sb.check()
    sb2 = Scoreboard("t2")
    sb2.expect(1)
    with pytest.raises(ScoreboardError, match="1 missing"):
        sb2.check()
    sb2.check(complete=False)
    sb3 = Scoreboard("t3")
    sb3.receive(7)
    with pytest.raises(ScoreboardError, match="1 unexpected"):
        sb3.check()
