"""Arguments that select a registered predictor (or the oracle) of the memoization scheme and its
parameters, shared by ``sweep``, ``calibrate`` and ``run``."""

from __future__ import annotations

import argparse

from golden_model import intops, schemes
from golden_model.memo import CACHE_UPDATES, RULES
from golden_model.reuse_calibration import AUTO_FORM, INPUT_SCHEMES
from golden_model.sweep import DEFAULT_GRIDS

#: The predictor ``run`` and ``calibrate`` use unless told otherwise: the highest calibrated net saving on
#: the bundled workloads' calibration splits (docs/results.md). The library's default stays the paper's
#: ``bnn`` (golden_model.schemes.memo.DEFAULT_PREDICTOR), the reference every table reports.
CLI_PREDICTOR = "bnn-planes"
#: ``--predictor auto`` (calibrate, run): every predictor with hardware calibrated, the highest net saving
#: on the calibration data kept (golden_model.reuse_calibration.calibrate_best).
AUTO_PREDICTOR = "auto"


def auto_candidates(given: list[tuple[str, str]]) -> dict[str, dict]:
    """The predictors ``--predictor auto`` chooses from, :data:`CLI_PREDICTOR` first (it wins ties), each
    with the ``--param`` values it declares."""
    names = [e.name for e in schemes.entries(("predictor",)) if e.hardware is not None]
    names = sorted(names, key=lambda name: name != CLI_PREDICTOR)
    return predictor_parameters(names, given)


def candidates_text(candidates: dict[str, dict]) -> str:
    """The net saving of every candidate of ``--predictor auto`` (a calibration's ``measured["candidates"]``)."""
    return ", ".join(f"{name} {'memo off' if not c['memo'] else format(c['net_saving'], '.1%')}"
                     for name, c in candidates.items())


#: What ``--scheme`` selects in sweep and calibrate: memoization (with a predictor) or an input scheme.
MEMO_SCHEME = "memo"


def add_scheme_argument(parser) -> None:
    """--scheme: the memoization scheme (default, with --predictor) or an input-reuse scheme."""
    parser.add_argument("--scheme", choices=(MEMO_SCHEME,) + INPUT_SCHEMES, default=MEMO_SCHEME,
                        help="memo (neuron memoization with --predictor, default), delta (per-input references, "
                             "thresholds theta_x/theta_h in activation LSBs) or similarity (inputs quantized to a "
                             "few levels); docs/delta.md")


def check_input_scheme_options(args, predictor_default) -> None:
    """The memoization-only options are an error with --scheme delta/similarity."""
    if args.scheme == MEMO_SCHEME:
        return
    given = [name for name, unset in (("--predictor", predictor_default), ("--rule", "auto"),
                                      ("--cache-update", "compute")) if getattr(args, name[2:].replace("-", "_"))
             not in (None, unset)]
    if given:
        raise ValueError(f"{', '.join(given)} belong{'s' if len(given) == 1 else ''} to --scheme memo, not "
                         f"--scheme {args.scheme}")


def thresholds_list(text: str) -> list[float]:
    """An argparse type: comma-separated numbers."""
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes comma-separated numbers, not {text!r}") from None


def parameter(text: str) -> tuple[str, str]:
    """An argparse type: NAME=VALUE."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"takes NAME=VALUE, not {text!r}")
    return name.strip().replace("-", "_"), value.strip()


def add_policy_arguments(parser, thresholds: bool = True, auto_form: bool = False) -> None:
    """--param, --rule, --form (``auto_form``: also ``auto``, the default), --cache-update (and --thresholds,
    the swept grid)."""
    parser.add_argument("--param", type=parameter, action="append", default=[], metavar="NAME=VALUE",
                        help="a predictor parameter (repeatable; 'fuzzymemo schemes' lists them), e.g. rank=8")
    parser.add_argument("--rule", choices=("auto",) + RULES, default="auto",
                        help="decision rule: score (the paper's), output (predicted output vs cached output) "
                             "or auto (default: the predictor's own)")
    if auto_form:
        parser.add_argument("--form", choices=(AUTO_FORM,) + intops.THRESHOLD_FORMS, default=AUTO_FORM,
                            help="threshold form: relative (a fraction of the cached value), absolute, or auto "
                                 "(default: both calibrated, the one saving more on the calibration data)")
    else:
        parser.add_argument("--form", choices=intops.THRESHOLD_FORMS, default=intops.RELATIVE,
                            help="threshold form: relative (a fraction of the cached value, default) or absolute")
    parser.add_argument("--cache-update", choices=CACHE_UPDATES, default="compute",
                        help="when a score-rule predictor's cached score changes: only on compute (default) "
                             "or always")
    if thresholds:
        parser.add_argument("--thresholds", type=thresholds_list,
                            help="comma-separated thresholds (--scheme delta: activation LSBs; similarity: level "
                                 "counts; memo default: 16 from 0 to 0.75 relative, 0 to 30 by 2 absolute, "
                                 "calibrate on to 256)")


def grid(args) -> list[float] | None:
    """The --thresholds grid, else the form's default grid (None for ``--form auto``: each form's own)."""
    if args.thresholds is not None:
        return args.thresholds
    return None if args.form == AUTO_FORM else list(DEFAULT_GRIDS[args.form])


def predictor_parameters(names, given: list[tuple[str, str]]) -> dict[str, dict]:
    """Per predictor name, the ``--param`` values it declares, converted to their declared types; a
    parameter no named predictor declares is a ValueError."""
    out = {name: {} for name in names}
    for key, text in given:
        takers = [n for n in names if any(p.name == key for p in schemes.get(n).parameters)]
        if not takers:
            raise ValueError(f"--param {key}: no selected predictor ({', '.join(names)}) has a parameter {key}")
        for n in takers:
            declared = next(p for p in schemes.get(n).parameters if p.name == key)
            try:
                out[n][key] = declared.type(text)
            except ValueError:
                raise ValueError(f"--param {key}={text}: {n} takes a {declared.type.__name__}") from None
    return out


def policy_of(name: str, args, parameters: dict, threshold=0.0):
    """The golden policy of predictor/oracle ``name`` with the parsed arguments."""
    kind = schemes.get(name, ("predictor", "oracle")).kind
    return schemes.get("memo", ("scheme",)).golden_policy(
        threshold, predictor=name, form=args.form, rule=args.rule if kind == "predictor" else "auto",
        cache_update=args.cache_update if kind == "predictor" else "compute", predictor_params=parameters)
