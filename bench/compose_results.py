"""Regenerate docs/results/compose.md and docs/results/compose.json: the reuse schemes alone and composed
(golden_model.compose; docs/composition.md) on the small workloads.

    .venv/bin/python bench/compose_results.py [--out docs] [--predictor bnn-planes]

Per workload the memoization predictor's thresholds (``calibrate``, form auto) and the delta thresholds
(``calibrate_scheme``) are calibrated on the calibration split within 1 pp each, alone; every scheme and
every composition then runs on the test split with those thresholds (nothing is chosen on the test split).
A second table repeats the memo and delta compositions with each scheme calibrated within half the budget.
Columns: multiplications avoided (fraction of the fixed-point baseline's), net saving (the predictor's
MAC-equivalents subtracted), test accuracy loss in pp against the fixed-point baseline, and whether the
savings add up: the composed fraction against 1 - prod(1 - a) of the schemes alone.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from golden_model.calibration import config_for
from golden_model.compose import DEFERRED, EAGER, SNAPSHOT, ComposedPolicy, adds_up, evaluate_policy
from golden_model.crew import CrewPolicy
from golden_model.fixed_model import FixedPointNetwork
from golden_model.reuse_calibration import calibrate, calibrate_scheme, format_thresholds
from golden_model.workloads import WORKLOADS, load_workload

BUDGET_PP = 1.0


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


#: The second table: each scheme calibrated within half the budget, only the rows below.
HALF_ROWS = ("memo", "delta", "crew", "delta+memo (deferred)", "crew+delta+memo (deferred)")


def measure(name: str, predictor: str, budget_pp: float = BUDGET_PP, only=None) -> dict:
    test, cal = load_workload(name, "test"), load_workload(name, "calibration")
    model = FixedPointNetwork(test.network, config_for(test.network, test.x, test.lengths))
    memo_cal = calibrate(model, cal.x, cal.y, cal.lengths, predictor, budget_pp=budget_pp)
    delta_cal = calibrate_scheme(model, cal.x, cal.y, cal.lengths, "delta", budget_pp=budget_pp)
    memo, delta = memo_cal.policy(), delta_cal.policy()
    memo_on, delta_on = memo_cal.memo, delta_cal.memo
    pred = predictor if memo_on else None
    schemes = {"memo": (memo, ("memo",), pred), "delta": (delta, ("delta",), None),
               "crew": (CrewPolicy(), ("crew",), None)}
    if delta_on and memo_on:
        schemes["delta+memo (eager)"] = (ComposedPolicy(delta, memo, correction=EAGER), ("delta", "memo"), pred)
        schemes["delta+memo (deferred)"] = (ComposedPolicy(delta, memo, correction=DEFERRED), ("delta", "memo"),
                                            pred)
        schemes["delta+memo (snapshot)"] = (ComposedPolicy(delta, memo, correction=SNAPSHOT), ("delta", "memo"),
                                            pred)
    if memo_on:
        schemes["crew+memo"] = (ComposedPolicy(memo=memo, crew=True), ("crew", "memo"), pred)
    if delta_on:
        schemes["crew+delta"] = (ComposedPolicy(delta, crew=True), ("crew", "delta"), None)
    if delta_on and memo_on:
        schemes["crew+delta+memo (deferred)"] = (ComposedPolicy(delta, memo, crew=True), ("crew", "delta", "memo"),
                                                 pred)
    rows = []
    alone = {}
    for label, (policy, parts, p) in schemes.items():
        if only is not None and label not in only:
            continue
        r = evaluate_policy(model, test.x, test.y, test.lengths, policy, p,
                            memo_cal.parameters if p else None)
        if len(parts) == 1:
            alone[label] = r
        row = {"workload": name, "scheme": label, "parts": list(parts), "avoided": r["avoided"],
               "net_saving": r["net_saving"], "metric_loss": r["metric_loss"],
               "neurons_reused": r["neurons_reused"], "inputs_unchanged": r["inputs_unchanged"]}
        if len(parts) > 1:
            row["independent"] = adds_up(*(alone[q]["avoided"] for q in parts))
            row["independent_net"] = adds_up(*(alone[q]["net_saving"] for q in parts))
        rows.append(row)
    return {"workload": name, "budget_pp": budget_pp, "test_sequences": len(test.x),
            "calibration_sequences": len(cal.x),
            "memo": {"predictor": predictor, "form": memo_cal.form, "thresholds": memo_cal.thresholds},
            "delta": {"theta_x": delta_cal.thresholds, "theta_h": delta_cal.parameters.get("theta_h")},
            "rows": rows}


def table(results: list[dict]) -> str:
    head = ("| workload | scheme | mult. avoided | net saving | test loss pp | independent 1-(1-a)(1-b) "
            "| composed / independent | adds up? |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for res in results:
        for r in res["rows"]:
            if "independent" in r:
                ratio = r["avoided"] / r["independent"] if r["independent"] else 0.0
                verdict = "yes" if r["avoided"] >= r["independent"] - 0.005 else "no"
                extra = f"{_pct(r['independent'])} | {ratio:.2f} | {verdict}"
            else:
                extra = "- | - | -"
            lines.append(f"| {r['workload']} | {r['scheme']} | {_pct(r['avoided'])} | {_pct(r['net_saving'])} "
                         f"| {r['metric_loss']:.2f} | {extra} |")
    return "\n".join(lines)


def settings(results: list[dict]) -> str:
    lines = ["| workload | test / cal. sequences | memo predictor, form, thresholds | delta theta_x | delta theta_h |",
             "|---|---|---|---|---|"]
    for res in results:
        m, d = res["memo"], res["delta"]
        ths = "memo off" if m["thresholds"] is None else format_thresholds(m["thresholds"])
        tx = "off" if d["theta_x"] is None else ", ".join(f"{t:g}" for t in d["theta_x"])
        th = "-" if d["theta_h"] is None else ", ".join(f"{t:g}" for t in d["theta_h"])
        lines.append(f"| {res['workload']} | {res['test_sequences']} / {res['calibration_sequences']} "
                     f"| {m['predictor']}, {m['form']}, {ths} | {tx} | {th} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--predictor", default="bnn-planes")
    args = parser.parse_args(argv)
    results = [measure(name, args.predictor) for name in WORKLOADS]
    half = [measure(name, args.predictor, BUDGET_PP / 2, HALF_ROWS) for name in WORKLOADS]
    text, cal = table(results), settings(results)
    half_text, half_cal = table(half), settings(half)
    print("\n\n".join([cal, text, half_cal, half_text]))
    out = args.out / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "compose.json").write_text(json.dumps({"budget": results, "half_budget": half}, indent=1) + "\n")
    command = "bench/compose_results.py" + (f" --predictor {args.predictor}" if args.predictor != "bnn-planes" else "")
    (out / "compose.md").write_text("\n".join([
        "# Composition results", "",
        f"Generated by `.venv/bin/python {command}` (definitions: docs/composition.md). Thresholds calibrated "
        f"on each workload's calibration split, each scheme alone within {BUDGET_PP:g} pp; every row measured "
        "on the test split with them. `independent` is 1 - prod(1 - a) over the schemes alone; a composition "
        "adds up when it avoids at least that (within 0.5 pp).", "", cal, "", text, "",
        f"Each scheme calibrated within half the budget ({BUDGET_PP / 2:g} pp), so that the losses of a "
        "composition of two have room to add:", "", half_cal, "", half_text, ""]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
