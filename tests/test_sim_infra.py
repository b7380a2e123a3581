# amaranth: UnusedElaboratable=no
"""sim.codec.PayloadCodec, sim.scoreboard.Scoreboard, the sans-IO tile protocol and the pause generators
(no simulator needed)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from hw.memo_table import ThresholdForm, memo_layouts
from sim import runner
from sim.codec import PayloadCodec, stream_codec
from sim.runner import Design, port_info, shape_json
from sim.scoreboard import Scoreboard, ScoreboardError


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
    with pytest.raises(ValueError, match=r"payload.a: 4 does not fit 3 bits signed \(-4..3\)"):
        codec.pack({"a": 4, "b": 0})
    with pytest.raises(ValueError, match="missing"):
        codec.pack({"a": 1})
    assert codec.pack({"a": 1}, fill=True) == 1
    with pytest.raises(ValueError, match="has no field 'c'"):
        codec.pack({"a": 1, "b": 0, "c": 1})
    with pytest.raises(ValueError, match="not an integer"):
        codec.pack({"a": "1", "b": 0})
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


def test_verilator_optimization_has_its_own_build_folder(monkeypatch):
    a = Design(name="x", config={"n": 1}, toplevel="x", verilog="module x; endmodule")
    monkeypatch.setenv(runner.OPT_ENV, runner.OPT_FAST)
    assert a.build_dir("verilator").name == "verilator" and runner.verilator_opt() == "-O2"
    monkeypatch.setenv(runner.OPT_ENV, "-O1")
    assert a.build_dir("verilator").name == "verilator-O1" and a.build_dir("icarus").name == "icarus"
    assert a.build_dir("verilator", waves=True).name == "verilator-O1-waves"
    monkeypatch.setenv(runner.OPT_ENV, "-O9")
    with pytest.raises(ValueError, match=r"FUZZYMEMO_VERILATOR_OPT='-O9': expected one of -O0, -O1"):
        runner.verilator_opt()


def test_default_run_takes_each_case_on_one_simulator_alternating():
    """tests/conftest.py: without --full a case parametrized over both simulators runs once, the cases of
    a module alternate between the two, and the tests marked slow are left out."""
    def collected(*options):
        done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                               "tests/test_tile_e2e.py", "tests/test_tile_chain_e2e.py", *options],
                              capture_output=True, text=True, cwd=runner.REPO_ROOT, check=True)
        return [line for line in done.stdout.splitlines() if "::" in line]

    def cases(ids):
        return [re.sub(r"-?\b(icarus|verilator)\b-?", "", i) for i in ids if re.search(r"icarus|verilator", i)]

    default, full = collected(), collected("--full")
    e2e = [i for i in default if "test_tile_e2e" in i]
    assert sorted(cases(e2e)) == sorted(set(cases(i for i in full if "test_tile_e2e" in i)))
    assert any("icarus" in i for i in e2e) and any("verilator" in i for i in e2e)
    assert len(full) > len(default)
    assert "tests/test_tile_chain_e2e.py::test_cli_layers_in_hardware[memo]" in set(full) - set(default)


def test_build_stamp_names_the_toolchain():
    """A cached model is rebuilt when the cocotb installation it loads its VPI library from (or the
    simulator) changes: a model built by a since-deleted virtual environment cannot load."""
    import cocotb

    ident = runner.toolchain_identity("verilator")
    assert ident["cocotb"][0] == str(Path(cocotb.__file__).resolve().parent)
    assert ident["cocotb"][1] == cocotb.__version__ and ident["simulator"]
    assert runner.toolchain_identity("icarus")["simulator"] != ident["simulator"] or not shutil.which("iverilog")


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


def test_tile_protocol_beats_and_controls():
    from sim.tile_protocol import controls, sequence_beats, x_beats

    beats = sequence_beats(np.array([[1, 2], [3, 4]]))
    assert beats == [{"data": 1, "first": 1, "last": 0}, {"data": 2, "first": 0, "last": 0},
                     {"data": 3, "first": 0, "last": 0}, {"data": 4, "first": 0, "last": 1}]
    assert [b["first"] for b in x_beats([np.ones((1, 2)), np.ones((2, 1))])] == [1, 0, 1, 0]
    assert controls(slot=1, n_x=2, memo_enable=True, theta=3, form="absolute") == \
        {"slot": 1, "n_x": 2, "memo_enable": 1, "theta": 3, "form": 1}
    with pytest.raises(ValueError, match="form must be one of"):
        controls(slot=0, n_x=1, form="other")


def test_theta_registers_pack_one_threshold_per_gate():
    from sim.tile_protocol import chain_controls, controls, theta_register

    assert theta_register(5) == 5 and theta_register(5, 3) == 5 | 5 << 16 | 5 << 32
    assert theta_register((1, 2, 3, 4), 4) == 1 | 2 << 16 | 3 << 32 | 4 << 48
    assert controls(slot=0, n_x=1, theta=(7, 0, 1), gates=3)["theta"] == 7 | 1 << 32
    # a layer chain: layer l from bit l * gates * 16; an int is every gate's threshold
    assert chain_controls(memo_enable=1, theta=[(1, 2, 3), 9], gates=3)["theta"] == \
        theta_register((1, 2, 3), 3) | theta_register(9, 3) << 48
    with pytest.raises(ValueError, match="2 per-gate thresholds for a threshold input of 3 gates"):
        theta_register((1, 2), 3)
    with pytest.raises(ValueError, match="threshold register value 65536 does not fit 16 bits"):
        theta_register(1 << 16, 2)


def test_network_plan_order_reversal_and_concatenation():
    """A fake tile whose h_t is its x_t (n_x = H): the plan must stream layer by layer, forward then
    backward, reverse the backward sequences and re-reverse their outputs, and feed layer l's outputs
    (both directions concatenated) to layer l+1."""
    from sim.tile_protocol import NetworkPlan

    hidden = 2
    rng = np.random.default_rng(0)
    x = rng.integers(-50, 50, (3, 4, hidden))
    lengths = np.array([4, 1, 3])
    plan = NetworkPlan(x, lengths, inputs=[hidden, 2 * hidden], directions=2, hidden=hidden)
    assert [(p.layer, p.direction, p.slot) for p in plan.passes] == [(0, 0, 0), (0, 1, 1), (1, 0, 2), (1, 1, 3)]
    for p in plan.passes:
        seqs = plan.sequences(p)
        assert [s.shape[0] for s in seqs] == lengths.tolist()
        plan.put(p, np.concatenate([s[:, :hidden].reshape(-1) for s in seqs]))
    for b, n in enumerate(lengths):
        np.testing.assert_array_equal(plan.outputs[0][b, :n], np.concatenate([x[b, :n], x[b, :n]], axis=1))
        np.testing.assert_array_equal(plan.outputs[1][b, :n], plan.outputs[0][b, :n, :2 * hidden])
        assert not plan.outputs[1][b, n:].any()
    want = plan.expected_h(plan.passes[1], plan.outputs[0])
    assert [w["data"] for w in want[:hidden]] == x[0, 3].tolist() and want[4 * hidden - 1]["last"] == 1
    assert plan.h_positions(plan.passes[1])[0] == (0, 3, 0)


def test_pause_generators():
    import itertools
    import random

    from sim.streams import pauses

    assert pauses(1.0) is None
    masked = list(itertools.islice(pauses(1.0, mask=0b01, mask_len=2), 6))
    assert masked == [False, True] * 3
    draws = list(itertools.islice(pauses(0.25, rng=random.Random(3)), 4000))
    assert 0.65 < sum(draws) / len(draws) < 0.85
    with pytest.raises(ValueError, match="probability"):
        pauses(0.0)


def test_run_dirs_are_unique_per_call(tmp_path):
    """Two runs of one build with one name (two ``fuzzymemo run`` in one checkout) never share a directory."""
    from types import SimpleNamespace

    from sim.runner import new_run_dir

    built = SimpleNamespace(directory=tmp_path)
    a, b = new_run_dir(built, "cli memo"), new_run_dir(built, "cli memo")
    assert a != b and a.is_dir() and b.is_dir()
    assert a.parent == b.parent == tmp_path / "runs" and a.name.startswith("cli_memo.")


def test_harness_verilog_and_job_roundtrip(tmp_path):
    from sim.harness import HARNESS_TOP, HarnessSpec, harness_verilog, pause_registers
    from sim.job import Pauses, TileJob

    ports = {"x__valid": {"dir": "in", "shape": {"kind": "int", "width": 1, "signed": False}},
             "x__ready": {"dir": "out", "shape": {"kind": "int", "width": 1, "signed": False}},
             "x__payload": {"dir": "in", "shape": {"kind": "int", "width": 6, "signed": False}},
             "h__valid": {"dir": "out", "shape": {"kind": "int", "width": 1, "signed": False}},
             "h__ready": {"dir": "in", "shape": {"kind": "int", "width": 1, "signed": False}},
             "h__payload": {"dir": "out", "shape": {"kind": "int", "width": 5, "signed": False}},
             "slot": {"dir": "in", "shape": {"kind": "int", "width": 2, "signed": False}},
             "busy": {"dir": "out", "shape": {"kind": "int", "width": 1, "signed": False}}}
    spec = HarnessSpec(top="blk", ports=ports, sources=("x",), sink="h")
    assert spec.controls == ["slot"] and spec.outputs == ["busy"]
    text = harness_verilog(spec)
    assert f"module {HARNESS_TOP};" in text and ".slot(ctl_slot)" in text and "wire design_busy = busy;" in text
    assert pause_registers(0.5, 0b101, 3) == (32768, 0b101, 2)
    with pytest.raises(ValueError, match="pause mask"):
        pause_registers(1.0, 0, 4)
    job = TileJob(x=np.arange(24).reshape(2, 3, 4), lengths=np.array([3, 2]), theta=np.array([5]),
                  expected=[np.ones((2, 3, 2), dtype=np.int64)], expected_evaluations=np.array([[40]]),
                  expected_reuses=np.array([[3]]), inputs=[4], directions=1, hidden=2, gates=4, lanes=2,
                  memo_enable=1, form=0, valid=Pauses(0.5, 0b11, 3), wr=[{"mem": 1, "addr": 2, "data": 3}])
    job.save(tmp_path / "job.npz")
    back = TileJob.load(tmp_path / "job.npz")
    assert back.valid == Pauses(0.5, 0b11, 3) and back.ready == Pauses() and back.wr == job.wr
    np.testing.assert_array_equal(back.x, job.x)
    np.testing.assert_array_equal(back.expected[0], job.expected[0])
    with pytest.raises(ValueError, match="mode must be one of"):
        TileJob(**{**back.__dict__, "mode": "fast"})
