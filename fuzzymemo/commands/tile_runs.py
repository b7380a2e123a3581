"""The two tile runs every ``fuzzymemo run`` makes (the baseline tile and the reuse tile, same sequences)
and the end of a run (summary, JSON, exit status), shared by the memoization and the CREW paths."""

from __future__ import annotations

import logging
import time

from golden_model.workloads import DEFAULT_WORKLOAD, load_data, load_workload

from .args import write_json

log = logging.getLogger("fuzzymemo.commands.run")


def run_both(args, compiled, src, reuse_label: str = "memo", run_options: dict | None = None) -> dict:
    """Build and run the baseline and the reuse tile (``reuse_label``) on ``src`` with ``run_options``
    (thresholds: CompiledModel.run's keywords): label -> (CompiledModel, TileRun)."""
    runs = {}
    for label, tile in (("baseline", compiled.baseline()), (reuse_label, compiled)):
        t0 = time.perf_counter()
        tile.build(args.sim)
        log.info(f"{label} tile ({tile.describe()}) elaborated and built for {args.sim} in "
                   f"{time.perf_counter() - t0:.1f} s; running {src.x.shape[0]} sequences "
                   f"({int(src.lengths.sum())} steps x {tile.net.num_layers * tile.net.num_directions} "
                   f"layer-directions)")
        t0 = time.perf_counter()
        r = tile.run(args.sim, src.x, src.lengths, **(run_options or {}), valid_prob=args.valid_prob,
                     ready_prob=args.ready_prob, seed=args.seed, strict=False, run_name=f"cli-{label}",
                     quiet=not args.sim_output)
        log.info(f"{label}: {r.sim_cycles} cycles simulated in {time.perf_counter() - t0:.1f} s, "
                   f"{'bit-exact' if r.bit_exact else f'{r.mismatches} MISMATCHES'} (log {r.run_dir}/sim.log)")
        runs[label] = (tile, r)
    return runs



def finish(args, result: dict, start_all: float, summary) -> int:
    """Print ``summary(result)``, write ``--json``; exit status 1 unless the run is bit-exact."""
    result["wall_seconds"] = time.perf_counter() - start_all
    print(summary(result))
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0 if result["bit_exact"] else 1


def network_line(r: dict) -> str:
    """``"<workload>: <layers>-layer [bidirectional] <CELL> H=<hidden>[ (layers sequenced in hardware)]"`` of a
    run's result."""
    chained = " (layers sequenced in hardware)" if r.get("layers_in_hardware") else ""
    return (f"{r['workload']}: {r['layers']}-layer{' bidirectional' if r['directions'] == 2 else ''} "
            f"{r['cell'].upper()} H={r['hidden']}{chained}")


def accuracy_text(value) -> str:
    return "- (no readout head)" if value is None else f"{value:.4f}"


def calibration_data(args):
    """The held-out data ``--threshold auto`` calibrates on: the workload's calibration split or
    ``--calibrate-data`` (never the data the run uses): (x, y, lengths, where)."""
    if args.calibrate_data is not None:
        x, y, lengths = load_data(args.calibrate_data)
        return x, y, lengths, str(args.calibrate_data)
    if args.model is not None:
        raise ValueError("--threshold auto calibrates on held-out data: give --calibrate-data CAL.npz (labelled, not "
                         "the data run), or --calibration CAL.json, or a --threshold")
    w = load_workload(args.workload or DEFAULT_WORKLOAD, "calibration")
    return w.x, w.y, w.lengths, f"the {w.name} calibration split"


def summary_end(r: dict, lines: list[str]) -> str:
    """A run summary's ``lines`` with its simulation line and (not bit-exact) the mismatch report."""
    lines = [*lines, f"  simulation: {r['sim_cycles']} cycles in {r['sim_seconds']:.1f} s; "
                     f"total {r['wall_seconds']:.1f} s"]
    if not r["bit_exact"]:
        lines.append(r.get("mismatch_report", ""))
    return "\n".join(lines)
