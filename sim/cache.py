"""The user cache of built simulations: where it is, what it holds, and trimming it.

Builds live in ``$FUZZYMEMO_SIM_BUILD`` if set, else ``<user cache>/sim_build``, the user cache being
``$FUZZYMEMO_CACHE``, else ``$XDG_CACHE_HOME/fuzzymemo``, else ``~/.cache/fuzzymemo``: never inside the
installed package, and shared by every checkout and run (builds are keyed by configuration, so one
design is built once). One entry is one build directory, ``<root>/<design>-<hash>/<simulator>``; a
build in use holds its directory's lock (:func:`sim.runner.build`), and trimming skips it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CacheEntry", "entries", "locked", "parse_size", "sim_build_root", "trim", "user_cache"]


def user_cache() -> Path:
    """The user's fuzzymemo cache folder (not created here)."""
    if os.environ.get("FUZZYMEMO_CACHE"):
        return Path(os.environ["FUZZYMEMO_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fuzzymemo"


def sim_build_root() -> Path:
    """Where simulation builds go."""
    return Path(os.environ.get("FUZZYMEMO_SIM_BUILD") or user_cache() / "sim_build")


@contextlib.contextmanager
def locked(directory: Path):
    """Hold ``directory``'s lock (``<directory>/.lock``, created with the directory): serializes the
    processes that build in one directory (simulation builds and runs, syntheses), whichever checkout or
    test run they come from; :func:`trim` skips a directory whose lock is held."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@dataclass(frozen=True)
class CacheEntry:
    path: Path
    bytes: int
    last_used: float      # seconds since the epoch: the newest file in the build directory

    @property
    def name(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"


def _size_and_age(path: Path) -> tuple[int, float]:
    size, newest = 0, path.stat().st_mtime
    for f in path.rglob("*"):
        if f.is_file() and not f.is_symlink():
            st = f.stat()
            size, newest = size + st.st_size, max(newest, st.st_mtime)
    return size, newest


def entries(root: Path | None = None) -> list[CacheEntry]:
    """The build directories under ``root`` (default :func:`sim_build_root`), least recently used first."""
    root = Path(root) if root is not None else sim_build_root()
    if not root.is_dir():
        return []
    found = []
    for design in sorted(p for p in root.iterdir() if p.is_dir()):
        for build in sorted(p for p in design.iterdir() if p.is_dir()):
            found.append(CacheEntry(build, *_size_and_age(build)))
    return sorted(found, key=lambda e: e.last_used)


def _remove_unless_locked(path: Path) -> bool:
    """Remove a build directory unless a build or run holds its lock; True when removed."""
    lock = path / ".lock"
    if not lock.exists():
        shutil.rmtree(path, ignore_errors=True)
        return True
    with open(lock) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        shutil.rmtree(path, ignore_errors=True)
    return True


def trim(max_bytes: int = 0, root: Path | None = None) -> tuple[list[CacheEntry], list[CacheEntry]]:
    """Remove least recently used builds until the cache holds at most ``max_bytes`` (0: everything not in
    use). Returns (removed, skipped because in use)."""
    removed, busy = [], []
    listing = entries(root)
    total = sum(e.bytes for e in listing)
    for entry in listing:
        if total <= max_bytes:
            break
        if _remove_unless_locked(entry.path):
            removed.append(entry)
            total -= entry.bytes
            parent = entry.path.parent
            if parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
        else:
            busy.append(entry)
    return removed, busy


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes of a size such as ``500M``, ``2G``, ``1.5G`` or ``1048576`` (binary units, optional ``B``)."""
    body = str(text).strip().upper().removesuffix("B")
    unit = body[-1:] if body[-1:] in _UNITS and body[-1:] else ""
    number = body[:-1] if unit else body
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"a size is a number with an optional K, M, G or T, not {text!r}") from None
    if not value >= 0 or value != value or value == float("inf"):
        raise ValueError(f"a size must be a finite number >= 0, not {text!r}")
    return int(value * _UNITS[unit])


def age(entry: CacheEntry) -> str:
    """How long ago an entry was last used, for people."""
    seconds = max(0.0, time.time() - entry.last_used)
    for unit, span in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= span:
            return f"{seconds / span:.0f} {unit} ago"
    return "just now"
