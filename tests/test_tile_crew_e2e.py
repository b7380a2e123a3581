# amaranth: UnusedElaboratable=no
"""End-to-end tests of the CREW tile (``scheme="crew"``, docs/crew.md) on Icarus and Verilator: slices of
every bundled workload and a 2-layer bidirectional network with random valid gaps and back-pressure, every
h_t of every layer bit-exact (CREW changes no output: the baseline tile's and the golden model's), the
cycle model exact, run-time loading through ``wr``, and ``fuzzymemo run --scheme crew``'s JSON."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from e2e_cases import SLICES, assert_exact, bidir_data, bidir_model, sliced, workload_model

from fuzzymemo.cli import main
from fuzzymemo.compiled import CREW, CompiledModel
from golden_model.fixed_model import FixedPointNetwork
from golden_model.network import Network
from sim.runner import pytest_simulators


@functools.cache
def crew_for(name: str) -> CompiledModel:
    return CompiledModel(workload_model(name)[0] if name in SLICES else bidir_model(), scheme=CREW)


@pytest.mark.parametrize("sim", pytest_simulators())
@pytest.mark.parametrize("name", [*SLICES, "bidir"])
def test_crew_tile_is_exact(sim, name):
    x, lengths = bidir_data() if name == "bidir" else sliced(name)[1:]
    compiled = crew_for(name)
    run = compiled.run(sim, x, lengths, valid_prob=0.7, ready_prob=0.5, seed=3, run_name=f"crew-{name}")
    assert_exact(run)
    golden = compiled.model.run(compiled.model.quantize_input(x), lengths).out   # the fixed-point baseline
    np.testing.assert_array_equal(run.outputs[-1], golden)
    assert run.counters["products"] > 0
    assert 0 < run.stats.multiplications_avoided() < 1


@pytest.mark.parametrize("sim", pytest_simulators())
def test_crew_cycle_model_and_runtime_loading(sim):
    """Without gaps the cycles are the cycle model's exactly; a model of the same shape whose neurons are
    permuted per input (the same unique values per input, other indices) runs after loading it through wr."""
    digits, x, lengths = sliced("digits")
    compiled = crew_for("digits")
    run = compiled.run(sim, x, lengths, run_name="crew-cycles")
    assert_exact(run)
    assert run.counters["cycles"] == compiled.predicted_cycles(run)
    rng = np.random.default_rng(5)
    layers = [[{k: rng.permutation(getattr(w, k)) if k.startswith("w") else getattr(w, k)
                for k in ("w_ih", "w_hh", "b_ih", "b_hh")} for w in layer] for layer in digits.net.layers]
    other = FixedPointNetwork(Network.build(digits.net.cell, layers), digits.config)
    loaded = compiled.run(sim, x, lengths, load=other, valid_prob=0.8, run_name="crew-load")
    assert_exact(loaded)
    assert not np.array_equal(loaded.outputs[-1], run.outputs[-1])


@pytest.mark.verilator
def test_cli_run_crew(tmp_path, capsys):
    out = tmp_path / "crew.json"
    assert main(["run", "--workload", "basic_motions", "--scheme", "crew", "--limit", "2", "--quiet",
                 "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    for key in ("scheme", "bit_exact", "speedup", "multiplications_avoided", "weight_bits_baseline",
                "weight_bits_scheme", "adder_lanes", "multipliers", "cycles_baseline", "cycles_crew"):
        assert key in r, key
    assert r["scheme"] == "crew" and r["bit_exact"] and r["baseline_lanes"] == r["multipliers"]
    assert r["speedup"] == pytest.approx(r["cycles_baseline"] / r["cycles_crew"])
    assert r["cycles_crew"] == r["cycles_model_crew"] and r["accuracy_rtl"] == r["accuracy_baseline_rtl"]
    assert "bit-exact vs golden model: yes" in capsys.readouterr().out


def test_cli_crew_rejects_memo_options(capsys):
    assert main(["run", "--workload", "digits", "--multipliers", "2", "--limit", "1"]) == 2
    assert "--multipliers is a parameter of the CREW tile" in capsys.readouterr().err


def test_cli_run_rejects_another_schemes_calibration(tmp_path, capsys):
    """--scheme memo with a delta calibration is one clear line, exit 2, before any build."""
    from golden_model.reuse_calibration import Calibration

    cal = tmp_path / "delta.json"
    Calibration("none", (8.0,), "absolute", scheme="delta", parameters={"theta_h": [8.0]}).save(cal)
    assert main(["run", "--workload", "basic_motions", "--scheme", "memo", "--calibration", str(cal),
                 "--limit", "1"]) == 2
    err = capsys.readouterr().err
    assert "calibrates the delta scheme: run it with --scheme delta" in err and err.count("\n") == 1
