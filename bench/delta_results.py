"""The figures of docs/delta.md, *Results*: the input-similarity / delta schemes on the small workloads.

    .venv/bin/python bench/delta_results.py [--out docs]            # golden sweeps + RTL runs, ~3 min
    .venv/bin/python bench/delta_results.py --render [--out docs]   # re-plot the stored records only

Golden (test splits; the similarity ranges from each calibration split): ``sweep_scheme`` at the delta
thresholds and similarity levels of ``reuse_calibration.DELTA_GRID`` / ``LEVELS_GRID``: the inputs
unchanged (the paper's input-similarity figure) and the accuracy loss against the MACs avoided.
RTL: per workload and form ``fuzzymemo calibrate --scheme S`` on the calibration split, then ``fuzzymemo
run --calibration`` on the whole test split (Verilator): the speedup against 1/(1 - MACs avoided).
Writes ``results/delta.json`` and ``img/delta_unchanged.png``, ``img/delta_loss.png``,
``img/delta_speedup.png`` under ``--out``, and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from golden_model.calibration import config_for
from golden_model.delta import DELTA, SIMILARITY
from golden_model.fixed_model import FixedPointNetwork
from golden_model.reuse_calibration import DELTA_GRID, LEVELS_GRID, input_ranges, sweep_scheme
from golden_model.workloads import WORKLOADS, load_workload

log = logging.getLogger("bench.delta_results")
FORMS = (DELTA, SIMILARITY)
RUN_KEYS = ("bit_exact", "reuse", "speedup", "metric_loss", "cycles_baseline")
#: The sweep record keys kept (the per-step fractions are left out of the stored file)
SWEEP_KEYS = ("policy", "threshold", "reuse", "net_saving", "metric_loss", "inputs_unchanged", "inputs_unchanged_x_h")


def sweeps(name: str) -> dict:
    """The delta and similarity sweep records of ``name``'s test split."""
    test, cal = load_workload(name, "test"), load_workload(name, "calibration")
    model = FixedPointNetwork(test.network, config_for(test.network, test.x, test.lengths))
    cal_q = model.quantize_input(cal.x)
    ranges = input_ranges(model, cal_q, model.run(cal_q, cal.lengths), cal.lengths)
    found = {DELTA: sweep_scheme(model, test.x, test.y, test.lengths, DELTA, DELTA_GRID),
             SIMILARITY: sweep_scheme(model, test.x, test.y, test.lengths, SIMILARITY, LEVELS_GRID, ranges)}
    return {form: [{key: r[key] for key in SWEEP_KEYS} for r in recs] for form, recs in found.items()}


def rtl_run(name: str, form: str, work: Path) -> dict:
    """Calibrate ``form`` on ``name``'s calibration split, run its test split in RTL; the run's figures."""
    cli = [sys.executable, "-m", "fuzzymemo.cli"]
    cal, out = work / f"{name}.{form}.cal.json", work / f"{name}.{form}.run.json"
    subprocess.run([*cli, "calibrate", "--workload", name, "--scheme", form, "--json", str(cal), "--quiet"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*cli, "run", "--workload", name, "--calibration", str(cal), "--json", str(out), "--quiet"],
                   check=True, stdout=subprocess.DEVNULL)
    run = json.loads(out.read_text())
    # both forms run on the delta tile, whose cycles the run reports as cycles_delta
    return {key: run[key] for key in RUN_KEYS} | {"cycles_scheme": run["cycles_delta"]}


def measure() -> dict:
    records = {"sweeps": {}, "rtl": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in WORKLOADS:
            log.info("%s: golden sweeps", name)
            records["sweeps"][name] = sweeps(name)
            for form in FORMS:
                log.info("%s: %s in RTL", name, form)
                records["rtl"][f"{name} {form}"] = rtl_run(name, form, Path(tmp))
    return records


def plot_unchanged(sweep: dict, path: Path) -> None:
    """Inputs unchanged against theta (delta) and against the levels (similarity), per workload."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, form, label in ((axes[0], DELTA, "theta_x = theta_h (activation LSBs)"),
                            (axes[1], SIMILARITY, "quantizer levels")):
        for name, recs in sweep.items():
            rs = sorted(recs[form], key=lambda r: r["threshold"])
            ax.plot([r["threshold"] for r in rs], [100 * r["inputs_unchanged"] for r in rs], "o-", label=name)
        ax.set_xscale("symlog" if form == DELTA else "log", **({"linthresh": 1} if form == DELTA else {"base": 2}))
        ax.set_xlabel(label)
        ax.set_ylabel("inputs unchanged (% of [x ; h] per step)")
        ax.set_title(form)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_loss(sweep: dict, path: Path) -> None:
    """Accuracy loss against the MACs avoided, both forms, per workload, with the 1 pp budget."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for k, (name, recs) in enumerate(sweep.items()):
        for form, style in ((DELTA, "o-"), (SIMILARITY, "s--")):
            rs = sorted(recs[form], key=lambda r: r["reuse"])
            ax.plot([100 * r["reuse"] for r in rs], [r["metric_loss"] for r in rs], style, color=f"C{k}",
                    label=f"{name} {form}", markersize=4)
    ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.set_ylim(-5, 20)
    ax.set_xlabel("MACs avoided (% of the baseline's)")
    ax.set_ylabel("test accuracy loss (pp)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_speedup(rtl: dict, path: Path) -> None:
    """RTL speedup beside 1/(1 - MACs avoided), per workload and form."""
    names = list(rtl)
    fig, ax = plt.subplots(figsize=(8, 4))
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], [rtl[n]["speedup"] for n in names], 0.4, label="RTL speedup")
    ax.bar([x + 0.2 for x in xs], [1 / (1 - rtl[n]["reuse"]) for n in names], 0.4, label="1 / (1 - MACs avoided)")
    ax.set_xticks(list(xs), [n.replace(" ", "\n") for n in names], fontsize=8)
    ax.set_ylabel("speedup over the baseline tile")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(records: dict) -> None:
    print(f"{'run':<28} {'MACs avoided':>12} {'loss pp':>8} {'speedup':>8} {'ideal':>7} {'ratio':>6} bit-exact")
    for name, r in records["rtl"].items():
        ideal = 1 / (1 - r["reuse"])
        print(f"{name:<28} {r['reuse']:>12.1%} {r['metric_loss']:>8.2f} {r['speedup']:>7.3f}x {ideal:>6.3f}x "
              f"{r['speedup'] / ideal:>6.3f} {r['bit_exact']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs"), help="docs directory (default docs)")
    ap.add_argument("--render", action="store_true", help="re-plot results/delta.json without measuring")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    store = args.out / "results" / "delta.json"
    if args.render:
        records = json.loads(store.read_text())
    else:
        records = measure()
        store.parent.mkdir(parents=True, exist_ok=True)
        store.write_text(json.dumps(records, indent=1))
    (args.out / "img").mkdir(parents=True, exist_ok=True)
    plot_unchanged(records["sweeps"], args.out / "img" / "delta_unchanged.png")
    plot_loss(records["sweeps"], args.out / "img" / "delta_loss.png")
    plot_speedup(records["rtl"], args.out / "img" / "delta_speedup.png")
    report(records)
    print(f"wrote {store} and {args.out / 'img'}/delta_*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
