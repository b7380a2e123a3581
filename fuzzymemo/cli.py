"""Entry point of the ``fuzzymemo`` command. Each subcommand lives in a ``commands`` module that exposes
``register(subparsers)``; the module sets ``func`` on its parser to the function that runs it."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
import traceback
from pathlib import Path

from fuzzymemo.commands.args import CliParser
from sim.runner import SimulationError

#: Subcommand modules, in the order ``fuzzymemo --help`` lists them.
COMMAND_MODULES = (
    "fuzzymemo.commands.model",     # import-torch, info, width-study
    "fuzzymemo.commands.sweep",     # sweep
    "fuzzymemo.commands.calibrate", # calibrate, evaluate
    "fuzzymemo.commands.regress",   # regress
    "fuzzymemo.commands.schemes",   # schemes (the registry of reuse schemes and predictors)
    "fuzzymemo.commands.crew",      # crew (CREW unique-weight statistics and weight clustering)
    "fuzzymemo.commands.generate",  # generate
    "fuzzymemo.commands.run",       # run (the tile in RTL simulation)
    "fuzzymemo.commands.synth",     # synth
    "fuzzymemo.commands.bench",     # bench
    "fuzzymemo.commands.cache",     # cache (the user cache of simulation builds)
    "fuzzymemo.commands.dse",       # dse (design-space exploration on Dask)
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fuzzymemo")
    except PackageNotFoundError:   # running from a checkout that was never installed
        return "(not installed)"


def build_parser() -> CliParser:
    parser = CliParser(
        prog="fuzzymemo",
        description="RNN accelerator tiles with BNN-predicted neuron-level fuzzy memoization.")
    parser.add_argument("--version", action="version", version=f"fuzzymemo {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


#: The packages whose progress messages the CLI shows.
LOGGED_PACKAGES = ("fuzzymemo", "golden_model", "hw", "sim", "synth")


def _log_to_stderr(command: str, quiet: bool) -> None:
    """Progress messages of the project's loggers on stderr as ``[command] message`` (INFO; only warnings
    with --quiet), so stdout carries only the command's results."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"[{command}] %(message)s"))
    for name in LOGGED_PACKAGES:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING if quiet else logging.INFO)
        logger.propagate = False


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:   # argparse: --help (0) or a bad argument, already explained on stderr (2)
        return e.code
    _log_to_stderr(args.command, getattr(args, "quiet", False))
    try:
        return args.func(args) or 0
    except (ValueError, TypeError, OSError, RuntimeError, SimulationError) as e:   # input or machine: one line
        print(f"fuzzymemo {args.command}: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fuzzymemo {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:   # noqa: BLE001 -- a bug: say so, keep the traceback in a file
        log = _write_traceback(args.command)
        print(f"fuzzymemo {args.command}: internal error (a bug, please report it): {type(e).__name__}: {e}; "
              f"traceback in {log}", file=sys.stderr)
        return 1


def _write_traceback(command: str) -> Path:
    """The current exception's traceback in the user's cache folder (:func:`sim.cache.user_cache`):
    ``logs/<command>-<time>.log``."""
    from sim.cache import user_cache

    path = user_cache() / "logs" / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(traceback.format_exc())
    return path


if __name__ == "__main__":
    sys.exit(main())
