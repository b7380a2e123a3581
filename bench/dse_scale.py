"""The scale check of ``fuzzymemo dse`` (docs/dse.md): the same space run from scratch on a local Dask
cluster of 1 worker and of 2 (or ``--workers``), wall time of each and the speedup.

    .venv/bin/python bench/dse_scale.py [examples/dse_scale.toml] [--workers 1 2]

Each run writes a fresh results file in a temporary folder (nothing is skipped) and is timed from the
command's start to its end (cluster start-up included). Each run also gets an empty build cache of its
own (``FUZZYMEMO_CACHE``), so that with RTL points both runs build their tiles (an RTL space such as
examples/dse_rtl_scale.toml)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("space", nargs="?", default=str(ROOT / "examples" / "dse_scale.toml"))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    exe = Path(sys.executable).parent / "fuzzymemo"
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.workers:
            out = Path(tmp) / f"w{n}.json"
            start = time.perf_counter()
            done = subprocess.run([str(exe), "dse", args.space, "--json", str(out), "--workers", str(n), "--quiet"],
                                  capture_output=True, text=True, check=False,
                                  env={**os.environ, "FUZZYMEMO_CACHE": str(Path(tmp) / f"cache{n}")})
            times[n] = time.perf_counter() - start
            if not out.exists():
                print(f"{n} workers: failed: {done.stderr.strip()[-500:]}")
                return 1
            records = json.loads(out.read_text())["records"]
            busy = sum(r["wall_seconds"] or 0.0 for r in records)
            ok = sum(r["status"] == "ok" for r in records)
            print(f"{n} worker{'s' if n > 1 else ''}: {times[n]:.1f} s wall, {ok}/{len(records)} points ok, "
                  f"{busy:.1f} s in the points (mean {busy / len(records):.2f} s)", flush=True)
    base = times[args.workers[0]]
    for n in args.workers[1:]:
        print(f"speedup {args.workers[0]} -> {n} workers: {base / times[n]:.2f}x (cores: {os.cpu_count()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
