"""The simulator boundary of the accelerator tile (``hw.tile``): a design to build and a typed job to run.

:func:`tile_design` turns an elaborated tile into the :class:`sim.runner.Design` that is built once per
configuration (by default inside the Verilog harness of :mod:`sim.harness`); :func:`run_job` writes a
:class:`sim.job.TileJob`, runs the cocotb module :mod:`sim.tile_tb` through :mod:`sim.runner` on Icarus or
Verilator and loads its :class:`sim.job.TileResult`. Inside the simulator, :mod:`sim.tile_tb` runs
multi-layer and bidirectional networks pass by pass as :class:`sim.tile_protocol.NetworkPlan` orders them,
through a transport of :mod:`sim.tile_driver`, and scores every h_t. What a job holds (the golden model's
outputs, thresholds, words to load) is the compiled model's business (``fuzzymemo.compiled``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from golden_model.fixed_model import RunStats

from . import runner
from .harness import HarnessSpec
from .job import TileJob, TileResult

__all__ = ["TB_MODULE", "TileRun", "run_job", "tile_design"]

log = logging.getLogger(__name__)

#: The cocotb module that runs a job (importable from the repository root).
TB_MODULE = "sim.tile_tb"


def tile_design(tile, *, name: str, config: dict, harness: bool = True) -> runner.Design:
    """The :class:`sim.runner.Design` of ``tile`` (an ``hw.tile.Tile``), built once per ``config`` (the
    build key: parameters and weights). ``harness``: the tile inside the Verilog harness of
    :mod:`sim.harness` (fast runs, job mode ``harness``); else the bare tile driven from Python every cycle
    (job mode ``python``)."""
    bare = runner.Design.from_component(tile, name=name, config=config)
    if not harness:
        return bare
    spec = HarnessSpec(top=bare.toplevel, ports=bare.ports, sources=("x", "wr"), sink="h")
    netlist = functools.partial(runner.optimized_verilog, bare)
    return spec.design(bare.verilog, name=f"{name}_harness", config=config, sim_sources={"icarus": netlist})


@dataclass
class TileRun:
    """What one run of a network over a batch gave."""
    outputs: list[np.ndarray]          # per layer (B, T, D*H) int64, RTL (zero at padding steps)
    expected: list[np.ndarray]         # per layer, golden
    lengths: np.ndarray
    stats: RunStats                    # golden statistics (reuses, evaluations)
    counters: dict                     # totals of the tile's counters: cycles, evaluations, reuses, stalls
    passes: list[dict]                 # per layer-direction pass: slot, counters, sim cycles
    sim_cycles: int                    # clock cycles simulated from the first pass to the end of the last
    wall_seconds: float                # simulator process wall time (start-up and the result file included)
    mismatches: int                    # h elements different from the golden model
    lost: int                          # expected elements never received
    extra: int                         # received elements beyond the expected ones
    counters_ok: bool                  # evaluations and reuses equal the golden model's
    report: str = ""
    sim: str = ""
    run_dir: str = ""
    sim_seconds: float = 0.0           # wall time of the simulation proper (reset to the last pass)

    @property
    def bit_exact(self) -> bool:
        return self.mismatches == 0 and self.lost == 0 and self.extra == 0 and all(
            np.array_equal(o, e) for o, e in zip(self.outputs, self.expected, strict=True))

    @property
    def useful_macs(self) -> int:
        return int(sum(p["useful_macs"] for p in self.passes))


@contextlib.contextmanager
def _stdout_to(path: Path | None):
    """Send this process's file descriptor 1 (and so the simulator's output) to ``path`` (None: leave it)."""
    if path is None:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(path, "w") as f:
            os.dup2(f.fileno(), 1)
            try:
                yield
            finally:
                sys.stdout.flush()
                os.dup2(saved, 1)
    finally:
        os.close(saved)


def run_job(design: runner.Design, sim: str, job: TileJob, *, run_name: str, quiet: bool = False,
            ) -> tuple[TileResult, Path, float]:
    """Run ``job`` on ``design`` with ``sim``: (result, run directory, wall seconds of the simulator). A
    :class:`sim.runner.SimulationError` propagates when ``job.strict`` (or when no result was written);
    otherwise it is logged and the result, mismatches counted, is returned."""
    built = runner.build(design, sim)
    run_dir = runner.new_run_dir(built, run_name)
    job_file, result_file = run_dir / "job.npz", run_dir / "result.npz"
    job.save(job_file)
    start = time.perf_counter()
    error = None
    try:
        with _stdout_to(run_dir / "sim.log" if quiet else None):
            runner.run(design, sim, TB_MODULE, params={"job": str(job_file), "result": str(result_file)},
                       run_dir=run_dir)
    except runner.SimulationError as e:
        if job.strict or not result_file.exists():
            raise
        error = e
    wall = time.perf_counter() - start
    if error is not None:
        log.warning("tile run %s: %s", run_dir, str(error).splitlines()[0])
    return TileResult.load(result_file), run_dir, wall
