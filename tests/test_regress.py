"""``fuzzymemo regress``: the random regression of the tile against the golden model (a short slice here;
the million-output run is a command, docs/simulation.md)."""

import json

import numpy as np
import pytest

from fuzzymemo.cli import main
from fuzzymemo.regress import RegressCase, cases, random_network


def test_cases_and_networks_are_reproducible_and_fit_the_formats():
    first, again = cases(["low-rank", None], seed=5), cases(["low-rank", None], seed=5)
    assert first == again and [c.predictor for c in first] == ["low-rank", None]
    case = RegressCase("top-k", "gru", 3, 4, 2, 2)
    assert case.outputs_per_step == 4 * 2 * 2
    a = random_network(case, np.random.default_rng(1))
    b = random_network(case, np.random.default_rng(1))
    assert a.num_layers == 2 and a.num_directions == 2 and a.cell == "gru"
    assert np.array_equal(a.layers[1][1].w_ih, b.layers[1][1].w_ih)
    assert np.abs(a.layers[0][0].w_hh).max() <= 1.9


@pytest.mark.verilator
def test_cli_regress_checks_every_output(tmp_path, capsys):
    out = tmp_path / "regress.json"
    assert main(["regress", "--outputs", "1500", "--predictor", "low-rank", "--predictor", "none", "--seed", "3",
                 "--quiet", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["outputs_checked"] >= 1500 and r["runs"] >= 2 and r["failures"] == []
    assert [c["predictor"] for c in r["cases"]] == ["low-rank", None] and r["sim_cycles"] > 0
    assert "0 failures" in capsys.readouterr().out


def test_cli_regress_bad_arguments(capsys):
    assert main(["regress", "--outputs", "0"]) == 2
    assert "--outputs: must be at least 1, not 0" in capsys.readouterr().err
    assert main(["regress", "--predictor", "oracle"]) == 2
    assert "invalid choice: 'oracle'" in capsys.readouterr().err
