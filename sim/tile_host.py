"""Host side of the accelerator tile (``hw.tile``): runs whole networks through the tile in RTL simulation.

The host process (plain Python): :func:`check_fits` (the clear errors before anything runs),
:func:`golden_layers` (the golden model's per-layer outputs with a memo policy), :func:`tile_design`
(one build per configuration; by default the tile inside the Verilog harness of :mod:`sim.harness`) and
:func:`run_network` (writes a :class:`sim.job.TileJob`, runs the cocotb module :mod:`sim.tile_tb` through
:mod:`sim.runner` on Icarus or Verilator, loads the :class:`sim.job.TileResult`). Inside the simulator,
:mod:`sim.tile_tb` runs multi-layer and bidirectional networks pass by pass as
:class:`sim.tile_protocol.NetworkPlan` orders them, through a transport of :mod:`sim.tile_driver`, and
scores every h_t.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from golden_model import intops
from golden_model.fixed_model import FixedPointNetwork, RunStats
from golden_model.formats import THETA_BITS
from golden_model.memo import BNN, OFF, MemoPolicy

from .harness import HARNESS_TOP, pause_registers
from .job import Pauses, TileJob, TileResult

__all__ = [
    "TileRun",
    "check_fits",
    "golden_layers",
    "policy_for",
    "predicted_cycles",
    "run_network",
    "tile_design",
    "tile_params",
]

log = logging.getLogger(__name__)

#: The cocotb module that runs a job (importable from the repository root).
TB_MODULE = "sim.tile_tb"


# ---------------------------------------------------------------------------------------------------------
# Defaults and checks (host process).

def _slot_inputs(net) -> list[int]:
    return [net.layer_input_size(li) for li in range(net.num_layers)]


def check_fits(params, model: FixedPointNetwork, lengths=None, policy: MemoPolicy | None = None) -> None:
    """Raise ValueError naming the problem when ``model`` (and sequences of ``lengths``, and ``policy``)
    cannot run on a tile elaborated with ``params``: checked on the host, before anything is simulated."""
    net = model.net
    problems = []
    if params.cell != net.cell:
        problems.append(f"the tile is a {params.cell.upper()} tile, the model is a {net.cell.upper()}")
    if params.hidden != net.hidden_size:
        problems.append(f"the tile has hidden size {params.hidden}, the model {net.hidden_size}")
    for li, n_in in enumerate(_slot_inputs(net)):
        if n_in > params.input_size:
            problems.append(f"layer {li} takes {n_in} inputs per step, the tile at most {params.input_size}")
    slots = net.num_layers * net.num_directions
    if slots > params.slots:
        problems.append(f"the model has {slots} layer-directions, the tile holds weights for {params.slots}")
    if params.config != model.config:
        problems.append(f"the tile's formats ({params.config}) differ from the model's ({model.config})")
    if lengths is not None:
        lengths = np.asarray(lengths)
        if lengths.size and int(lengths.max()) > params.max_steps:
            i = int(np.argmax(lengths))
            problems.append(f"sequence {i} has {int(lengths[i])} steps, the tile's step counter holds at most "
                            f"{params.max_steps} (max_steps; fuzzymemo run --max-steps)")
    if policy is not None:
        if policy.kind not in (OFF, BNN):
            problems.append(f"the tile implements the 'bnn' and 'off' policies, not {policy.kind!r}")
        if policy.kind == BNN and not params.memo:
            problems.append("memoization asked of a baseline tile (elaborated without a front end)")
        if policy.kind == BNN and policy.cache_update != "compute":
            problems.append(f"the tile's memo table updates b_m on compute only, not {policy.cache_update!r}")
        try:
            theta = policy.thresholds_q(net.num_layers)
        except ValueError as e:
            problems.append(str(e))
        else:
            if np.any(theta >= 1 << THETA_BITS) or np.any(theta < 0):
                problems.append(f"threshold register values {theta.tolist()} do not fit {THETA_BITS} bits")
    if problems:
        raise ValueError("the model does not fit the tile: " + "; ".join(problems))


# ---------------------------------------------------------------------------------------------------------
# Golden model, layer by layer.

def golden_layers(model: FixedPointNetwork, x_q: np.ndarray, lengths: np.ndarray, policy: MemoPolicy,
                  ) -> tuple[list[np.ndarray], RunStats]:
    """The golden model's output of every layer (B, T, D*H) for integer inputs ``x_q`` under ``policy``:
    the intermediate layers are what the host feeds to the next layer."""
    run = model.run(np.asarray(x_q, dtype=np.int64), np.asarray(lengths, dtype=np.int64), policy)
    return run.layer_outputs, run.stats


# ---------------------------------------------------------------------------------------------------------
# The tile's hardware side (hw.tile*), imported lazily: the host checks run without Amaranth elaboration.

def tile_params(model: FixedPointNetwork, *, lanes: int | None = None, bnn_width: int | None = None,
                memo: bool = True, max_steps: int | None = None):
    """``TileParams.for_network`` of ``model`` (lanes and BNN width derived there when None)."""
    from hw.tile_bnn import BnnFrontEnd
    from hw.tile_params import TileParams

    kwargs = {} if max_steps is None else {"max_steps": max_steps}
    return TileParams.for_network(model.net, model.config, lanes=lanes, bnn_width=bnn_width,
                                  front_end=BnnFrontEnd if memo else None, **kwargs)


def _weights_digest(model: FixedPointNetwork) -> str:
    h = hashlib.sha256()
    for layer in model.layers:
        for q in layer:
            for a in (q.w, q.bias_x, q.bias_h):
                h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def _params_config(params) -> dict:
    import dataclasses

    out = {}
    for f in dataclasses.fields(params):
        v = getattr(params, f.name)
        out[f.name] = str(v) if f.name == "config" else v
    return out


def memory_words(params, model: FixedPointNetwork) -> list[dict]:
    """The ``wr`` stream payloads that load ``model`` into a tile of ``params``: every word of every memory
    of ``hw.tile_image.memory_image`` (zeros included, so any previous contents are overwritten)."""
    from hw.tile_image import image_writes, memory_image

    return [{"mem": int(w["mem"].value), "addr": int(w["addr"]), "data": int(w["data"])}
            for w in image_writes(params, memory_image(params, model))]


def tile_design(params, model: FixedPointNetwork | None, *, name: str | None = None, harness: bool = True):
    """The :class:`sim.runner.Design` of a tile whose memories are initialised with ``model``'s image
    (None: empty memories, to be loaded through ``wr``). One build per (params, weights). ``harness``: the
    tile inside the Verilog harness of :mod:`sim.harness` (fast runs, mode ``harness``); else the bare tile
    driven from Python every cycle (mode ``python``)."""
    from hw.tile import Tile

    from . import runner
    from .harness import HarnessSpec

    image = None
    if model is not None:
        from hw.tile_image import memory_image

        image = memory_image(params, model)
    tile = Tile(params, image) if image is not None else Tile(params)
    config = _params_config(params) | {"weights": _weights_digest(model) if model is not None else "none"}
    name = name or f"tile_{params.cell}{'_memo' if params.memo else '_base'}"
    if not harness:
        return runner.Design.from_component(tile, name=name, config=config)
    bare = runner.Design.from_component(tile, name=name, config=config)
    spec = HarnessSpec(top=bare.toplevel, ports=bare.ports, sources=("x", "wr"), sink="h")
    netlist = functools.partial(runner.optimized_verilog, tile, name=bare.toplevel)
    return spec.design(bare.verilog, name=f"{name}_harness", config=config, sim_sources={"icarus": netlist})


# ---------------------------------------------------------------------------------------------------------
# Running a network through the tile (host process).

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


def predicted_cycles(params, run: TileRun, memo_enable: bool) -> int:
    """The RTL's cycle model (``hw.tile_cycles.expected_cycles``) summed over every sequence of every
    pass of ``run``, with the golden model's reuses per step (misses assumed spread evenly over a step's
    neurons)."""
    from hw.tile_cycles import expected_cycles

    total = 0
    for ps in run.passes:
        li, d, n_x = ps["layer"], ps["direction"], ps["n_x"]
        for b, n in enumerate(run.lengths):
            n = int(n)
            if memo_enable and params.memo:
                misses = params.neurons - run.stats.step_reuses[b, li, d, :n]
                total += expected_cycles(params, n_x, n, [int(m) for m in misses], True)
            else:
                total += expected_cycles(params, n_x, n)
    return int(total)


def policy_for(memo_enable: bool, threshold, form: str) -> MemoPolicy:
    return MemoPolicy(BNN, threshold, form) if memo_enable else MemoPolicy(OFF, 0.0, form)


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


def run_network(design, sim: str, params, model: FixedPointNetwork, x, lengths, *, memo_enable: bool,
                threshold=0.0, form: str = intops.RELATIVE, load: FixedPointNetwork | None = None,
                valid_prob: float = 1.0, ready_prob: float = 1.0, seed: int = 1, strict: bool = True,
                run_name: str | None = None, timeout_factor: float = 20.0, quiet: bool = False,
                valid_mask: tuple[int, int] = (0xFFFFFFFF, 32), ready_mask: tuple[int, int] = (0xFFFFFFFF, 32),
                ) -> TileRun:
    """Run the batch ``x`` (float, or int64 already quantized) of sequences of ``lengths`` through the tile
    ``design`` (elaborated with ``params``) on ``sim`` and score every output against the golden model.

    memo_enable -- the tile's memo_enable input (golden policy ``bnn`` at ``threshold``/``form``, else ``off``)
    load -- a model to load through the ``wr`` stream before the run (run-time loading); else the tile
            runs the weights it was elaborated with, which must be ``model``'s
    valid_prob, ready_prob -- random valid gaps on x and random back-pressure on h (1.0: none)
    valid_mask, ready_mask -- ``(mask, length)``: periodic pause patterns on top (bit ``cycle % length``
              of ``mask`` set: the beat may move; see :class:`sim.job.Pauses`)
    strict -- a cocotb failure (and :class:`sim.runner.SimulationError`) on any mismatch; with False the
              mismatches are only counted in the returned :class:`TileRun`
    quiet -- the simulator's output goes to ``sim.log`` in the run directory instead of stdout

    Errors of fit (sizes, formats, lengths, thresholds) are raised before anything runs."""
    from . import runner

    policy = policy_for(memo_enable, threshold, form)
    x = np.asarray(x)
    lengths = np.asarray(lengths, dtype=np.int64)
    if x.ndim != 3 or lengths.shape != (x.shape[0],):
        raise ValueError(f"x must be (batch, time, features) with one length per sequence, got {x.shape} "
                         f"and lengths {lengths.shape}")
    if np.issubdtype(x.dtype, np.integer):
        x_q = x.astype(np.int64)
    else:
        x_q = model.quantize_input(x)
    check_fits(params, model, lengths, policy)
    if not memo_enable and threshold is not None:
        intops.quantize_threshold(threshold, form)   # out-of-range values are errors even when unused
    if not 0.0 < valid_prob <= 1.0 or not 0.0 < ready_prob <= 1.0:
        raise ValueError(f"valid_prob and ready_prob must be in (0, 1], not {valid_prob}, {ready_prob}")
    for prob, (mask, length) in ((valid_prob, valid_mask), (ready_prob, ready_mask)):
        pause_registers(prob, mask, length)     # a clear error before anything runs
    expected, stats = golden_layers(model, x_q, lengths, policy)
    net = model.net
    theta_q = policy.thresholds_q(net.num_layers) if memo_enable else np.zeros(net.num_layers, np.int64)
    if not memo_enable and threshold is not None:
        theta_q = np.repeat(np.int64(intops.quantize_threshold(threshold, form)), net.num_layers)
    if load is not None:
        check_fits(params, load)
        if load.net.num_layers != net.num_layers or load.net.num_directions != net.num_directions:
            raise ValueError("the loaded model must have the shape of the model run")
    mode = "harness" if design.toplevel == HARNESS_TOP else "python"
    job = TileJob(x=x_q, lengths=lengths, theta=np.asarray(theta_q, dtype=np.int64), expected=expected,
                  expected_evaluations=stats.evaluations.sum(axis=(0, 3)),
                  expected_reuses=stats.reuses.sum(axis=(0, 3)), inputs=_slot_inputs(net),
                  directions=net.num_directions, hidden=net.hidden_size, gates=len(net.gates), lanes=params.lanes,
                  memo_enable=int(bool(memo_enable)), form=0 if form == intops.RELATIVE else 1,
                  valid=Pauses(valid_prob, *valid_mask), ready=Pauses(ready_prob, *ready_mask), seed=seed,
                  strict=bool(strict),
                  timeout_factor=timeout_factor, wr=memory_words(params, load) if load is not None else None,
                  mode=mode)
    built = runner.build(design, sim)
    run_dir = runner.new_run_dir(built, run_name or f"run-{'memo' if memo_enable else 'off'}")
    job_file, result_file = run_dir / "job.npz", run_dir / "result.npz"
    job.save(job_file)
    start = time.perf_counter()
    error = None
    try:
        with _stdout_to(run_dir / "sim.log" if quiet else None):
            runner.run(design, sim, TB_MODULE, params={"job": str(job_file), "result": str(result_file)},
                       run_dir=run_dir)
    except runner.SimulationError as e:
        if strict or not result_file.exists():
            raise
        error = e
    wall = time.perf_counter() - start
    result = TileResult.load(result_file)
    if error is not None:
        log.warning("tile run %s: %s", run_dir, str(error).splitlines()[0])
    return TileRun(outputs=result.outputs, expected=expected, lengths=lengths, stats=stats,
                   counters=result.counters, passes=result.passes, sim_cycles=result.sim_cycles, wall_seconds=wall,
                   mismatches=result.mismatches, lost=result.lost, extra=result.extra,
                   counters_ok=result.counters_ok, report=result.report, sim=sim, run_dir=str(run_dir),
                   sim_seconds=result.sim_seconds)
