# amaranth: UnusedElaboratable=no
"""End-to-end tests of the delta tile (``scheme="delta"``, docs/delta.md) on Icarus and Verilator: slices of
every bundled workload and a 2-layer bidirectional network with random valid gaps and back-pressure, every
h_t of every layer bit-exact with the golden delta model, theta 0 equal to the fixed-point baseline, the
inputs-changed counter and the cycle model exact, and ``fuzzymemo run --scheme delta``'s JSON."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from e2e_cases import SLICES, assert_exact, bidir_data, bidir_model, sliced, workload_model

from fuzzymemo.cli import main
from fuzzymemo.compiled import DELTA, SIMILARITY, CompiledModel
from golden_model.delta import input_counts
from golden_model.reuse_calibration import input_ranges
from sim.runner import pytest_simulators


@functools.cache
def delta_for(name: str, scheme: str = DELTA) -> CompiledModel:
    model = workload_model(name)[0] if name in SLICES else bidir_model("gru" if name == "bidir_gru" else "lstm")
    return CompiledModel(model, scheme=scheme)


def _changed(run) -> int:
    counts = input_counts(run.stats)
    return int(counts.inputs.sum() - counts.unchanged.sum())


@pytest.mark.parametrize("sim", pytest_simulators())
@pytest.mark.parametrize("name,theta_x,theta_h", [("japanese_vowels", 24, 16), ("basic_motions", 8, 12),
                                                   ("digits", 16, 24), ("bidir", 20, 10), ("bidir_gru", 16, 8)])
def test_delta_tile_is_exact(sim, name, theta_x, theta_h):
    x, lengths = bidir_data() if name.startswith("bidir") else sliced(name)[1:]
    compiled = delta_for(name)
    run = compiled.run(sim, x, lengths, threshold=theta_x, theta_h=theta_h, valid_prob=0.7, ready_prob=0.5, seed=3,
                       run_name=f"delta-{name}")
    assert_exact(run)
    assert run.counters["x_changed"] + run.counters["h_changed"] == _changed(run)
    assert 0 < run.stats.multiplications_avoided() < 1


@pytest.mark.parametrize("sim", pytest_simulators())
@pytest.mark.parametrize("name,levels", [("basic_motions", 16), ("bidir", 12)])
def test_similarity_tile_is_exact(sim, name, levels):
    """The similarity form with ranges measured on the data (golden_model.reuse_calibration.input_ranges)."""
    x, lengths = bidir_data() if name == "bidir" else sliced(name)[1:]
    compiled = delta_for(name, SIMILARITY)
    model = compiled.model
    x_q = model.quantize_input(x)
    ranges = input_ranges(model, x_q, model.run(x_q, lengths), lengths)
    run = compiled.run(sim, x, lengths, threshold=levels, ranges=ranges, valid_prob=0.7, ready_prob=0.5, seed=4,
                       run_name=f"similarity-{name}")
    assert_exact(run)
    assert run.counters["x_changed"] + run.counters["h_changed"] == _changed(run)
    assert run.counters["cycles"] > 0 and 0 < run.stats.multiplications_avoided() < 1


@pytest.mark.parametrize("sim", pytest_simulators())
def test_delta_theta_zero_is_the_baseline_and_cycles_are_the_model(sim):
    model, x, lengths = sliced("digits")
    compiled = delta_for("digits")
    run = compiled.run(sim, x, lengths, threshold=0, run_name="delta-zero")
    assert_exact(run)
    np.testing.assert_array_equal(run.outputs[-1], model.run(model.quantize_input(x), lengths).out)
    assert run.counters["cycles"] == compiled.predicted_cycles(run)


@pytest.mark.verilator
def test_cli_run_delta(tmp_path, capsys):
    out = tmp_path / "delta.json"
    assert main(["run", "--workload", "basic_motions", "--scheme", "delta", "--threshold", "8", "--theta-h", "12",
                 "--limit", "2", "--quiet", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    for key in ("scheme", "bit_exact", "reuse", "speedup", "metric_loss", "expected_speedup", "inputs_unchanged"):
        assert key in r, key
    assert r["scheme"] == "delta" and r["bit_exact"] and r["counters_match_golden"]
    assert r["theta_x"] == [8] and r["theta_h"] == [12]
    assert r["speedup"] == pytest.approx(r["cycles_baseline"] / r["cycles_delta"])
    assert r["cycles_delta"] == r["cycles_model_delta"]
    assert "bit-exact vs golden model: yes" in capsys.readouterr().out


@pytest.mark.icarus
def test_cli_run_similarity(tmp_path):
    out = tmp_path / "similarity.json"
    assert main(["run", "--workload", "digits", "--scheme", "similarity", "--threshold", "64", "--limit", "2",
                 "--sim", "icarus", "--quiet", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["scheme"] == "similarity" and r["bit_exact"] and r["counters_match_golden"] and r["levels"] == [64, 64]
    assert r["cycles_delta"] == r["cycles_model_delta"]


@pytest.mark.parametrize("argv, message", [
    (["--scheme", "delta", "--threshold", "300"], "do not fit the tile's 8-bit threshold registers"),
    (["--scheme", "delta", "--threshold", "-1"], "theta_x) must be an integer >= 0"),
    (["--theta-h", "3"], "--theta-h is a threshold of the delta tile"),
])
def test_cli_delta_bad_input(argv, message, capsys):
    assert main(["run", "--workload", "digits", "--limit", "1", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
