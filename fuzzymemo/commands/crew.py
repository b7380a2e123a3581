"""``fuzzymemo crew``: CREW statistics of a model (docs/crew.md): per layer direction the unique weights per
input, multiplications per step against the baseline, index widths and weight-storage bits under both
index encodings; with ``--clusters`` the same after weight clustering, K calibrated on the calibration
split and its loss measured on the test split."""

from __future__ import annotations

from golden_model.crew_clustering import accuracy, calibrate_clusters, clustered_network
from golden_model.crew_stats import network_stats, summarize
from golden_model.workloads import DEFAULT_WORKLOAD, load_data, load_workload

from .args import at_least, finite_at_least, output_file, write_json
from .source import add_source_arguments, load_source

DEFAULT_BUDGET = 1.0


def clusters_argument(text: str):
    """An argparse type: a whole number K >= 1, or ``auto`` (calibrated)."""
    return "auto" if text == "auto" else at_least(1)(text)


def _stats_table(stats) -> list[str]:
    lines = [f"{'layer':>5} {'dir':>3} {'neurons':>7} {'inputs':>6} {'U med':>6} {'U p90':>6} {'U max':>5} "
             f"{'mult/step base':>14} {'crew':>7} {'x':>6} {'idx bits u/p':>12} {'storage u':>9} {'p':>6}"]
    for s in stats:
        d = s.as_dict()
        u, m, b, st = d["unique_per_input"], d["multiplications_per_step"], d["index_bits"], d["storage_bits"]
        lines.append(f"{s.layer:>5} {'rev' if s.direction else 'fwd':>3} {s.neurons:>7} {s.inputs:>6} "
                     f"{u['median']:>6.1f} {u['p90']:>6.1f} {u['max']:>5} {m['baseline']:>14} {m['crew']:>7} "
                     f"{m['reduction']:>5.2f}x {b['uniform']:>5}/{b['per_input_mean']:<6.2f} "
                     f"{st['uniform']['ratio']:>8.3f}x {st['per_input']['ratio']:>5.3f}x")
    t = summarize(stats)
    lines.append(f"total: unique weights per input median {t['unique_per_input']['median']:g}, p90 "
                 f"{t['unique_per_input']['p90']:g}; multiplications per step {t['multiplications_per_step']['crew']}"
                 f" vs {t['multiplications_per_step']['baseline']} ({t['multiplications_per_step']['avoided']:.1%} "
                 f"avoided); weight storage {t['storage_bits']['uniform']['ratio']:.3f}x (uniform index width) / "
                 f"{t['storage_bits']['per_input']['ratio']:.3f}x (per-input widths) of "
                 f"{t['storage_bits']['baseline']} bits")
    return lines


def _calibration_batch(args):
    """The labelled batch K is chosen on: the bundled workload's calibration split, or --calibration-data."""
    if args.model is not None:
        if args.calibration_data is None:
            raise ValueError("--clusters auto with --model needs --calibration-data CAL.npz (K is chosen on "
                             "held-out data, never on the test data)")
        x, y, lengths = load_data(args.calibration_data)
    else:
        w = load_workload(args.workload or DEFAULT_WORKLOAD, "calibration")
        x, y, lengths = w.x, w.y, w.lengths
    if args.limit is not None:
        x, y, lengths = x[:args.limit], y[:args.limit], lengths[:args.limit]
    return x, y, lengths


def _clustering(args, src) -> tuple[dict, list]:
    model = src.model
    choice = None
    if args.clusters == "auto":
        if getattr(args, "split", None) == "calibration":
            raise ValueError("--clusters auto chooses K on the calibration split and measures it on the test "
                             "split; leave out --split calibration")
        cx, cy, cl = _calibration_batch(args)
        choice = calibrate_clusters(model, cx, cy, cl, args.budget)
        k = choice.k
    else:
        k = args.clusters
    clustered = clustered_network(model, k)
    stats = network_stats(clustered)
    out = {"k": k, "chosen_on": "calibration" if choice else "given", "budget_pp": args.budget,
           "directions": [s.as_dict() for s in stats], "total": summarize(stats)}
    if choice is not None:
        out["calibration"] = {"sequences": len(cy), "accuracy_unclustered": choice.calibration_accuracy,
                              "loss_pp": choice.calibration_loss_pp,
                              "tried": {str(j): loss for j, loss in choice.tried.items()}}
    if model.net.head is not None and len(src.y):
        base, acc = (accuracy(m, src.x, src.y, src.lengths) for m in (model, clustered))
        out["test"] = {"sequences": len(src.y), "accuracy_unclustered": base, "accuracy": acc,
                       "loss_pp": 100 * (base - acc)}
    return out, stats


def run_crew(args) -> int:
    if args.calibration_data is not None and args.model is None:
        raise ValueError("--calibration-data goes with --model; a bundled workload brings its calibration split")
    if args.calibration_data is not None and args.clusters != "auto":
        raise ValueError("--calibration-data is for --clusters auto")
    src = load_source(args)
    stats = network_stats(src.model)
    result = {"source": src.name, "scheme": "crew", "weight_bits": src.model.config.weight.bits,
              "directions": [s.as_dict() for s in stats], "total": summarize(stats), "clustering": None}
    print(f"{src.name}: CREW unique-weight reuse (exact), {result['weight_bits']}-bit weights; per layer "
          f"direction (U: unique weights per input; idx bits u/p: the uniform index width / the mean per-input "
          f"width; storage: indices + unique-value tables against the baseline's weights)")
    print("\n".join(_stats_table(stats)))
    if args.clusters is not None:
        clustering, cstats = _clustering(args, src)
        result["clustering"] = clustering
        head = f"clustered to K = {clustering['k']} unique weights per input (no longer exact)"
        if "calibration" in clustering:
            c = clustering["calibration"]
            head += (f"; K chosen on {c['sequences']} calibration sequences: the smallest within the "
                     f"{args.budget:g} pp budget, loss {c['loss_pp']:.2f} pp")
        if "test" in clustering:
            t = clustering["test"]
            head += (f"; test ({t['sequences']} sequences): accuracy {t['accuracy']:.4f} vs "
                     f"{t['accuracy_unclustered']:.4f} unclustered, loss {t['loss_pp']:.2f} pp")
        print(head)
        print("\n".join(_stats_table(cstats)))
    if args.json:
        write_json(args.json, result)
    return 0


def register(sub) -> None:
    p = sub.add_parser("crew", help="CREW statistics: unique weights per input, multiplications and weight "
                                    "storage against the baseline, optional weight clustering")
    add_source_arguments(p, default_workload=True, data_help="data for --model (the test data of --clusters)")
    p.add_argument("--json", type=output_file, metavar="OUT.json", help="write the statistics as JSON")
    p.add_argument("--clusters", type=clusters_argument, metavar="K|auto",
                   help="also cluster each input's weights to at most K values (auto: the smallest K within "
                        "--budget on the calibration split)")
    p.add_argument("--budget", type=finite_at_least(0.0), default=DEFAULT_BUDGET, metavar="PP",
                   help=f"accuracy loss budget of --clusters auto, percentage points (default {DEFAULT_BUDGET:g})")
    p.add_argument("--calibration-data", metavar="CAL.npz",
                   help="labelled calibration data of --clusters auto with --model (held out from training and "
                        "from --data)")
    p.add_argument("--quiet", action="store_true", help="no progress messages (warnings only)")
    p.set_defaults(func=run_crew)


__all__ = ["clusters_argument", "register", "run_crew"]
