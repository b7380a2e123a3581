"""Formal checks of the hardware blocks with SymbiYosys and z3 (``pytest -m formal``; docs/formal.md).

Every check of :data:`sim.formal_checks.PROOFS` must pass in each of its modes; components broken on
purpose (defined here) must be caught, so a property that could never fail would show.
"""

import pytest
from amaranth.hdl import Const, Module
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from hw.memo_table import MemoTable
from sim.formal import Harness, Proof, counter_rules, free, prove, sby_text, stream_unit
from sim.formal_checks import PROOFS, memo_harness

pytestmark = pytest.mark.formal

#: The runs of the full suite only (``--full``): the longest (10-20 s alone, several times that under a
#: loaded test run; docs/formal.md) where a shorter run of the same property stays in the default run
#: (the memo hits with the compute update, the tile counters' bmc); the LSTM cell keeps its stream rules.
SLOW_RUNS = {"LstmCellUnit_transfers-bmc20", "LstmCellUnit_transfers-prove12", "MemoTable_hits_always-bmc10",
             "MemoTable_hits_compute_2_bit_epochs-bmc11", "Tile_counters_GRU-cover20"}
RUNS = [pytest.param(proof, mode, depth, id=f"{proof.slug}-{mode}{depth}",
                     marks=[pytest.mark.slow] if f"{proof.slug}-{mode}{depth}" in SLOW_RUNS else [])
        for proof in PROOFS for mode, depth in proof.runs()]


@pytest.mark.parametrize("proof, mode, depth", RUNS)
def test_property_holds(proof, mode, depth, tmp_path):
    result = proof.check(mode, depth, tmp_path)
    assert result.passed, result.summary()


class _Stage(wiring.Component):
    """Test-only one-register stream stage (latency 1). ``wobble``: the payload counts up while the stage
    is stalled (breaks the stream rules); ``lose``: an item of payload 0 is accepted and never offered
    (breaks the transfer counting, not the stream rules)."""

    latency = 1

    def __init__(self, *, wobble=False, lose=False):
        self.wobble, self.lose = wobble, lose
        super().__init__({"i": In(stream.Signature(3)), "o": Out(stream.Signature(3))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [self.o.valid.eq(~self.lose | (self.i.payload != 0)), self.o.payload.eq(self.i.payload)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.Elif(self.wobble):
            m.d.sync += self.o.payload.eq(self.o.payload + 1)
        return m


class _Fifo(wiring.Component):
    """Test-only stream wrapper of an ``amaranth.lib.fifo.SyncFIFO`` of ``depth`` entries (latency 1)."""

    latency = 1

    def __init__(self, depth):
        self.depth = depth
        super().__init__({"i": In(stream.Signature(3)), "o": Out(stream.Signature(3))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = fifo = SyncFIFO(width=3, depth=self.depth)
        wiring.connect(m, wiring.flipped(self.i), fifo.w_stream)
        wiring.connect(m, fifo.r_stream, wiring.flipped(self.o))
        return m


def test_fifo_transfers(tmp_path):
    # a FIFO of 3 entries empties within 3 + 1 cycles of a ready sink, not within its latency of 1
    result = prove(stream_unit(_Fifo(3), transfers=True, drain=4), "fifo", mode="bmc", depth=12,
                   workdir=tmp_path / "drain4")
    assert result.passed, result.summary()
    result = _failed(stream_unit(_Fifo(3), transfers=True), tmp_path / "drain1", depth=12)
    assert "an item lost or late with a ready sink" in result.summary()


def _memo_with(**overrides):
    """A test-only memo table that decides with some inputs replaced by constants (e.g. ``enable=1``)."""

    class Broken(MemoTable):
        def elaborate(self, platform):
            saved = {name: getattr(self, name) for name in overrides}
            try:
                for name, value in overrides.items():
                    setattr(self, name, Const(value, len(saved[name])))
                return super().elaborate(platform)
            finally:
                for name, value in saved.items():
                    setattr(self, name, value)

    return Broken


class _NoSweep(MemoTable):
    """A test-only memo table whose epoch wraps, and which stalls for the sweep, but writes no tag 0: a tag
    of the old round matches again after the sweep."""

    def _tags(self, m):
        tags = super()._tags(m)
        write = tags.write

        def no_sweep_write(m, port, fire, addr, word):
            sweeping, tags.sweeping = tags.sweeping, Const(0)
            try:
                write(m, port, fire, addr, word)
            finally:
                tags.sweeping = sweeping
        tags.write = no_sweep_write
        return tags


def _failed(harness, tmp_path, mode="bmc", depth=6):
    result = prove(harness, "broken", mode=mode, depth=depth, workdir=tmp_path)
    assert result.status == "FAIL", result.summary()
    assert result.trace is not None and result.trace.exists(), result.summary()
    return result


def test_correct_stage_passes(tmp_path):
    for transfers in (False, True):
        result = prove(stream_unit(_Stage(), transfers=transfers), "stage", mode="bmc", depth=8,
                       workdir=tmp_path / str(transfers))
        assert result.passed, result.summary()


def test_payload_changed_while_stalled_is_caught(tmp_path):
    result = _failed(stream_unit(_Stage(wobble=True)), tmp_path)
    assert "payload changed while stalled" in result.summary()


def test_lost_item_is_caught(tmp_path):
    assert prove(stream_unit(_Stage(lose=True)), "lossy", mode="prove", depth=4, workdir=tmp_path / "rules").passed
    result = _failed(stream_unit(_Stage(lose=True), transfers=True), tmp_path / "transfers")
    assert "an item lost or late with a ready sink" in result.summary()


@pytest.mark.parametrize("overrides, message", [
    ({"enable": 1}, "a hit with memoization off"),
    ({"clear": 0}, "a hit on an invalid (never written or cleared) entry"),
    ({"theta": 0xFFFF}, "a hit outside the threshold"),
], ids=["memo_off_hits", "clear_ignored", "threshold_ignored"])
def test_wrong_hit_is_caught(overrides, message, tmp_path):
    result = _failed(memo_harness(decisions=True, table=_memo_with(**overrides)), tmp_path, depth=6)
    assert message in result.summary()


@pytest.mark.slow   # with its property's run, MemoTable_hits_compute_2_bit_epochs-bmc11
def test_wrap_without_sweep_is_caught(tmp_path):
    """The 2-bit-epoch row's parameters and depth reach a lookup after the sweep (entries=2, depth 11)."""
    proof = next(p for p in PROOFS if "2-bit epochs" in p.name)
    result = _failed(memo_harness(decisions=True, epoch_bits=2, entries=2, table=_NoSweep), tmp_path,
                     depth=proof.depth)
    assert "a hit on an invalid (never written or cleared) entry" in result.summary()


class _Counter(wiring.Component):
    """Test-only counter of ``inc`` cycles, cleared by ``clear``; ``step`` is its increment."""

    def __init__(self, step=1):
        self.step = step
        super().__init__({"inc": In(1), "clear": In(1), "count": Out(4)})

    def elaborate(self, platform):
        m = Module()
        with m.If(self.clear):
            m.d.sync += self.count.eq(0)
        with m.Elif(self.inc):
            m.d.sync += self.count.eq(self.count + self.step)
        return m


def _counter_harness(step):
    def properties(m, dut, inner):
        free(m, dut.inc, dut.clear)
        counter_rules(m, dut.count, "count", clear=dut.clear)

    return Harness(_Counter(step), properties)


def test_counter_rules(tmp_path):
    assert prove(_counter_harness(1), "counter", mode="prove", depth=3, workdir=tmp_path / "good").passed
    result = _failed(_counter_harness(2), tmp_path / "bad", depth=4)
    assert "changed by other than +1" in result.summary()


def test_sby_file_names_z3_and_mode():
    text = sby_text("prove", 7)
    assert "mode prove\ndepth 7\n" in text and "smtbmc z3" in text
    with pytest.raises(ValueError, match="mode must be one of"):
        sby_text("live", 7)


def test_proof_runs_give_each_mode_its_depth():
    proof = Proof("x", None, 20, ("bmc", "prove"), 6)
    assert proof.runs() == [("bmc", 20), ("prove", 6)] and proof.slug == "x"
    assert Proof("a b (c)", None, 5).runs() == [("bmc", 5)] and Proof("a b (c)", None, 5).slug == "a_b_c"
