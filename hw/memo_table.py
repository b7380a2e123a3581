"""Memo table of neuron-level fuzzy memoization (DESIGN.md 3.3), one decision per cycle.

Per neuron it holds the cached output y_m, the cached BNN output b_m and an epoch tag (the entry is valid
while its tag equals the table's epoch, :class:`EpochTags`). A lookup
``(index, b_t)`` is answered with ``hit = enable & valid & within_threshold(b_t, b_m, theta, form)``
(:func:`golden_model.intops.within_threshold`) and the cached y_m. The semantics match
:class:`golden_model.memo.MemoTable` (``cache_update`` "compute" or "always"). See ``docs/hw/memo_table.md``.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model.formats import THETA_BITS, THETA_FRAC
from golden_model.memo import CACHE_UPDATES

from .checks import check_int, silence_unused
from .pipeline import StreamPipeline

__all__ = ["CACHE_UPDATES", "EPOCH_BITS", "EpochTags", "MemoTable", "ThresholdForm", "abs_difference", "memo_layouts",
           "scaled_threshold", "threshold_hit", "valid_flags"]

# Cache-update policies (golden_model.memo.CACHE_UPDATES): "compute" -- b_m changes only when the neuron
# is computed (update port); "always" -- every lookup writes b_m := b_t.

#: Largest number of entries accepted (a sanity bound).
MAX_ENTRIES = 1 << 16
#: Default width of a memo table's epoch tags (:class:`EpochTags`): a sweep once every 255 clears.
EPOCH_BITS = 8
#: Accepted epoch tag widths.
EPOCH_BITS_RANGE = (2, 16)


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


class EpochTags:
    """Valid bits as epoch tags stored in a memory beside the entries (no flip-flop per entry).

    An epoch register counts 1 .. 2**bits - 1; each entry stores the epoch of its last write (its tag) and
    is valid while its tag equals the epoch; tag 0 never matches (invalid, the memories' init value).
    ``clear`` (In, one cycle) moves to the next epoch, which invalidates every entry at once. When a
    clear would leave epoch 2**bits - 1 the epoch becomes 1 and a **sweep** starts: from the next cycle
    ``sweeping`` is high for ``entries`` cycles while ``sweep_addr`` counts 0 .. entries - 1, and the
    caller's tag memory writes tag 0 there (:meth:`write`), one entry per cycle, so no tag of the old
    round can match the new epoch 1. The caller accepts no lookup and no update while ``sweeping``; a
    clear during a sweep changes neither the epoch nor the sweep (every entry is being invalidated).
    Cost: ``entries`` cycles once every 2**bits - 1 clears.

    ``epoch``, ``sweeping`` and ``sweep_addr`` are reset-less (init 1, 0, 0), like the memory contents:
    reset neither invalidates the entries nor starts a sweep; ``clear`` does the invalidating. This needs
    the initial values (tags 0, epoch 1) to hold at power-up, as on the FPGA targets and in simulation
    (docs/hw/memo_table.md)."""

    def __init__(self, m: Module, entries: int, bits: int, clear, *, name: str = "epoch"):
        self.entries, self.bits = entries, bits
        self.epoch = Signal(bits, init=1, reset_less=True, name=name)
        self.sweeping = Signal(init=0, reset_less=True, name=f"{name}_sweeping")
        self.sweep_addr = Signal(range(entries), init=0, reset_less=True, name=f"{name}_sweep_addr")
        with m.If(self.sweeping):
            m.d.sync += self.sweep_addr.eq(self.sweep_addr + 1)
            with m.If(self.sweep_addr >= entries - 1):
                m.d.sync += [self.sweeping.eq(0), self.sweep_addr.eq(0)]
        with m.Elif(clear):
            with m.If(self.epoch == (1 << bits) - 1):
                m.d.sync += [self.epoch.eq(1), self.sweeping.eq(1), self.sweep_addr.eq(0)]
            with m.Else():
                m.d.sync += self.epoch.eq(self.epoch + 1)

    def write(self, m: Module, port, fire, addr, word: dict) -> None:
        """Drive write port ``port`` of the tag memory (a struct with a ``tag`` field): the sweep's tag 0
        (whole word 0) at ``sweep_addr`` while sweeping, else ``word`` (the other fields) with the current
        epoch as its tag at ``addr`` when ``fire``."""
        m.d.comb += [port.en.eq(self.sweeping | fire), port.addr.eq(Mux(self.sweeping, self.sweep_addr, addr))]
        with m.If(~self.sweeping):
            m.d.comb += [port.data.tag.eq(self.epoch), *(port.data[name].eq(v) for name, v in word.items())]

    @staticmethod
    def valid(tag, epoch):
        """An entry of ``tag`` is valid in ``epoch`` (both registered values: one bits-wide compare)."""
        return tag == epoch


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
    epoch_bits : int
        Width E of the epoch tags that stand for the valid bits (2..16, default :data:`EPOCH_BITS` = 8):
        ``clear`` costs one cycle, except once every 2**E - 1 clears, when it starts a sweep of
        ``entries`` cycles (below).

    Ports
    -----
    lookup : In(stream)    payload ``index``, ``b`` (b_t)
    response : Out(stream) payload ``hit``, ``y`` (y_m on a hit, 0 on a miss), ``index``, ``b`` (b_t echoed),
        one per lookup, in order
    update : In(stream)    payload ``index``, ``y``, ``b``: store (y, b) and make the entry valid; ``ready``
        is 1 except during a sweep (a register: it does not depend on ``valid`` or any other input)
    clear : In(1)          invalidate every entry (sequence start), one cycle
    enable : In(1)         memoization enable; 0 forces every lookup to miss
    theta : In(THETA_BITS) threshold register (relative: fraction bits THETA_FRAC; absolute: an integer)
    form : In(ThresholdForm)

    Ordering within one cycle: ``clear``, then the update, then the lookup. A lookup transferred in cycle
    ``t`` sees every clear and update of cycles ``<= t`` (and, with "always", the b_m written by earlier
    lookups) and none later; ``enable`` and ``form`` are sampled in that cycle too. Its response is
    offered from cycle ``t + LATENCY``. ``lookup.ready`` depends combinationally on ``response.ready``;
    with ``response.ready`` high and no sweep running a lookup is accepted every cycle.

    Valid bits (:class:`EpochTags`): each entry carries an E-bit tag as a field of its |b_m| or y_m memory
    word (:attr:`tag_memory`), written with the current epoch by the update (the same late write as y_m and
    b_m); the entry is valid while its tag equals the
    epoch. ``clear`` moves to the next epoch. When it would leave epoch 2**E - 1 the epoch returns to 1
    and a sweep writes tag 0 into every entry, one per cycle, in the ``entries`` cycles after the clear:
    meanwhile ``lookup.ready`` and ``update.ready`` are 0, and a clear changes nothing (every entry is
    already being invalidated; an update accepted in the clear's own cycle, which is still written, is
    then dropped too). Reset touches neither the memories nor the epoch and sweep registers nor the
    update's late write registers (all reset-less): an update accepted in any cycle (one during reset
    included) is written, an entry written before a reset stays valid until the next ``clear``, a sweep
    under way goes on, and reset never starts one. Reset clears only the pipeline's stage valid bits
    (lookups in flight are dropped).

    ``theta`` is sampled with the lookup; theta * |b_m| is formed in stage 3 from registers ("compute":
    |b_m| is stored beside b_m, so no carry chain precedes the multiplier; "always": from b_m).

    Stages (fmax: no memory output, multiplier or compare shares a stage with another, and no two carry
    chains are in series): 1, the lookup registered while the memories read its entry; 2, the memory
    outputs (and the tag) registered; 3, |b_t - b_m|, theta * |b_m| and the tag compare registered; 4, the
    compare into the response register.
    """

    #: Cycles from a lookup's transfer to ``response.valid`` for it (without back-pressure).
    LATENCY = 4

    def __init__(self, entries: int, y_bits: int, b_bits: int, cache_update: str = "compute",
                 epoch_bits: int = EPOCH_BITS):
        try:
            self.entries = check_int("MemoTable entries", entries, 2, MAX_ENTRIES)
            self.y_bits = check_int("MemoTable y_bits", y_bits, 2, 32)
            self.b_bits = check_int("MemoTable b_bits", b_bits, 2, 32)
            if not isinstance(cache_update, str):
                raise TypeError(f"MemoTable cache_update must be a str, not {type(cache_update).__name__}")
            if cache_update not in CACHE_UPDATES:
                raise ValueError(f"MemoTable cache_update must be one of {CACHE_UPDATES}, not {cache_update!r}")
            self.epoch_bits = check_int("MemoTable epoch_bits", epoch_bits, *EPOCH_BITS_RANGE)
        except (TypeError, ValueError):
            silence_unused(self)
            raise
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

    @staticmethod
    def stored_bits(y_bits: int, b_bits: int, cache_update: str = "compute", epoch_bits: int = EPOCH_BITS) -> int:
        """Memory bits of one entry: y_m, b_m, with "compute" the stored |b_m|, and the epoch tag (the
        memories :meth:`elaborate` builds; the energy model reads it)."""
        return y_bits + b_bits * (2 if cache_update == "compute" else 1) + epoch_bits

    @property
    def entry_bits(self) -> int:
        """:meth:`stored_bits` of this table."""
        return self.stored_bits(self.y_bits, self.b_bits, self.cache_update, self.epoch_bits)

    @property
    def latency(self) -> int:
        """Cycles from a lookup's transfer to its response's ``response.valid``."""
        return self.LATENCY

    def elaborate(self, platform):
        m = Module()
        n = self.entries
        look, upd, resp = self.lookup.payload, self.update.payload, self.response.payload
        tags = self._tags(m)
        # no lookup and no update is accepted during a sweep (lookup.ready = the pipeline's advance and
        # no sweep; update.ready = no sweep, a register)
        accepted = SimpleNamespace(valid=Signal(name="memo_lookup_valid"), ready=Signal(name="memo_lookup_ready"))
        m.d.comb += [accepted.valid.eq(self.lookup.valid & ~tags.sweeping),
                     self.lookup.ready.eq(accepted.ready & ~tags.sweeping)]
        pipe = StreamPipeline(m, accepted, self.response, self.LATENCY, name="memo")
        upd_fire = Signal()
        upd_in_range = upd.index < n if (1 << len(upd.index)) > n else Const(1)
        m.d.comb += [self.update.ready.eq(~tags.sweeping),
                     upd_fire.eq(self.update.valid & self.update.ready & upd_in_range)]
        cached = self._entries(m, pipe, upd_fire, tags)
        look_in_range = look.index < n if (1 << len(look.index)) > n else Const(1)
        # the tag is valid for the lookup unless this cycle's clear moves the epoch (then only this
        # cycle's update of the entry, the bypass, makes it valid)
        s1 = {"index": look.index, "b": look.b, "live": look_in_range & ~self.clear, "epoch": tags.epoch,
              "enable": self.enable, "theta": self.theta, "form": self.form}
        s1 = _stage(m, pipe, s1, 1)
        s2 = _stage(m, pipe, {**s1, **cached}, 2)    # the memory outputs registered
        # theta * |b_m| from registers ("compute": |b_m| is stored, so the multiplier's operands are flip-flops)
        scaled = s2["theta"] * s2.pop("abs_b") if "abs_b" in s2 else scaled_threshold(s2["theta"], s2["b_m"])
        y_m = Mux(s2["bypass"], s2.pop("y_fwd"), s2.pop("y_m_stored"))
        # the E-bit tag compare from registers (the stored tag, the lookup's epoch)
        vbit = s2.pop("bypass") | (s2.pop("live") & tags.valid(s2.pop("tag"), s2.pop("epoch")))
        # stage 3: |b_t - b_m|, theta * |b_m|, the valid bit and y_m (the bypass chosen) registered; stage 4:
        # the compares
        s3 = _stage(m, pipe, {**s2, "y_m": y_m, "diff": abs_difference(s2["b"], s2["b_m"]), "scaled": scaled,
                              "vbit": vbit}, 3)
        hit = s3["enable"] & s3["vbit"] & threshold_hit(s3["b"], s3["b_m"], s3["theta"], s3["form"], s3["scaled"],
                                                        s3["diff"])
        with m.If(pipe.advance):
            m.d.sync += [resp.hit.eq(hit), resp.y.eq(Mux(hit, s3["y_m"], 0)), resp.index.eq(s3["index"]),
                         resp.b.eq(s3["b"])]
        return m

    def _tags(self, m) -> EpochTags:
        """The epoch register and the sweep (:class:`EpochTags`), moved by ``clear``."""
        return EpochTags(m, self.entries, self.epoch_bits, self.clear, name="memo_epoch")

    def _entries(self, m, pipe, upd_fire, tags) -> dict:
        """The y_m, b_m (and with "compute" |b_m|) memories, the epoch tag as a field of the word of one of
        them (:attr:`tag_memory`), read in the lookup's cycle and held while the pipeline stalls (a
        snapshot); returns their data as stage 1 holds it (y_m as ``y_m_stored`` and the update's ``y_fwd``, chosen
        after stage 2), with ``tag`` (the stored tag) and ``bypass``
        (the entry was updated in the lookup's cycle, so it is valid whatever the tag).

        An update is written one cycle late, from registers, so that no path runs from the update port
        (the merge's hit/miss decision and the token FIFO's read data) into the memories' write ports; a
        lookup in the next cycle reads it through the transparent read port, and a lookup of the same
        entry in the update's own cycle takes the update's values from registers beside stage 1 (the
        bypass). The tag written is the epoch of the write's cycle, which is the epoch after the update's
        cycle's clear. The sweep writes tag 0 through the tag memory's write port: an update accepted in
        the cycle of the clear that starts the sweep waits in the late registers until the sweep ends
        (a clear during the sweep drops it). The late registers are reset-less like the memories.
        With "always" b_m is written by every lookup (b_t), at
        once, and read without bypass (a lookup reads the b_m before its own write)."""
        look, upd = self.lookup.payload, self.update.payload
        always = self.cache_update == "always"
        # |b| stored beside b ("compute"), so the threshold's product at the lookup has no carry chain before it
        src = {"fire": upd_fire, "index": upd.index, "y": upd.y, "b": upd.b, "abs_b": abs(upd.b)}
        late = {name: Signal.like(value, name=f"u_{name}", reset_less=True) for name, value in src.items()}
        with m.If(~tags.sweeping):
            m.d.sync += [late[name].eq(value) for name, value in src.items()]
        with m.Elif(self.clear):
            m.d.sync += late["fire"].eq(0)
        fwd = _stage(m, pipe, {"hit": upd_fire & (upd.index == look.index), "y": upd.y, "b": upd.b,
                               "abs_b": src["abs_b"]}, "1f")
        write = late["fire"] & ~tags.sweeping
        # memory name: (shape, its field of the update, of the bypass)
        fields = {"y_m": (signed(self.y_bits), "y")}
        if not always:
            fields.update({"b_m": (signed(self.b_bits), "b"), "abs_b": (unsigned(self.b_bits), "abs_b")})
        out = {"bypass": fwd["hit"]}
        for name, (shape, field) in fields.items():
            tagged = name == self.tag_memory
            word = data.StructLayout({"value": shape, "tag": unsigned(self.epoch_bits)}) if tagged else shape
            m.submodules[f"{name}_mem"] = mem = memory.Memory(shape=word, depth=self.entries, init=[])
            wp = mem.write_port()
            rp = mem.read_port(transparent_for=(wp,))
            m.d.comb += [rp.addr.eq(look.index), rp.en.eq(pipe.advance)]
            if tagged:
                tags.write(m, wp, write, late["index"], {"value": late[field]})
                stored, out["tag"] = rp.data.value, rp.data.tag
            else:
                m.d.comb += [wp.addr.eq(late["index"]), wp.data.eq(late[field]), wp.en.eq(write)]
                stored = rp.data
            if name == "y_m":   # only the response needs y_m: bypassed a stage later, nothing after the read
                out["y_m_stored"], out["y_fwd"] = stored, fwd[field]
            else:
                out[name] = Mux(fwd["hit"], fwd[field], stored)
        if always:
            out["b_m"] = self._lookup_written_b(m, pipe)
        return out

    @property
    def tag_memory(self) -> str:
        """The memory whose words carry the epoch tag: "abs_b" (|b_m|, b_bits wide) with "compute" when it
        is no wider than y_m, else "y_m" (so the tag widens the narrower word: no extra block RAM where the
        wider word would overflow one, e.g. 12 + 8 > 16 bits on the iCE40)."""
        return "abs_b" if self.cache_update == "compute" and self.b_bits <= self.y_bits else "y_m"

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
