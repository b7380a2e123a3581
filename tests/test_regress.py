"""``fuzzymemo regress``: the random regression of the tile against the golden model (a short slice here;
the million-output run is a command, docs/simulation.md)."""

import json

import numpy as np
import pytest

from fuzzymemo.cli import main
from fuzzymemo.regress import FORMATS, MEMO, RegressTile, dataflows, random_network, tiles


def test_dataflows_cover_every_registered_scheme_and_predictor():
    from golden_model import schemes

    every = dataflows()
    assert every[0] == (None, None)
    assert {p for s, p in every if s == MEMO} == {e.name for e in schemes.entries(("predictor",)) if e.hardware}
    assert {s for s, _ in every} - {None, MEMO} == {e.name for e in schemes.entries(("scheme",)) if e.hardware} - {MEMO}
    assert dataflows(["memo"], ["bnn"]) == [(MEMO, "bnn")]
    assert dataflows(None, ["none", "low-rank"]) == [(None, None), (MEMO, "low-rank")]
    assert dataflows(["delta", "none"]) == [("delta", None), (None, None)]


def test_tiles_and_networks_are_reproducible_and_fit_the_formats():
    pairs = dataflows()
    first, again = tiles(pairs, seed=5, max_size=32, per_dataflow=3), tiles(pairs, seed=5, max_size=32, per_dataflow=3)
    assert first == again and len(first) == 3 * len(pairs)
    assert all(1 <= t.inputs <= 32 and 1 <= t.hidden <= 32 and 1 <= t.lanes <= 8 for t in first)
    assert {t.cell for t in first} == {"lstm", "gru"} and {t.layers for t in first} == {1, 2, 3}
    assert {t.directions for t in first} == {1, 2} and {t.formats for t in first} == set(range(len(FORMATS)))
    tile = RegressTile("memo", "top-k", "gru", 3, 4, 2, 2, 2, 1)
    assert tile.label == "top-k"
    config = FORMATS[1]
    a = random_network("gru", 3, 4, 2, 2, config, np.random.default_rng(1))
    b = random_network("gru", 3, 4, 2, 2, config, np.random.default_rng(1))
    assert a.num_layers == 2 and a.num_directions == 2 and a.cell == "gru"
    assert np.array_equal(a.layers[1][1].w_ih, b.layers[1][1].w_ih)
    assert np.abs(a.layers[0][0].w_hh).max() <= config.weight.max_value


@pytest.mark.icarus
@pytest.mark.parametrize("schemes, outputs", [   # about 1200 outputs a tile, so that every tile runs
    pytest.param(["none", "crew", "delta", "similarity"], 6000, id="every-scheme", marks=pytest.mark.slow),
    pytest.param(["none", "delta"], 3600, id="memo-baseline-delta")])
def test_cli_regress_checks_every_output_of_every_scheme(schemes, outputs, tmp_path, capsys):
    out = tmp_path / "regress.json"
    assert main(["regress", "--outputs", str(outputs), "--predictor", "low-rank",
                 *[a for scheme in schemes for a in ("--scheme", scheme)], "--tiles", "1", "--max-size", "6",
                 "--seed", "3", "--sim", "icarus", "--quiet", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["outputs_checked"] >= outputs and r["mismatches"] == 0 and r["failures"] == []
    # each run draws its configuration (network shape, controls, pauses) at random: a small space may repeat one
    assert r["runs"] >= len(schemes) + 1 and 1 < r["configs"] <= r["runs"] and r["sim_cycles"] > 0
    assert [(t["scheme"], t["predictor"]) for t in r["tiles"]] == [("memo", "low-rank")] + [
        (None if scheme == "none" else scheme, None) for scheme in schemes]
    assert "0 mismatches, 0 failures" in capsys.readouterr().out


def test_cli_regress_bad_arguments(capsys):
    assert main(["regress", "--outputs", "0"]) == 2
    assert "--outputs: must be at least 1, not 0" in capsys.readouterr().err
    assert main(["regress", "--predictor", "oracle"]) == 2
    assert "invalid choice: 'oracle'" in capsys.readouterr().err
    assert main(["regress", "--scheme", "nonesuch"]) == 2
    assert "invalid choice: 'nonesuch'" in capsys.readouterr().err
    assert main(["regress", "--tiles", "0"]) == 2
    assert "--tiles: must be at least 1, not 0" in capsys.readouterr().err


def test_a_tile_that_does_not_build_or_a_run_that_hangs_is_a_failure_not_the_end(monkeypatch):
    """Failures are recorded, the other tiles go on, and the regression stops after max_failures."""
    from fuzzymemo import regress as module
    from sim.runner import SimulationError

    def build(self, sim, harness=True):
        if self.scheme is None:
            raise SimulationError("verilator build of tile_lstm_base_harness failed")

    def run(self, sim, x, lengths, **options):
        raise SimulationError("the simulation timed out")

    monkeypatch.setattr(module.CompiledModel, "build", build)
    monkeypatch.setattr(module.CompiledModel, "run", run)
    r = module.regress(1000, "verilator", 1, [(None, None), ("delta", None)], per_dataflow=1, max_failures=3,
                       say=lambda _: None)
    build_failure, *run_failures = r["failures"]
    assert build_failure["stage"] == "build" and "tile_lstm_base_harness" in build_failure["reason"]
    assert [f["stage"] for f in run_failures] == ["run", "run"] and r["runs"] == 2 and r["outputs_checked"] == 0
    assert all(f["tile"]["scheme"] == "delta" and "timed out" in f["reason"] for f in run_failures)
    assert len(r["tiles"]) == 2
