"""``fuzzymemo run --scheme delta``: the delta tile against the baseline tile of as many lanes, in RTL
simulation, every h_t checked against the golden delta model (docs/delta.md)."""

from __future__ import annotations

import logging

from golden_model.delta import DELTA, check_theta, input_counts
from golden_model.reuse_calibration import Calibration, calibrate_scheme
from golden_model.sweep import accuracy

from ..compiled import CompiledModel
from .tile_runs import accuracy_text, calibration_data, network_line, run_both, summary_end

__all__ = ["delta_summary", "run_delta"]

log = logging.getLogger("fuzzymemo.commands.run")

AUTO_BUDGET_PP = 1.0


def delta_thresholds(args, src_full) -> tuple[tuple, tuple, dict]:
    """(theta_x, theta_h) per layer and how they were chosen: ``--calibration`` (a delta calibration),
    ``--threshold`` with ``--theta-h``, or ``auto``: calibrated within AUTO_BUDGET_PP on held-out data."""
    layers = src_full.model.net.num_layers
    if args.calibration is not None:
        cal = Calibration.load(args.calibration)
        if cal.scheme != DELTA:
            raise ValueError(f"{args.calibration} calibrates the {cal.scheme} scheme, not delta")
        cal.check_model(src_full.model, where=str(args.calibration))
        source = {"threshold_source": f"calibration file {args.calibration}"}
    elif args.threshold != "auto":
        theta_x = check_theta(args.threshold, "--threshold (theta_x)")
        theta_h = check_theta(args.theta_h, "--theta-h") if args.theta_h is not None else theta_x
        return (theta_x,) * layers, (theta_h,) * layers, {"threshold_source": "given"}
    else:
        x, y, lengths, where = calibration_data(args)
        cal = calibrate_scheme(src_full.model, x, y, lengths, DELTA, budget_pp=AUTO_BUDGET_PP, progress=log.info)
        source = {"threshold_source": f"auto on {where}: largest within {AUTO_BUDGET_PP} pp"}
    if not cal.memo:
        return (0,) * layers, (0,) * layers, source
    theta_x = tuple(int(t) for t in cal.thresholds)
    return theta_x, tuple(int(t) for t in cal.parameters.get("theta_h", theta_x)), source


def _figures(src, runs: dict, compiled: CompiledModel) -> dict:
    (p_base, base), (_, delta) = runs["baseline"], runs[DELTA]
    cyc_base, cyc_delta = base.counters["cycles"], delta.counters["cycles"]
    counts = input_counts(delta.stats)
    changed_golden = int(counts.inputs.sum() - counts.unchanged.sum())
    changed_rtl = delta.counters["x_changed"] + delta.counters["h_changed"]
    reuse = delta.stats.multiplications_avoided()
    baseline_macs = int(delta.stats.baseline_multiplications.sum())
    rtl_macs = delta.counters["corrections"] * compiled.params.lanes
    model, lengths = src.model, src.lengths
    if model.net.head is None:
        acc = {"accuracy_rtl": None, "accuracy_baseline_rtl": None, "metric_loss": None}
    else:
        acc = {"accuracy_rtl": accuracy(model.logits(delta.outputs[-1], lengths), src.y),
               "accuracy_baseline_rtl": accuracy(model.logits(base.outputs[-1], lengths), src.y)}
        acc["metric_loss"] = (acc["accuracy_baseline_rtl"] - acc["accuracy_rtl"]) * 100.0
    return {
        "bit_exact": bool(base.bit_exact and delta.bit_exact),
        "bit_exact_baseline": bool(base.bit_exact), "bit_exact_delta": bool(delta.bit_exact),
        "counters_match_golden": bool(base.counters_ok and delta.counters_ok
                                      and changed_rtl == changed_golden),
        "reuse": reuse, "inputs_unchanged": counts.fraction_unchanged(),
        "inputs_changed_rtl": changed_rtl, "inputs_changed_golden": changed_golden,
        "macs_baseline": baseline_macs, "macs_rtl": rtl_macs,
        "reuse_rtl": 1.0 - rtl_macs / baseline_macs if baseline_macs else 0.0, **acc,
        "cycles_baseline": cyc_base, "cycles_delta": cyc_delta,
        "speedup": cyc_base / cyc_delta if cyc_delta else None,
        "expected_speedup": 1.0 / (1.0 - reuse) if reuse < 1 else None,
        "cycles_model_baseline": p_base.predicted_cycles(base), "cycles_model_delta": compiled.predicted_cycles(delta),
        "sim_cycles": base.sim_cycles + delta.sim_cycles, "sim_seconds": sum(r.wall_seconds for r in (base, delta)),
        "passes_baseline": base.passes, "passes_delta": delta.passes,
    }


def run_delta(args, src_full, src) -> dict:
    """Both tiles on ``src`` at the chosen thresholds; the result dict of the JSON (docs/delta.md)."""
    theta_x, theta_h, how = delta_thresholds(args, src_full)
    compiled = CompiledModel(src.model, scheme=DELTA, lanes=args.lanes, max_steps=args.max_steps)
    compiled.check(src.lengths, compiled.policy(theta_x, theta_h=theta_h))
    runs = run_both(args, compiled, src, reuse_label=DELTA, run_options={"threshold": theta_x, "theta_h": theta_h})
    net = src.model.net
    result = {
        "workload": src.name, "sim": args.sim, "sequences": int(src.x.shape[0]), "steps": int(src.lengths.sum()),
        "cell": net.cell, "layers": net.num_layers, "directions": net.num_directions, "hidden": net.hidden_size,
        "scheme": DELTA, "lanes": compiled.params.lanes, "theta_x": list(theta_x), "theta_h": list(theta_h), **how,
        **_figures(src, runs, compiled),
    }
    if not result["bit_exact"]:
        result["mismatch_report"] = "\n".join(r.report for _, r in runs.values() if r.report)
    return result


def delta_summary(r: dict) -> str:
    """The run's figures as a few lines of text."""
    lines = [
        f"{network_line(r)}, delta tile L={r['lanes']} neuron lanes, baseline tile L={r['lanes']}; {r['sim']}, "
        f"{r['sequences']} sequences ({r['steps']} steps)",
        f"  bit-exact vs golden model: {'yes' if r['bit_exact'] else 'NO'} (baseline "
        f"{'yes' if r['bit_exact_baseline'] else 'no'}, delta {'yes' if r['bit_exact_delta'] else 'no'}); counters "
        f"match golden: {'yes' if r['counters_match_golden'] else 'NO'}",
        f"  theta_x {r['theta_x']}, theta_h {r['theta_h']} ({r['threshold_source']})",
        f"  MACs avoided {r['reuse']:.1%} (inputs unchanged {r['inputs_unchanged']:.1%}); accuracy RTL "
        f"{accuracy_text(r['accuracy_rtl'])}, baseline {accuracy_text(r['accuracy_baseline_rtl'])}",
        f"  cycles baseline {r['cycles_baseline']}, delta {r['cycles_delta']}: speedup {r['speedup']:.3f}x "
        f"(1/(1-reuse) = {r['expected_speedup']:.3f}x; cycle model {r['cycles_model_baseline']} / "
        f"{r['cycles_model_delta']})",
    ]
    return summary_end(r, lines)
