"""The accelerator tile: a time-multiplexed LSTM/GRU layer engine with predictor-driven neuron-level fuzzy
memoization (DESIGN.md section 4). The interface contract, memory layouts, pipeline and cycle model are in
``docs/tile.md``; parameters in :mod:`hw.tile_params`, memory words in :mod:`hw.tile_image`, the parts in
``docs/hw/tile_parts.md`` and the predictor interface in ``docs/hw/front_end.md``.

The tile is a composition of components (one step; neurons in issue order n = j*G + g)::

    x -> StepSequencer -> RowWriter (x rows) --seen--> front end (params.front_end: BnnFrontEnd or none)
                                                            | decision
    IssueStage (tokens, beats) -> DotProductUnit -> LstmGateFeed / GruPairing -> ActivationUnit
        -> Merge (tokens in order; update -> front end) -> StateUpdate (cell unit, RowWriter (h rows),
        c state, output FIFO) -> h;  h_seen -> front end;  step_end -> StepSequencer;  PerfCounters

Every arithmetic operation lives in the reused blocks (hw/dot_product.py, hw/activation.py,
hw/lstm_cell.py, hw/gru.py, hw/bnn.py, hw/memo_table.py); the tile parts only sequence and store, and
this module only creates the memories and joins the parts.
"""

from __future__ import annotations

from amaranth.hdl import Module, unsigned
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .activation import ActivationUnit
from .checks import silence_tree, silence_unused
from .crew_products import ProductStage
from .crew_sum import CrewSumUnit
from .delta_detect import ChangeDetector
from .delta_emit import DeltaEmitter
from .delta_engine import DeltaEngine
from .dot_product import DotProductUnit
from .shapes import count_shape, index_shape, memory_depth
from .tile_counters import COUNTER_BITS, COUNTERS, PerfCounters, counter_names
from .tile_cycles import token_depth
from .tile_gates import gate_feed_class
from .tile_issue import IssueStage
from .tile_memories import wr_layout, write_from
from .tile_merge import Merge
from .tile_params import TileParams
from .tile_rows import RowWriter
from .tile_sequencer import StepSequencer, x_layout
from .tile_state import StateUpdate, h_layout

__all__ = ["Tile", "COUNTER_BITS"]

#: Step controls of the StepSequencer, forwarded to every part that has an input of the same name.
STEP_CONTROLS = ("seq_start", "step_reset", "go", "first_step", "n_x", "slot", "read_bank", "h_bank")


def _forward(m, src, names, *dsts):
    """Drive each ``dst.<name>`` input that exists from ``src.<name>``."""
    for dst in dsts:
        m.d.comb += [getattr(dst, n).eq(getattr(src, n)) for n in names if hasattr(dst, n)]


class Tile(wiring.Component):
    """LSTM/GRU inference tile with neuron-level fuzzy memoization (docs/tile.md), composed of the parts
    of docs/hw/tile_parts.md. The parts are public attributes (``sequencer``, ``x_writer``, ``front_end``
    (None on the baseline tile), ``issue``, ``dot``, ``gates``, ``activation``, ``merge``, ``state``,
    ``counters``), e.g. to probe their streams in a simulation of the tile.

    Parameters
    ----------
    params : TileParams
    image : dict or None
        :func:`hw.tile_image.memory_image` words used as the memories' elaboration-time ``init``
        (None: zero; load at run time through ``wr``).
    """

    def __init__(self, params: TileParams, image: dict | None = None):
        try:
            if not isinstance(params, TileParams):
                raise TypeError(f"params must be a hw.tile_params.TileParams, not {type(params).__name__}")
            if image is not None:
                _check_image(params, image)
        except (TypeError, ValueError):
            silence_unused(self)
            raise
        self.params = p = params
        self.image = image
        self.x_layout, self.h_layout, self.wr_layout = x_layout(p), h_layout(p), wr_layout(p)
        super().__init__({
            "x": In(stream.Signature(self.x_layout)),
            "h": Out(stream.Signature(self.h_layout)),
            "wr": In(stream.Signature(self.wr_layout)),
            "slot": In(index_shape(p.slots)),
            "n_x": In(count_shape(p.input_size)),
            "memo_enable": In(1),
            "theta": In(p.theta_shape),
            "form": In(1),
            "busy": Out(1),
            **{name: Out(COUNTER_BITS) for name in counter_names(p)},
            "clear_counters": In(1),
        })
        predicted = p.front_end is not None
        self.sequencer = StepSequencer(p)
        self.x_writer = RowWriter(p.lanes, p.input_size, p.x_rows, p.config.act.bits, first_bank=0)
        self.front_end = p.front_end(p, image) if predicted else None
        crew = p.crew is not None
        self.product_stage = ProductStage(p, image) if crew else None
        # the delta dataflow replaces the neuron-major issue stage and dot product (hw/delta_*.py)
        self.detector, self.engine, self.emitter = ((ChangeDetector(p), DeltaEngine(p), DeltaEmitter(p)) if p.delta
                                                    else (None, None, None))
        self.issue = None if p.delta else IssueStage(p, predicted, token_depth(p))
        self.dot = (None if p.delta else
                    CrewSumUnit(p.lanes, p.n_max, p.config, p.crew, p.rows_per_neuron) if crew
                    else DotProductUnit(p.lanes, p.n_max, p.config))
        self.gates = gate_feed_class(p.cell)(p)
        self.activation = ActivationUnit(p.config)
        self.merge = Merge(p, predicted)
        self.state = StateUpdate(p)
        self.counters = PerfCounters(COUNTER_BITS, extra=counter_names(p)[len(COUNTERS):])
        for part in self.parts().values():
            silence_tree(part)

    def parts(self) -> dict:
        """The tile's components by name (the submodule names of its elaboration)."""
        names = ("sequencer", "x_writer", "front_end", "product_stage", "issue", "dot", "detector", "engine", "emitter",
                 "gates", "activation", "merge", "state", "counters")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    def elaborate(self, platform):
        m = Module()
        p = self.params
        for name, part in self.parts().items():
            m.submodules[name] = part
        mems = self._memories(m)
        seq, xw, fe, issue, merge, state = (self.sequencer, self.x_writer, self.front_end, self.issue,
                                            self.merge, self.state)
        # x: admission, x rows, step ends back to the sequencer (the front end's view: _front_end)
        wiring.connect(m, wiring.flipped(self.x), seq.x)
        wiring.connect(m, seq.elements, xw.i)
        wiring.connect(m, xw.write, mems["xbuf"].write_port())
        m.d.comb += seq.x_step_end.eq(xw.seen.valid & xw.seen.payload.last)
        m.d.comb += [seq.n_x_in.eq(self.n_x), seq.slot_in.eq(self.slot), xw.count.eq(self.n_x),
                     xw.restart.eq(seq.seq_start), seq.x_bank.eq(xw.bank), seq.step_end.eq(state.step_end),
                     state.last_step.eq(seq.last_step)]
        _forward(m, seq, STEP_CONTROLS, merge)
        wiring.connect(m, merge.old, mems["hbuf" if p.cell == "gru" else "cmem"].read_port())
        # (issue -> dot product | detector -> engine -> emitter) -> gate feed -> activation -> merge -> state -> h
        if p.delta:
            self._delta(m, mems)
        else:
            self._neuron_major(m, issue, mems)
        wiring.connect(m, self.gates.act, self.activation.i)
        wiring.connect(m, self.activation.o, merge.act)
        if p.cell == "gru":
            _forward(m, merge, ("r", "r_unit", "r_held"), self.gates)
        wiring.connect(m, merge.ew, state.i)
        wiring.connect(m, state.hbuf, mems["hbuf"].write_port())
        if p.cell != "gru":
            wiring.connect(m, state.cmem, mems["cmem"].write_port())
        wiring.connect(m, state.h, wiring.flipped(self.h))
        if fe is not None:
            self._front_end(m, fe)
        if self.product_stage is not None:
            self._product_stage(m, self.product_stage, mems)
        # wr stream, status, counters
        m.d.comb += [self.wr.ready.eq(~seq.active), self.busy.eq(seq.active | state.pending)]
        c = self.counters
        m.d.comb += [c.clear.eq(self.clear_counters), c.active.eq(seq.active), c.evaluated.eq(merge.evaluated),
                     c.reused.eq(merge.reused), c.stalled.eq(seq.x_wait | state.stalled)]
        for name in counter_names(p):
            m.d.comb += getattr(self, name).eq(getattr(c, name))
        return m

    def _memories(self, m) -> dict:
        """The tile's run-time-loadable memories (the front end holds its own) and its state memories."""
        p, image = self.params, self.image or {}
        own = {"weight", "bias", "bias_hn"}
        depths, widths = p.depths(), p.widths()
        mems = {}
        for name in (n for n in depths if n in own):
            mems[name] = memory.Memory(shape=unsigned(widths[name]), depth=depths[name], init=image.get(name, []))
            write_from(m, mems[name], name, self.wr)
        row = unsigned(p.lanes * p.config.act.bits)
        mems["xbuf"] = memory.Memory(shape=row, depth=2 * p.x_rows, init=[])
        mems["hbuf"] = memory.Memory(shape=row, depth=2 * p.h_rows, init=[])
        if p.cell != "gru":
            mems["cmem"] = memory.Memory(shape=unsigned(p.config.cell.bits), depth=memory_depth(p.hidden), init=[])
        for name, mem in mems.items():
            m.submodules[name if name in ("xbuf", "hbuf", "cmem") else f"{name}_mem"] = mem
        return mems

    def _neuron_major(self, m, issue, mems):
        """The issue stage walks the neurons, the dot-product unit (or CREW's adder lanes) sums their rows."""
        seq = self.sequencer
        _forward(m, seq, [n for n in STEP_CONTROLS if n != "go"], issue)
        m.d.comb += issue.go.eq(seq.go & (self.product_stage.done if self.product_stage is not None else 1))
        for mem, port in [("weight", issue.weight), ("xbuf", issue.xbuf), ("hbuf", issue.hbuf),
                          ("bias", issue.bias), ("bias_hn", getattr(issue, "bias_hn", None))]:
            if port is not None:
                wiring.connect(m, port, mems[mem].read_port())
        wiring.connect(m, issue.dot, self.dot.i)
        wiring.connect(m, self.dot.o, self.gates.dot)
        wiring.connect(m, issue.tags, self.gates.tags)

    def _delta(self, m, mems):
        """The change detector finds the step's changed inputs, the engine corrects the accumulators with
        them, the emitter gives the neurons' results in issue order."""
        seq, det, eng, emit = self.sequencer, self.detector, self.engine, self.emitter
        _forward(m, seq, STEP_CONTROLS, det, eng, emit)
        m.d.comb += [det.theta.eq(self.theta), det.x_bank.eq(self.x_writer.bank), det.last_step.eq(seq.last_step),
                     eng.step_start.eq(seq.step_start), emit.groups_done.eq(eng.groups_done),
                     eng.h_first_delta.eq(det.h_first_delta), det.wr.valid.eq(self.wr.valid & self.wr.ready),
                     det.wr.payload.eq(self.wr.payload),
                     self.counters.x_changed_event.eq(det.count_x),
                     self.counters.h_changed_event.eq(det.count_h | eng.count_first_h),
                     self.counters.corrections_event.eq(eng.count_corrections)]
        wiring.connect(m, self.x_writer.seen, det.x)
        wiring.connect(m, self.state.h_seen, det.h)
        wiring.connect(m, det.x_changes, eng.x_changes)
        wiring.connect(m, det.h_changes, eng.h_changes)
        wiring.connect(m, eng.weight, mems["weight"].read_port())
        wiring.connect(m, eng.acc_x, emit.acc_x)
        wiring.connect(m, eng.acc_h, emit.acc_h)
        for mem in ("bias", "bias_hn"):
            if hasattr(emit, mem):
                wiring.connect(m, getattr(emit, mem), mems[mem].read_port())
        wiring.connect(m, emit.o, self.gates.dot)
        wiring.connect(m, emit.tags, self.gates.tags)

    def _product_stage(self, m, products, mems):
        """Join the CREW product stage: step controls, its reads of the x and h rows, the run-time writes
        of its unique-value table, its product writes to the adder lanes' banks."""
        _forward(m, self.sequencer, STEP_CONTROLS, products)
        m.d.comb += [products.start.eq(self.sequencer.step_start), products.wr.valid.eq(self.wr.valid & self.wr.ready),
                     products.wr.payload.eq(self.wr.payload), self.counters.products_event.eq(products.count_products)]
        wiring.connect(m, products.xbuf, mems["xbuf"].read_port())
        wiring.connect(m, products.hbuf, mems["hbuf"].read_port())
        wiring.connect(m, products.writes, self.dot.writes)

    def _front_end(self, m, fe):
        """Join the predictor front end: its views of x and h, the step controls, the memoization
        controls, the run-time writes, decisions to the issue stage and updates from the merge."""
        seq = self.sequencer
        wiring.connect(m, self.x_writer.seen, fe.x)
        wiring.connect(m, self.state.h_seen, fe.h)
        _forward(m, seq, STEP_CONTROLS, fe)
        m.d.comb += [fe.step_end.eq(self.state.step_end), fe.enable.eq(self.memo_enable), fe.theta.eq(self.theta),
                     fe.form.eq(self.form), fe.wr.valid.eq(self.wr.valid & self.wr.ready),
                     fe.wr.payload.eq(self.wr.payload)]
        wiring.connect(m, fe.decision, self.issue.decision)
        wiring.connect(m, self.issue.tokens, self.merge.tokens)
        wiring.connect(m, self.merge.update, fe.update)
        for name in counter_names(self.params)[len(COUNTERS):]:
            m.d.comb += getattr(self.counters, f"{name}_event").eq(getattr(fe, f"count_{name}"))


def _check_image(params: TileParams, image) -> None:
    if not isinstance(image, dict):
        raise TypeError(f"image must be a dict from hw.tile_image.memory_image, not {type(image).__name__}")
    depths, widths = params.depths(), params.widths()
    if set(image) != set(depths):
        raise ValueError(f"image has memories {sorted(image)}, the tile {sorted(depths)}")
    for name, words in image.items():
        if len(words) != depths[name]:
            raise ValueError(f"image[{name!r}] has {len(words)} words, the memory {depths[name]} rows")
        bad = [w for w in words if not isinstance(w, int) or not 0 <= w < (1 << widths[name])]
        if bad:
            raise ValueError(f"image[{name!r}] holds {bad[0]!r}, not a {widths[name]}-bit raw word")
