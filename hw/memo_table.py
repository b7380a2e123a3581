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

__all__ = ["CACHE_UPDATES", "MemoTable", "ThresholdForm", "memo_layouts", "threshold_hit", "valid_flags"]

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


def threshold_hit(new, cached, theta, form):
    """:func:`golden_model.intops.within_threshold` in exact integer widths: relative
    ``|new - cached| << THETA_FRAC <= theta * |cached|``, absolute ``|new - cached| <= theta``."""
    diff = abs(new - cached)
    relative_ok = (diff << THETA_FRAC) <= theta * abs(cached)
    return Mux(form == ThresholdForm.ABSOLUTE, diff <= theta, relative_ok)


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
    lookups) and none later; ``enable``, ``theta`` and ``form`` are sampled in that cycle too. Its
    response is offered from cycle ``t + LATENCY``. ``lookup.ready`` depends combinationally on
    ``response.ready``; with ``response.ready`` high a lookup is accepted every cycle.
    """

    #: Cycles from a lookup's transfer to ``response.valid`` for it (without back-pressure).
    LATENCY = 2

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
        always = self.cache_update == "always"

        m.submodules.y_mem = y_mem = memory.Memory(shape=signed(self.y_bits), depth=n, init=[])
        m.submodules.b_mem = b_mem = memory.Memory(shape=signed(self.b_bits), depth=n, init=[])

        look, upd, resp = self.lookup.payload, self.update.payload, self.response.payload

        # --- update port: always ready; y (and b with "compute") to memory, valid bit set.
        upd_fire = Signal()
        upd_in_range = upd.index < n if (1 << len(upd.index)) > n else Const(1)
        m.d.comb += [
            self.update.ready.eq(1),
            upd_fire.eq(self.update.valid & upd_in_range),
        ]
        y_wp = y_mem.write_port()
        m.d.comb += [y_wp.addr.eq(upd.index), y_wp.data.eq(upd.y), y_wp.en.eq(upd_fire)]

        # --- stage s1 (lookup accepted) and the response register.
        s1_valid = Signal()
        s1_index = Signal.like(look.index)
        s1_b = Signal.like(look.b)
        s1_vbit = Signal()          # valid bit as of the lookup's cycle (after clear and update)
        s1_enable = Signal()
        s1_theta = Signal(THETA_BITS)
        s1_form = Signal(ThresholdForm)

        s1_fire = Signal()
        look_fire = Signal()
        m.d.comb += [
            s1_fire.eq(s1_valid & (~self.response.valid | self.response.ready)),
            self.lookup.ready.eq(~s1_valid | s1_fire),
            look_fire.eq(self.lookup.valid & self.lookup.ready),
        ]

        # Reads happen in the lookup's cycle and are held (en low) while s1 waits: a snapshot.
        y_rp = y_mem.read_port(transparent_for=(y_wp,))
        m.d.comb += [y_rp.addr.eq(look.index), y_rp.en.eq(self.lookup.ready)]

        look_in_range = look.index < n if (1 << len(look.index)) > n else Const(1)
        b_wp = b_mem.write_port()
        if always:
            # Every lookup writes b_m := b_t; its own read returns the old b_m (not transparent).
            m.d.comb += [b_wp.addr.eq(look.index), b_wp.data.eq(look.b), b_wp.en.eq(look_fire & look_in_range)]
            b_rp = b_mem.read_port(transparent_for=())
        else:
            m.d.comb += [b_wp.addr.eq(upd.index), b_wp.data.eq(upd.b), b_wp.en.eq(upd_fire)]
            b_rp = b_mem.read_port(transparent_for=(b_wp,))
        m.d.comb += [b_rp.addr.eq(look.index), b_rp.en.eq(self.lookup.ready)]

        valid_seen = valid_flags(m, n, self.clear, upd_fire, upd.index)

        with m.If(look_fire):
            m.d.sync += [
                s1_valid.eq(1),
                s1_index.eq(look.index),
                s1_b.eq(look.b),
                s1_vbit.eq(look_in_range & valid_seen(look.index)),
                s1_enable.eq(self.enable),
                s1_theta.eq(self.theta),
                s1_form.eq(self.form),
            ]
        with m.Elif(s1_fire):
            m.d.sync += s1_valid.eq(0)

        # --- decision: intops.within_threshold, exact integer widths.
        hit = Signal()
        m.d.comb += hit.eq(s1_enable & s1_vbit & threshold_hit(s1_b, b_rp.data, s1_theta, s1_form))

        with m.If(s1_fire):
            m.d.sync += [
                self.response.valid.eq(1),
                resp.hit.eq(hit),
                resp.y.eq(Mux(hit, y_rp.data, 0)),
                resp.index.eq(s1_index),
                resp.b.eq(s1_b),
            ]
        with m.Elif(self.response.ready):
            m.d.sync += self.response.valid.eq(0)

        return m
