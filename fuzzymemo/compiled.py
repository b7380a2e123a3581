"""One network on one tile: :class:`CompiledModel` owns what every command, test and bench needs of it.

A compiled model holds the golden network (:class:`~golden_model.fixed_model.FixedPointNetwork`, so its
formats), the tile's elaboration parameters (:class:`~hw.tile_params.TileParams`, with the defaults
derived in one place: :meth:`TileParams.for_network`), the reuse scheme and predictor from the registry
(:mod:`golden_model.schemes`, whose entry names the hardware front end), the memory image, the simulator
design, and it runs them: the typed job sent to a simulator (:class:`sim.job.TileJob`) and the result it
gives (:class:`sim.tile_host.TileRun`). ``fuzzymemo run``, the host link, the tests and the benches all
go through it::

    compiled = CompiledModel(model)                       # the memoizing tile, predictor bnn
    run = compiled.run("verilator", x, lengths, threshold=0.2)
    baseline = compiled.baseline().run("verilator", x, lengths)
"""

from __future__ import annotations

import dataclasses
import hashlib
from functools import cached_property

import numpy as np

from golden_model import intops, schemes
from golden_model.crew import crew_tables
from golden_model.delta import input_counts
from golden_model.fixed_model import FixedPointNetwork, RunStats
from golden_model.formats import THETA_BITS
from golden_model.memo import OFF, MemoPolicy, check_thresholds
from hw.delta_detect import THETA_PART_BITS
from hw.layer_chain import ChainShape, LayerChain, chain_counter_outputs
from hw.tile import Tile
from hw.tile_counters import counter_names
from hw.tile_cycles import expected_cycles
from hw.tile_image import image_writes, memory_image, product_slots, quantizer_writes
from hw.tile_params import CrewShape, TileParams, default_crew_lanes, default_lanes
from sim import runner, tile_host
from sim.harness import pause_registers
from sim.job import Pauses, TileJob

__all__ = ["CompiledModel"]

#: The scheme name of the CREW dataflow (golden_model.schemes.crew).
CREW = "crew"
#: The scheme names of the delta dataflow's two forms (golden_model.schemes.delta, .similarity).
DELTA = "delta"
SIMILARITY = "similarity"
#: Pause pattern of a stream that never pauses: (mask, length) of :class:`sim.job.Pauses`.
NO_MASK = (0xFFFFFFFF, 32)


class CompiledModel:
    """``model`` on a tile with the reuse ``scheme`` (a registered scheme name; None: the baseline tile,
    without reuse hardware) decided by ``predictor`` with its ``predictor_params``, decision ``rule`` ("auto":
    the predictor's own) and ``cache_update``. ``lanes``, ``bnn_width`` and ``max_steps`` are tile parameters
    (None: derived from the network, see :meth:`hw.tile_params.TileParams.for_network`).
    ``layers_in_hardware``: the design is a :class:`hw.layer_chain.LayerChain` around the tile, which runs
    every layer-direction pass itself (the memo scheme and the baseline; its buffers hold ``max_steps``)."""

    def __init__(self, model: FixedPointNetwork, *, scheme: str | None = "memo", predictor: str = "bnn",
                 rule: str = "auto", predictor_params: dict | None = None, cache_update: str = "compute",
                 lanes: int | None = None, bnn_width: int | None = None, max_steps: int | None = None,
                 multipliers: int | None = None, unique_max: int | None = None, layers_in_hardware: bool = False):
        if not isinstance(model, FixedPointNetwork):
            raise TypeError(f"model must be a golden_model FixedPointNetwork, not {type(model).__name__}")
        self.model = model
        #: the design is a hw.layer_chain.LayerChain around the tile (False: the bare tile, host-driven)
        self.layers_in_hardware = bool(layers_in_hardware)
        self.scheme = schemes.get(scheme, ("scheme",)) if scheme is not None else None
        if self.scheme is not None and self.scheme.hardware is None:
            built = [e.name for e in schemes.entries(("scheme",)) if e.hardware is not None]
            raise ValueError(f"the scheme {scheme!r} has no tile dataflow yet; schemes with one: {', '.join(built)}")
        if scheme == CREW:
            self._init_crew(model, lanes, multipliers, max_steps, unique_max)
            return
        if unique_max is not None:
            raise ValueError("unique_max is a parameter of the CREW tile (--scheme crew)")
        if scheme in (DELTA, SIMILARITY):
            self._init_delta(model, lanes, max_steps, similarity=scheme == SIMILARITY)
            return
        if multipliers is not None:
            raise ValueError("multipliers are a parameter of the CREW tile (--scheme crew)")
        self.predictor = schemes.get(predictor, ("predictor", "oracle")) if scheme is not None else None
        if self.predictor is not None and self.predictor.hardware is None:
            built = [e.name for e in schemes.entries(("predictor",)) if e.hardware is not None]
            raise ValueError(f"the {self.predictor.kind} {predictor!r} has no hardware; choose a predictor with a "
                             f"front end: {', '.join(built)}")
        self.predictor_params = self.predictor.resolve(predictor_params) if self.reuse else {}
        self.cache_update, self._rule = cache_update, rule
        #: the decision rule of the memoizing tile's policy (None on the baseline tile)
        self.rule = self.policy(0.0).rule if self.reuse else None
        kwargs = {"cache_update": cache_update, **({} if max_steps is None else {"max_steps": max_steps})}
        self.params = TileParams.for_network(model.net, model.config, lanes=lanes, bnn_width=bnn_width,
                                             front_end=self.predictor.front_end(self.predictor_params)
                                             if self.reuse else None,
                                             **kwargs)
        self._choices = {"lanes": self.params.lanes, "bnn_width": self.params.bnn_width, "max_steps": max_steps,
                         "layers_in_hardware": self.layers_in_hardware}
        self._designs: dict[bool, object] = {}

    def _init_crew(self, model, lanes, multipliers, max_steps, unique_max) -> None:
        """The CREW tile: U_max (default: the model's most unique weights of an input; larger, for models
        loaded later), M multipliers (default: the baseline's lanes) and L adder lanes (default
        :func:`hw.tile_params.default_crew_lanes`); its baseline has M lanes."""
        net = model.net
        inputs = [net.layer_input_size(li) for li in range(net.num_layers)]
        multipliers = default_lanes(inputs, net.hidden_size) if multipliers is None else multipliers
        if lanes is None:
            lanes = default_crew_lanes(inputs, net.hidden_size, multipliers)
        unique = max(crew_tables(q.w).unique_max for layer in model.layers for q in layer)
        if unique_max is not None:
            if unique_max < unique:
                raise ValueError(f"unique_max {unique_max} is below the model's {unique} unique weights of an input")
            unique = unique_max
        self.predictor, self.predictor_params, self.cache_update = None, {}, "compute"
        self._rule = self.rule = None
        self.params = TileParams.for_network(net, model.config, lanes=lanes, crew=CrewShape(unique, multipliers),
                                             **({} if max_steps is None else {"max_steps": max_steps}))
        # the baseline of a CREW tile has as many multipliers (lanes) as the CREW tile
        self._choices = {"lanes": multipliers, "bnn_width": None, "max_steps": max_steps,
                         "layers_in_hardware": self.layers_in_hardware}
        self._designs = {}

    def _init_delta(self, model, lanes, max_steps, similarity: bool) -> None:
        """The delta tile (or its similarity form): L lanes hold L neurons of one changed input (its
        baseline has L lanes too)."""
        self.predictor, self.predictor_params, self.cache_update = None, {}, "compute"
        self._rule = self.rule = None
        self.params = TileParams.for_network(model.net, model.config, lanes=lanes, delta=True, similarity=similarity,
                                             **({} if max_steps is None else {"max_steps": max_steps}))
        self._choices = {"lanes": self.params.lanes, "bnn_width": None, "max_steps": max_steps,
                         "layers_in_hardware": self.layers_in_hardware}
        self._designs = {}

    # ------------------------------------------------------------------------------------------ views
    @property
    def net(self):
        return self.model.net

    @property
    def reuse(self) -> bool:
        """The tile has reuse hardware (False: the baseline tile)."""
        return self.scheme is not None

    @property
    def crew(self) -> bool:
        """The tile runs the CREW dataflow."""
        return self.scheme is not None and self.scheme.name == CREW

    @property
    def delta(self) -> bool:
        """The tile runs the delta dataflow (either form)."""
        return self.scheme is not None and self.scheme.name in (DELTA, SIMILARITY)

    @property
    def label(self) -> str:
        if self.crew or self.delta:
            return self.scheme.name
        return f"{self.scheme.name}-{self.predictor.name}" if self.reuse else "baseline"

    def baseline(self) -> CompiledModel:
        """The same network on the baseline tile of the same lanes (no reuse hardware)."""
        return CompiledModel(self.model, scheme=None, **self._choices)

    def describe(self) -> str:
        p = self.params
        if self.delta:
            return (f"{p.cell.upper()} tile H={p.hidden} I<={p.input_size} L={p.lanes} neuron lanes "
                    f"({self.scheme.name} scheme)")
        if self.crew:
            return (f"{p.cell.upper()} tile H={p.hidden} I<={p.input_size} L={p.lanes} adder lanes, "
                    f"M={p.crew.multipliers} multipliers, U_max={p.crew.unique_max} (crew scheme)")
        what = f"{self.scheme.name} scheme, predictor {self.predictor.name}" if self.reuse else "baseline"
        return f"{p.cell.upper()} tile H={p.hidden} I<={p.input_size} L={p.lanes} B={p.bnn_width} ({what})"

    # ------------------------------------------------------------------------------------ golden side
    def policy(self, threshold=0.0, form: str = intops.RELATIVE, enable: bool = True, theta_h=None,
               ranges=None) -> MemoPolicy:
        """The golden policy the tile runs with ``memo_enable = enable`` at ``threshold``/``form``: the
        scheme's policy, or memo off (the fixed-point baseline) on the baseline tile or when disabled.
        Delta: ``threshold`` is theta_x and ``theta_h`` theta_h (None: theta_x's), per layer or one value;
        similarity: ``threshold`` the levels and ``ranges`` the quantizer ranges per layer."""
        if self.crew:
            return self.scheme.golden_policy()
        if self.delta and self.scheme.name == SIMILARITY:
            return self.scheme.golden_policy(threshold, ranges=ranges)
        if self.delta:
            return self.scheme.golden_policy(threshold, **({} if theta_h is None else {"theta_h": theta_h}))
        if self.reuse and enable:
            return self.scheme.golden_policy(threshold, predictor=self.predictor.name, form=form, rule=self._rule,
                                             cache_update=self.cache_update, predictor_params=self.predictor_params)
        return MemoPolicy(OFF, 0.0, form)

    def golden(self, x_q, lengths, policy: MemoPolicy, model: FixedPointNetwork | None = None,
               ) -> tuple[list[np.ndarray], RunStats]:
        """The golden model's output of every layer for integer inputs ``x_q`` (what the host feeds the
        next layer) and its statistics; of ``model`` instead of this one's network when given."""
        run = (model or self.model).run(np.asarray(x_q, dtype=np.int64), np.asarray(lengths, dtype=np.int64),
                                        policy)
        return run.layer_outputs, run.stats

    def check(self, lengths=None, policy: MemoPolicy | None = None, model: FixedPointNetwork | None = None) -> None:
        """ValueError naming every problem when sequences of ``lengths`` under ``policy`` cannot run on
        this tile (sizes, formats, step counter, thresholds): before anything is elaborated or simulated.
        ``model``: a network loaded onto the tile instead of its own."""
        problems = self._shape_problems(model or self.model)
        if lengths is not None:
            lengths = np.asarray(lengths)
            if lengths.size and int(lengths.max()) > self.params.max_steps:
                i = int(np.argmax(lengths))
                problems.append(f"sequence {i} has {int(lengths[i])} steps, the tile's step counter holds at most "
                                f"{self.params.max_steps} (max_steps; fuzzymemo run --max-steps)")
        if policy is not None:
            problems += self._policy_problems(policy, (model or self.model).net.num_layers)
        if problems:
            what = "the model" if model is None else "the loaded model"
            raise ValueError(f"{what} does not fit the tile: " + "; ".join(problems))

    def _shape_problems(self, model: FixedPointNetwork) -> list[str]:
        p, net = self.params, model.net
        problems = []
        if p.cell != net.cell:
            problems.append(f"the tile is a {p.cell.upper()} tile, the model is a {net.cell.upper()}")
        if p.hidden != net.hidden_size:
            problems.append(f"the tile has hidden size {p.hidden}, the model {net.hidden_size}")
        for li in range(net.num_layers):
            if net.layer_input_size(li) > p.input_size:
                problems.append(f"layer {li} takes {net.layer_input_size(li)} inputs per step, the tile at most "
                                f"{p.input_size}")
        if net.num_layers * net.num_directions > p.slots:
            problems.append(f"the model has {net.num_layers * net.num_directions} layer-directions, the tile "
                            f"holds weights for {p.slots}")
        if p.config != model.config:
            problems.append(f"the tile's formats ({p.config}) differ from the model's ({model.config})")
        if p.crew is not None:
            unique = max(crew_tables(q.w).unique_max for layer in model.layers for q in layer)
            if unique > p.crew.unique_max:
                problems.append(f"an input of the model has {unique} unique weights, the tile's product banks "
                                f"hold {p.crew.unique_max} (U_max)")
        return problems

    def _policy_problems(self, policy: MemoPolicy, layers: int) -> list[str]:
        if self.delta and self.params.similarity:
            return []
        if self.delta:
            registers = delta_registers(policy, layers)
            return [] if registers is not None else [
                f"delta thresholds theta_x {policy.theta_x}, theta_h {policy.theta_h} do not fit the tile's "
                f"{THETA_PART_BITS}-bit threshold registers (at most {(1 << THETA_PART_BITS) - 1} LSBs)"]
        problems = []
        if policy.kind != OFF and not self.reuse:
            problems.append("memoization asked of a baseline tile (elaborated without a front end)")
        if policy.kind != OFF and policy.cache_update != self.params.cache_update:
            problems.append(f"the tile's memo table updates on {self.params.cache_update!r}, the policy on "
                            f"{policy.cache_update!r}")
        try:
            theta = policy.thresholds_q(layers, self.params.gates)
        except ValueError as e:
            problems.append(str(e))
        else:
            if np.any(theta >= 1 << THETA_BITS) or np.any(theta < 0):
                problems.append(f"threshold register values {theta.tolist()} do not fit {THETA_BITS} bits")
        return problems

    # ---------------------------------------------------------------------------------- hardware side
    @cached_property
    def image(self) -> dict[str, list[int]]:
        """Every memory's words (``hw.tile_image.memory_image``)."""
        return memory_image(self.params, self.model)

    def memory_words(self, model: FixedPointNetwork | None = None) -> list[dict]:
        """The ``wr`` stream payloads ({mem, addr, data}) that load this network (or ``model``, of the
        same shape) into a tile of these parameters: every word of every memory (zeros included, so
        previous contents are overwritten)."""
        image = self.image if model is None else memory_image(self.params, model)
        return [{"mem": int(w["mem"].value), "addr": int(w["addr"]), "data": int(w["data"])}
                for w in image_writes(self.params, image)]

    def design(self, harness: bool = True):
        """The :class:`sim.runner.Design` of the tile with this network's weights as memory contents (one
        build per parameters and weights); ``harness`` False: the bare tile, driven from Python per cycle."""
        if harness not in self._designs:
            config = {f.name: getattr(self.params, f.name) for f in dataclasses.fields(self.params)}
            config |= {"config": str(self.params.config), "front_end": str(self.params.front_end),
                       "crew": str(self.params.crew), "weights": self._weights_digest()}
            name = f"tile_{self.params.cell}_{self.scheme.name if self.reuse else 'base'}"
            if self.layers_in_hardware:
                shape = ChainShape.for_network(self.model, self.params.max_steps)
                top, name = LayerChain(self.params, shape, self.image), f"chain_{name}"
                config = {**config, "chain": True}
            else:
                top = Tile(self.params, self.image)
            self._designs[harness] = tile_host.tile_design(top, name=name, config=config, harness=harness)
        return self._designs[harness]

    def _weights_digest(self) -> str:
        h = hashlib.sha256()
        for layer in self.model.layers:
            for q in layer:
                for a in (q.w, q.bias_x, q.bias_h):
                    h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
        return h.hexdigest()[:16]

    def build(self, sim: str, harness: bool = True):
        """Build (or reuse the cached build of) the design for ``sim``."""
        return runner.build(self.design(harness), sim)

    # ----------------------------------------------------------------------------------------- runs
    def job(self, x, lengths, *, threshold=0.0, form: str = intops.RELATIVE, enable: bool = True,
            load: FixedPointNetwork | None = None, valid_prob: float = 1.0, ready_prob: float = 1.0,
            valid_mask=NO_MASK, ready_mask=NO_MASK, seed: int = 1, strict: bool = True,
            timeout_factor: float = 20.0, harness: bool = True, theta_h=None, ranges=None,
            ) -> tuple[TileJob, list[np.ndarray], RunStats]:
        """The typed job of a run of the batch ``x`` (float, or int64 already quantized) with
        ``memo_enable = enable``, the golden outputs of every layer and the golden statistics. ``load``: a
        network written through ``wr`` before the run, which the tile runs instead of the one it was
        elaborated with: any network that fits the tile (same cell, hidden size and formats, no layer wider
        than its inputs, no more layer-directions than its slots; CREW: no input with more unique weights
        than U_max). Every error of fit is raised here, before anything runs."""
        x_q, lengths = self._inputs(x, lengths)
        policy = self.policy(threshold, form, enable, theta_h, ranges)
        model = load or self.model
        net = model.net
        self.check(lengths, policy, load)
        if not self.delta:
            check_thresholds(threshold, form)     # out-of-range values are errors even when unused
        for prob, (mask, length) in ((valid_prob, valid_mask), (ready_prob, ready_mask)):
            pause_registers(prob, mask, length)
        words = None if load is None else self.memory_words(load)
        expected, stats = self.golden(x_q, lengths, policy, load)
        if self.delta and self.params.similarity:   # the quantizer registers go through wr
            theta_q = np.zeros(net.num_layers, dtype=np.int64)
            words = (words or []) + [{"mem": int(w["mem"].value), "addr": w["addr"], "data": w["data"]}
                                     for w in quantizer_writes(self.params, model, policy)]
        elif self.delta:
            theta_q = delta_registers(policy, net.num_layers)
        elif policy.kind != OFF:
            theta_q = policy.thresholds_q(net.num_layers, len(net.gates))
        else:
            theta_q = np.zeros((net.num_layers, len(net.gates)), dtype=np.int64)
        job = TileJob(x=x_q, lengths=lengths, theta=np.asarray(theta_q, dtype=np.int64), expected=expected,
                      expected_evaluations=stats.evaluations.sum(axis=(0, 3)),
                      expected_reuses=stats.reuses.sum(axis=(0, 3)),
                      inputs=[net.layer_input_size(li) for li in range(net.num_layers)],
                      directions=net.num_directions, hidden=net.hidden_size, gates=len(net.gates),
                      lanes=self.params.lanes, memo_enable=int(policy.kind not in (OFF, DELTA, SIMILARITY)),
                      form=0 if form == intops.RELATIVE else 1, valid=Pauses(valid_prob, *valid_mask),
                      ready=Pauses(ready_prob, *ready_mask), seed=seed, strict=bool(strict),
                      timeout_factor=timeout_factor, wr=words, mode="harness" if harness else "python",
                      counters=(chain_counter_outputs if self.layers_in_hardware else counter_names)(self.params),
                      chained=self.layers_in_hardware)
        return job, expected, stats

    def _inputs(self, x, lengths) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x)
        lengths = np.asarray(lengths, dtype=np.int64)
        if x.ndim != 3 or lengths.shape != (x.shape[0],):
            raise ValueError(f"x must be (batch, time, features) with one length per sequence, got {x.shape} "
                             f"and lengths {lengths.shape}")
        return (x.astype(np.int64) if np.issubdtype(x.dtype, np.integer) else self.model.quantize_input(x)), lengths

    def run(self, sim: str, x, lengths, *, run_name: str | None = None, quiet: bool = False, harness: bool = True,
            **options) -> tile_host.TileRun:
        """Run the batch ``x`` through the tile on ``sim`` and score every output against the golden model:
        a :class:`sim.tile_host.TileRun`. ``options`` are those of :meth:`job` (threshold, form, enable,
        load, valid_prob, ready_prob, valid_mask, ready_mask, seed, strict, timeout_factor); ``quiet``
        sends the simulator's output to ``sim.log`` in the run directory."""
        job, expected, stats = self.job(x, lengths, harness=harness, **options)
        design = self.design(harness)
        result, run_dir, wall = tile_host.run_job(design, sim, job, quiet=quiet,
                                                  run_name=run_name or f"run-{self.label}")
        if job.chained:   # the chain returns the last layer's outputs only
            expected = expected[-1:]
        return tile_host.TileRun(outputs=result.outputs, expected=expected, lengths=job.lengths, stats=stats,
                                 counters=result.counters, passes=result.passes, sim_cycles=result.sim_cycles,
                                 wall_seconds=wall, mismatches=result.mismatches, lost=result.lost,
                                 extra=result.extra, counters_ok=result.counters_ok, report=result.report,
                                 sim=sim, run_dir=str(run_dir), sim_seconds=result.sim_seconds)

    def predicted_cycles(self, run, enable: bool = True) -> int:
        """The cycle model's prediction for ``run``: ``hw.tile_cycles.expected_cycles`` summed over every
        sequence of every pass, with the golden model's reuses per step (misses assumed spread evenly over
        a step's neurons)."""
        p, total = self.params, 0
        slots = product_slots(p, self.model) if self.crew else None
        for ps in run.passes:
            li, d, n_x = ps["layer"], ps["direction"], ps["n_x"]
            for b, n in enumerate(run.lengths):
                n = int(n)
                if self.crew:
                    total += expected_cycles(p, n_x, n, product_slots=slots[ps["slot"]])
                elif self.delta:
                    counts = input_counts(run.stats)
                    changed = (counts.inputs - counts.unchanged)[b, li, d, :n]
                    total += expected_cycles(p, n_x, n, changed_per_step=changed.tolist())
                elif enable and self.reuse:
                    misses = p.neurons - run.stats.step_reuses[b, li, d, :n]
                    total += expected_cycles(p, n_x, n, [int(m) for m in misses], True)
                else:
                    total += expected_cycles(p, n_x, n)
        return int(total)


def delta_registers(policy, num_layers: int) -> np.ndarray | None:
    """The delta tile's per-layer ``theta`` register values, theta_x | theta_h << THETA_PART_BITS
    (hw.delta_detect), for a golden DeltaPolicy; None when a threshold does not fit its half."""
    def per_layer(values):
        values = list(values) if isinstance(values, (tuple, list)) else [values] * num_layers
        return np.array([int(v) for v in values], dtype=np.int64)

    theta_x, theta_h = per_layer(policy.theta_x), per_layer(policy.theta_h)
    if np.any(theta_x >= 1 << THETA_PART_BITS) or np.any(theta_h >= 1 << THETA_PART_BITS):
        return None
    return theta_x | theta_h << THETA_PART_BITS
