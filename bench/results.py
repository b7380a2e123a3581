"""Regenerate docs/results.md and its plots/JSON from the bundled workloads.

    .venv/bin/python bench/results.py [--out docs] [--paper-scale]

Runs, per workload: float and fixed-point accuracy, the width study, every registered predictor and the
oracle calibrated on the calibration split within 1 pp (golden_model.reuse_calibration) and measured on
the test split, and relative- and absolute-threshold sweeps of every predictor on the test split (the
paper's Figure 1; descriptive: no threshold is chosen from them). ``--paper-scale`` adds text_lm.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from fuzzymemo.plots import plot_sweep
from golden_model import intops, schemes
from golden_model.calibration import config_for, width_study
from golden_model.fixed_model import FixedPointNetwork
from golden_model.reuse_calibration import LAYER_GRANULARITY, calibrate, evaluate, format_thresholds
from golden_model.sweep import DEFAULT_GRIDS, sweep
from golden_model.workloads import PAPER_SCALE_WORKLOADS, WORKLOADS, load_workload

BUDGET_PP = 1.0


def _pct(v):
    return f"{100 * v:.1f}%"


def calibrated(name, model, cal_split, test_split) -> list[dict]:
    """Every predictor and the oracle calibrated on the calibration split (per gate, the default, and one
    threshold per layer: the record's ``per_layer``), measured on the test split."""
    found = []
    for predictor in schemes.names(("predictor", "oracle")):
        record = {"workload": name}
        for granularity in (LAYER_GRANULARITY, None):
            options = {} if granularity is None else {"granularity": granularity}
            cal = calibrate(model, cal_split.x, cal_split.y, cal_split.lengths, predictor, budget_pp=BUDGET_PP,
                            **options)
            test = evaluate(model, test_split.x, test_split.y, test_split.lengths, cal)
            if granularity is None:
                record.update({**cal.as_dict(), "test": test})
            else:
                record["per_layer"] = {"form": cal.form, "thresholds": cal.as_dict()["thresholds"],
                                       "measured": cal.measured, "test": test}
        found.append(record)
    return found


def _thresholds(record: dict) -> str:
    return "memo off" if record["thresholds"] is None else format_thresholds(record["thresholds"])


def granularity_rows(name, found: list[dict]) -> list[str]:
    """Per-gate against per-layer thresholds (both calibrated on the calibration split), test figures."""
    rows = []
    for r in found:
        if "per_layer" not in r:   # the JSON of a run before per-gate thresholds (--reuse)
            continue
        layer, t = r["per_layer"], r["test"]
        rows.append(f"| {name} | {r['predictor']} | {_thresholds(layer)} | {_pct(layer['test']['net_saving'])} | "
                    f"{layer['test']['metric_loss']:.2f} | {_thresholds(r)} | {_pct(t['net_saving'])} | "
                    f"{t['metric_loss']:.2f} |")
    return rows


def calibrated_rows(name, found: list[dict]) -> list[str]:
    """The Markdown rows of :func:`calibrated`'s records (each gets its ``oracle_ratio``)."""
    oracle = next(r for r in found if r["predictor"] == "oracle")["test"]["reuse"]
    rows = []
    for r in found:
        t, m = r["test"], r["measured"]
        ths = _thresholds(r)
        ratio = t["reuse"] / oracle if oracle else 0.0
        r["oracle_ratio"] = ratio
        rows.append(f"| {name} | {r['predictor']} | {r['form']} | {ths} | {m['estimated_loss']:.2f} | "
                    f"{_pct(t['reuse'])} | {_pct(t['net_saving'])} | {t['metric_loss']:.2f} | {ratio:.2f} |")
    return rows


#: The predictors' quantized defaults against wider factors (near-float internals): (predictor, params).
QUANTIZATION_VARIANTS = (("low-rank", {"bits": 8}), ("low-rank", {"bits": 16}),
                         ("top-k", {"weight_bits": 4}), ("top-k", {"weight_bits": 8}),
                         ("low-precision", {"weight_bits": 4, "input_bits": 4}),
                         ("low-precision", {"weight_bits": 8, "input_bits": 12}))


def quantization_rows(name, model, cal_split, test_split) -> list[str]:
    """What quantizing a predictor's factors costs: calibrated test figures at the default widths and at
    wider ones."""
    rows = []
    for predictor, params in QUANTIZATION_VARIANTS:
        cal = calibrate(model, cal_split.x, cal_split.y, cal_split.lengths, predictor, budget_pp=BUDGET_PP,
                        parameters=params)
        t = evaluate(model, test_split.x, test_split.y, test_split.lengths, cal)
        given = ", ".join(f"{k}={v}" for k, v in params.items())
        rows.append(f"| {name} | {predictor} | {given} | {_pct(t['reuse'])} | {_pct(t['net_saving'])} | "
                    f"{t['metric_loss']:.2f} |")
    return rows


def sweeps(name, model, w, out: Path) -> tuple[list[dict], list[str]]:
    """Relative and absolute sweeps of every predictor and the oracle on the test split, with plots;
    returns the records and the Markdown lines linking the plots."""
    records, lines = [], []
    for form in intops.THRESHOLD_FORMS:
        recs = sweep(model, w.x, w.y, w.lengths, schemes.names(("predictor", "oracle")), DEFAULT_GRIDS[form], form)
        for r in recs:
            r["workload"] = name
        plot_sweep(recs, out / "results" / f"{name}_{form}_sweep.png",
                   title=f"{name} (test split): reuse and accuracy loss vs {form} threshold")
        lines += [f"![{name} {form} sweep](results/{name}_{form}_sweep.png)", ""]
        records += recs
    return records, lines


def workload_sections(name, out: Path, reuse: bool = False):
    """(accuracy row, (calibrated rows, granularity rows), quantization rows, width rows, sweep lines, seconds)
    of one workload;
    with ``reuse`` the calibrations and sweeps (and plots) of an earlier run are read back from results/."""
    start = time.perf_counter()
    w, cal_split = load_workload(name), load_workload(name, "calibration")
    model = FixedPointNetwork(w.network, config_for(w.network, w.x, w.lengths))
    files = out / "results" / f"{name}_calibrated.json", out / "results" / f"{name}_sweep.json"
    if reuse:
        found, recs = (json.loads(f.read_text()) for f in files)
        plot_lines = [line for form in intops.THRESHOLD_FORMS
                      for line in (f"![{name} {form} sweep](results/{name}_{form}_sweep.png)", "")]
    else:
        found = calibrated(name, model, cal_split, w)
        recs, plot_lines = sweeps(name, model, w, out)
    rows = calibrated_rows(name, found), granularity_rows(name, found)
    files[0].write_text(json.dumps(found, indent=1))
    files[1].write_text(json.dumps(recs, indent=1))
    quantization = quantization_rows(name, model, cal_split, w) if name in WORKLOADS else []
    base = recs[0]
    accuracy = (f"| {name} | {w.network.describe()} | {cal_split.x.shape[0]} / {w.x.shape[0]} | "
                f"{base['float_metric']:.4f} | {base['fixed_metric']:.4f} | "
                f"{100 * (base['float_metric'] - base['fixed_metric']):.2f} | {model.config} |")
    widths = []
    if name in WORKLOADS:
        for r in width_study(w.network, w.x, w.y, w.lengths):
            acc = "does not fit" if r["accuracy"] is None else f"{r['accuracy']:.4f} ({r['loss_pp']:+.2f} pp)"
            widths.append((name, r["format"], r["bits"], acc))
    return accuracy, rows, quantization, widths, plot_lines, time.perf_counter() - start


def width_table(width_rows) -> list[str]:
    formats = sorted({(f, b) for _, f, b, _ in width_rows})
    table = ["| format | bits | " + " | ".join(WORKLOADS) + " |", "|---|---|" + "---|" * len(WORKLOADS)]
    lookup = {(n, f, b): a for n, f, b, a in width_rows}
    for f, b in formats:
        table.append(f"| {f} | {b} | " + " | ".join(lookup.get((n, f, b), "-") for n in WORKLOADS) + " |")
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs", help="docs folder (default docs)")
    parser.add_argument("--paper-scale", action="store_true", help="also the paper-scale workload(s) (tens of "
                                                                   "minutes)")
    parser.add_argument("--reuse", action="append", default=[], metavar="WORKLOAD",
                        help="render WORKLOAD from the JSON of an earlier run in results/ (no recomputation)")
    args = parser.parse_args()
    out = Path(args.out)
    (out / "results").mkdir(parents=True, exist_ok=True)
    names = WORKLOADS + (PAPER_SCALE_WORKLOADS if args.paper_scale else ())
    accuracy_rows, calibrated, granularities, quantized, width_rows, plots, timings = [], [], [], [], [], [], []
    for name in names:
        accuracy, rows, quantization, widths, plot_lines, seconds = workload_sections(name, out, name in args.reuse)
        accuracy_rows.append(accuracy)
        calibrated += rows[0]
        granularities += rows[1]
        quantized += quantization
        width_rows += widths
        plots += [f"### {name}", "", *plot_lines]
        print(f"{name}: done in {seconds:.1f} s")
        timings.append(f"{name} {seconds / 60:.1f} min")
    text = [
        "# Results",
        "",
        "Generated by `.venv/bin/python bench/results.py"
        f"{' --paper-scale' if args.paper_scale else ''}` (golden model, bundled splits; on this 2-core "
        f"machine: {', '.join(timings)}). JSON records and plots are in "
        "[`results/`](results/).",
        "",
        "## Float and fixed-point accuracy",
        "",
        "Formats are calibrated on each workload's training split (stored in the model file).",
        "",
        "| workload | network | calibration / test sequences | float | fixed-point | loss (pp) | formats |",
        "|---|---|---|---|---|---|---|",
        *accuracy_rows,
        "",
        f"## Calibrated predictors (thresholds from the calibration split, figures on the test split, "
        f"{BUDGET_PP:g} pp budget)",
        "",
        "`fuzzymemo calibrate --workload W --predictor P` then `fuzzymemo evaluate` (docs/predictors.md): "
        "per-layer thresholds, then single gates raised where that saves more (`--granularity gate`, the "
        "default; a per-gate layer is written `i/f/g/o` or `r/z/n`), threshold form chosen on the calibration "
        "split too (auto). *est. loss* is the "
        "calibration split's estimated loss that the choice bounds; *test loss* is measured against the "
        "un-memoized fixed-point model; *net saving* = (baseline MACs - computed MACs - predictor cost) / "
        "baseline MACs; *ratio* = test reuse / the calibrated oracle's test reuse.",
        "",
        "| workload | predictor | form | thresholds | est. loss (pp) | test reuse | net saving | test loss (pp) | "
        "ratio |",
        "|---|---|---|---|---|---|---|---|---|",
        *calibrated,
        "",
        "## Per-gate against per-layer thresholds",
        "",
        "The same calibrations with `--granularity layer` (one threshold per layer) and `gate` (the default), "
        "both on the calibration split; test net saving and test loss (pp):",
        "",
        "| workload | predictor | per-layer thresholds | net saving | test loss | per-gate thresholds | net saving | "
        "test loss |",
        "|---|---|---|---|---|---|---|---|",
        *granularities,
        "",
        "## What quantizing the predictors costs",
        "",
        "Every predictor's factors and state are integers (docs/predictors.md). The same calibration and "
        "test at the default widths and at wider ones (close to the float internals of the study):",
        "",
        "| workload | predictor | widths | test reuse | net saving | test loss (pp) |",
        "|---|---|---|---|---|---|",
        *quantized,
        "",
        "## Width study",
        "",
        "Test accuracy (and loss against float) when one format's width changes, the others at their "
        "defaults (weight 8, act 12, cell 14, preact 10 bits), fractions recalibrated on the test data. "
        "Reproduce: `fuzzymemo width-study --workload NAME`.",
        "",
        *width_table(width_rows),
        "",
        "## Sweeps (test split, descriptive)",
        "",
        "Reuse and loss of every predictor against one threshold shared by all layers (the paper's Figure 1); "
        "no threshold above is chosen from these.",
        "",
        *plots,
    ]
    (out / "results.md").write_text("\n".join(text))
    print(f"wrote {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
