"""``fuzzymemo run --scheme delta``: the delta tile against the baseline tile of as many lanes, in RTL
simulation, every h_t checked against the golden delta model (docs/delta.md)."""

from __future__ import annotations

import logging

from golden_model.delta import DELTA, SIMILARITY, check_levels, check_theta, input_counts
from golden_model.reuse_calibration import Calibration, calibrate_scheme
from golden_model.sweep import accuracy

from ..compiled import CompiledModel
from ..energy import energy_figures, energy_line
from .tile_runs import accuracy_text, calibration_data, network_line, run_both, summary_end

__all__ = ["delta_summary", "run_delta"]

log = logging.getLogger("fuzzymemo.commands.run")

AUTO_BUDGET_PP = 1.0


def _calibration(args, src_full, scheme: str) -> tuple:
    """The ``--calibration`` file's or, for ``--threshold auto``, a new calibration of ``scheme`` within
    AUTO_BUDGET_PP on held-out data; with how it was chosen."""
    if args.calibration is not None:
        cal = Calibration.load(args.calibration)
        if cal.scheme != scheme:
            raise ValueError(f"{args.calibration} calibrates the {cal.scheme} scheme, not {scheme}")
        cal.check_model(src_full.model, where=str(args.calibration))
        return cal, {"threshold_source": f"calibration file {args.calibration}"}
    x, y, lengths, where = calibration_data(args)
    cal = calibrate_scheme(src_full.model, x, y, lengths, scheme, budget_pp=AUTO_BUDGET_PP, progress=log.info)
    return cal, {"threshold_source": f"auto on {where}: within {AUTO_BUDGET_PP} pp"}


def input_settings(args, src_full, scheme: str) -> tuple[dict, dict]:
    """The run options of the delta tile's ``scheme`` (delta: theta_x and theta_h per layer; similarity:
    the levels and the quantizer ranges per layer) and the JSON entries saying what they are and where
    they come from: ``--calibration``, ``--threshold`` (with ``--theta-h``), or ``auto``."""
    layers = src_full.model.net.num_layers
    if args.calibration is None and args.threshold != "auto":
        if scheme == SIMILARITY:
            levels = (check_levels(args.threshold),) * layers
            return {"threshold": levels}, {"levels": list(levels), "ranges": None, "threshold_source": "given"}
        theta_x = check_theta(args.threshold, "--threshold (theta_x)")
        theta_h = check_theta(args.theta_h, "--theta-h") if args.theta_h is not None else theta_x
        return ({"threshold": (theta_x,) * layers, "theta_h": (theta_h,) * layers},
                {"theta_x": [theta_x] * layers, "theta_h": [theta_h] * layers, "threshold_source": "given"})
    cal, how = _calibration(args, src_full, scheme)
    if scheme == SIMILARITY:
        levels = tuple(int(v) for v in cal.thresholds) if cal.memo else (1 << src_full.model.config.act.bits,) * layers
        ranges = cal.parameters.get("ranges") if cal.memo else None
        return {"threshold": levels, "ranges": ranges}, {"levels": list(levels), "ranges": ranges, **how}
    theta_x = tuple(int(t) for t in cal.thresholds) if cal.memo else (0,) * layers
    theta_h = tuple(int(t) for t in cal.parameters.get("theta_h", theta_x)) if cal.memo else (0,) * layers
    return ({"threshold": theta_x, "theta_h": theta_h},
            {"theta_x": list(theta_x), "theta_h": list(theta_h), **how})


def _figures(src, runs: dict, compiled: CompiledModel, energy: tuple[dict, str]) -> dict:
    (p_base, base), (_, delta) = runs["baseline"], runs[compiled.scheme.name]
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
        **energy_figures(runs["baseline"], runs[compiled.scheme.name], *energy),
    }


def run_delta(args, src_full, src, scheme: str, energy: tuple[dict, str]) -> dict:
    """Both tiles on ``src`` with the scheme's settings and the energy table (table, name); the result
    dict of the JSON (docs/delta.md)."""
    options, settings = input_settings(args, src_full, scheme)
    compiled = CompiledModel(src.model, scheme=scheme, lanes=args.lanes, max_steps=args.max_steps,
                             layers_in_hardware=args.layers_in_hardware)
    compiled.check(src.lengths, compiled.policy(options["threshold"], theta_h=options.get("theta_h"),
                                                ranges=options.get("ranges")))
    runs = run_both(args, compiled, src, reuse_label=scheme, run_options=options)
    net = src.model.net
    result = {
        "workload": src.name, "sim": args.sim, "sequences": int(src.x.shape[0]), "steps": int(src.lengths.sum()),
        "cell": net.cell, "layers": net.num_layers, "directions": net.num_directions, "hidden": net.hidden_size,
        "layers_in_hardware": compiled.layers_in_hardware,
        "scheme": scheme, "lanes": compiled.params.lanes, **settings, **_figures(src, runs, compiled, energy),
    }
    if not result["bit_exact"]:
        result["mismatch_report"] = "\n".join(r.report for _, r in runs.values() if r.report)
    return result


def delta_summary(r: dict) -> str:
    """The run's figures as a few lines of text."""
    lines = [
        f"{network_line(r)}, {r['scheme']} tile L={r['lanes']} neuron lanes, baseline tile L={r['lanes']}; "
        f"{r['sim']}, "
        f"{r['sequences']} sequences ({r['steps']} steps)",
        f"  bit-exact vs golden model: {'yes' if r['bit_exact'] else 'NO'} (baseline "
        f"{'yes' if r['bit_exact_baseline'] else 'no'}, {r['scheme']} "
        f"{'yes' if r['bit_exact_delta'] else 'no'}); counters "
        f"match golden: {'yes' if r['counters_match_golden'] else 'NO'}",
        (f"  theta_x {r['theta_x']}, theta_h {r['theta_h']}" if r["scheme"] == DELTA else
         f"  levels {r['levels']}, ranges {r['ranges']}") + f" ({r['threshold_source']})",
        f"  MACs avoided {r['reuse']:.1%} (inputs unchanged {r['inputs_unchanged']:.1%}); accuracy RTL "
        f"{accuracy_text(r['accuracy_rtl'])}, baseline {accuracy_text(r['accuracy_baseline_rtl'])}",
        f"  cycles baseline {r['cycles_baseline']}, {r['scheme']} {r['cycles_delta']}: speedup {r['speedup']:.3f}x "
        f"(1/(1-reuse) = {r['expected_speedup']:.3f}x; cycle model {r['cycles_model_baseline']} / "
        f"{r['cycles_model_delta']})",
        energy_line(r),
    ]
    return summary_end(r, lines)
