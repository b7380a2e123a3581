"""``fuzzymemo calibrate`` and ``fuzzymemo evaluate``: per-layer thresholds of a predictor chosen on a
calibration split, and the calibrated policy measured on a test split (golden_model.reuse_calibration)."""

from __future__ import annotations

import dataclasses
import logging

from golden_model import schemes
from golden_model.reuse_calibration import (
    DEFAULT_GRANULARITY,
    GRANULARITIES,
    INPUT_SCHEMES,
    MAX_VIEWS,
    Calibration,
    calibrate,
    calibrate_best,
    calibrate_scheme,
    evaluate,
    evaluate_scheme,
    format_thresholds,
)

from .args import at_least, finite_at_least, output_file, write_json
from .predictor_args import (
    AUTO_PREDICTOR,
    CLI_PREDICTOR,
    MEMO_SCHEME,
    add_policy_arguments,
    add_scheme_argument,
    auto_candidates,
    candidates_text,
    check_input_scheme_options,
    predictor_parameters,
)
from .source import add_source_arguments, load_source

log = logging.getLogger(__name__)


def _thresholds(cal: Calibration) -> str:
    if not cal.memo:
        return "memo off" if cal.scheme == MEMO_SCHEME else "none (the baseline)"
    if cal.scheme == "delta":
        theta_h = cal.parameters.get("theta_h", cal.thresholds)
        return "theta_x " + ", ".join(f"{t:g}" for t in cal.thresholds) + "; theta_h " + \
            ", ".join(f"{t:g}" for t in theta_h)
    if cal.scheme == "similarity":
        return "levels " + ", ".join(f"{t:g}" for t in cal.thresholds)
    return format_thresholds(cal.thresholds)


def _warn_resolution(cal: Calibration, budget_pp: float) -> None:
    """Say so when one misclassified calibration sequence costs more than the budget: the choice then rests
    on the estimated loss, which such a split cannot check (docs/predictors.md, *Calibration*)."""
    step = 100.0 / cal.measured["view_sequences"]
    if step > budget_pp:
        views = cal.measured["views"]
        log.warning("%d calibration sequences, %d start view%s each: one misclassified sequence is %.2f pp, more "
                    "than the %g pp budget, so the observed loss cannot check the choice; more data or --views "
                    "makes it finer", cal.measured["sequences"], views, "" if views == 1 else "s", step, budget_pp)


def _split(args, split: str) -> str:
    """What a command's data is: the bundled workload's split, or the user's data file."""
    return split if args.model is None else str(args.data)


def run_calibrate_scheme(args) -> int:
    check_input_scheme_options(args, CLI_PREDICTOR)
    if args.param:
        raise ValueError(f"--param: --scheme {args.scheme} calibrates its own settings; it takes --thresholds")
    if args.granularity is not None:
        raise ValueError(f"--granularity: --scheme {args.scheme} has no neuron thresholds (its thresholds are per "
                         f"layer input)")
    src = load_source(args, split="calibration")
    cal = calibrate_scheme(src.model, src.x, src.y, src.lengths, args.scheme, budget_pp=args.budget,
                           grid=args.thresholds, views=args.views, progress=log.info)
    _warn_resolution(cal, args.budget)
    cal = dataclasses.replace(cal, measured={**cal.measured, "data": src.name, "split": _split(args, "calibration")})
    m = cal.measured
    where = (f"{m['view_sequences']} start views of {m['sequences']} calibration sequences "
             f"({_split(args, 'calibration')})")
    if not cal.memo:
        print(f"{src.name}: no {args.scheme} setting keeps the loss within {args.budget} pp on {where} (the "
              f"smallest: {m['smallest_threshold_loss_pp']:.2f} pp): the baseline (reuse 0)")
    else:
        print(f"{src.name}: {args.scheme} {_thresholds(cal)}: MACs avoided (reuse) {m['reuse']:.1%}, inputs "
              f"unchanged {m['inputs_unchanged']:.1%}, estimated loss {m['estimated_loss']:.2f} pp (observed "
              f"{m['metric_loss']:.2f} pp, budget {args.budget} pp) on {where}")
    return _written(args, cal.as_dict())


def run_calibrate(args) -> int:
    if args.scheme != MEMO_SCHEME:
        return run_calibrate_scheme(args)
    args.predictor = args.predictor or CLI_PREDICTOR
    src = load_source(args, split="calibration")
    options = dict(budget_pp=args.budget, form=args.form, rule=args.rule, cache_update=args.cache_update,
                   grid=args.thresholds, views=args.views or 1, granularity=args.granularity or DEFAULT_GRANULARITY,
                   progress=log.info)
    if args.predictor == AUTO_PREDICTOR:
        cal = calibrate_best(src.model, src.x, src.y, src.lengths, auto_candidates(args.param), **options)
        chosen = f"{cal.predictor} saves most" if cal.memo else "none saves anything (memo off)"
        print(f"{src.name}: --predictor auto: {chosen} on the calibration data (net saving: "
              f"{candidates_text(cal.measured['candidates'])})")
        args.predictor = cal.predictor
    else:
        params = predictor_parameters([args.predictor], args.param)[args.predictor]
        cal = calibrate(src.model, src.x, src.y, src.lengths, args.predictor, parameters=params, **options)
    cal = dataclasses.replace(cal, measured={**cal.measured, "data": src.name, "split": _split(args, "calibration")})
    _warn_resolution(cal, args.budget)
    m = cal.measured
    if not cal.memo:
        print(f"{src.name}: no threshold of {args.predictor} keeps the loss within {args.budget} pp on the "
              f"{m['view_sequences']} start views of {m['sequences']} calibration sequences (the smallest: "
              f"{m['smallest_threshold_loss_pp']:.2f} pp estimated): memo off (reuse 0)")
    else:
        print(f"{src.name}: {args.predictor} {cal.form} thresholds per layer {_thresholds(cal)}: reuse "
              f"{m['reuse']:.1%}, net saving {m['net_saving']:.1%}, estimated loss {m['estimated_loss']:.2f} pp "
              f"(observed {m['metric_loss']:.2f} pp, budget {args.budget} pp) on {m['view_sequences']} start views "
              f"of {m['sequences']} calibration sequences")
        if m["net_saving"] <= 0:
            log.warning(f"the net saving is {m['net_saving']:.1%}: {args.predictor} costs more multiply-accumulates "
                        f"than it skips on this model (memo off saves more of them; the tile's cycles may still "
                        f"drop, its predictor has lanes of its own: docs/predictors.md, *Net saving*)")
    return _written(args, cal.as_dict())


def run_evaluate_scheme(args, cal: Calibration, src) -> int:
    result = {"workload": src.name, "scheme": cal.scheme, "split": _split(args, "test"), "memo": cal.memo,
              **evaluate_scheme(src.model, src.x, src.y, src.lengths, cal), "calibration": cal.measured}
    print(f"{src.name}: {cal.scheme} at {_thresholds(cal)} (calibrated on {cal.measured.get('split', '?')}) on "
          f"{result['sequences']} {result['split']} sequences: MACs avoided (reuse) {result['reuse']:.1%}, inputs "
          f"unchanged {result['inputs_unchanged']:.1%}, accuracy {result['metric']:.4f} (loss "
          f"{result['metric_loss']:.2f} pp against the fixed-point model)")
    return _written(args, result)


def run_evaluate(args) -> int:
    cal = Calibration.load(args.calibration)
    src = load_source(args, split="test")
    cal.check_model(src.model, where=str(args.calibration))
    if cal.scheme in INPUT_SCHEMES:
        return run_evaluate_scheme(args, cal, src)
    result = {"workload": src.name, "scheme": cal.scheme, "predictor": cal.predictor, "rule": cal.rule,
              "form": cal.form, "parameters": cal.parameters, "memo": cal.memo,
              **evaluate(src.model, src.x, src.y, src.lengths, cal), "calibration": cal.measured}
    print(f"{src.name}: {cal.predictor} at thresholds {_thresholds(cal)} on {result['sequences']} test sequences: "
          f"reuse {result['reuse']:.1%}, net saving {result['net_saving']:.1%}, accuracy {result['metric']:.4f} "
          f"(loss {result['metric_loss']:.2f} pp against the fixed-point model)")
    return _written(args, result)


def _written(args, payload: dict) -> int:
    """Write ``payload`` to ``--json`` (if given) and say so; the command's exit status."""
    if args.json:
        write_json(args.json, payload)
        print(f"wrote {args.json}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="per-layer thresholds of a predictor within a loss budget, chosen on "
                                         "a calibration split")
    add_source_arguments(p, splits=False, data_help="calibration data for --model (held out from training and "
                                                    "testing)")
    add_scheme_argument(p)
    p.add_argument("--predictor", choices=[*schemes.names(("predictor", "oracle")), AUTO_PREDICTOR],
                   help=f"the registered predictor or oracle to calibrate (--scheme memo; default {CLI_PREDICTOR}), "
                        f"or auto: every predictor with hardware, the one with the highest net saving on the "
                        f"calibration data kept")
    add_policy_arguments(p, auto_form=True)
    p.add_argument("--views", type=at_least(1),
                   help=f"start views per calibration sequence (memo: default 1, more also require the observed "
                        f"loss within the budget; delta/similarity: default the fewest giving 100/budget view "
                        f"sequences, at most {MAX_VIEWS}; docs/predictors.md and docs/delta.md, *Calibration*)")
    p.add_argument("--granularity", choices=GRANULARITIES,
                   help=f"--scheme memo: one threshold per layer, or per gate where raising single gates saves "
                        f"more within the budget (default {DEFAULT_GRANULARITY})")
    p.add_argument("--budget", type=finite_at_least(0.0), default=1.0,
                   help="loss budget in percentage points against the fixed-point model (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.add_argument("--json", type=output_file, metavar="CAL.json", help="write the calibration")
    p.set_defaults(func=run_calibrate)

    p = sub.add_parser("evaluate", help="a calibrated predictor on a test split: reuse, net saving, loss")
    add_source_arguments(p, splits=False, data_help="test data for --model")
    p.add_argument("--calibration", required=True, metavar="CAL.json", help="written by 'fuzzymemo calibrate'")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.add_argument("--json", type=output_file, metavar="OUT.json", help="write the results as JSON")
    p.set_defaults(func=run_evaluate)
