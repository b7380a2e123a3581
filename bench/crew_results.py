"""Regenerate docs/results/crew.md, docs/results/crew.json and docs/img/crew_unique_weights.png: the CREW
statistics of every bundled workload (golden_model.crew_stats) and weight clustering with K calibrated on
the calibration split and measured on the test split (golden_model.crew_clustering).

    .venv/bin/python bench/crew_results.py [--out docs] [--check N]

Per workload: unique weights per input (median, 90th percentile, max; pooled over the layer directions),
multiplications avoided per step, weight storage against the baseline under both index encodings (the
hardware's uniform width, the paper's per-input widths), and with clustering (budget 1 pp) the chosen K,
the calibration and test losses, the clustered storage and multiplications avoided. ``--check N`` also
runs the golden CREW datapath on the first N test sequences of every workload against the fixed-point
baseline (bit for bit) and confirms the measured multiplications avoided equals the static figure.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from golden_model.calibration import config_for  # noqa: E402
from golden_model.crew import CrewPolicy  # noqa: E402
from golden_model.crew_clustering import accuracy, calibrate_clusters, clustered_network  # noqa: E402
from golden_model.crew_stats import network_stats, summarize  # noqa: E402
from golden_model.fixed_model import FixedPointNetwork  # noqa: E402
from golden_model.workloads import ALL_WORKLOADS, load_workload  # noqa: E402

BUDGET_PP = 1.0
#: K at which the test loss is also reported, descriptively (no K is chosen from them).
DESCRIPTIVE_K = (4, 8, 16, 32, 64)


def measure(name: str, check: int) -> dict:
    test, cal = load_workload(name, "test"), load_workload(name, "calibration")
    model = FixedPointNetwork(test.network, config_for(test.network, test.x, test.lengths))
    stats = network_stats(model)
    row = {"workload": name, "weight_bits": model.config.weight.bits,
           "directions": [s.as_dict() for s in stats], "total": summarize(stats),
           "neurons_per_direction": sorted({s.neurons for s in stats}),
           "counts": np.concatenate([s.counts for s in stats]).tolist()}
    if check:
        x, lengths = test.x[:check], test.lengths[:check]
        base, crew = model.run(x, lengths), model.run(x, lengths, policy=CrewPolicy())
        exact = all(np.array_equal(a, b) for a, b in zip(base.layer_outputs, crew.layer_outputs, strict=True))
        row["check"] = {"sequences": len(x), "bit_exact": exact,
                        "multiplications_avoided": crew.stats.multiplications_avoided(),
                        "equals_static": bool(np.isclose(crew.stats.multiplications_avoided(),
                                                         row["total"]["multiplications_per_step"]["avoided"],
                                                         rtol=0, atol=1e-12))}
    choice = calibrate_clusters(model, cal.x, cal.y, cal.lengths, BUDGET_PP)
    clustered = clustered_network(model, choice.k)
    base_acc, acc = accuracy(model, test.x, test.y, test.lengths), accuracy(clustered, test.x, test.y, test.lengths)
    row["clustering"] = {"k": choice.k, "budget_pp": BUDGET_PP, "calibration_sequences": len(cal.x),
                         "calibration_loss_pp": choice.calibration_loss_pp, "tried": choice.tried,
                         "test_sequences": len(test.x), "test_accuracy_unclustered": base_acc,
                         "test_accuracy": acc, "test_loss_pp": 100 * (base_acc - acc),
                         "total": summarize(network_stats(clustered))}
    row["test_loss_pp_by_k"] = {k: 100 * (base_acc - accuracy(clustered_network(model, k), test.x, test.y,
                                                                test.lengths)) for k in DESCRIPTIVE_K}
    return row


def table(rows: list[dict]) -> str:
    head = ("| workload | neurons / dir | U median | U p90 | mult. avoided | storage uniform | storage per-input "
            "| K | cal. loss pp | test loss pp | mult. avoided (K) | storage uniform (K) | storage per-input (K) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        t, c = r["total"], r["clustering"]
        ct = c["total"]
        lines.append(
            f"| {r['workload']} | {'/'.join(str(n) for n in r['neurons_per_direction'])} "
            f"| {t['unique_per_input']['median']:g} | {t['unique_per_input']['p90']:g} "
            f"| {100 * t['multiplications_per_step']['avoided']:.1f}% "
            f"({t['multiplications_per_step']['reduction']:.2f}x) "
            f"| {t['storage_bits']['uniform']['ratio']:.3f}x | {t['storage_bits']['per_input']['ratio']:.3f}x "
            f"| {c['k']} | {c['calibration_loss_pp']:.2f} | {c['test_loss_pp']:.2f} "
            f"| {100 * ct['multiplications_per_step']['avoided']:.1f}% "
            f"({ct['multiplications_per_step']['reduction']:.2f}x) "
            f"| {ct['storage_bits']['uniform']['ratio']:.3f}x | {ct['storage_bits']['per_input']['ratio']:.3f}x |")
    return "\n".join(lines)


def loss_table(rows: list[dict]) -> str:
    head = "| workload | " + " | ".join(f"K = {k}" for k in DESCRIPTIVE_K) + " |"
    lines = [head, "|" + "---|" * (len(DESCRIPTIVE_K) + 1)]
    for r in rows:
        lines.append(f"| {r['workload']} | " + " | ".join(f"{r['test_loss_pp_by_k'][k]:.2f}" for k in DESCRIPTIVE_K)
                     + " |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    """The paper's Figure 1: the distribution of unique weights per input, one panel per workload."""
    fig, axes = plt.subplots(1, len(rows), figsize=(3.4 * len(rows), 3.0), squeeze=False)
    for ax, r in zip(axes[0], rows, strict=True):
        counts = np.asarray(r["counts"])
        width = max(1, int(np.ceil(counts.max() / 40)))
        ax.hist(counts, bins=np.arange(0, counts.max() + width + 1, width), color="tab:blue", alpha=0.8)
        ax.set_xlim(0, counts.max() + width)
        t = r["total"]["unique_per_input"]
        ax.axvline(t["median"], color="k", linestyle="--", linewidth=1, label=f"median {t['median']:g}")
        ax.axvline(t["p90"], color="tab:red", linestyle=":", linewidth=1, label=f"p90 {t['p90']:g}")
        neurons = "/".join(str(n) for n in r["neurons_per_direction"])
        ax.set_title(f"{r['workload']} (G*H = {neurons})", fontsize=9)
        ax.set_xlabel(f"unique {r['weight_bits']}-bit weights per input")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("inputs")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--check", type=int, default=0, metavar="N",
                        help="also run the golden CREW datapath on N test sequences per workload")
    args = parser.parse_args(argv)
    rows = [measure(name, args.check) for name in ALL_WORKLOADS]
    text = table(rows)
    losses = loss_table(rows)
    print(text)
    print()
    print(losses)
    checks = [f"{r['workload']}: golden CREW run on {r['check']['sequences']} test sequences: bit-exact "
              f"{r['check']['bit_exact']}, multiplications avoided {100 * r['check']['multiplications_avoided']:.2f}% "
              f"(equal to the static figure: {r['check']['equals_static']})"
              for r in rows if "check" in r]
    print("\n".join(checks))
    (args.out / "results").mkdir(parents=True, exist_ok=True)
    (args.out / "results" / "crew.json").write_text(json.dumps(rows, indent=1) + "\n")
    command = "bench/crew_results.py" + (f" --check {args.check}" if args.check else "")
    (args.out / "results" / "crew.md").write_text("\n".join([
        "# CREW results", "",
        f"Generated by `.venv/bin/python {command}` (definitions: docs/crew.md). Exact columns first; then weight "
        f"clustering, K the smallest within the {BUDGET_PP:g} pp budget on the calibration split, its loss "
        "measured on the test split.", "", text, "",
        "Test-split accuracy loss (pp) against the unclustered fixed-point model at fixed K (descriptive: no K is "
        "chosen from these):", "", losses, "", *(["- " + c for c in checks] + [""] if checks else []),
        "![unique weights per input](../img/crew_unique_weights.png)", ""]))
    plot(rows, args.out / "img" / "crew_unique_weights.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
