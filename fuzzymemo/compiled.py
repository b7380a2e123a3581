"""One network on one tile: :class:`CompiledModel` owns what every command, test and bench needs of it.

A compiled model holds the golden network (:class:`~golden_model.fixed_model.FixedPointNetwork`, so its
formats), the tile's elaboration parameters (:class:`~hw.tile_params.TileParams`, with the defaults
derived in one place: :meth:`TileParams.for_network`), the reuse scheme and predictor from the registry
(:mod:`golden_model.schemes`), the memory image, the simulator design, and runs it: the job sent to a
simulator and the result it gives (:class:`sim.tile_host.TileRun`). ``fuzzymemo run``, the host link, the
tests and the benches all go through it::

    compiled = CompiledModel(model)                       # the memoizing tile, predictor bnn
    run = compiled.run("verilator", x, lengths, threshold=0.2)
    baseline = compiled.baseline().run("verilator", x, lengths)
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from golden_model import intops, schemes
from golden_model.fixed_model import FixedPointNetwork, RunStats
from golden_model.memo import OFF, MemoPolicy
from hw.tile_params import TileParams
from sim import runner, tile_host

__all__ = ["CompiledModel"]


class CompiledModel:
    """``model`` on a tile with the reuse ``scheme`` (a registered scheme name; None: the baseline tile,
    without reuse hardware) decided by ``predictor``. ``lanes``, ``bnn_width`` and ``max_steps`` are tile
    parameters (None: derived from the network, see :meth:`hw.tile_params.TileParams.for_network`)."""

    def __init__(self, model: FixedPointNetwork, *, scheme: str | None = "memo", predictor: str = "bnn",
                 lanes: int | None = None, bnn_width: int | None = None, max_steps: int | None = None):
        if not isinstance(model, FixedPointNetwork):
            raise TypeError(f"model must be a golden_model FixedPointNetwork, not {type(model).__name__}")
        self.model = model
        self.scheme = schemes.get(scheme, ("scheme",)) if scheme is not None else None
        self.predictor = schemes.get(predictor, ("predictor", "oracle")) if scheme is not None else None
        if self.predictor is not None and self.predictor.hardware is None:
            built = [e.name for e in schemes.entries(("predictor",)) if e.hardware is not None]
            raise ValueError(f"the {self.predictor.kind} {predictor!r} has no hardware; choose a predictor with a "
                             f"front end: {', '.join(built)}")
        kwargs = {} if max_steps is None else {"max_steps": max_steps}
        self.params = TileParams.for_network(model.net, model.config, lanes=lanes, bnn_width=bnn_width,
                                             front_end=self.predictor.front_end() if self.reuse else None,
                                             **kwargs)
        self._choices = {"lanes": self.params.lanes, "bnn_width": self.params.bnn_width, "max_steps": max_steps}

    # ------------------------------------------------------------------------------------------ views
    @property
    def net(self):
        return self.model.net

    @property
    def reuse(self) -> bool:
        """The tile has reuse hardware (False: the baseline tile)."""
        return self.scheme is not None

    @property
    def label(self) -> str:
        return f"{self.scheme.name}-{self.predictor.name}" if self.reuse else "baseline"

    def baseline(self) -> CompiledModel:
        """The same network on the baseline tile of the same lanes (no reuse hardware)."""
        return CompiledModel(self.model, scheme=None, **self._choices)

    def describe(self) -> str:
        p = self.params
        what = f"{self.scheme.name} scheme, predictor {self.predictor.name}" if self.reuse else "baseline"
        return f"{p.cell.upper()} tile H={p.hidden} I<={p.input_size} L={p.lanes} B={p.bnn_width} ({what})"

    # ------------------------------------------------------------------------------------ golden side
    def policy(self, threshold=0.0, form: str = intops.RELATIVE, enable: bool = True) -> MemoPolicy:
        """The golden policy the tile runs with ``memo_enable = enable`` at ``threshold``/``form``: the
        scheme's policy, or memo off (the fixed-point baseline) on the baseline tile or when disabled."""
        if self.reuse and enable:
            return self.scheme.golden_policy(threshold, predictor=self.predictor.name, form=form)
        return MemoPolicy(OFF, 0.0, form)

    def golden(self, x_q, lengths, policy: MemoPolicy) -> tuple[list[np.ndarray], RunStats]:
        """The golden model's output of every layer for integer inputs ``x_q`` (what the host feeds the
        next layer) and its statistics."""
        return tile_host.golden_layers(self.model, x_q, lengths, policy)

    def check(self, lengths=None, policy: MemoPolicy | None = None) -> None:
        """ValueError naming every problem when sequences of ``lengths`` under ``policy`` cannot run on
        this tile (sizes, formats, step counter, thresholds): before anything is elaborated or simulated."""
        tile_host.check_fits(self.params, self.model, lengths, policy)

    # ---------------------------------------------------------------------------------- hardware side
    @cached_property
    def image(self) -> dict[str, list[int]]:
        """Every memory's words (``hw.tile_image.memory_image``)."""
        from hw.tile_image import memory_image

        return memory_image(self.params, self.model)

    def memory_words(self) -> list[dict]:
        """The ``wr`` stream payloads ({mem, addr, data}) that load this network into an empty tile."""
        return tile_host.memory_words(self.params, self.model)

    @cached_property
    def design(self):
        """The :class:`sim.runner.Design` of the tile with this network's weights as memory contents."""
        return tile_host.tile_design(self.params, self.model)

    def build(self, sim: str):
        """Build (or reuse the cached build of) the design for ``sim``."""
        return runner.build(self.design, sim)

    def run(self, sim: str, x, lengths, *, threshold=0.0, form: str = intops.RELATIVE, enable: bool = True,
            **options):
        """Run the batch ``x`` through the tile on ``sim`` with ``memo_enable = enable`` and score every
        output against the golden model: a :class:`sim.tile_host.TileRun`. ``options`` are those of
        :func:`sim.tile_host.run_network` (load, valid_prob, ready_prob, seed, strict, run_name, quiet)."""
        return tile_host.run_network(self.design, sim, self.params, self.model, x, lengths,
                                     memo_enable=self.reuse and enable, threshold=threshold, form=form,
                                     **options)

    def predicted_cycles(self, run, enable: bool = True) -> int:
        """The cycle model's prediction for ``run`` (``hw.tile_cycles.expected_cycles`` per sequence)."""
        return tile_host.predicted_cycles(self.params, run, self.reuse and enable)
