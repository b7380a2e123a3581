"""The space file of ``fuzzymemo dse`` (TOML, docs/dse.md): what to explore and how to judge it.

A space names its data (``[source]``: a bundled workload, several, or a model with its data), the stages
every point runs (``stages``: golden, rtl, synth), the objectives of its Pareto front (``[pareto]``) and
one or more ``[[sweep]]`` tables. In a sweep every key is an axis: a list is swept, a scalar is fixed,
and the sweep's points are the cartesian product of its lists (``params`` holds the registered
parameters of the scheme or predictor, axes too). The schemes and predictors are the registry's
(:mod:`golden_model.schemes`): a newly registered one is a valid value without any change here.

:func:`load_space` checks everything it can before anything runs (unknown keys, schemes, predictors,
parameters, thresholds, stages a scheme cannot run) and raises a ValueError of one line naming the
problem; :func:`expand` gives the points, each a plain dict (JSON-able, sent to a Dask worker) with a
stable ``id`` derived from its inputs (the checkpoint's key)."""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from golden_model import intops, schemes
from golden_model.delta import DELTA, SIMILARITY, check_levels, check_theta
from golden_model.memo import CACHE_UPDATES, RULES
from golden_model.reuse_calibration import AUTO_FORM
from golden_model.schemes.memo import DEFAULT_PREDICTOR
from golden_model.workloads import ALL_WORKLOADS

__all__ = ["CALIBRATED", "RUN_TIME_KEYS", "STAGES", "Objective", "Space", "build_spread", "expand", "load_space",
           "parse_objectives", "parse_space", "point_label"]

#: The stages a point can run, in the order they run.
STAGES = ("golden", "rtl", "synth")
#: The threshold value that asks for per-layer thresholds calibrated on held-out data.
CALIBRATED = "calibrated"
MEMO = "memo"
CREW = "crew"
#: Schemes with a calibration search (golden_model.reuse_calibration); other schemes take given thresholds.
CALIBRATABLE = (MEMO, DELTA, SIMILARITY)
#: The schemes ``fuzzymemo synth`` builds a tile of.
SYNTH_SCHEMES = (MEMO, CREW, DELTA, SIMILARITY)

TOP_KEYS = ("name", "description", "stages", "source", "rtl", "synth", "pareto", "sweep")
SOURCE_KEYS = ("workload", "workloads", "model", "data", "calibrate_data", "limit", "calibration_limit",
               "rtl_limit")
RTL_KEYS = ("sim", "max_steps")
SYNTH_KEYS = ("target", "args")
PARETO_KEYS = ("objectives", "columns")
#: Keys of a [[sweep]] table: each a scalar (fixed) or a list (an axis).
SWEEP_KEYS = ("workload", "scheme", "predictor", "threshold", "form", "rule", "cache_update", "budget_pp",
              "lanes", "bnn_width", "multipliers", "stages", "params")
#: Sweep keys a point's tile takes at run time (registers, or the calibration that sets them): points that
#: differ only in these share their simulation and synthesis builds.
RUN_TIME_KEYS = ("threshold", "form", "budget_pp")
#: Sweep keys that belong to the memoization scheme only.
MEMO_KEYS = ("predictor", "form", "rule", "cache_update", "bnn_width")
DEFAULT_OBJECTIVES = ("min golden.metric_loss", "max golden.net_saving")


@dataclass(frozen=True)
class Objective:
    """One objective of the Pareto front: a metric key of the records (``stage.name``) minimised or maximised."""
    metric: str
    sense: str   # "min" or "max"

    def as_dict(self) -> dict:
        return {"metric": self.metric, "sense": self.sense}

    def __str__(self) -> str:
        return f"{self.sense} {self.metric}"


@dataclass
class Space:
    """A parsed space file: its points and objectives."""
    path: Path
    name: str
    points: list[dict]
    objectives: list[Objective]
    description: str = ""
    settings: dict = field(default_factory=dict)
    #: extra metrics of the Markdown table
    columns: list[str] = field(default_factory=list)


def _fail(where: str, message: str):
    raise ValueError(f"{where}: {message}")


def _check_keys(where: str, table, known: tuple[str, ...]) -> dict:
    if not isinstance(table, dict):
        _fail(where, f"must be a table, not {type(table).__name__}")
    unknown = [k for k in table if k not in known]
    if unknown:
        _fail(where, f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                     f"known: {', '.join(known)}")
    return table


def _int_at_least(where: str, value, lowest: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
        _fail(where, f"must be a whole number >= {lowest}, not {value!r}")
    return value


def parse_objectives(text: str) -> list[Objective]:
    """``--objectives``: comma-separated "min|max STAGE.METRIC" (a ValueError naming a bad one)."""
    return _objectives("--objectives", [part.strip() for part in text.split(",") if part.strip()])


def _objectives(where: str, given) -> list[Objective]:
    if not isinstance(given, list) or not given:
        _fail(where, "objectives must be a non-empty list such as [\"min golden.metric_loss\", \"max rtl.speedup\"]")
    out = []
    for item in given:
        if isinstance(item, dict):
            _check_keys(f"{where} objective", item, ("metric", "sense"))
            metric, sense = item.get("metric"), item.get("sense", "min")
        elif isinstance(item, str) and len(item.split()) == 2:
            sense, metric = item.split()
        else:
            _fail(where, f"an objective is \"min STAGE.METRIC\" or \"max STAGE.METRIC\", not {item!r}")
        if sense not in ("min", "max"):
            _fail(where, f"an objective's sense is min or max, not {sense!r}")
        stage = str(metric).partition(".")[0]
        if stage not in STAGES or "." not in str(metric):
            _fail(where, f"an objective's metric is STAGE.NAME with STAGE in {', '.join(STAGES)}, not {metric!r}")
        out.append(Objective(str(metric), sense))
    if len({o.metric for o in out}) != len(out):
        _fail(where, "an objective is named twice")
    return out


def _stages(where: str, value) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    bad = [v for v in values if v not in STAGES]
    if bad or not values:
        _fail(where, f"unknown stage {', '.join(map(repr, bad)) or '(none given)'}; stages: {', '.join(STAGES)}")
    return tuple(s for s in STAGES if s in values)


def _sources(where: str, source: dict, base: Path) -> tuple[list[dict], dict]:
    """The data of the space (one dict per workload or the model) and the sequence caps."""
    _check_keys(where, source, SOURCE_KEYS)
    caps = {}
    for key in ("limit", "calibration_limit", "rtl_limit"):
        if key in source:
            caps[key] = _int_at_least(f"{where} {key}", source[key], 1)
    named = [k for k in ("workload", "workloads", "model") if k in source]
    if len(named) > 1:
        _fail(where, f"give one of workload, workloads or model, not {' and '.join(named)}")
    if "model" in source:
        if "data" not in source:
            _fail(where, "model needs data (DATA.npz)")
        files = {}
        for key in ("model", "data", "calibrate_data"):
            if key in source:
                path = (base / str(source[key])).resolve()
                if not path.is_file():
                    _fail(f"{where} {key}", f"no file {path}")
                files[key] = str(path)
        return [files], caps
    for key in ("data", "calibrate_data"):
        if key in source:
            _fail(where, f"{key} goes with model; a bundled workload brings its own data")
    names = source.get("workloads", source.get("workload", []))
    names = names if isinstance(names, list) else [names]
    if not names:
        _fail(where, "name a workload (workload = \"japanese_vowels\"), workloads or a model with its data")
    for n in names:
        if n not in ALL_WORKLOADS:
            _fail(where, f"unknown workload {n!r}; bundled: {', '.join(ALL_WORKLOADS)}")
    return [{"workload": n} for n in names], caps


def build_spread(points: list[dict]) -> list[dict]:
    """``points`` reordered so that points sharing a build (equal but for :data:`RUN_TIME_KEYS`) are spread
    apart: round-robin over the build groups, each group in its own order. Submitted in this order, the
    points running at the same time on different workers build different designs in parallel, instead
    of one worker waiting on the build another holds the lock of (sim.cache.locked)."""
    groups: dict[str, list[dict]] = {}
    for p in points:
        key = json.dumps({k: v for k, v in p.items() if k not in RUN_TIME_KEYS and k != "id"}, sort_keys=True)
        groups.setdefault(key, []).append(p)
    return [p for rnd in itertools.zip_longest(*groups.values()) for p in rnd if p is not None]


def _threshold_value(where: str, scheme: str, value, point: dict):
    if value == CALIBRATED:
        if scheme not in CALIBRATABLE:
            _fail(where, f"threshold \"calibrated\": the {scheme} scheme has no calibration search (schemes with one: "
                         f"{', '.join(CALIBRATABLE)}); give its thresholds")
        return CALIBRATED
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(where, f"a threshold is a number or \"calibrated\", not {value!r}")
    try:
        if scheme == MEMO:
            intops.quantize_threshold(float(value), point.get("form") or intops.RELATIVE)
        elif scheme == DELTA:
            check_theta(value, "threshold (theta_x)")
        elif scheme == SIMILARITY:
            check_levels(value)
    except ValueError as e:
        _fail(where, str(e).splitlines()[0])
    return float(value)


def _typed_params(entry, params: dict) -> dict:
    """TOML integers given to float parameters become floats; then the registry checks names and types."""
    declared = {p.name: p for p in entry.parameters}
    out = {k: (float(v) if k in declared and declared[k].type is float and isinstance(v, int)
               and not isinstance(v, bool) else v) for k, v in params.items()}
    entry.resolve(out)
    return out


def _check_point(where: str, p: dict) -> None:
    """A ValueError when the point cannot run: its golden policy is built through the registry (names,
    parameters and thresholds checked there) and each stage is asked whether the scheme has it."""
    scheme = p["scheme"]
    entry = schemes.get(scheme, ("scheme",))
    threshold = 0.0 if p.get("threshold") in (None, CALIBRATED) else p["threshold"]
    try:
        if scheme == MEMO:
            predictor = schemes.get(p["predictor"], ("predictor", "oracle"))
            p["params"] = _typed_params(predictor, p["params"])
            rule = p.get("rule", "auto")
            oracle = predictor.kind == "oracle"
            entry.golden_policy(threshold, predictor=predictor.name,
                                form=p.get("form") if p.get("form") not in (None, AUTO_FORM) else intops.RELATIVE,
                                rule=rule, cache_update=p.get("cache_update", "compute"),
                                predictor_params=p["params"])
            if oracle and (rule not in ("auto", "output") or p.get("cache_update", "compute") != "compute"):
                raise ValueError("the oracle takes no rule or cache_update")
        else:
            p["params"] = _typed_params(entry, p["params"])
            if scheme == DELTA:
                entry.golden_policy(threshold, **p["params"])
            elif scheme == SIMILARITY:
                entry.golden_policy(None if p.get("threshold") in (None, CALIBRATED) else threshold, **p["params"])
            else:
                entry.golden_policy(threshold, **p["params"])
    except (ValueError, TypeError) as e:
        _fail(where, str(e).splitlines()[0])
    if "rtl" in p["stages"] or "synth" in p["stages"]:
        if entry.hardware is None:
            built = [e.name for e in schemes.entries(("scheme",)) if e.hardware is not None]
            _fail(where, f"stage rtl/synth: the {scheme} scheme has no tile dataflow (schemes with one: "
                         f"{', '.join(built)}); run it with stages = [\"golden\"]")
        if scheme == MEMO and schemes.get(p["predictor"]).hardware is None:
            built = [e.name for e in schemes.entries(("predictor",)) if e.hardware is not None]
            _fail(where, f"stage rtl/synth: the {schemes.get(p['predictor']).kind} {p['predictor']!r} has no hardware "
                         f"(predictors with hardware: {', '.join(built)})")
    if "synth" in p["stages"] and scheme not in SYNTH_SCHEMES:
        _fail(where, f"stage synth: fuzzymemo synth builds the {', '.join(SYNTH_SCHEMES)} tiles, not {scheme}")
    if "synth" in p["stages"] and "model" in p:
        _fail(where, "stage synth takes a bundled workload (fuzzymemo synth --workload)")


def _sweep_points(where: str, sweep: dict, defaults: dict, sources: list[dict]) -> list[dict]:
    _check_keys(where, sweep, SWEEP_KEYS)
    params = sweep.get("params", {})
    if not isinstance(params, dict):
        _fail(f"{where} params", "must be a table of parameter = value or [values]")
    axes: dict[str, list] = {}
    for key, value in sweep.items():
        if key in ("params", "stages"):
            continue
        values = value if isinstance(value, list) else [value]
        if not values:
            _fail(f"{where} {key}", "an empty list (an axis needs at least one value)")
        axes[key] = values
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]
        if not values:
            _fail(f"{where} params.{key}", "an empty list (an axis needs at least one value)")
        axes[f"params.{key}"] = values
    if "workload" in axes:
        if "model" in sources[0]:
            _fail(f"{where} workload", "the space's source is a model; a sweep's workload axis needs bundled workloads")
        for n in axes["workload"]:
            if n not in ALL_WORKLOADS:
                _fail(f"{where} workload", f"unknown workload {n!r}; bundled: {', '.join(ALL_WORKLOADS)}")
    stages = _stages(f"{where} stages", sweep["stages"]) if "stages" in sweep else defaults["stages"]
    names = list(axes)
    points = []
    for combo in itertools.product(*(axes[k] for k in names)):
        values = dict(zip(names, combo, strict=True))
        scheme = values.pop("scheme", MEMO)
        if not isinstance(scheme, str):
            _fail(f"{where} scheme", f"a scheme is a name, not {scheme!r}")
        try:
            schemes.get(scheme, ("scheme",))
        except ValueError as e:
            _fail(f"{where} scheme", str(e))
        if scheme != MEMO:
            memo_only = [k for k in MEMO_KEYS if k in values]
            if memo_only:
                _fail(where, f"{', '.join(memo_only)} belong{'s' if len(memo_only) == 1 else ''} to the memo scheme, "
                             f"not {scheme}")
        if scheme != CREW and "multipliers" in values:
            _fail(where, f"multipliers are a parameter of the crew scheme, not {scheme}")
        point_params = {k.partition(".")[2]: v for k, v in values.items() if k.startswith("params.")}
        p = {k: v for k, v in values.items() if not k.startswith("params.")}
        workloads = [{"workload": p.pop("workload")}] if "workload" in p else sources
        for src in workloads:
            q = {**src, "scheme": scheme, **p, "params": dict(point_params), "stages": list(stages)}
            if scheme == MEMO:
                q.setdefault("predictor", DEFAULT_PREDICTOR)
                if not isinstance(q["predictor"], str):
                    _fail(f"{where} predictor", f"a predictor is a name, not {q['predictor']!r}")
                for key, choices in (("form", (AUTO_FORM,) + intops.THRESHOLD_FORMS), ("rule", ("auto",) + RULES),
                                     ("cache_update", CACHE_UPDATES)):
                    if key in q and q[key] not in choices:
                        _fail(f"{where} {key}", f"must be one of {', '.join(choices)}, not {q[key]!r}")
            if scheme == CREW and "threshold" in q:
                _fail(f"{where} threshold", "the crew scheme is exact: it takes no threshold")
            if scheme not in (CREW, SIMILARITY) and "threshold" not in q and scheme in CALIBRATABLE:
                _fail(where, f"the {scheme} sweep needs threshold (numbers or \"calibrated\")")
            if "threshold" in q:
                q["threshold"] = _threshold_value(f"{where} threshold", scheme, q["threshold"], q)
                if q.get("form") == AUTO_FORM and q["threshold"] != CALIBRATED:
                    _fail(f"{where} form", "form \"auto\" goes with threshold \"calibrated\"; a given threshold "
                                           "is relative or absolute")
            if "budget_pp" in q:
                b = q["budget_pp"]
                if isinstance(b, bool) or not isinstance(b, (int, float)) or not b >= 0 or b == float("inf"):
                    _fail(f"{where} budget_pp", f"must be a finite number >= 0 percentage points, not {b!r}")
                q["budget_pp"] = float(b)
            for key in ("lanes", "bnn_width", "multipliers"):
                if key in q:
                    _int_at_least(f"{where} {key}", q[key], 1)
            q.update({k: v for k, v in defaults["caps"].items()})
            if "rtl" in stages:
                q["rtl"] = dict(defaults["rtl"])
            if "synth" in stages:
                q["synth"] = dict(defaults["synth"])
            _check_point(where, q)
            points.append(q)
    return points


def point_id(point: dict) -> str:
    """A stable name of the point's inputs (its checkpoint key): 12 hex digits of their SHA-256."""
    inputs = {k: v for k, v in point.items() if k != "id"}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:12]


def point_label(point: dict) -> str:
    """A short human name: scheme/predictor, threshold, parameters, tile options."""
    parts = [point.get("workload") or Path(point.get("model", "?")).stem]
    parts.append(point["scheme"] if point["scheme"] != MEMO else point.get("predictor", DEFAULT_PREDICTOR))
    if "threshold" in point:
        t = point["threshold"]
        parts.append("cal" if t == CALIBRATED else f"t={t:g}")
    parts += [f"{k}={v}" for k, v in sorted(point.get("params", {}).items())]
    parts += [f"{k}={point[k]}" for k in ("form", "rule", "lanes", "bnn_width", "multipliers", "budget_pp")
              if k in point]
    if list(point.get("stages", ["golden"])) != ["golden"]:
        parts.append("+".join(point["stages"]))
    return " ".join(parts)


def expand(space: Space) -> list[dict]:
    return space.points


def parse_space(data: dict, path: Path) -> Space:
    where = str(path)
    _check_keys(where, data, TOP_KEYS)
    defaults = {"stages": _stages(f"{where} stages", data.get("stages", ["golden"]))}
    sources, defaults["caps"] = _sources(f"{where} [source]", data.get("source", {}), path.parent)
    rtl = _check_keys(f"{where} [rtl]", data.get("rtl", {}), RTL_KEYS)
    defaults["rtl"] = {"sim": rtl.get("sim", "verilator")}
    if defaults["rtl"]["sim"] not in ("verilator", "icarus"):
        _fail(f"{where} [rtl] sim", f"must be verilator or icarus, not {defaults['rtl']['sim']!r}")
    if "max_steps" in rtl:
        defaults["rtl"]["max_steps"] = _int_at_least(f"{where} [rtl] max_steps", rtl["max_steps"], 1)
    synth = _check_keys(f"{where} [synth]", data.get("synth", {}), SYNTH_KEYS)
    args = synth.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        _fail(f"{where} [synth] args", "must be a list of strings (extra fuzzymemo synth arguments)")
    defaults["synth"] = {"target": str(synth.get("target", "generic")), "args": list(args)}
    pareto = _check_keys(f"{where} [pareto]", data.get("pareto", {}), PARETO_KEYS)
    objectives = _objectives(f"{where} [pareto]", pareto.get("objectives", list(DEFAULT_OBJECTIVES)))
    columns = pareto.get("columns", [])
    if not isinstance(columns, list) or not all(isinstance(c, str) and c.partition(".")[0] in STAGES
                                                and "." in c for c in columns):
        _fail(f"{where} [pareto] columns", "must be a list of metric names STAGE.NAME (extra table columns)")
    sweeps = data.get("sweep")
    if isinstance(sweeps, dict):
        sweeps = [sweeps]
    if not isinstance(sweeps, list) or not sweeps:
        _fail(where, "no [[sweep]] table: a space needs at least one sweep (for example scheme = \"memo\", "
                     "predictor = [\"bnn\"], threshold = [0.1, 0.2])")
    points = []
    for i, sweep in enumerate(sweeps, 1):
        points += _sweep_points(f"{where} [[sweep]] {i}", sweep, defaults, sources)
    seen = {}
    for p in points:
        p["id"] = point_id(p)
        if p["id"] in seen:
            _fail(where, f"the point {point_label(p)} appears twice")
        seen[p["id"]] = p
    missing = [o.metric for o in objectives
               if not any(o.metric.partition(".")[0] in p["stages"] for p in points)]
    if missing:
        _fail(f"{where} [pareto]", f"objective {', '.join(missing)}: no point runs that stage")
    return Space(path, str(data.get("name", path.stem)), points, objectives, str(data.get("description", "")),
                 {"stages": list(defaults["stages"]), "rtl": defaults["rtl"], "synth": defaults["synth"],
                  **defaults["caps"]}, list(columns))


def load_space(path) -> Space:
    """The space file at ``path``, parsed and checked (a ValueError of one line naming any problem)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no space file {path}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path} is not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a text (TOML) file") from None
    return parse_space(data, path)
