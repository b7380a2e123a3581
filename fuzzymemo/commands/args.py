"""Argument types and output files shared by the commands: every bad value is one clear argparse error
(exit status 2) before anything runs, and every output file is written whole or not at all."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path

__all__ = ["CliParser", "add_threads_argument", "at_least", "finite_at_least", "probability", "output_dir",
           "output_file", "write_json"]


#: Actions an option may repeat: they collect every occurrence (``--predictor a --predictor b``).
_REPEATABLE = (argparse._AppendAction, argparse._AppendConstAction, argparse._CountAction, argparse._ExtendAction)


class CliParser(argparse.ArgumentParser):
    """The CLI's argument parser (its subcommands' too: ``add_subparsers`` takes the parent's class). A bad
    argument is one line, ``<prog>: error: <problem>`` with exit status 2, without argparse's usage block
    (``--help`` shows that); an option that keeps one value given twice is such an error, not silently the
    last one (docs/user_guide.md, *Errors*)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_known_args(self, args=None, namespace=None):
        self._refuse_repeats(sys.argv[1:] if args is None else list(args))
        return super().parse_known_args(args, namespace)

    def _refuse_repeats(self, args: list[str]) -> None:
        """An error for an option of this parser that keeps one value and occurs twice in ``args`` (options
        after a subcommand's name are its own parser's to check; ``--`` ends the options)."""
        commands = {name for a in self._actions if isinstance(a, argparse._SubParsersAction) for name in a.choices}
        seen = set()
        for token in args:
            if token == "--" or token in commands:
                break
            if not token.startswith("--"):
                continue
            name = token.split("=", 1)[0]
            matches = {a for s, a in self._option_string_actions.items() if s == name}
            if not matches and self.allow_abbrev:   # an unambiguous prefix is the option (argparse's rule)
                matches = {a for s, a in self._option_string_actions.items() if s.startswith(name)}
            if len(matches) != 1:
                continue
            action = matches.pop()
            if isinstance(action, _REPEATABLE):
                continue
            if action in seen:
                self.error(f"option {action.option_strings[-1]} given twice")
            seen.add(action)


def at_least(lowest: int, highest: int | None = None):
    """An argparse type: a whole number in lowest..highest."""
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"takes a whole number, not {text!r}") from None
        if value < lowest or (highest is not None and value > highest):
            bound = f"in {lowest}..{highest}" if highest is not None else f"at least {lowest}"
            raise argparse.ArgumentTypeError(f"must be {bound}, not {value}")
        return value
    return convert


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: threads that share a golden-model sweep's rows (default: the cores this process may
    use); the records do not depend on it."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    parser.add_argument("--threads", type=at_least(1), default=cores, metavar="N",
                        help=f"threads that share the memoization sweep's rows (default: the cores available, "
                             f"{cores} here); the records do not depend on it")


def finite_at_least(lowest: float, exclusive: bool = False):
    """An argparse type: a finite number >= lowest (> lowest with ``exclusive``)."""
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"takes a number, not {text!r}") from None
        if not math.isfinite(value) or value < lowest or (exclusive and value == lowest):
            raise argparse.ArgumentTypeError(f"must be a finite number {'>' if exclusive else '>='} {lowest:g}, "
                                             f"not {text}")
        return value
    return convert


def probability(text: str) -> float:
    """An argparse type: a probability in (0, 1]."""
    value = finite_at_least(0.0, exclusive=True)(text)
    if value > 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], not {text}")
    return value


def output_file(text: str) -> Path:
    """An argparse type: a file the command can write (not a directory; its folder exists or can be made
    and is writable), checked before the command runs."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory, not a file")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text}: {folder} is not a writable folder")
    return path


def output_dir(text: str) -> Path:
    """An argparse type: a folder to write into (made when missing), not an existing file."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
    return path


def write_json(path, obj) -> None:
    """Write ``obj`` as JSON to ``path`` atomically: a reader sees the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
