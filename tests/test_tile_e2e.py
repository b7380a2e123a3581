# amaranth: UnusedElaboratable=no
"""End-to-end tests of the accelerator tile (hw.tile) run through the compiled model (fuzzymemo.compiled) on Icarus
and Verilator: bundled workloads through the memoizing tile with random valid gaps and back-pressure and
sequences back to back, multi-layer and bidirectional networks layer by layer, memo off = baseline bit
for bit, run-time weight loading through ``wr``, and the host's clear errors before anything runs.

Runs go through the Verilog harness of sim/harness.py (one await per pass) except the Python-driven mode's
test. Every design configuration is built once per simulator (sim.runner caches builds by configuration),
and sequences are cut short in time where the workload's are long (Icarus runs the tile at about 20 k
cycles per second)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from e2e_cases import SLICES, assert_exact, bidir_data, bidir_model, sliced, workload_model

from fuzzymemo.compiled import CompiledModel
from golden_model import intops
from golden_model.calibration import calibrate_formats
from golden_model.fixed_model import FixedPointNetwork
from golden_model.memo import OFF, PREDICTED, MemoPolicy
from golden_model.network import Network
from sim import runner
from sim.runner import pytest_simulators

THRESHOLD = 0.2
#: Random valid gaps on x and back-pressure on h of the workload tests.
VALID_PROB, READY_PROB = 0.7, 0.5


@functools.cache
def compiled_for(name: str, memo: bool, predictor: str = "bnn") -> CompiledModel:
    """The workload's (or the bidirectional test network's) compiled model: one design per configuration."""
    model = workload_model(name)[0] if name in SLICES else bidir_model()
    compiled = CompiledModel(model, predictor=predictor)
    return compiled if memo else compiled.baseline()


# ---------------------------------------------------------------------------------------------- golden side

def _layer_alone(model: FixedPointNetwork, layer: int) -> FixedPointNetwork:
    dirs = [{k: getattr(w, k) for k in ("w_ih", "w_hh", "b_ih", "b_hh")} for w in model.net.layers[layer]]
    return FixedPointNetwork(Network.build(model.net.cell, [dirs]), model.config)


def test_golden_layers_are_what_the_host_feeds_each_layer():
    """Every layer's output of the compiled model's golden run equals that layer run alone on the previous
    layer's output: what the host streams to the tile pass by pass."""
    for model, x, lengths in (sliced("digits"), (bidir_model(), *bidir_data())):
        x_q = model.quantize_input(x)
        compiled = CompiledModel(model)
        for policy in (MemoPolicy(OFF), MemoPolicy(PREDICTED, 0.3)):
            outs, stats = compiled.golden(x_q, lengths, policy)
            assert len(outs) == model.net.num_layers == 2
            feed = x_q
            for li, out in enumerate(outs):
                alone = _layer_alone(model, li).run(feed, lengths, policy, theta_rows=np.full(
                    (1, len(lengths)), policy.thresholds_q(2)[li]))
                np.testing.assert_array_equal(out, alone.out)
                np.testing.assert_array_equal(stats.reuses[:, li], alone.stats.reuses[:, 0])
                feed = out


# ---------------------------------------------------------------------------------- bad input, host side

@pytest.fixture
def no_simulation(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a simulation was started despite the bad input")

    monkeypatch.setattr(runner, "build", refuse)
    monkeypatch.setattr(runner, "run", refuse)


@pytest.mark.parametrize("threshold, form, match", [
    (300.0, intops.RELATIVE, "out of range"),
    (-0.1, intops.RELATIVE, ">= 0"),
    (1.5, intops.ABSOLUTE, "integer"),
    (70000, intops.ABSOLUTE, "out of range"),
    (float("nan"), intops.RELATIVE, "finite"),
])
def test_bad_threshold(no_simulation, threshold, form, match):
    model, x, lengths = sliced("digits")
    compiled = CompiledModel(model)
    with pytest.raises(ValueError, match=match):
        compiled.run("icarus", x, lengths, threshold=threshold, form=form)
    with pytest.raises(ValueError, match=match):   # out of range even with memoization off
        compiled.run("icarus", x, lengths, enable=False, threshold=threshold, form=form)


def test_sequence_longer_than_max_steps(no_simulation):
    model, w = workload_model("japanese_vowels")
    with pytest.raises(ValueError, match=r"steps, the tile's step counter holds at most 8 \(max_steps"):
        CompiledModel(model, max_steps=8).run("icarus", w.x[:3], w.lengths[:3], threshold=0.1)


@pytest.mark.parametrize("other, match", [
    ("digits", r"hidden size 32, the model 16.*2 layer-directions, the tile holds weights for 1.*formats"),
    ("basic_motions", r"LSTM tile, the model is a GRU"),
])
def test_model_does_not_fit(no_simulation, other, match):
    """Another network loaded onto a tile elaborated for japanese_vowels."""
    jv, w = workload_model("japanese_vowels")
    model, _, _ = sliced(other)
    with pytest.raises(ValueError, match="the loaded model does not fit the tile: .*" + match):
        CompiledModel(jv).run("icarus", w.x[:2], w.lengths[:2], threshold=0.1, load=model)


def test_model_too_wide_and_memo_on_baseline(no_simulation):
    digits, x, lengths = sliced("digits")
    base = CompiledModel(digits).baseline()
    with pytest.raises(ValueError, match="memoization asked of a baseline tile"):
        base.check(lengths, MemoPolicy(PREDICTED, 0.1))
    rng = np.random.default_rng(0)
    one_layer = Network.build("lstm", [[{"w_ih": rng.uniform(-1, 1, (64, 8)), "w_hh": rng.uniform(-1, 1, (64, 16)),
                                         "b_ih": np.zeros(64), "b_hh": np.zeros(64)}]])
    narrow = CompiledModel(FixedPointNetwork(one_layer, digits.config))    # I = 8: digits' layer 1 takes 16
    with pytest.raises(ValueError, match="layer 1 takes 16 inputs per step, the tile at most 8"):
        narrow.run("icarus", x, lengths, load=digits)
    with pytest.raises(ValueError, match="prob"):
        base.run("icarus", x, lengths, ready_prob=0)


def test_cli_bad_threshold_before_build(no_simulation, capsys):
    from fuzzymemo.cli import main

    assert main(["run", "--workload", "digits", "--limit", "2", "--threshold", "500"]) == 2
    assert "threshold 500.0 is out of range" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------- in RTL

@pytest.mark.parametrize("sim", pytest_simulators())
@pytest.mark.parametrize("name", list(SLICES))
def test_workload(sim, name):
    """A few sequences of each bundled workload, back to back, with memoization at a threshold that
    reuses, random valid gaps on x and back-pressure on h: every h_t of every layer bit-exact, the
    evaluation and reuse counters equal to the golden model's."""
    _, x, lengths = sliced(name)
    run = compiled_for(name, True).run(sim, x, lengths, threshold=THRESHOLD, valid_prob=VALID_PROB,
                                       ready_prob=READY_PROB, seed=3, run_name=f"e2e-{name}")
    assert_exact(run)
    assert run.counters["reuses"] > 0


@pytest.mark.parametrize("sim", pytest_simulators())
def test_low_rank_predictor(sim):
    """The low-rank front end on the 2-layer digits slice (two slots) at absolute output-rule thresholds, one
    per gate (a different set per layer), with gaps and back-pressure: bit-exact, counters equal to the
    golden model's."""
    _, x, lengths = sliced("digits")
    per_gate = ((8, 4, 12, 6), (6, 10, 4, 8))
    run = compiled_for("digits", True, "low-rank").run(sim, x, lengths, threshold=per_gate, form=intops.ABSOLUTE,
                                                       valid_prob=VALID_PROB, ready_prob=READY_PROB, seed=4,
                                                       run_name="e2e-low-rank")
    assert_exact(run)
    assert run.counters["reuses"] > 0


@pytest.mark.parametrize("sim", pytest_simulators())
def test_bnn_planes_front_end(sim):
    """The bnn-planes front end (2 residual planes, the output rule with a per-neuron gain): a few
    japanese_vowels sequences with gaps and back-pressure, bit-exact, counters equal to the golden model's."""
    model, x, lengths = sliced("japanese_vowels")
    compiled = CompiledModel(model, predictor="bnn-planes", predictor_params={"planes": 2})
    run = compiled.run(sim, x, lengths, threshold=THRESHOLD, valid_prob=VALID_PROB, ready_prob=READY_PROB,
                       seed=4, run_name="e2e-bnn-planes")
    assert_exact(run)
    assert run.counters["reuses"] > 0


@pytest.mark.parametrize("sim", pytest_simulators())
def test_top_k_front_end(sim):
    """The top-k predictor's front end (hw/tile_top_k.py): a few japanese_vowels sequences back to back with
    random valid gaps and back-pressure, bit-exact, counters equal to the golden model's, real reuse."""
    _, x, lengths = sliced("japanese_vowels")
    compiled = CompiledModel(workload_model("japanese_vowels")[0], predictor="top-k")
    run = compiled.run(sim, x, lengths, threshold=THRESHOLD, valid_prob=VALID_PROB, ready_prob=READY_PROB, seed=4,
                       run_name="e2e-top-k")
    assert_exact(run)
    assert run.counters["reuses"] > 0


@pytest.mark.parametrize("sim", pytest_simulators())
def test_low_precision_predictor(sim):
    """The low-precision front end (4-bit weights and inputs, two beats per decision) on the basic_motions
    slice (GRU) at an absolute output-rule threshold, with gaps and back-pressure: bit-exact, counters equal
    to the golden model's."""
    _, x, lengths = sliced("basic_motions")
    run = compiled_for("basic_motions", True, "low-precision").run(
        sim, x, lengths, threshold=8, form=intops.ABSOLUTE, valid_prob=VALID_PROB, ready_prob=READY_PROB, seed=6,
        run_name="e2e-low-precision")
    assert_exact(run)
    assert run.counters["reuses"] > 0


@pytest.mark.parametrize("sim", pytest_simulators())
def test_bidirectional_two_layers(sim):
    """2-layer bidirectional LSTM, variable lengths (1..6): backward directions stream reversed."""
    x, lengths = bidir_data()
    run = compiled_for("bidir", True).run(sim, x, lengths, threshold=0.3, form=intops.RELATIVE, valid_prob=0.6,
                                          ready_prob=0.6, seed=5, run_name="bidir")
    assert_exact(run)
    assert [p["slot"] for p in run.passes] == [0, 1, 2, 3]


@pytest.mark.parametrize("sim", pytest_simulators())
def test_python_driven_mode(sim):
    """The bare tile driven from Python every cycle (mode ``python``: cocotb stream drivers with pause
    generators, the stream protocol checked from Python) gives the same outputs and counters as the
    harness run of the same sequences, with valid gaps, back-pressure and a periodic pause pattern."""
    _, x, lengths = sliced("japanese_vowels")
    x, lengths = x[:2], lengths[:2]
    compiled = compiled_for("japanese_vowels", True)
    runs = [compiled.run(sim, x, lengths, threshold=THRESHOLD, valid_prob=0.8, ready_prob=0.6,
                         valid_mask=(0b1101, 4), ready_mask=(0b10111, 5), seed=9, harness=harness,
                         run_name=f"mode-{'harness' if harness else 'python'}")
            for harness in (False, True)]
    for run in runs:
        assert_exact(run)
    assert [p["counters"]["evaluations"] for p in runs[0].passes] == \
        [p["counters"]["evaluations"] for p in runs[1].passes]
    assert runs[0].counters["reuses"] == runs[1].counters["reuses"] > 0


@pytest.mark.parametrize("sim", pytest_simulators())
def test_memo_off_equals_baseline(sim):
    """The memoizing tile with memo_enable low gives exactly the baseline tile's outputs (and the
    un-memoized golden model's), whatever the threshold inputs say."""
    model, x, lengths = sliced("digits")
    x, lengths = x[:2], lengths[:2]
    off = compiled_for("digits", True).run(sim, x, lengths, enable=False, threshold=0.75, ready_prob=0.7,
                                           run_name="memo-off")
    base = compiled_for("digits", False).run(sim, x, lengths, threshold=0.75, run_name="baseline")
    assert_exact(off)
    assert_exact(base)
    assert off.counters["reuses"] == 0
    for a, b in zip(off.outputs, base.outputs, strict=True):
        np.testing.assert_array_equal(a, b)
    golden = model.run(model.quantize_input(x), lengths).out
    np.testing.assert_array_equal(base.outputs[-1], golden)


@pytest.mark.parametrize("sim", pytest_simulators())
def test_runtime_loading(sim):
    """A tile elaborated with the digits weights runs another model of the same shape after loading it
    through the wr stream (every word of every memory, with random valid gaps)."""
    digits, x, lengths = sliced("digits")
    rng = np.random.default_rng(11)
    net = digits.net
    layers = [[{k: rng.permutation(getattr(w, k).ravel()).reshape(getattr(w, k).shape)
                for k in ("w_ih", "w_hh", "b_ih", "b_hh")} for w in layer] for layer in net.layers]
    other = FixedPointNetwork(Network.build(net.cell, layers), digits.config)
    run = compiled_for("digits", True).run(sim, x, lengths, threshold=THRESHOLD, load=other, valid_prob=0.8,
                                           run_name="runtime-load")
    assert_exact(run)
    base_out = digits.run(digits.quantize_input(x), lengths, MemoPolicy(PREDICTED, THRESHOLD)).out
    assert not np.array_equal(run.outputs[-1], base_out)   # the loaded weights were used, not the image's


@pytest.mark.verilator
def test_cli_run(tmp_path, capsys):
    """``fuzzymemo run`` end to end (reuses the digits builds of the tests above): JSON keys, bit-exact."""
    from fuzzymemo.cli import main

    out = tmp_path / "run.json"
    assert main(["run", "--workload", "digits", "--limit", "2", "--threshold", "0.2", "--quiet",
                 "--json", str(out)]) == 0
    import json

    r = json.loads(out.read_text())
    for key in ("bit_exact", "sequences", "reuse", "accuracy_rtl", "accuracy_golden", "cycles_baseline",
                "cycles_memo", "speedup", "expected_speedup", "ideal_speedup", "mac_utilization_baseline",
                "sim_cycles_per_second", "sim_seconds", "sim_run_seconds",
                "cycles_model_baseline", "cycles_model_memo"):
        assert key in r, key
    assert r["bit_exact"] and r["counters_match_golden"] and r["sequences"] == 2
    assert 0 < r["mac_utilization_memo"] <= 1 and 0 < r["mac_utilization_baseline"] <= 1
    assert r["speedup"] == pytest.approx(r["cycles_baseline"] / r["cycles_memo"])
    assert r["speedup"] <= r["ideal_speedup"] and r["ideal_speedup"] >= 1   # reused beats are all it can save
    assert r["accuracy_rtl"] == r["accuracy_golden"]
    assert "bit-exact vs golden model: yes" in capsys.readouterr().out


@pytest.mark.verilator
def test_cli_run_with_a_calibration_file(tmp_path, capsys):
    """``fuzzymemo calibrate`` then ``run --calibration``: the file's predictor and per-layer thresholds."""
    import json

    from fuzzymemo.cli import main

    assert main(["calibrate", "--workload", "digits", "--predictor", "low-rank", "--quiet",
                 "--json", str(tmp_path / "cal.json")]) == 0
    cal = json.loads((tmp_path / "cal.json").read_text())
    assert main(["run", "--workload", "digits", "--limit", "2", "--calibration", str(tmp_path / "cal.json"),
                 "--quiet", "--json", str(tmp_path / "run.json")]) == 0
    r = json.loads((tmp_path / "run.json").read_text())
    assert r["predictor"] == "low-rank" and r["rule"] == "output" and r["thresholds"] == cal["thresholds"]
    assert r["bit_exact"] and r["counters_match_golden"] and r["form"] == cal["form"]


@pytest.mark.parametrize("sim", pytest_simulators())
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_hidden_size_one(sim, cell):
    """Hidden size 1: the one-row memories (c, b_hn) are given two rows, so the Verilog has no zero-width
    address (``wire [-1:0]``, which Verilator rejected: issue 14 defect 3)."""
    rng = np.random.default_rng(4)
    g = 4 if cell == "lstm" else 3
    net = Network.build(cell, [[{"w_ih": rng.uniform(-1, 1, (g, 2)), "w_hh": rng.uniform(-1, 1, (g, 1)),
                                 "b_ih": rng.uniform(-0.5, 0.5, g), "b_hh": rng.uniform(-0.5, 0.5, g)}]])
    x = np.cumsum(rng.normal(0, 0.2, (3, 5, 2)), axis=1)
    compiled = CompiledModel(FixedPointNetwork(net, calibrate_formats(net, x)))
    assert "[-1:0]" not in compiled.design().verilog
    run = compiled.run(sim, x, np.array([5, 3, 4]), threshold=0.2, valid_prob=0.7, ready_prob=0.7,
                       run_name=f"hidden1-{cell}")
    assert_exact(run)
