"""The typed job and result of a tile run across the simulator boundary.

:meth:`fuzzymemo.compiled.CompiledModel.job` (host process) makes a :class:`TileJob`,
:func:`sim.tile_host.run_job` writes it into the run directory, the cocotb module :mod:`sim.tile_tb`
(inside the simulator) loads it, runs it and saves a :class:`TileResult` that the host loads back. Both
are dataclasses saved as one ``.npz`` each: the arrays as arrays, every other field as JSON.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .tile_protocol import COUNTERS

__all__ = ["MODES", "Pauses", "TileJob", "TileResult"]

#: How the simulator drives the tile: ``harness`` (Verilog source/sink buffers and clock, one await per
#: batch; :mod:`sim.harness`) or ``python`` (cocotb drivers on the tile's ports every cycle: slower, checks
#: the stream protocol from Python).
MODES = ("harness", "python")


def _save(obj, path: Path, arrays: dict) -> None:
    meta = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.name not in arrays}
    meta = {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in meta.items()}
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
    tmp.replace(path)


def _load(path: Path) -> tuple[dict, dict]:
    with np.load(Path(path), allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        arrays = {k: f[k] for k in f.files if k != "meta"}
    return meta, arrays


@dataclass(frozen=True)
class Pauses:
    """Valid gaps (or back-pressure) of a stream: a beat may move in a cycle with probability ``prob`` and
    only when bit ``cycle % mask_len`` of ``mask`` is set (:func:`sim.harness.pauses`)."""
    prob: float = 1.0
    mask: int = 0xFFFFFFFF
    mask_len: int = 32


@dataclass
class TileJob:
    """A network run over a batch, as the simulator needs it.

    x -- (B, T, n_x) quantized inputs; lengths -- (B,) valid steps; theta -- threshold register values,
    (layers, gates) one per gate, or (layers,) one word per layer (a delta tile's theta_x and theta_h);
    expected -- the golden outputs (B, T, D*H) of every layer; expected_evaluations/reuses --
    (layers, directions) golden counts; inputs -- each layer's input size; wr -- ``wr`` payloads to load
    before the run (None: the elaborated weights); valid / ready -- valid gaps on x (and wr) and
    back-pressure on h; seed -- of their generators; counters -- the tile's counter outputs to read after
    each pass (the tile's own and its front end's); chained -- the design is a
    :class:`hw.layer_chain.LayerChain`: the layer-0 sequences go in once, the last layer's outputs come
    back, and each pass's counters are its ``<counter>_pass<k>`` outputs."""
    x: np.ndarray
    lengths: np.ndarray
    theta: np.ndarray
    expected: list[np.ndarray]
    expected_evaluations: np.ndarray
    expected_reuses: np.ndarray
    inputs: list[int]
    directions: int
    hidden: int
    gates: int
    lanes: int
    memo_enable: int
    form: int
    valid: Pauses = field(default_factory=lambda: Pauses())
    ready: Pauses = field(default_factory=lambda: Pauses())
    seed: int = 1
    strict: bool = True
    timeout_factor: float = 20.0
    wr: list[dict] | None = None
    mode: str = "harness"
    counters: tuple[str, ...] = COUNTERS
    chained: bool = False

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        self.valid = Pauses(**self.valid) if isinstance(self.valid, dict) else self.valid
        self.ready = Pauses(**self.ready) if isinstance(self.ready, dict) else self.ready
        self.counters = tuple(self.counters)

    @property
    def theta_gates(self) -> int:
        """The thresholds each layer's ``theta`` row holds (1 for a row of one word)."""
        return self.theta.shape[1] if self.theta.ndim == 2 else 1

    @property
    def num_layers(self) -> int:
        return len(self.inputs)

    @property
    def h_per_step(self) -> int:
        """h elements a pass returns per step: H, or D*H when the tile sequences the layers itself
        (``chained``: one pass, the last layer's [h_fwd ; h_bwd])."""
        return self.directions * self.hidden if self.chained else self.hidden

    def timeout_cycles(self, n_x: int) -> int:
        """A generous cycle budget of one pass of layer input size ``n_x``."""
        steps = int(self.lengths.sum())
        beats = steps * (n_x + self.hidden)
        per_neuron = -(-n_x // self.lanes) + -(-self.hidden // self.lanes) + 4
        gaps = 1.0 / (min(self.valid.prob, self.ready.prob) * 0.5)
        return int(self.timeout_factor * gaps * steps * self.gates * self.hidden * per_neuron) + 20 * beats + 10000

    def save(self, path) -> None:
        arrays = {"x": self.x, "lengths": self.lengths, "theta": self.theta,
                  "expected_evaluations": self.expected_evaluations, "expected_reuses": self.expected_reuses,
                  **{f"expected_{li}": e for li, e in enumerate(self.expected)}}
        meta_obj = dataclasses.replace(self, expected=[])
        _save(meta_obj, path, {k: np.asarray(v) for k, v in arrays.items()})

    @classmethod
    def load(cls, path) -> TileJob:
        meta, arrays = _load(path)
        expected = [arrays.pop(f"expected_{li}").astype(np.int64) for li in range(len(meta["inputs"]))]
        meta.pop("expected", None)
        return cls(x=arrays["x"].astype(np.int64), lengths=arrays["lengths"].astype(np.int64),
                   theta=arrays["theta"].astype(np.int64), expected=expected,
                   expected_evaluations=arrays["expected_evaluations"].astype(np.int64),
                   expected_reuses=arrays["expected_reuses"].astype(np.int64), **meta)


@dataclass
class TileResult:
    """What the simulator measured: the RTL outputs of every layer (B, T, D*H), the counters per pass,
    the scoreboards' counts (mismatched, lost, extra), the protocol errors, simulated cycles and the
    simulator's wall time of the run (``sim_seconds``, from reset to the last pass, no build)."""
    outputs: list[np.ndarray]
    counters: dict
    passes: list[dict]
    sim_cycles: int
    mismatches: int
    lost: int
    extra: int
    counters_ok: bool
    report: str = ""
    protocol_errors: list[str] = field(default_factory=list)
    sim_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.report and not self.protocol_errors and self.counters_ok

    def save(self, path) -> None:
        _save(dataclasses.replace(self, outputs=[]), path,
              {f"out_{li}": np.asarray(o) for li, o in enumerate(self.outputs)})

    @classmethod
    def load(cls, path) -> TileResult:
        meta, arrays = _load(path)
        meta.pop("outputs", None)
        outputs = [arrays[f"out_{li}"].astype(np.int64) for li in range(len(arrays))]
        return cls(outputs=outputs, **meta)
