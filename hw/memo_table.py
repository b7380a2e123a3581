"""Memo table of neuron-level fuzzy memoization (DESIGN.md 3.3), one decision per cycle.

Per neuron it holds the cached output y_m, the cached BNN output b_m and a valid bit. A lookup
``(index, b_t)`` is answered with ``hit = enable & valid & within_threshold(b_t, b_m, theta, form)``
(:func:`golden_model.intops.within_threshold`) and the cached y_m. The semantics match
:class:`golden_model.memo.MemoTable` (``cache_update`` "compute" or "always"). See ``docs/hw/memo_table.md``.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model.formats import THETA_BITS, THETA_FRAC
from golden_model.memo import CACHE_UPDATES

from .checks import check_int
from .pipeline import StreamPipeline

__all__ = ["CACHE_UPDATES", "MemoTable", "ThresholdForm", "abs_difference", "memo_layouts", "scaled_threshold",
           "threshold_hit", "valid_flags"]

# Cache-update policies (golden_model.memo.CACHE_UPDATES): "compute" -- b_m changes only when the neuron
# is computed (update port); "always" -- every lookup writes b_m := b_t.

#: Largest number of entries accepted (a sanity bound: the valid bits are flip-flops).
MAX_ENTRIES = 1 << 16


class ThresholdForm(enum.Enum, shape=1):
    """Run-time threshold form (``form`` input): the two forms of :func:`golden_model.intops.within_threshold`."""
    RELATIVE = 0
    ABSOLUTE = 1


def valid_flags(m, entries: int, clear, fire, index):
    """Per-entry valid flip-flops: ``clear`` invalidates every entry, ``fire`` sets entry ``index`` (clear
    first, then the set). Returns ``seen(i)``: entry i's valid bit as a lookup in the same cycle sees it
    (after this cycle's clear and set)."""
    valid = Signal(entries)
    onehot = Signal(entries)
    m.d.comb += onehot.eq(Mux(fire, Const(1, entries) << index, 0))
    m.d.sync += valid.eq(Mux(clear, 0, valid) | onehot)

    def seen(i):
        return (~clear & valid.bit_select(i, 1)) | (fire & (index == i))
    return seen


def abs_difference(new, cached):
    """|new - cached|, unsigned: both differences at once and one selected (one carry chain, not two)."""
    return Mux(new < cached, cached - new, new - cached).as_unsigned()


def threshold_hit(new, cached, theta, form, scaled=None, diff=None):
    """:func:`golden_model.intops.within_threshold` in exact integer widths: relative
    ``|new - cached| << THETA_FRAC <= theta * |cached|``, absolute ``|new - cached| <= theta``.
    ``scaled``: theta * |cached| computed ahead (:func:`scaled_threshold`), else here; ``diff``:
    |new - cached| computed ahead (:func:`abs_difference`), else here."""
    diff = abs_difference(new, cached) if diff is None else diff
    relative_ok = (diff << THETA_FRAC) <= (theta * abs(cached) if scaled is None else scaled)
    return Mux(form == ThresholdForm.ABSOLUTE, diff <= theta, relative_ok)


def scaled_threshold(theta, cached):
    """theta * |cached|, the right side of the relative compare, in its exact unsigned width."""
    return theta * abs(cached)


def memo_layouts(entries: int, y_bits: int, b_bits: int) -> dict[str, data.StructLayout]:
    """Payload layouts of the three streams: ``lookup``, ``response``, ``update``."""
    index = unsigned(max(1, (entries - 1).bit_length()))
    return {
        "lookup": data.StructLayout({"index": index, "b": signed(b_bits)}),
        "response": data.StructLayout({"hit": unsigned(1), "y": signed(y_bits), "index": index,
                                       "b": signed(b_bits)}),
        "update": data.StructLayout({"index": index, "y": signed(y_bits), "b": signed(b_bits)}),
    }


class MemoTable(wiring.Component):
    """Per-neuron memo table with a threshold compare, one lookup decided per cycle.

    Parameters
    ----------
    entries : int
        Number of neurons (2..65536). Indices >= entries are out of range: such a lookup misses and such
        an update is ignored.
    y_bits : int
        Width of the cached output y (signed, 2..32).
    b_bits : int
        Width of the BNN output b (signed, 2..32).
    cache_update : str
        "compute" (default): b_m is written only by the update port (the neuron was computed);
        "always": every lookup writes b_m := b_t (the update port's ``b`` field is then ignored).

    Ports
    -----
    lookup : In(stream)    payload ``index``, ``b`` (b_t)
    response : Out(stream) payload ``hit``, ``y`` (y_m on a hit, 0 on a miss), ``index``, ``b`` (b_t echoed),
        one per lookup, in order
    update : In(stream)    payload ``index``, ``y``, ``b``: store (y, b) and set valid; ``ready`` is always 1
    clear : In(1)          invalidate every entry (sequence start), one cycle
    enable : In(1)         memoization enable; 0 forces every lookup to miss
    theta : In(THETA_BITS) threshold register (relative: fraction bits THETA_FRAC; absolute: an integer)
    form : In(ThresholdForm)

    Ordering within one cycle: ``clear``, then the update, then the lookup. A lookup transferred in cycle
    ``t`` sees every clear and update of cycles ``<= t`` (and, with "always", the b_m written by earlier
    lookups) and none later; ``enable`` and ``form`` are sampled in that cycle too. Its response is
    offered from cycle ``t + LATENCY``. ``lookup.ready`` depends combinationally on ``response.ready``;
    with ``response.ready`` high a lookup is accepted every cycle.

    ``theta`` is sampled with the lookup; theta * |b_m| is formed in stage 3 from registers ("compute":
    |b_m| is stored beside b_m, so no carry chain precedes the multiplier; "always": from b_m).

    Stages (fmax: no memory output, multiplier or compare shares a stage with another, and no two carry
    chains are in series): 1, the lookup registered while the memories read its entry; 2, the memory
    outputs registered; 3, |b_t - b_m| and theta * |b_m| registered; 4, the compare into the response
    register.
    """

    #: Cycles from a lookup's transfer to ``response.valid`` for it (without back-pressure).
    LATENCY = 4

    def __init__(self, entries: int, y_bits: int, b_bits: int, cache_update: str = "compute"):
        self.entries = check_int("MemoTable entries", entries, 2, MAX_ENTRIES)
        self.y_bits = check_int("MemoTable y_bits", y_bits, 2, 32)
        self.b_bits = check_int("MemoTable b_bits", b_bits, 2, 32)
        if not isinstance(cache_update, str):
            raise TypeError(f"MemoTable cache_update must be a str, not {type(cache_update).__name__}")
        if cache_update not in CACHE_UPDATES:
            raise ValueError(f"MemoTable cache_update must be one of {CACHE_UPDATES}, not {cache_update!r}")
        self.cache_update = cache_update
        layouts = memo_layouts(entries, y_bits, b_bits)
        super().__init__({
            "lookup": In(stream.Signature(layouts["lookup"])),
            "response": Out(stream.Signature(layouts["response"])),
            "update": In(stream.Signature(layouts["update"])),
            "clear": In(1),
            "enable": In(1),
            "theta": In(THETA_BITS),
            "form": In(ThresholdForm),
        })

    @property
    def latency(self) -> int:
        """Cycles from a lookup's transfer to its response's ``response.valid``."""
        return self.LATENCY

    def elaborate(self, platform):
        m = Module()
        n = self.entries
        look, upd, resp = self.lookup.payload, self.update.payload, self.response.payload
        pipe = StreamPipeline(m, self.lookup, self.response, self.LATENCY, name="memo")
        upd_fire = Signal()
        upd_in_range = upd.index < n if (1 << len(upd.index)) > n else Const(1)
        m.d.comb += [self.update.ready.eq(1), upd_fire.eq(self.update.valid & upd_in_range)]
        cached = self._entries(m, pipe, upd_fire)
        valid_seen = valid_flags(m, n, self.clear, upd_fire, upd.index)
        look_in_range = look.index < n if (1 << len(look.index)) > n else Const(1)
        s1 = {"index": look.index, "b": look.b, "vbit": look_in_range & valid_seen(look.index),
              "enable": self.enable, "theta": self.theta, "form": self.form}
        s1 = _stage(m, pipe, s1, 1)
        s2 = _stage(m, pipe, {**s1, **cached}, 2)    # the memory outputs registered
        # theta * |b_m| from registers ("compute": |b_m| is stored, so the multiplier's operands are flip-flops)
        scaled = s2["theta"] * s2.pop("abs_b") if "abs_b" in s2 else scaled_threshold(s2["theta"], s2["b_m"])
        # stage 3: |b_t - b_m| and theta * |b_m| registered; stage 4: the compares (one carry chain each)
        s3 = _stage(m, pipe, {**s2, "diff": abs_difference(s2["b"], s2["b_m"]), "scaled": scaled}, 3)
        hit = s3["enable"] & s3["vbit"] & threshold_hit(s3["b"], s3["b_m"], s3["theta"], s3["form"], s3["scaled"],
                                                        s3["diff"])
        with m.If(pipe.advance):
            m.d.sync += [resp.hit.eq(hit), resp.y.eq(Mux(hit, s3["y_m"], 0)), resp.index.eq(s3["index"]),
                         resp.b.eq(s3["b"])]
        return m

    def _entries(self, m, pipe, upd_fire) -> dict:
        """The y_m, b_m (and with "compute" |b_m|) memories, read in the lookup's cycle and held while the
        pipeline stalls (a snapshot); returns their data as stage 1 holds it.

        An update is written one cycle late, from registers, so that no path runs from the update port
        (the merge's hit/miss decision and the token FIFO's read data) into the memories' write ports; a
        lookup in the next cycle reads it through the transparent read port, and a lookup of the same
        entry in the update's own cycle takes the update's values from registers beside stage 1 (the
        bypass). With "always" b_m is written by every lookup (b_t), at
        once, and read without bypass (a lookup reads the b_m before its own write)."""
        look, upd = self.lookup.payload, self.update.payload
        always = self.cache_update == "always"
        # |b| stored beside b ("compute"), so the threshold's product at the lookup has no carry chain before it
        src = {"fire": upd_fire, "index": upd.index, "y": upd.y, "b": upd.b, "abs_b": abs(upd.b)}
        late = {name: Signal.like(value, name=f"u_{name}") for name, value in src.items()}
        m.d.sync += [late[name].eq(value) for name, value in src.items()]
        fwd = _stage(m, pipe, {"hit": upd_fire & (upd.index == look.index), "y": upd.y, "b": upd.b,
                               "abs_b": src["abs_b"]}, "1f")
        fields = {"y_m": (signed(self.y_bits), late["y"], fwd["y"])}
        if not always:
            fields["b_m"] = (signed(self.b_bits), late["b"], fwd["b"])
            fields["abs_b"] = (unsigned(self.b_bits), late["abs_b"], fwd["abs_b"])
        out = {}
        for name, (shape, value, bypass) in fields.items():
            m.submodules[f"{name}_mem"] = mem = memory.Memory(shape=shape, depth=self.entries, init=[])
            wp = mem.write_port()
            rp = mem.read_port(transparent_for=(wp,))
            m.d.comb += [wp.addr.eq(late["index"]), wp.data.eq(value), wp.en.eq(late["fire"]),
                         rp.addr.eq(look.index), rp.en.eq(pipe.advance)]
            out[name] = Mux(fwd["hit"], bypass, rp.data)
        if always:
            out["b_m"] = self._lookup_written_b(m, pipe)
        return out

    def _lookup_written_b(self, m, pipe):
        """"always": the b_m memory, written by every lookup (b_m := b_t) and read by it before the write
        (not transparent); returns its read data (stage 1)."""
        look = self.lookup.payload
        look_in_range = look.index < self.entries if (1 << len(look.index)) > self.entries else Const(1)
        m.submodules.b_m_mem = mem = memory.Memory(shape=signed(self.b_bits), depth=self.entries, init=[])
        wp, rp = mem.write_port(), mem.read_port(transparent_for=())
        m.d.comb += [wp.addr.eq(look.index), wp.data.eq(look.b), wp.en.eq(pipe.take & look_in_range),
                     rp.addr.eq(look.index), rp.en.eq(pipe.advance)]
        return rp.data


def _stage(m, pipe, values: dict, k) -> dict:
    """Registers ``values`` into pipeline stage ``k`` (loaded with ``pipe.advance``)."""
    regs = {name: Signal.like(value, name=f"s{k}_{name}") for name, value in values.items()}
    with m.If(pipe.advance):
        m.d.sync += [regs[name].eq(value) for name, value in values.items()]
    return regs
