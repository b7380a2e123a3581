"""The formal checks of the hardware blocks (:mod:`sim.formal` harness), small parameters throughout.

:data:`PROOFS` is the table ``pytest -m formal`` runs (``tests/test_formal.py``) and ``docs/formal.md``
reports. Adding a component's checks is one :class:`~sim.formal.Proof` per property set: a name, a
function building the harness (:func:`~sim.formal.stream_unit` for one-in one-out stream units), the
BMC depth and, where k-induction closes, the mode "prove" with its induction depth.
"""

from __future__ import annotations

from amaranth.asserts import AnyConst
from amaranth.hdl import Assert, Cover, Module, Mux, Signal, signed
from amaranth.lib import data

from golden_model.formats import THETA_FRAC, FixedPointConfig, QFormat
from hw.activation import ActivationUnit
from hw.bnn import BnnUnit, bnn_input_layout
from hw.dot_product import DotProductUnit
from hw.gru import GruCandidateUnit, GruStateUnit
from hw.lstm_cell import LstmCellUnit
from hw.memo_table import EPOCH_BITS, MemoTable, ThresholdForm
from hw.tile import Tile
from hw.tile_bnn import BnnFrontEnd
from hw.tile_params import TileParams

from .formal import Harness, Proof, counter_rules, free, sink, source, stream_unit, transfer_checker

__all__ = ["CONFIG", "PROOFS", "memo_harness", "pipeline_occupancy", "report", "tile_counters_harness"]

#: Narrow formats: 3-bit weights, 4-bit activations, a 4-bit table argument (8-entry half tables).
CONFIG = FixedPointConfig(weight=QFormat(3, 1), act=QFormat(4, 2), cell=QFormat(5, 2), preact=QFormat(4, 2),
                          bias_bits=6)


def pipeline_occupancy(name: str, depth: int):
    """Items inside a :class:`hw.pipeline.StreamPipeline` called ``name`` of ``depth`` stages: one per
    valid stage (``{name}_valid1`` .. and ``o.valid``)."""
    return lambda inner: sum(inner[f"{name}_valid{k}"] for k in range(1, depth)) + inner["o__valid"]


def _dot_occupancy(inner):
    # stages 1 .. product_stages + 1 hold beats, one item per beat with ``last``; the accumulate stage and
    # the output keep only the last beats
    beats = DotProductUnit.product_stages + 1
    return (sum(inner[f"dot_valid{k}"] & inner[f"last{k}"] for k in range(1, beats + 1))
            + sum(inner[f"dot_valid{k}"] for k in range(beats + 1, DotProductUnit.latency)) + inner["o__valid"])


#: B of the BnnUnit checked
_BNN_WIDTH = 3


def _bnn_occupancy(inner):
    s0_last = inner["s0_beat"][bnn_input_layout(_BNN_WIDTH)["last"].offset]
    return (inner["s0_valid"] & s0_last) + (inner["s1_valid"] & inner["s1_last"]) + inner["o__valid"]


RULES = "stream rules on o (i assumed to obey them)"
TRANSFERS = "transfer counting i -> o at the unit's latency, occupancy invariant"


def _stream_proofs(name: str, build, *, item=None, occupancy=None, depth: int = 20, prove_depth: int = 8):
    """The two checks of a one-in one-out stream unit: its stream rules, and its transfers."""
    return [
        Proof(f"{name} stream rules", lambda: stream_unit(build()), depth, ("bmc", "prove"), prove_depth, RULES),
        Proof(f"{name} transfers", lambda: stream_unit(build(), transfers=True, item=item, occupancy=occupancy),
              depth, ("bmc", "prove"), prove_depth, TRANSFERS),
    ]


HITS = "hit only if valid (written, not cleared since), enabled, within threshold; memo off never hits; = reference"


# --- memo table -----------------------------------------------------------------------------------------


def _expected_layout(dut: MemoTable) -> data.StructLayout:
    return data.StructLayout({"hit": 1, "vbit": 1, "enable": 1, "within": 1, "y": signed(dut.y_bits),
                              "index": len(dut.lookup.payload.index), "b": signed(dut.b_bits)})


def _within(new, cached, theta, form):
    """:func:`golden_model.intops.within_threshold`, both forms, as written there."""
    diff = abs(new - cached)
    relative = (diff << THETA_FRAC) <= theta * abs(cached)
    return Mux(form == ThresholdForm.ABSOLUTE, diff <= theta, relative)


def _memo_reference(m: Module, dut: MemoTable):
    """A reference model of the table's entries; returns the expected response (``_expected_layout``) of
    a lookup in this cycle, seeing this cycle's clear, then update (DESIGN.md 3.3, docs/hw/memo_table.md)."""
    n, always = dut.entries, dut.cache_update == "always"
    look, upd = dut.lookup.payload, dut.update.payload
    ref_valid = Signal(n)
    ref_y = [Signal.like(upd.y, name=f"ref_y{k}") for k in range(n)]
    ref_b = [Signal.like(upd.b, name=f"ref_b{k}") for k in range(n)]
    upd_fire = dut.update.valid & dut.update.ready & (upd.index < n)
    look_fire = dut.lookup.valid & dut.lookup.ready & (look.index < n)
    for k in range(n):
        updated = upd_fire & (upd.index == k)
        with m.If(updated):
            m.d.sync += ref_y[k].eq(upd.y)
        with m.If(look_fire & (look.index == k) if always else updated):
            m.d.sync += ref_b[k].eq(look.b if always else upd.b)
        m.d.sync += ref_valid[k].eq((ref_valid[k] & ~dut.clear) | updated)
    same = upd_fire & (upd.index == look.index)
    stored_y, stored_b = Signal.like(upd.y, name="ref_y_sel"), Signal.like(upd.b, name="ref_b_sel")
    with m.Switch(look.index):
        for k in range(n):
            with m.Case(k):
                m.d.comb += [stored_y.eq(ref_y[k]), stored_b.eq(ref_b[k])]
    entry_b = stored_b if always else Mux(same, upd.b, stored_b)  # "always": the lookup reads the old b_m
    expected = Signal(_expected_layout(dut))
    m.d.comb += [
        expected.vbit.eq((look.index < n) & ((ref_valid.bit_select(look.index, 1) & ~dut.clear) | same)),
        expected.enable.eq(dut.enable),
        expected.within.eq(_within(look.b, entry_b, dut.theta, dut.form)),
        expected.hit.eq(expected.vbit & expected.enable & expected.within),
        expected.y.eq(Mux(expected.hit, Mux(same, upd.y, stored_y), 0)),
        expected.index.eq(look.index),
        expected.b.eq(look.b),
    ]
    return expected


def _memo_decisions(m: Module, dut: MemoTable, expected, width: int = 5) -> None:
    """The response to one lookup, any one (its number is an ``AnyConst``), is the one expected of it:
    saved when the lookup transfers, compared while its response is offered. One saved lookup instead
    of a queue of all of them keeps the state, and so the solver's work, small."""
    tracked = Signal(width)
    m.d.comb += tracked.eq(AnyConst(width))
    lookups, responses = Signal(width), Signal(width)
    with m.If(dut.lookup.valid & dut.lookup.ready):
        m.d.sync += lookups.eq(lookups + 1)
    with m.If(dut.response.valid & dut.response.ready):
        m.d.sync += responses.eq(responses + 1)
    want, got = Signal(_expected_layout(dut)), dut.response.payload
    with m.If(dut.lookup.valid & dut.lookup.ready & (lookups == tracked)):
        m.d.sync += want.eq(expected)
    with m.If(dut.response.valid & (responses == tracked)):
        m.d.comb += [
            Assert(lookups > tracked, "memo: a response before its lookup"),
            Assert(~got.hit | want.vbit, "memo: a hit on an invalid (never written or cleared) entry"),
            Assert(~got.hit | want.enable, "memo: a hit with memoization off"),
            Assert(~got.hit | want.within, "memo: a hit outside the threshold"),
            Assert(got.hit == want.hit, "memo: a miss where the entry is valid, enabled and within threshold"),
            Assert(got.y == want.y, "memo: y is not the cached y on a hit, 0 on a miss"),
            Assert((got.index == want.index) & (got.b == want.b), "memo: index and b not echoed"),
        ]


def memo_harness(*, decisions: bool, entries: int = 3, y_bits: int = 2, b_bits: int = 2,
                 cache_update: str = "compute", epoch_bits: int = EPOCH_BITS, table=MemoTable) -> Harness:
    """A :class:`hw.memo_table.MemoTable` with free lookups, updates, clear, enable, theta and form (theta
    may change every cycle: each lookup samples its own; ``epoch_bits`` 2 wraps the epoch, with a sweep,
    after 3 clears):
    the stream rules on its three streams, its lookup-to-response transfers (invariant: the items in
    its stages and response register) and, with ``decisions``, every response against a reference
    model of the entries. ``table`` is the class checked (a :class:`MemoTable` or a variant of it)."""

    def properties(m, dut, inner):
        source(m, dut.lookup, "lookup")
        source(m, dut.update, "update")
        sink(m, dut.response, "response")
        free(m, dut.clear, dut.enable, dut.theta, dut.form)
        stages = sum(inner[f"memo_valid{k}"] for k in range(1, dut.latency))
        transfer_checker(m, dut.lookup, dut.response, dut.latency, "memo", occupancy=stages + inner["response__valid"])
        if decisions:
            _memo_decisions(m, dut, _memo_reference(m, dut))

    return Harness(table(entries, y_bits, b_bits, cache_update, epoch_bits), properties)


COUNTERS = "4 counters: +0/+1 per cycle, 0 after clear; reuses <= evaluations; stream rules on h; cover: an evaluation"


def tile_counters_harness(cell: str = "gru") -> Harness:
    """The whole :class:`hw.tile.Tile` (smallest parameters, image written through ``wr``) with free
    inputs: the counting rules of its performance counters and the stream rules of ``h``. A ``Cover``
    of the first evaluation guards against a check that holds only because nothing happens."""

    def properties(m, dut, inner):
        source(m, dut.x, "x")
        source(m, dut.wr, "wr")
        sink(m, dut.h, "h")
        free(m, dut.slot, dut.n_x, dut.memo_enable, dut.theta, dut.form, dut.clear_counters)
        for name in ("cycles", "evaluations", "reuses", "stalls"):
            counter_rules(m, getattr(dut, name), name, clear=dut.clear_counters)
        m.d.comb += [Assert(dut.reuses <= dut.evaluations, "tile: more reuses than evaluations"),
                     Cover(dut.evaluations == 1)]

    params = TileParams(cell=cell, input_size=1, hidden=2, slots=1, lanes=1, bnn_width=2, config=CONFIG,
                        max_steps=2, front_end=BnnFrontEnd)
    return Harness(Tile(params), properties)


PROOFS = [
    *_stream_proofs("DotProductUnit", lambda: DotProductUnit(2, 4, CONFIG), item=lambda p: p.last,
                    occupancy=_dot_occupancy),
    *_stream_proofs("ActivationUnit", lambda: ActivationUnit(CONFIG),
                    occupancy=pipeline_occupancy("act", ActivationUnit.latency)),
    *_stream_proofs("LstmCellUnit", lambda: LstmCellUnit(CONFIG),
                    occupancy=pipeline_occupancy("lstm", LstmCellUnit.latency),
                    prove_depth=LstmCellUnit.latency + 2),   # induction needs a trace as long as the pipeline
    *_stream_proofs("GruCandidateUnit", lambda: GruCandidateUnit(CONFIG, 2),
                    occupancy=pipeline_occupancy("grucand", GruCandidateUnit.latency)),
    *_stream_proofs("GruStateUnit", lambda: GruStateUnit(CONFIG),
                    occupancy=pipeline_occupancy("grustate", GruStateUnit.latency)),
    *_stream_proofs("BnnUnit", lambda: BnnUnit(_BNN_WIDTH, 6), item=lambda p: p.last, occupancy=_bnn_occupancy),
    Proof("MemoTable streams and transfers", lambda: memo_harness(decisions=False), 20, ("bmc", "prove"), 8,
          "stream rules on response (lookup, update assumed); transfer counting lookup -> response"),
    Proof("MemoTable hits (compute)", lambda: memo_harness(decisions=True), 10, claim=HITS),
    Proof("MemoTable hits (always)", lambda: memo_harness(decisions=True, cache_update="always"), 10, claim=HITS),
    # 2-bit epochs, 2 entries: an entry written in epoch 1 (cycle 0), three clears (cycles 1-3, the third
    # wraps, a 2-cycle sweep) and a lookup of it in epoch 1 again (cycle 6), offered in cycle 10: depth 11
    Proof("MemoTable hits (compute, 2-bit epochs)", lambda: memo_harness(decisions=True, epoch_bits=2, entries=2),
          11, claim=HITS + "; epoch wrap and sweep"),
    Proof("Tile counters (GRU)", tile_counters_harness, 20, ("bmc", "cover"), claim=COUNTERS),
]


def report(workdir) -> str:
    """Run every check of :data:`PROOFS` in ``workdir``; a Markdown table of the results (docs/formal.md)."""
    rows = ["| check | property | mode | depth | result | time |", "|---|---|---|---|---|---|"]
    for proof in PROOFS:
        for mode, depth in proof.runs():
            result = proof.check(mode, depth, workdir)
            rows.append(f"| {proof.name} | {proof.claim} | {mode} | {depth} | {result.status} | "
                        f"{result.seconds:.1f} s |")
    return "\n".join(rows)


if __name__ == "__main__":  # python -m sim.formal_checks WORKDIR
    import sys

    print(report(sys.argv[1] if len(sys.argv) > 1 else "build/formal"))
