"""Running a space on Dask (``dask.distributed``): one task per point, the results file as the checkpoint.

:func:`explore` loads the results file when it exists (the points recorded ``ok`` are skipped; failed
ones run again), submits the other points to the cluster (``local``: a LocalCluster of ``workers``
processes of one thread each; else the address of a running scheduler), and as each point finishes
adds its record, recomputes the Pareto front and rewrites the file atomically, so an interrupted run
loses only the points still running. Progress goes to stderr: a bar on a terminal, log lines otherwise."""

from __future__ import annotations

import gc
import logging
import os
import sys
import time
from pathlib import Path

from fuzzymemo.commands.args import write_json
from golden_model.files import versioned_json

from .pareto import pareto_entries
from .point import run_point
from .space import Space, build_spread, point_label

__all__ = ["RESULTS_FORMAT", "Progress", "explore", "load_results", "results_document"]

log = logging.getLogger("fuzzymemo.dse")

RESULTS_FORMAT = "fuzzymemo-dse"
RESULTS_VERSION = 1
LOCAL = "local"


def load_results(path: Path) -> dict:
    """The records of an earlier run of the results file (id -> record); {} when there is none."""
    path = Path(path)
    if not path.exists():
        return {}
    data = versioned_json(path, "results file of fuzzymemo dse", RESULTS_FORMAT, RESULTS_VERSION,
                          hint="choose another --json")
    return {r["id"]: r for r in data.get("records", []) + data.get("other_records", [])}


def results_document(space: Space, records: dict, started: str) -> dict:
    """The results file: the space's records in the space's order, the front, and records of points no
    longer in the space (``other_records``, kept, not judged)."""
    ids = [p["id"] for p in space.points]
    mine = [records[i] for i in ids if i in records]
    others = [r for i, r in records.items() if i not in set(ids)]
    counts = {"points": len(ids), "done": sum(r["status"] == "ok" for r in mine),
              "failed": sum(r["status"] != "ok" for r in mine)}
    counts["pending"] = counts["points"] - counts["done"] - counts["failed"]
    return {"format": RESULTS_FORMAT, "version": RESULTS_VERSION, "space": str(space.path), "name": space.name,
            "description": space.description, "settings": space.settings,
            "objectives": [o.as_dict() for o in space.objectives], "started": started,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "counts": counts,
            "records": mine, "pareto": pareto_entries(mine, space.objectives),
            **({"other_records": others} if others else {})}


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class Progress:
    """Counts and an estimate of the time left: a bar redrawn on a terminal, one log line per point else."""

    def __init__(self, total: int, skipped: int, stream=None, bar: bool | None = None):
        self.total, self.skipped, self.done, self.failed = total, skipped, 0, 0
        self.stream = stream or sys.stderr
        self.bar = self.stream.isatty() if bar is None else bar
        self.start = time.monotonic()

    def line(self) -> str:
        todo = self.total - self.skipped
        elapsed = time.monotonic() - self.start
        left = todo - self.done
        eta = "-" if not self.done else _duration(elapsed / self.done * left)
        failed = f", {self.failed} failed" if self.failed else ""
        skipped = f", {self.skipped} skipped (done before)" if self.skipped else ""
        return (f"{self.done + self.skipped}/{self.total} points{skipped}{failed}; "
                f"elapsed {_duration(elapsed)}, left ~{eta}")

    def update(self, record: dict) -> None:
        self.done += 1
        self.failed += record["status"] != "ok"
        if self.bar:
            width = 24
            frac = (self.done + self.skipped) / self.total if self.total else 1.0
            fill = int(round(frac * width))
            self.stream.write(f"\r[dse] [{'#' * fill}{'.' * (width - fill)}] {self.line()}   ")
            if self.done + self.skipped == self.total:
                self.stream.write("\n")
            self.stream.flush()
        else:
            what = "ok" if record["status"] == "ok" else f"FAILED ({record['error']['message']})"
            log.info(f"{point_label(record['inputs'])}: {what} in {record['wall_seconds']:.1f} s; {self.line()}")


def _client(scheduler: str, workers: int | None):
    """A dask.distributed Client and the LocalCluster it owns (None for a given scheduler address)."""
    from dask.distributed import Client, LocalCluster

    if scheduler == LOCAL:
        n = workers or os.cpu_count() or 1
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout="10s"), None
    except (OSError, TimeoutError, ValueError) as e:
        reason = str(e)
    # the half-made Client closes itself in __del__, which deadlocks if the garbage collector runs it later
    # inside another cluster's start-up (a lock of distributed's loop runner): collect it here, once the
    # exception (and its frames) are gone
    gc.collect()
    raise OSError(f"cannot connect to the Dask scheduler at {scheduler}: {reason}")


def explore(space: Space, out: Path, scheduler: str = LOCAL, workers: int | None = None,
            work_root: Path | None = None, progress: Progress | None = None) -> dict:
    """Run the space's points not yet done in ``out``; returns the final results document."""
    from dask.distributed import as_completed

    out = Path(out)
    records = load_results(out)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    pending = [p for p in space.points if records.get(p["id"], {}).get("status") != "ok"]
    skipped = len(space.points) - len(pending)
    progress = progress or Progress(len(space.points), skipped)
    if skipped:
        log.info(f"{skipped} of {len(space.points)} points already done in {out}: skipped")
    if not pending:
        write_json(out, results_document(space, records, started))
        return results_document(space, records, started)
    client, cluster = _client(scheduler, workers)
    try:
        write_json(out, results_document(space, records, started))
        n = len(client.scheduler_info().get("workers", {}))
        log.info(f"{len(pending)} of {len(space.points)} points to run on {n} Dask worker{'s' if n != 1 else ''} "
                 f"({'a local cluster' if cluster is not None else scheduler})")
        root = str(work_root) if work_root is not None else None
        futures = {client.submit(run_point, p, root, key=f"dse-{p['id']}-{time.time_ns()}", pure=False): p
                   for p in build_spread(pending)}
        for future in as_completed(futures):
            point = futures[future]
            try:
                record = future.result()
            except Exception as e:   # noqa: BLE001 -- a worker lost (killed, out of memory): recorded
                record = {"id": point["id"], "inputs": {k: v for k, v in point.items() if k != "id"},
                          "status": "failed", "error": {"stage": None, "type": type(e).__name__,
                                                        "message": str(e).splitlines()[0] if str(e) else ""},
                          "stages": {}, "metrics": {}, "wall_seconds": None}
            records[point["id"]] = record
            write_json(out, results_document(space, records, started))
            progress.update(record)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return results_document(space, records, started)
