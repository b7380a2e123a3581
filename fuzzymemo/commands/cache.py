"""``fuzzymemo cache``: the user cache of simulation builds (:mod:`sim.cache`): show it, trim it."""

from __future__ import annotations

import argparse


def _size(text: str) -> int:
    from sim.cache import parse_size

    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def run_cache(args) -> int:
    from sim.cache import age, entries, sim_build_root, trim

    root = sim_build_root()
    if args.clean or args.max_size is not None:
        removed, busy = trim(0 if args.clean else args.max_size, root)
        freed = sum(e.bytes for e in removed)
        print(f"removed {len(removed)} builds ({_human(freed)}) from {root}")
        for e in busy:
            print(f"kept {e.name}: in use by a build or run")
    listing = entries(root)
    print(f"{root}: {len(listing)} builds, {_human(sum(e.bytes for e in listing))}")
    if args.list:
        for e in reversed(listing):
            print(f"  {_human(e.bytes):>10}  {age(e):>12}  {e.name}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("cache", help="show or trim the user cache of simulation builds")
    p.add_argument("--clean", action="store_true", help="remove every build not in use")
    p.add_argument("--max-size", type=_size, metavar="SIZE",
                   help="remove least recently used builds until the cache holds at most SIZE (500M, 2G, ...)")
    p.add_argument("--list", action="store_true", help="one line per build: size, last use, name")
    p.set_defaults(func=run_cache)
