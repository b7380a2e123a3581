"""Random regression of the tile against the golden model (``fuzzymemo regress``; issue 14 deliverable 4).

One tile is built per predictor with hardware (and the baseline), each for a random network shape; then,
until the target number of outputs is checked, every run loads a fresh random network of that shape
through ``wr`` (no rebuild) and streams random sequences of random lengths with random valid gaps and
back-pressure, at a random threshold and form. Every h_t of every layer of every sequence is compared with
the golden model and the tile's counters with the golden model's (``CompiledModel.run``). A failure is
recorded with everything needed to reproduce it (the case and the run's seed) and does not stop the rest.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

import numpy as np

from golden_model import intops
from golden_model.fixed_model import FixedPointNetwork
from golden_model.formats import FixedPointConfig
from golden_model.network import Network
from golden_model.sweep import DEFAULT_GRIDS

from .compiled import CompiledModel

__all__ = ["RegressCase", "cases", "random_network", "regress"]

log = logging.getLogger(__name__)

#: Sequences and most steps of one run (a run is one load of a network and one simulation).
SEQUENCES, MAX_STEPS = 32, 24


@dataclasses.dataclass(frozen=True)
class RegressCase:
    """One built tile: ``predictor`` (None: the baseline tile) on networks of one shape."""
    predictor: str | None
    cell: str
    inputs: int
    hidden: int
    layers: int
    directions: int

    @property
    def outputs_per_step(self) -> int:
        """h elements checked per sequence step: every layer direction's."""
        return self.hidden * self.layers * self.directions


def cases(predictors, seed: int) -> list[RegressCase]:
    """One random shape per predictor (None: the baseline tile)."""
    rng = np.random.default_rng(seed)
    return [RegressCase(p, str(rng.choice(["lstm", "gru"])), int(rng.integers(2, 9)), int(rng.integers(2, 9)),
                        int(rng.integers(1, 3)), int(rng.integers(1, 3))) for p in predictors]


def random_network(case: RegressCase, rng: np.random.Generator) -> Network:
    """Weights normal(0, 0.5) clipped inside the default weight format, biases normal(0, 0.3)."""
    g = 4 if case.cell == "lstm" else 3
    h = case.hidden

    def weights(shape):
        return np.clip(rng.normal(0, 0.5, shape), -1.9, 1.9)

    spec = [[{"w_ih": weights((g * h, case.inputs if li == 0 else h * case.directions)),
              "w_hh": weights((g * h, h)), "b_ih": rng.normal(0, 0.3, g * h), "b_hh": rng.normal(0, 0.3, g * h)}
             for _ in range(case.directions)] for li in range(case.layers)]
    return Network.build(case.cell, spec)


def _one_run(compiled: CompiledModel, case: RegressCase, sim: str, run_seed: int) -> dict:
    """Load a random network, run random sequences; the run's figures (and a failure's reason)."""
    rng = np.random.default_rng(run_seed)
    model = FixedPointNetwork(random_network(case, rng), compiled.model.config)
    lengths = rng.integers(1, MAX_STEPS + 1, SEQUENCES)
    steps = int(lengths.max())
    # slowly varying inputs (something to reuse), quantized; zero past each sequence's length
    x = np.cumsum(rng.normal(0, 0.3, (SEQUENCES, steps, case.inputs)), axis=1)
    x_q = intops.quantize(x, model.config.act) * (np.arange(steps)[None, :, None] < lengths[:, None, None])
    form = str(rng.choice(intops.THRESHOLD_FORMS))
    threshold = float(rng.choice(DEFAULT_GRIDS[form][:8]))
    run = compiled.run(sim, x_q, lengths, threshold=threshold, form=form, enable=case.predictor is not None,
                       load=model, valid_prob=float(rng.choice([1.0, 0.7, 0.4])),
                       ready_prob=float(rng.choice([1.0, 0.7, 0.4])), seed=int(rng.integers(1 << 30)),
                       strict=False, quiet=True, run_name=f"regress-{case.predictor or 'baseline'}")
    ok = bool(run.bit_exact and run.counters_ok)
    return {"outputs": int(lengths.sum()) * case.outputs_per_step, "ok": ok, "sim_cycles": int(run.sim_cycles),
            "reuses": int(run.counters.get("reuses", 0)), "threshold": threshold, "form": form,
            "reason": None if ok else (run.report or "counters differ from the golden model's")}


def regress(target_outputs: int, sim: str, seed: int, predictors, say: Callable[[str], None] = log.info) -> dict:
    """Run the regression until ``target_outputs`` h elements are checked; a summary dict (see docs)."""
    start = time.perf_counter()
    config = FixedPointConfig()
    built = []
    for case in cases(predictors, seed):
        rng = np.random.default_rng([seed, len(built)])
        compiled = CompiledModel(FixedPointNetwork(random_network(case, rng), config),
                                 scheme="memo" if case.predictor else None, predictor=case.predictor or "bnn")
        built.append((case, compiled))
        say(f"case {len(built)}: {case.predictor or 'baseline'} on a {case.layers}-layer "
            f"{'bidirectional ' if case.directions == 2 else ''}{case.cell.upper()} I={case.inputs} H={case.hidden}")
    totals = {"outputs_checked": 0, "runs": 0, "sim_cycles": 0, "reuses": 0}
    failures = []
    run_index = 0
    while totals["outputs_checked"] < target_outputs:
        case, compiled = built[run_index % len(built)]
        run_seed = seed * 1_000_003 + run_index
        result = _one_run(compiled, case, sim, run_seed)
        run_index += 1
        for key, value in (("outputs_checked", result["outputs"]), ("runs", 1), ("sim_cycles", result["sim_cycles"]),
                           ("reuses", result["reuses"])):
            totals[key] += value
        if not result["ok"]:
            failures.append({"case": dataclasses.asdict(case), "run_seed": run_seed, **result})
            say(f"FAILURE: {case} run seed {run_seed}: {result['reason'][:200]}")
        if run_index % 10 == 0:
            say(f"{totals['outputs_checked']} of {target_outputs} outputs checked in {totals['runs']} runs, "
                f"{len(failures)} failures")
    return {**totals, "failures": failures, "cases": [dataclasses.asdict(c) for c, _ in built], "sim": sim,
            "seed": seed, "seconds": time.perf_counter() - start}
