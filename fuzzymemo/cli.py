"""Entry point of the ``fuzzymemo`` command. Each subcommand lives in a ``commands`` module that exposes
``register(subparsers)``; the module sets ``func`` on its parser to the function that runs it."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

#: Subcommand modules, in the order ``fuzzymemo --help`` lists them.
COMMAND_MODULES = (
    "fuzzymemo.commands.model",     # import-torch, info, width-study
    "fuzzymemo.commands.sweep",     # sweep, calibrate
    "fuzzymemo.commands.schemes",   # schemes (the registry of reuse schemes and predictors)
    "fuzzymemo.commands.generate",  # generate
    "fuzzymemo.commands.run",       # run (the tile in RTL simulation)
    "fuzzymemo.commands.synth",     # synth
    "fuzzymemo.commands.bench",     # bench
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fuzzymemo",
        description="RNN accelerator tiles with BNN-predicted neuron-level fuzzy memoization.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _log_to_stderr(command: str, quiet: bool) -> None:
    """Progress messages of the ``fuzzymemo.*`` loggers on stderr as ``[command] message`` (INFO; only
    warnings with --quiet), so stdout carries only the command's results."""
    root = logging.getLogger("fuzzymemo")
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"[{command}] %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    root.propagate = False


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    _log_to_stderr(args.command, getattr(args, "quiet", False))
    try:
        return args.func(args) or 0
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as e:
        print(f"fuzzymemo {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
