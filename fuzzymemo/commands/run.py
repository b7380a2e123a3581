"""``fuzzymemo run``: the accelerator tile in RTL simulation, end to end on a workload.

Builds two tiles for the model (the baseline, elaborated without memoization hardware, and the memoizing
tile), runs the sequences through both on Verilator or Icarus (host-driven layer by layer, see
``fuzzymemo/compiled.py``), checks every h_t of every layer against the golden model and reports cycles,
reuse, speedup and accuracy."""

from __future__ import annotations

import argparse
import logging
import time

from golden_model import intops, schemes
from golden_model.reuse_calibration import AUTO_FORM, Calibration, calibrate, calibrate_best, format_thresholds
from golden_model.sweep import accuracy
from hw.tile_cycles import neuron_beats
from hw.tile_params import TileParams

from ..compiled import CREW, DELTA, SIMILARITY, CompiledModel
from ..energy import energy_figures, energy_line, load_table
from .args import at_least, output_file, probability
from .crew_run import crew_summary, run_crew
from .delta_run import delta_summary, run_delta
from .predictor_args import (
    AUTO_PREDICTOR,
    CLI_PREDICTOR,
    add_policy_arguments,
    auto_candidates,
    candidates_text,
    predictor_parameters,
)
from .source import add_source_arguments, load_source
from .tile_runs import accuracy_text, calibration_data, finish, network_line, run_both

log = logging.getLogger(__name__)

AUTO_BUDGET_PP = 1.0


def _threshold(text: str):
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a number or 'auto', not {text!r}") from None


def _calibrated_scheme(args) -> str:
    """The scheme a ``--calibration`` file calibrates (memo without one)."""
    return Calibration.load(args.calibration).scheme if args.calibration is not None else "memo"


def choose_calibration(args, src_full) -> tuple[Calibration, dict]:
    """The calibration the run uses and how it was made: ``--calibration`` (from the file), a given
    ``--threshold`` (every layer), or ``auto``: the predictor calibrated on held-out data within
    AUTO_BUDGET_PP (golden_model.reuse_calibration), memo off when nothing fits."""
    if args.calibration is not None:
        cal = Calibration.load(args.calibration)
        if cal.scheme != "memo":   # --scheme memo given with another scheme's calibration
            raise ValueError(f"{args.calibration} calibrates the {cal.scheme} scheme: run it with --scheme "
                             f"{cal.scheme} (or without --scheme)")
        cal.check_model(src_full.model, where=str(args.calibration))
        return cal, {"threshold_source": f"calibration file {args.calibration}"}
    auto = args.predictor == AUTO_PREDICTOR
    if auto and args.threshold != "auto":
        raise ValueError("--predictor auto is chosen with the thresholds on calibration data: it takes "
                         "--threshold auto (the default), not a given threshold")
    params = {} if auto else predictor_parameters([args.predictor], args.param)[args.predictor]
    if args.threshold != "auto":
        form = intops.RELATIVE if args.form == AUTO_FORM else args.form   # a given threshold: relative by default
        intops.quantize_threshold(args.threshold, form)   # a clear error before any build
        layers = src_full.model.net.num_layers
        return Calibration(args.predictor, (float(args.threshold),) * layers, form, args.rule, params,
                           args.cache_update), {"threshold_source": "given"}
    x, y, lengths, where = calibration_data(args)
    options = dict(budget_pp=AUTO_BUDGET_PP, form=args.form, rule=args.rule, cache_update=args.cache_update,
                   progress=log.info)
    if auto:
        cal = calibrate_best(src_full.model, x, y, lengths, auto_candidates(args.param), **options)
        log.info(f"--predictor auto on {where}: {cal.predictor} ({candidates_text(cal.measured['candidates'])})")
        args.predictor = cal.predictor
    else:
        cal = calibrate(src_full.model, x, y, lengths, args.predictor, parameters=params, **options)
    m = cal.measured
    if not cal.memo:
        log.warning(f"no {args.predictor} threshold keeps the estimated loss within {AUTO_BUDGET_PP} pp on {where} "
                    f"(the smallest: {m['smallest_threshold_loss_pp']:.2f} pp): memo off")
        return cal, {"threshold_source": f"auto on {where}: none within {AUTO_BUDGET_PP} pp, memo off",
                     "auto_found": False}
    log.info(f"auto thresholds ({cal.form}) {format_thresholds(cal.thresholds)} on {where}: golden reuse "
             f"{m['reuse']:.1%}, estimated loss {m['estimated_loss']:.2f} pp on {m['sequences']} sequences")
    return cal, {"threshold_source": f"auto on {where}: largest within {AUTO_BUDGET_PP} pp", "auto_found": True,
                 "auto_calibration_reuse": m["reuse"], "auto_calibration_loss_pp": m["estimated_loss"]}


def _energy_table(text: str) -> tuple[dict, str]:
    """An argparse type: the energy table of a JSON or TOML file (fuzzymemo.energy.load_table) and its name."""
    try:
        return load_table(text), text
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def energy_table(args) -> tuple[dict, str]:
    """The run's energy table and its name: ``--energy-table``'s, else the default one."""
    return getattr(args, "energy_table", None) or (load_table(), "default")


def _computed_macs(run, hidden: int) -> int:
    """MACs of the neurons the tile computed (evaluations - reuses, pass by pass: n_x + H each). A global
    reuse fraction would mis-weigh layers of different input sizes."""
    return sum((ps["counters"]["evaluations"] - ps["counters"]["reuses"]) * (ps["n_x"] + hidden)
               for ps in run.passes)


def ideal_speedup(base_cycles: int, run, params) -> float | None:
    """Issue 10's ideal: the baseline's cycles less the reused neurons' dot-product beats and nothing else,
    pass by pass (hw.tile_cycles.neuron_beats: ceil(n_x/L) + ceil(H/L) per neuron)."""
    saved = sum(ps["counters"]["reuses"] * neuron_beats(params, ps["n_x"]) for ps in run.passes)
    return base_cycles / (base_cycles - saved) if base_cycles > saved else None


def _accuracies(src, base, memo) -> dict:
    """Readout accuracy of the RTL outputs (both tiles) and of the golden model; None for a network
    without a readout head (its outputs are still checked bit for bit)."""
    model, y, lengths = src.model, src.y, src.lengths
    if model.net.head is None:
        return dict.fromkeys(("accuracy_rtl", "accuracy_golden", "accuracy_baseline_rtl"))
    return {"accuracy_rtl": accuracy(model.logits(memo.outputs[-1], lengths), y),
            "accuracy_golden": accuracy(model.logits(memo.expected[-1], lengths), y),
            "accuracy_baseline_rtl": accuracy(model.logits(base.outputs[-1], lengths), y)}


def _figures(src, runs: dict, memo_enable: bool, energy: tuple[dict, str]) -> dict:
    """The run's figures (JSON keys of docs/tile_results.md and docs/energy.md) from both tiles' runs
    and the energy table (table, name)."""
    (p_base, base), (p_memo, memo) = runs["baseline"], runs["memo"]
    lanes = p_memo.params.lanes
    evaluations = memo.counters["evaluations"]
    reuse = memo.counters["reuses"] / evaluations if evaluations else 0.0
    cyc_base, cyc_memo = base.counters["cycles"], memo.counters["cycles"]
    sim_cycles = base.sim_cycles + memo.sim_cycles
    # the simulator processes' wall time (start-up, job and result files included; builds excluded)
    sim_seconds = sum(r.wall_seconds for r in (base, memo))
    return {
        "bit_exact": bool(base.bit_exact and memo.bit_exact),
        "bit_exact_baseline": bool(base.bit_exact), "bit_exact_memo": bool(memo.bit_exact),
        "counters_match_golden": bool(base.counters_ok and memo.counters_ok),
        "reuse": reuse, "reuse_golden": float(memo.stats.reuses.sum() / max(1, memo.stats.evaluations.sum())),
        **_accuracies(src, base, memo),
        "cycles_baseline": cyc_base, "cycles_memo": cyc_memo,
        "speedup": cyc_base / cyc_memo if cyc_memo else None,
        "expected_speedup": 1.0 / (1.0 - reuse) if reuse < 1 else None,
        "ideal_speedup": ideal_speedup(cyc_base, memo, p_memo.params),
        "cycles_model_baseline": p_base.predicted_cycles(base),
        "cycles_model_memo": p_memo.predicted_cycles(memo, memo_enable),
        "mac_utilization_baseline": base.useful_macs / (lanes * cyc_base) if cyc_base else None,
        "mac_utilization_memo": _computed_macs(memo, src.model.net.hidden_size) / (lanes * cyc_memo)
        if cyc_memo else None,
        "stalls_baseline": base.counters.get("stalls"), "stalls_memo": memo.counters.get("stalls"),
        "sim_cycles": sim_cycles, "sim_seconds": sim_seconds,
        "sim_cycles_per_second": sim_cycles / sim_seconds if sim_seconds else None,
        "sim_run_seconds": sum(r.sim_seconds for r in (base, memo)),
        "passes_baseline": base.passes, "passes_memo": memo.passes,
        **energy_figures(runs["baseline"], runs["memo"], *energy),
    }


def chain_max_steps(args, lengths) -> int | None:
    """``--max-steps``, or with ``--layers-in-hardware`` and none given the longest of ``lengths`` (the whole
    data's, not ``--limit``'s first part, so that a limit changes no design) rounded up to a power of two:
    the chain's layer buffers hold max_steps steps each, and at the tile's default of 4096 converting them
    to Verilog took most of a short run."""
    if args.max_steps is not None or not args.layers_in_hardware:
        return args.max_steps
    return 1 << (int(lengths.max()) - 1).bit_length()


def run_tile(args) -> int:
    start_all = time.perf_counter()
    src_full = load_source(args, apply_limit=False)
    src = src_full.first(args.limit) if args.limit is not None else src_full
    args.max_steps = chain_max_steps(args, src_full.lengths)
    # the tile's shape options fail before a calibration runs, not after it
    TileParams.for_network(src_full.model, lanes=args.lanes, bnn_width=args.bnn_width)
    scheme = args.scheme or _calibrated_scheme(args)
    if args.multipliers is not None and scheme != CREW:
        raise ValueError("--multipliers is a parameter of the CREW tile (--scheme crew)")
    if args.theta_h is not None and scheme != DELTA:
        raise ValueError("--theta-h is a threshold of the delta tile (--scheme delta)")
    if scheme == CREW:
        if args.calibration is not None or args.threshold != "auto":
            raise ValueError("--scheme crew is exact: it takes no --calibration or --threshold (CREW composed with "
                             "memoization or delta reuse is measured by bench/compose_results.py)")
        return finish(args, run_crew(args, src, energy_table(args)), start_all, crew_summary)
    if scheme in (DELTA, SIMILARITY):
        return finish(args, run_delta(args, src_full, src, scheme, energy_table(args)), start_all, delta_summary)
    net = src.model.net
    cal, how = choose_calibration(args, src_full)
    compiled = CompiledModel(src.model, predictor=cal.predictor, rule=cal.rule, predictor_params=cal.parameters,
                             cache_update=cal.cache_update, lanes=args.lanes, bnn_width=args.bnn_width,
                             max_steps=args.max_steps, layers_in_hardware=args.layers_in_hardware)
    compiled.check(src.lengths, compiled.policy(cal.thresholds or 0.0, cal.form, enable=cal.memo))
    runs = run_both(args, compiled, src, run_options={"threshold": cal.thresholds or 0.0, "form": cal.form,
                                                       "enable": cal.memo})
    p = compiled.params
    result = {
        "workload": src.name, "sim": args.sim, "sequences": int(src.x.shape[0]),
        "steps": int(src.lengths.sum()), "cell": net.cell, "layers": net.num_layers,
        "directions": net.num_directions, "hidden": net.hidden_size, "lanes": p.lanes, "bnn_width": p.bnn_width,
        "scheme": compiled.scheme.name, "predictor": compiled.predictor.name,
        "rule": compiled.rule, "parameters": cal.parameters,
        "thresholds": None if not cal.memo else list(cal.thresholds), "memo_enable": cal.memo, "form": cal.form,
        "layers_in_hardware": compiled.layers_in_hardware,
        **how, **_figures(src, runs, cal.memo, energy_table(args)),
    }
    if not result["bit_exact"]:
        result["mismatch_report"] = "\n".join(r.report for _, r in runs.values() if r.report)
    return finish(args, result, start_all, _summary)


def _times(value) -> str:
    return "-" if value is None else f"{value:.3f}x"


def _summary(r: dict) -> str:
    def pct(v):
        return "-" if v is None else f"{v:.1%}"

    lines = [
        f"{network_line(r)}, tile L={r['lanes']} B={r['bnn_width']}, {r['sim']}, "
        f"{r['sequences']} sequences ({r['steps']} steps)",
        f"  bit-exact vs golden model: {'yes' if r['bit_exact'] else 'NO'} "
        f"(baseline {'yes' if r['bit_exact_baseline'] else 'no'}, memo {'yes' if r['bit_exact_memo'] else 'no'}); "
        f"counters match golden: {'yes' if r['counters_match_golden'] else 'NO'}",
        f"  predictor {r['predictor']} ({r['rule']} rule), thresholds per layer "
        f"{'- (memo off)' if r['thresholds'] is None else format_thresholds(r['thresholds'])} "
        f"({r['form']}, {r['threshold_source']})",
        f"  reuse {pct(r['reuse'])}  accuracy RTL {accuracy_text(r['accuracy_rtl'])}, "
        f"golden {accuracy_text(r['accuracy_golden'])}, "
        f"baseline {accuracy_text(r['accuracy_baseline_rtl'])}",
        f"  cycles baseline {r['cycles_baseline']}, memo {r['cycles_memo']}: speedup "
        f"{r['speedup']:.3f}x (ideal: baseline less the reused beats {_times(r['ideal_speedup'])}; 1/(1-reuse) = "
        f"{r['expected_speedup']:.3f}x)",
        f"  MAC utilization baseline {pct(r['mac_utilization_baseline'])}, memo {pct(r['mac_utilization_memo'])}",
        energy_line(r),
    ]
    model_b, model_m = r["cycles_model_baseline"], r["cycles_model_memo"]
    lines.append(f"  cycle model (hw.tile_cycles.expected_cycles): baseline {model_b} "
                 f"({r['cycles_baseline'] / model_b - 1:+.2%} measured), memo {model_m} "
                 f"({r['cycles_memo'] / model_m - 1:+.2%} measured)")
    lines.append(f"  simulation: {r['sim_cycles']} cycles in {r['sim_seconds']:.1f} s "
                 f"({r['sim_cycles_per_second']:.0f} cycles/s); total {r['wall_seconds']:.1f} s")
    if not r["bit_exact"]:
        lines.append(r.get("mismatch_report", ""))
    return "\n".join(lines)


def register(sub) -> None:
    p = sub.add_parser("run", help="run a workload through the tile in RTL simulation (baseline and memo)")
    add_source_arguments(p)
    p.add_argument("--sim", choices=("verilator", "icarus"), default="verilator")
    p.add_argument("--scheme", choices=[e.name for e in schemes.entries(("scheme",)) if e.hardware is not None],
                   help="the reuse scheme of the tile (default: the --calibration file's, else memo: fuzzy "
                        "memoization; delta: delta-network input reuse, --threshold is theta_x; similarity: "
                        "input similarity, --threshold is the levels; crew: "
                        "unique-weight reuse, exact)")
    p.add_argument("--predictor", choices=[*schemes.names(("predictor",)), AUTO_PREDICTOR], default=CLI_PREDICTOR,
                   help=f"the predictor of the memoizing tile (default {CLI_PREDICTOR}; one with hardware), or auto: "
                        f"every one calibrated (--threshold auto), the highest net saving on the calibration data")
    p.add_argument("--calibration", metavar="CAL.json",
                   help="predictor, parameters and per-layer thresholds from 'fuzzymemo calibrate'")
    p.add_argument("--threshold", type=_threshold, default="auto",
                   help="one threshold for every layer, or 'auto' (default): per-layer thresholds calibrated "
                        "within 1 pp on the workload's calibration split (--calibrate-data for --model), "
                        "never on the data run; memo off when none qualifies")
    p.add_argument("--calibrate-data", metavar="CAL.npz", help="held-out labelled data for --threshold auto")
    add_policy_arguments(p, thresholds=False, auto_form=True)
    p.add_argument("--lanes", type=at_least(1), metavar="L",
                   help="multiply-accumulates per cycle (default: the largest power of two <= 8 that leaves every "
                        "neuron at least 10 dot-product beats, ceil(n_x/L) + ceil(H/L); docs/user_guide.md)")
    p.add_argument("--theta-h", type=float, metavar="T",
                   help="delta: the recurrent-part threshold in activation LSBs (default: --threshold's)")
    p.add_argument("--multipliers", type=at_least(1), metavar="M",
                   help="crew: multipliers of the product stage, and the lanes of the baseline it is compared "
                        "with (default: the baseline's default lanes); --lanes are then the adder lanes "
                        "(default 4 M, at most the widest row part)")
    p.add_argument("--bnn-width", type=at_least(1), metavar="B", help="BNN sign bits per cycle (default: see docs)")
    p.add_argument("--max-steps", type=at_least(1), metavar="T",
                   help="longest sequence the tile's step counter holds (default 4096; with "
                        "--layers-in-hardware the data's longest sequence rounded up to a power of two)")
    p.add_argument("--layers-in-hardware", action="store_true",
                   help="the tile sequences the layers itself (hw.layer_chain.LayerChain: x in once, the last "
                        "layer's h out; every scheme); default: the host runs each layer-direction pass")
    p.add_argument("--valid-prob", type=probability, default=1.0, help="x stream valid probability (default 1)")
    p.add_argument("--ready-prob", type=probability, default=1.0, help="h stream ready probability (default 1)")
    p.add_argument("--seed", type=int, default=1, help="seed of the random gaps and back-pressure (default 1)")
    p.add_argument("--energy-table", type=_energy_table, metavar="FILE",
                   help="per-event energies overriding the default 45 nm table, a JSON or TOML file of "
                        "name = pJ entries (docs/energy.md)")
    p.add_argument("--json", type=output_file, metavar="OUT.json", help="write the results as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.add_argument("--sim-output", action="store_true",
                   help="show the simulator's output (default: sim.log in the run directory)")
    p.set_defaults(func=run_tile)


__all__ = ["choose_calibration", "energy_table", "register", "run_tile"]
