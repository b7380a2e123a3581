"""``fuzzymemo synth``: synthesise a registered block (or the tile) with open tools and report its resources.

    fuzzymemo synth --top bnn --target generic --width 64
    fuzzymemo synth --top dot_product --target ice40 --lanes 4 --json dp.json
    fuzzymemo synth --top tile --target ice40,ecp5 --compare --json overhead.json
    fuzzymemo synth --top tile --target ice40 --predictor low-rank --compare
    fuzzymemo synth --top tile --scheme crew --target ecp5 --compare --workload japanese_vowels
    fuzzymemo synth --list-targets

Targets: ``generic`` (Yosys synth + stat; stat -tech cmos as an ASIC-proxy transistor count), ``ice40``
(iCE40UP5K, iCEBreaker: bitstream, LUT4/FF/EBR/SPRAM/DSP, fmax) and ``ecp5`` (LFE5U-85F, ULX3S). On the
FPGA targets the block sits behind a scan-chain wrapper (see docs/synthesis.md). The tile's ``--predictor``
chooses its memoization hardware (``bnn``, the default, ``low-rank`` with ``--rank``/``--factor_bits``, or
``none``: the baseline tile). ``--compare`` builds the baseline (predictor none at elaboration) and the
tile with the chosen predictor, same configuration otherwise, and reports the cost of memoization.
``--scheme crew`` synthesises the CREW tile of a network (``--workload``, default japanese_vowels, or
``--model`` with ``--data``: the tile's shape, formats and U_max come from it; ``--multipliers M``,
``--lanes`` the adder lanes, defaults as for ``fuzzymemo run --scheme crew``); with ``--compare`` also the
baseline tile at equal lanes and at equal multipliers (M lanes), and the ratios. Tool output goes to
``--build-dir`` (default ``build/synth/<target>/<design>``); ``--json`` writes the records.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from synth import configs

from .args import at_least, finite_at_least, output_file, write_json
from .block_options import add_block_options, block_options

#: --scheme values: the memoizing tile (with --predictor) and the CREW tile (fuzzymemo.compiled.CREW)
MEMO, CREW = "memo", "crew"


def _targets(text: str) -> list[str]:
    from synth.targets import TARGETS

    names = list(TARGETS) if text == "all" else [t.strip() for t in text.split(",") if t.strip()]
    for t in names:
        if t not in TARGETS:
            raise ValueError(f"unknown target {t!r}; targets: {', '.join(TARGETS)} (or all)")
    return names


def run(args) -> int:
    from synth.blocks import all_blocks, get_block
    from synth.compare import compare
    from synth.flow import synthesize
    from synth.table import compare_table, record_table
    from synth.targets import TARGETS

    if args.list_targets:
        for t in TARGETS.values():
            print(f"{t.name}: {t.description}")
        return 0
    if not args.top:
        raise ValueError("--top NAME is required (see fuzzymemo generate --list)")
    block = get_block(args.top)
    multipliers = None
    if args.scheme == CREW:   # --multipliers (the CREW blocks' option) belongs to the CREW tile here
        multipliers, args.opt_multipliers = getattr(args, "opt_multipliers", None), None
    user = block_options(args, block, all_blocks())
    build_root = Path(args.build_dir) if args.build_dir else None
    if args.scheme == CREW:
        return _run_crew(args, user, build_root, multipliers)
    given = [flag for flag, value in (("--baseline-lanes", args.baseline_lanes), ("--workload", args.workload),
                                      ("--model", args.model), ("--data", args.data)) if value is not None]
    if given:
        raise ValueError(f"{', '.join(given)} go{'es' if len(given) == 1 else ''} with --scheme crew (the CREW tile "
                         f"of a network); the memoizing tile takes its shape from the block options")
    out = {"records": [], "comparisons": []}
    for target in _targets(args.target):
        options = {**configs.preset(args.top, target, args.preset), **user}
        bdir = build_root / target if build_root is not None and len(_targets(args.target)) > 1 else build_root
        if args.compare:
            result = compare(args.top, target, options, build_dir=bdir, seed=args.seed,
                             constraint_mhz=args.clock_mhz, check_fit=not args.no_fit_check)
            out["comparisons"].append(result)
            print(compare_table(result) + "\n")
        else:
            if args.wrapper == "uart" and target == "generic":
                raise ValueError("--wrapper uart builds a board top: choose --target ice40 or ecp5")
            record = synthesize(args.top, target, options, bdir, seed=args.seed, constraint_mhz=args.clock_mhz,
                                check_fit=not args.no_fit_check, wrapper=args.wrapper, baud=args.baud)
            out["records"].append(record)
            print(record_table([record]) + "\n")
    if args.json:
        write_json(args.json, out if args.compare else out["records"])
        print(f"records: {args.json}")
    return 0


#: block options a CREW tile takes from the command line (its shape and formats come from the network)
CREW_OPTIONS = ("lanes", "max_steps")


def crew_designs(model, lanes=None, multipliers=None, max_steps=None, compare: bool = True,
                 baseline_lanes: int | None = None) -> dict:
    """{label: TileParams} of the CREW study of ``model`` (a FixedPointNetwork): the CREW tile of ``lanes``
    adder lanes and ``multipliers`` multipliers (defaults of :class:`fuzzymemo.compiled.CompiledModel`),
    with ``compare`` the baseline tile at equal lanes and at equal multipliers, and with
    ``baseline_lanes`` the baseline tile of that many lanes (``base-dsp``)."""
    from ..compiled import CompiledModel

    def baseline(n):
        return CompiledModel(model, scheme=None, lanes=n, max_steps=max_steps).params

    crew = CompiledModel(model, scheme=CREW, lanes=lanes, multipliers=multipliers, max_steps=max_steps)
    designs = {"crew": crew.params}
    if compare:
        designs["base-lanes"] = baseline(crew.params.lanes)
        designs["base-mults"] = crew.baseline().params
    if baseline_lanes is not None:
        designs["base-dsp"] = baseline(baseline_lanes)
    return designs


def _crew_checks(args, user: dict) -> None:
    if args.top != "tile":
        raise ValueError(f"--scheme crew builds the tile (--top tile), not {args.top!r}")
    if "predictor" in user:
        raise ValueError("--predictor chooses the memoizing tile's front end; the CREW tile has none "
                         "(--scheme crew: drop --predictor)")
    other = sorted(set(user) - set(CREW_OPTIONS))
    if other:
        raise ValueError(f"--scheme crew takes the tile's shape and formats from the network (--workload or "
                         f"--model): {', '.join('--' + o for o in other)} not taken (only "
                         f"{', '.join('--' + o for o in CREW_OPTIONS)})")
    if args.wrapper != "scan":
        raise ValueError("--scheme crew measures the tile behind the scan wrapper: drop --wrapper uart")
    if args.data is not None and args.model is None:
        raise ValueError("--data goes with --model; a bundled workload brings its own data")
    if args.model is not None and args.workload is not None:
        raise ValueError("--workload and --model: choose one")


def _run_crew(args, user: dict, build_root, multipliers: str | None) -> int:
    """``--scheme crew``: the CREW tile of the network (with ``--compare``, and the two baselines)."""
    from types import SimpleNamespace

    from synth.crew import crew_compare
    from synth.table import crew_table

    from .source import load_source

    _crew_checks(args, user)
    targets = _targets(args.target)
    src = load_source(SimpleNamespace(workload=args.workload, model=args.model, data=args.data, split=None,
                                      limit=None))
    try:
        lanes, max_steps = (int(user[k]) if k in user else None for k in CREW_OPTIONS)
        multipliers = None if multipliers is None else at_least(1)(multipliers)
    except (ValueError, argparse.ArgumentTypeError) as e:
        raise ValueError(f"--lanes, --max-steps and --multipliers take whole numbers >= 1: {e}") from None
    designs = crew_designs(src.model, lanes, multipliers, max_steps, compare=args.compare,
                           baseline_lanes=args.baseline_lanes)
    results = []
    for target in targets:
        bdir = build_root / target if build_root is not None and len(targets) > 1 else build_root
        result = crew_compare(designs, target, build_dir=bdir, seed=args.seed, constraint_mhz=args.clock_mhz,
                              check_fit=not args.no_fit_check, workload=src.name)
        results.append(result)
        print(crew_table(result) + "\n")
    if args.json:
        write_json(args.json, {"crew": results})
        print(f"records: {args.json}")
    return 0


def register(subparsers) -> None:
    from golden_model.workloads import ALL_WORKLOADS, DEFAULT_WORKLOAD
    from synth.blocks import all_blocks
    from synth.targets import TARGETS

    p = subparsers.add_parser("synth", help="synthesise a block with open tools (resources, fmax, transistors)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--top", metavar="NAME", help="block to synthesise (see fuzzymemo generate --list)")
    p.add_argument("--target", default="generic", metavar="T",
                   help=f"{'|'.join(TARGETS)}, a comma-separated list, or all (default generic)")
    p.add_argument("--json", type=output_file, metavar="OUT.json", help="write the records (or comparisons) as JSON")
    p.add_argument("--build-dir", metavar="DIR", help="tool output (default build/synth/<target>/<design>)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1)")
    p.add_argument("--clock-mhz", type=finite_at_least(0.0, exclusive=True), metavar="F",
                   help="clock constraint given to nextpnr (default: 100 on ice40, 250 on ecp5)")
    p.add_argument("--wrapper", choices=("scan", "uart"), default="scan",
                   help="FPGA top: scan (measurement, default) or uart (board top: the block behind a UART host "
                        "link on the board's clock; protocol in synth/board.py, layout in bridge.json)")
    p.add_argument("--baud", type=at_least(1), default=115200, help="UART baud rate of --wrapper uart (default 115200)")
    p.add_argument("--compare", action="store_true",
                   help="build the baseline (predictor none) and the tile with --predictor (default bnn) and report "
                        "the overhead; with --scheme crew the baselines at equal lanes and at equal multipliers")
    p.add_argument("--scheme", choices=(MEMO, CREW), default=MEMO,
                   help="the tile's reuse scheme: memo (default: the memoizing tile of --predictor) or crew (the "
                        "CREW tile of a network: --workload or --model, --multipliers, --lanes)")
    p.add_argument("--baseline-lanes", type=at_least(1), metavar="N",
                   help="crew: also the baseline tile of N lanes (base-dsp; e.g. the lanes whose DSP count equals "
                        "the CREW tile's: the equal-DSP-budget comparison)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--workload", choices=ALL_WORKLOADS,
                     help=f"crew: the bundled workload whose network the tile holds (default {DEFAULT_WORKLOAD})")
    src.add_argument("--model", metavar="MODEL", help="crew: a model file written by 'fuzzymemo import-torch'")
    p.add_argument("--data", metavar="DATA.npz", help="crew: data for --model (calibrates its formats)")
    p.add_argument("--preset", choices=configs.PRESET_MODES, default="target",
                   help="start from the target's default configuration of the tile (default), from a tile of "
                        "the papers' shape (paper: ecp5 LSTM H = I = 192, generic H = I = 256; "
                        "docs/synthesis.md) or from the block's own defaults")
    p.add_argument("--no-fit-check", action="store_true", help="skip the resource estimate before place and route")
    p.add_argument("--list-targets", action="store_true", help="list the targets")
    add_block_options(p, all_blocks(), "block options (as for fuzzymemo generate)")
    p.set_defaults(func=run)
