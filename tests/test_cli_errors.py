"""Bad input on the command line: one clear line naming the problem and exit status 2, before anything
runs (issue 14's list), and nothing half-written."""

import json

import numpy as np
import pytest

from fuzzymemo.cli import main
from fuzzymemo.commands.args import write_json


@pytest.fixture
def files(tmp_path):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_dir").mkdir()
    return tmp_path


@pytest.mark.parametrize("argv,message", [
    (["bench", "--repeat", "0"], "--repeat: must be at least 1, not 0"),
    (["bench", "--paper-scale", "--workload", "digits"], "--paper-scale is its own network and data"),
    (["run", "--workload", "digits", "--lanes", "0"], "--lanes: must be at least 1, not 0"),
    (["run", "--workload", "digits", "--valid-prob", "0"], "--valid-prob: must be a finite number > 0"),
    (["run", "--workload", "digits", "--ready-prob", "1.5"], "--ready-prob: must be in (0, 1], not 1.5"),
    (["run", "--workload", "digits", "--json", "{dir}/a_dir"], "a_dir is a directory, not a file"),
    (["sweep", "--workload", "digits", "--json", "{dir}/a_dir"], "a_dir is a directory, not a file"),
    (["sweep", "--workload", "digits", "--threads", "0"], "--threads: must be at least 1, not 0"),
    (["bench", "--threads", "two"], "--threads: takes a whole number, not 'two'"),
    (["calibrate", "--workload", "digits", "--budget", "nan"], "--budget: must be a finite number >= 0, not nan"),
    (["calibrate", "--workload", "digits", "--budget", "inf"], "--budget: must be a finite number >= 0, not inf"),
    (["synth", "--top", "bnn", "--clock-mhz", "-5"], "--clock-mhz: must be a finite number > 0, not -5"),
    (["synth", "--top", "bnn", "--wrapper", "uart", "--baud", "0"], "--baud: must be at least 1, not 0"),
    (["generate", "--top", "bnn", "--out", "{dir}/a_file"], "a_file is a file, not a folder"),
    (["info", "--workload", "digits", "--limit", "-1"], "--limit: must be at least 1, not -1"),
    (["info", "--workload", "digits", "--split", "train"], "--split: invalid choice: 'train'"),
    (["info", "--model", "{dir}/a_file", "--data", "{dir}/a_file", "--split", "test"],
     "--split goes with --workload"),
    (["run", "--workload", "digits", "--lanes", "64"], "64 lanes exceed the network's widest row part"),
    (["crew", "--workload", "digits", "--clusters", "0"], "--clusters: must be at least 1, not 0"),
    (["crew", "--workload", "digits", "--clusters", "auto", "--budget", "nan"],
     "--budget: must be a finite number >= 0, not nan"),
    (["crew", "--workload", "digits", "--json", "{dir}/a_dir"], "a_dir is a directory, not a file"),
    (["run", "--workload", "digits", "--energy-table", "{dir}/a_file"], "a_file: not valid JSON"),
    (["run", "--workload", "digits", "--energy-table", "{dir}/none.toml"], "none.toml: cannot read it"),
    (["run", "--workload", "digits", "--limit", "1", "--limit", "2"], "option --limit given twice"),
    (["calibrate", "--workload", "digits", "--budget", "1", "--budget=2"], "option --budget given twice"),
    (["calibrate", "--workload", "digits", "--bud", "1", "--budget", "2"], "option --budget given twice"),
    (["sweep", "--workload", "digits", "--quiet", "--quiet"], "option --quiet given twice"),
    (["run", "--workload", "digits", "--scheme", "crew", "--calibration", "{dir}/a_file"],
     "--scheme crew is exact: it takes no --calibration or --threshold"),
    (["calibrate", "--workload", "digits", "--scheme", "delta", "--thresholds", "0,300"],
     "delta threshold 300 does not fit the tile's 8-bit threshold registers (at most 255 activation LSBs)"),
])
def test_bad_arguments_exit_2_with_one_line(files, capsys, argv, message):
    argv = [a.format(dir=files) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err   # no usage block, no progress before the error


def test_repeatable_options_may_repeat(capsys):
    # --predictor collects every occurrence (sweep), so giving it twice is no error
    assert main(["sweep", "--workload", "digits", "--limit", "2", "--predictor", "oracle", "--predictor", "bnn",
                 "--thresholds", "0.1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "oracle" in out and "bnn" in out


def test_out_of_range_labels_are_refused(tmp_path, capsys):
    from golden_model.workloads import load_workload

    w = load_workload("basic_motions")
    y = w.y.copy()
    y[3] = 99
    np.savez(tmp_path / "data.npz", x=w.x[:5], y=y[:5], lengths=w.lengths[:5])
    w.network.save(tmp_path / "model.npz")
    for command in ("info", "width-study", "sweep"):
        assert main([command, "--model", str(tmp_path / "model.npz"), "--data", str(tmp_path / "data.npz")]) == 2
        assert "label 99 of sequence 3 is outside the readout's classes 0..3" in capsys.readouterr().err


def test_absolute_form_has_its_own_default_grid(capsys):
    assert main(["sweep", "--workload", "digits", "--limit", "20", "--form", "absolute", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "30" in out and "0.75" not in out


def test_write_json_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}

    class Unserialisable:
        pass

    with pytest.raises(TypeError):
        write_json(target, {"a": Unserialisable()})
    assert json.loads(target.read_text()) == {"a": 1}        # the old file, whole
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary left


def test_an_internal_error_says_it_is_a_bug(monkeypatch, tmp_path, capsys):
    import fuzzymemo.commands.schemes as schemes_command

    def broken(args):
        raise KeyError("boom")

    monkeypatch.setenv("FUZZYMEMO_CACHE", str(tmp_path))
    monkeypatch.setattr(schemes_command, "run_schemes", broken)
    assert main(["schemes"]) == 1
    err = capsys.readouterr().err
    assert "internal error (a bug, please report it): KeyError" in err
    logs = list((tmp_path / "logs").iterdir())
    assert len(logs) == 1 and "KeyError: 'boom'" in logs[0].read_text() and str(logs[0]) in err


def test_ctrl_c_is_one_line(monkeypatch, capsys):
    import fuzzymemo.commands.schemes as schemes_command

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(schemes_command, "run_schemes", interrupted)
    assert main(["schemes"]) == 130
    assert capsys.readouterr().err.strip() == "fuzzymemo schemes: interrupted"


def test_inputs_beyond_the_formats_are_reported(tmp_path, capsys):
    from golden_model.workloads import load_workload

    w = load_workload("japanese_vowels")   # formats stored with the model, calibrated on its training split
    np.savez(tmp_path / "data.npz", x=w.x[:10] * 20, y=w.y[:10], lengths=w.lengths[:10])
    w.network.save(tmp_path / "model.npz")
    assert main(["info", "--model", str(tmp_path / "model.npz"), "--data", str(tmp_path / "data.npz")]) == 0
    err = capsys.readouterr().err
    assert "input values" in err and "saturate" in err
    assert main(["info", "--workload", "japanese_vowels"]) == 0
    assert "saturate" not in capsys.readouterr().err


def test_small_usability_defects(files, capsys, tmp_path):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("fuzzymemo ")
    assert main(["info", "--model", str(files / "a_dir"), "--data", str(files / "a_file")]) == 2
    assert f"model file {files / 'a_dir'} is a directory" in capsys.readouterr().err
    assert main(["generate", "--top", "bnn", "--out", str(tmp_path / "v"), "-p", "width=8", "--width", "16"]) == 2
    assert "option width given twice: --param width=8 and --width 16" in capsys.readouterr().err
    assert main(["sweep", "--workload", "digits", "--limit", "10", "--thresholds", "0", "--quiet",
                 "--plot", str(tmp_path / "p")]) == 0
    assert f"wrote {tmp_path / 'p.png'}" in capsys.readouterr().out and (tmp_path / "p.png").exists()
    assert main(["run", "--workload", "basic_motions", "--max-steps", "50", "--threshold", "0.1"]) == 2
    assert "at most 50 (max_steps; fuzzymemo run --max-steps)" in capsys.readouterr().err


@pytest.mark.icarus
def test_run_a_model_without_a_readout(tmp_path, capsys):
    """A network without a head still runs through both tiles bit-exact; its accuracy is None (it failed
    after the whole simulation: issue 14 defect 12)."""
    from support import normal_network

    net = normal_network("gru", 2, 3, seed=4)
    net.save(tmp_path / "m.npz")
    x = np.random.default_rng(0).uniform(-1, 1, (2, 4, 2))
    np.savez(tmp_path / "d.npz", x=x, y=np.zeros(2, dtype=np.int64))
    out = tmp_path / "r.json"
    assert main(["run", "--model", str(tmp_path / "m.npz"), "--data", str(tmp_path / "d.npz"), "--sim", "icarus",
                 "--threshold", "0.1", "--quiet", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["bit_exact"] and r["accuracy_rtl"] is None and r["accuracy_golden"] is None
    assert "no readout head" in capsys.readouterr().out


def test_memo_mac_utilization_counts_each_layers_macs():
    """issue 14 defect 17: the memo tile's MAC utilization exceeded 100% when layers of different input
    sizes reuse differently; the computed MACs are now counted pass by pass."""
    from types import SimpleNamespace

    from fuzzymemo.commands.run import _computed_macs

    passes = [{"n_x": 8, "counters": {"evaluations": 640, "reuses": 600}},     # small layer: reuses a lot
              {"n_x": 32, "counters": {"evaluations": 640, "reuses": 0}}]      # big layer: computes all
    macs = _computed_macs(SimpleNamespace(passes=passes), hidden=16)
    assert macs == 40 * 24 + 640 * 48
    global_estimate = (1 - 600 / 1280) * 640 * (24 + 48)     # the old formula: one reuse for both layers
    assert macs > global_estimate


@pytest.mark.icarus
def test_builds_say_so(tmp_path, monkeypatch, capsys):
    """A build that takes minutes prints that it is building (it printed nothing: issue 14 defect 14)."""
    from support import normal_network

    from sim import runner

    monkeypatch.setattr(runner, "SIM_BUILD", tmp_path / "builds")
    normal_network("lstm", 2, 2, seed=5).save(tmp_path / "m.npz")
    np.savez(tmp_path / "d.npz", x=np.zeros((1, 3, 2)), y=np.zeros(1, dtype=np.int64))
    assert main(["run", "--model", str(tmp_path / "m.npz"), "--data", str(tmp_path / "d.npz"), "--sim", "icarus",
                 "--threshold", "0"]) == 0
    err = capsys.readouterr().err
    assert err.count("[run] building tile_lstm_") == 2 and err.count("[run] built tile_lstm_") == 2


def test_a_simulator_build_failure_is_one_line(monkeypatch, capsys):
    from sim import runner

    def broken_build(design, sim, **kwargs):
        raise runner.SimulationError(f"{sim} build of {design.name} failed (exit 1); log /x/build.log:\nerror: ...")

    monkeypatch.setattr(runner, "build", broken_build)
    assert main(["run", "--workload", "digits", "--limit", "1", "--threshold", "0.1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fuzzymemo run: error: verilator build of tile_lstm_base") and "\n" not in err
    assert "log /x/build.log" in err


def test_paper_scale_workload_and_splits_on_the_command_line(capsys):
    """text_lm and --split reach every command that takes a workload; a few windows only (no full sweep)."""
    assert main(["info", "--workload", "text_lm", "--limit", "4"]) == 0
    out = capsys.readouterr().out
    assert "hidden 256" in out and "data: 4 sequences, up to 48 steps" in out
    assert main(["sweep", "--workload", "text_lm", "--limit", "2", "--thresholds", "0,0.3", "--quiet"]) == 0
    assert "bnn" in capsys.readouterr().out
    assert main(["info", "--workload", "basic_motions", "--split", "calibration"]) == 0
    assert "data: 10 sequences" in capsys.readouterr().out
