"""``fuzzymemo run``: the accelerator tile in RTL simulation, end to end on a workload.

Builds two tiles for the model (the baseline, elaborated without memoization hardware, and the memoizing
tile), runs the sequences through both on Verilator or Icarus (host-driven layer by layer, see
``sim/tile_host.py``), checks every h_t of every layer against the golden model and reports cycles,
reuse, speedup and accuracy."""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

from golden_model import intops
from golden_model.memo import BNN
from golden_model.sweep import DEFAULT_THRESHOLDS, accuracy, pick_threshold, sweep

from .source import add_source_arguments, load_source

#: Grid of ``--threshold auto`` per form (relative: the sweep's default; absolute: BNN output units).
AUTO_GRIDS = {intops.RELATIVE: DEFAULT_THRESHOLDS, intops.ABSOLUTE: tuple(range(0, 32, 2))}
AUTO_BUDGET_PP = 1.0


def _threshold(text: str):
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a number or 'auto', not {text!r}") from None


def _say(args, message: str) -> None:
    if not args.quiet:
        print(f"[run] {message}", file=sys.stderr, flush=True)


def choose_threshold(args, src_full) -> tuple[float, dict]:
    """The threshold to run and how it was chosen. ``auto``: the largest swept BNN threshold within a 1 pp
    loss budget (golden_model.sweep.pick_threshold) on the whole data set, 0 if none qualifies."""
    if args.threshold != "auto":
        intops.quantize_threshold(args.threshold, args.form)   # a clear error before any build
        return float(args.threshold), {"threshold_source": "given"}
    grid = AUTO_GRIDS[args.form]
    records = sweep(src_full.model, src_full.x, src_full.y, src_full.lengths, (BNN,), grid, args.form)
    chosen = pick_threshold(records, BNN, AUTO_BUDGET_PP)
    if chosen is None:
        _say(args, f"no swept {args.form} BNN threshold keeps the loss within {AUTO_BUDGET_PP} pp "
                   f"(threshold {records[0]['threshold']:g} loses {records[0]['metric_loss']:.2f} pp); using 0")
        return 0.0, {"threshold_source": f"auto: none within {AUTO_BUDGET_PP} pp, 0 used",
                     "auto_found": False}
    _say(args, f"auto threshold ({args.form}): {chosen['threshold']:g}, golden reuse {chosen['reuse']:.1%}, "
               f"loss {chosen['metric_loss']:.2f} pp on {src_full.x.shape[0]} sequences")
    return float(chosen["threshold"]), {"threshold_source": f"auto: largest within {AUTO_BUDGET_PP} pp",
                                        "auto_found": True, "auto_golden_reuse": chosen["reuse"],
                                        "auto_golden_loss_pp": chosen["metric_loss"]}


def _cycle_model(params, run, memo_enable: bool) -> int | None:
    """The RTL's cycle model for the run (None when hw.tile_params has none or its interface changed)."""
    from sim import tile_host

    try:
        return tile_host.predicted_cycles(params, run, memo_enable)
    except (ImportError, TypeError, ValueError, AttributeError):
        return None


def run_tile(args) -> int:
    from sim import tile_host

    start_all = time.perf_counter()
    full_args = copy.copy(args)
    full_args.limit = None
    src_full = load_source(full_args)
    src = load_source(args)
    model, net = src.model, src.model.net
    threshold, how = choose_threshold(args, src_full)
    # fit checks before any build: sizes, lengths, thresholds
    lanes = tile_host.default_lanes(net) if args.lanes is None else args.lanes
    bnn_width = tile_host.default_bnn_width(net, lanes) if args.bnn_width is None else args.bnn_width
    p_base = tile_host.tile_params(model, lanes=lanes, bnn_width=bnn_width, memo=False)
    p_memo = tile_host.tile_params(model, lanes=lanes, bnn_width=bnn_width, memo=True)
    policy_check = tile_host.policy_for(True, threshold, args.form)
    tile_host.check_fits(p_memo, model, src.lengths, policy_check)
    runs = {}
    for label, params, memo_enable in (("baseline", p_base, False), ("memo", p_memo, True)):
        t0 = time.perf_counter()
        design = tile_host.tile_design(params, model)
        from sim import runner

        runner.build(design, args.sim)
        _say(args, f"{label} tile (L={lanes}, B={bnn_width}) elaborated and built for {args.sim} in "
                   f"{time.perf_counter() - t0:.1f} s; running {src.x.shape[0]} sequences "
                   f"({int(src.lengths.sum())} steps x {net.num_layers * net.num_directions} layer-directions)")
        t0 = time.perf_counter()
        runs[label] = tile_host.run_network(design, args.sim, params, model, src.x, src.lengths,
                                            memo_enable=memo_enable, threshold=threshold, form=args.form,
                                            valid_prob=args.valid_prob, ready_prob=args.ready_prob,
                                            seed=args.seed, strict=False, run_name=f"cli-{label}",
                                            quiet=not args.sim_output)
        r = runs[label]
        _say(args, f"{label}: {r.sim_cycles} cycles simulated in {time.perf_counter() - t0:.1f} s, "
                   f"{'bit-exact' if r.bit_exact else f'{r.mismatches} MISMATCHES'} (log {r.run_dir}/sim.log)")
    base, memo = runs["baseline"], runs["memo"]
    y = src.y
    acc_rtl = accuracy(model.logits(memo.outputs[-1], src.lengths), y)
    acc_golden = accuracy(model.logits(memo.expected[-1], src.lengths), y)
    acc_base_rtl = accuracy(model.logits(base.outputs[-1], src.lengths), y)
    evaluations = memo.counters.get("evaluations", int(memo.stats.evaluations.sum()))
    reuses = memo.counters.get("reuses", int(memo.stats.reuses.sum()))
    reuse = reuses / evaluations if evaluations else 0.0
    golden_reuse = float(memo.stats.reuses.sum() / max(1, memo.stats.evaluations.sum()))
    cyc_base, cyc_memo = base.counters["cycles"], memo.counters["cycles"]
    sim_cycles = base.sim_cycles + memo.sim_cycles
    # the simulator processes' wall time (start-up, job and result files included; builds excluded)
    sim_seconds = sum(r.wall_seconds for r in (base, memo))
    result = {
        "workload": src.name, "sim": args.sim, "sequences": int(src.x.shape[0]),
        "steps": int(src.lengths.sum()), "cell": net.cell, "layers": net.num_layers,
        "directions": net.num_directions, "hidden": net.hidden_size, "lanes": lanes, "bnn_width": bnn_width,
        "threshold": threshold, "form": args.form, **how,
        "bit_exact": bool(base.bit_exact and memo.bit_exact),
        "bit_exact_baseline": bool(base.bit_exact), "bit_exact_memo": bool(memo.bit_exact),
        "counters_match_golden": bool(base.counters_ok and memo.counters_ok),
        "reuse": reuse, "reuse_golden": golden_reuse,
        "accuracy_rtl": acc_rtl, "accuracy_golden": acc_golden, "accuracy_baseline_rtl": acc_base_rtl,
        "cycles_baseline": cyc_base, "cycles_memo": cyc_memo,
        "speedup": cyc_base / cyc_memo if cyc_memo else None,
        "expected_speedup": 1.0 / (1.0 - reuse) if reuse < 1 else None,
        "mac_utilization_baseline": base.useful_macs / (lanes * cyc_base) if cyc_base else None,
        "mac_utilization_memo": memo.useful_macs * (1 - reuse) / (lanes * cyc_memo) if cyc_memo else None,
        "stalls_baseline": base.counters.get("stalls"), "stalls_memo": memo.counters.get("stalls"),
        "sim_cycles": sim_cycles, "sim_seconds": sim_seconds,
        "sim_cycles_per_second": sim_cycles / sim_seconds if sim_seconds else None,
        "sim_run_seconds": sum(r.sim_seconds for r in (base, memo)),
        "wall_seconds": None,
        "passes_baseline": base.passes, "passes_memo": memo.passes,
    }
    for label, params, r in (("baseline", p_base, base), ("memo", p_memo, memo)):
        predicted = _cycle_model(params, r, label == "memo")
        if predicted is not None:
            result[f"cycles_model_{label}"] = predicted
    if not base.bit_exact or not memo.bit_exact:
        result["mismatch_report"] = "\n".join(r.report for r in (base, memo) if r.report)
    result["wall_seconds"] = time.perf_counter() - start_all
    print(_summary(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
        print(f"wrote {args.json}")
    return 0 if result["bit_exact"] else 1


def _summary(r: dict) -> str:
    def pct(v):
        return "-" if v is None else f"{v:.1%}"

    lines = [
        f"{r['workload']}: {r['layers']}-layer{' bidirectional' if r['directions'] == 2 else ''} "
        f"{r['cell'].upper()} H={r['hidden']}, tile L={r['lanes']} B={r['bnn_width']}, {r['sim']}, "
        f"{r['sequences']} sequences ({r['steps']} steps)",
        f"  bit-exact vs golden model: {'yes' if r['bit_exact'] else 'NO'} "
        f"(baseline {'yes' if r['bit_exact_baseline'] else 'no'}, memo {'yes' if r['bit_exact_memo'] else 'no'}); "
        f"counters match golden: {'yes' if r['counters_match_golden'] else 'NO'}",
        f"  threshold {r['threshold']:g} ({r['form']}, {r['threshold_source']})",
        f"  reuse {pct(r['reuse'])}  accuracy RTL {r['accuracy_rtl']:.4f}, golden {r['accuracy_golden']:.4f}, "
        f"baseline {r['accuracy_baseline_rtl']:.4f}",
        f"  cycles baseline {r['cycles_baseline']}, memo {r['cycles_memo']}: speedup "
        f"{r['speedup']:.3f}x (1/(1-reuse) = {r['expected_speedup']:.3f}x)",
        f"  MAC utilization baseline {pct(r['mac_utilization_baseline'])}, memo {pct(r['mac_utilization_memo'])}",
    ]
    if "cycles_model_baseline" in r:
        model_b, model_m = r["cycles_model_baseline"], r.get("cycles_model_memo")
        lines.append(f"  cycle model (hw.tile_params.expected_cycles): baseline {model_b} "
                     f"({r['cycles_baseline'] / model_b - 1:+.2%} measured), memo {model_m}"
                     + (f" ({r['cycles_memo'] / model_m - 1:+.2%} measured)" if model_m else ""))
    lines.append(f"  simulation: {r['sim_cycles']} cycles in {r['sim_seconds']:.1f} s "
                 f"({r['sim_cycles_per_second']:.0f} cycles/s); total {r['wall_seconds']:.1f} s")
    if not r["bit_exact"]:
        lines.append(r.get("mismatch_report", ""))
    return "\n".join(lines)


def register(sub) -> None:
    p = sub.add_parser("run", help="run a workload through the tile in RTL simulation (baseline and memo)")
    add_source_arguments(p)
    p.add_argument("--sim", choices=("verilator", "icarus"), default="verilator")
    p.add_argument("--threshold", type=_threshold, default="auto",
                   help="BNN threshold, or 'auto' (default): the largest swept threshold within 1 pp loss "
                        "on the whole data set (also with --limit); 0 when none qualifies")
    p.add_argument("--form", choices=intops.THRESHOLD_FORMS, default=intops.RELATIVE)
    p.add_argument("--lanes", type=int, metavar="L", help="multiply-accumulates per cycle (default: the largest "
                                                          "power of two <= 8 dividing the input and hidden sizes)")
    p.add_argument("--bnn-width", type=int, metavar="B", help="BNN sign bits per cycle (default: see docs)")
    p.add_argument("--valid-prob", type=float, default=1.0, help="x stream valid probability (default 1)")
    p.add_argument("--ready-prob", type=float, default=1.0, help="h stream ready probability (default 1)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", metavar="OUT.json", help="write the results as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.add_argument("--sim-output", action="store_true",
                   help="show the simulator's output (default: sim.log in the run directory)")
    p.set_defaults(func=run_tile)


__all__ = ["choose_threshold", "register", "run_tile"]
