"""Flow control shared by the fixed-latency stream units (dot product, activation, LSTM/GRU element-wise).

Every such unit is a pipeline of registers that all advance together under one enable::

    advance  = ~o.valid | o.ready        (the output register is empty or is being taken)
    i.ready  = advance

Each stage register loads only when ``advance`` is high, and a valid bit travels with the data. So:

* with ``o.ready`` held high the pipeline accepts one input per cycle, back to back, and every result
  appears exactly ``latency`` cycles after the cycle its input transferred (``i.valid & i.ready``);
* when the consumer stalls (``o.valid & ~o.ready``) the whole pipeline holds, nothing is lost or duplicated;
* ``i.ready`` depends combinationally on ``o.ready`` (no skid buffer); a consumer that needs that path
  broken puts a register slice / FIFO in front of the output.
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Shape, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .checks import check_int

__all__ = ["SKID_DEPTH", "HeadRegisterFIFO", "SkidBuffer", "StreamPipeline", "delayed"]

#: Default depth of a :class:`SkidBuffer`.
SKID_DEPTH = 2


class StreamPipeline:
    """Builds the enable and valid chain of a ``depth``-stage pipeline between streams ``i`` and ``o``.

    ``valid[k]`` is the valid bit of stage ``k + 1`` (``valid[-1]`` is ``o.valid``); ``advance`` is the
    common stage enable; ``take`` is high in a cycle where an input transfers.
    ``gates`` maps a stage index ``k`` to a condition ANDed into the valid bit that stage ``k`` loads
    (its input's valid), so a stage may drop items (e.g. all but the last beat of a dot product).
    """

    def __init__(self, m: Module, i, o, depth: int, *, name: str = "pipe", gates=None):
        if depth < 1:
            raise ValueError("a pipeline needs at least one stage")
        self.advance = Signal(name=f"{name}_advance")
        self.take = Signal(name=f"{name}_take")
        self.valid = [Signal(name=f"{name}_valid{k + 1}") for k in range(depth - 1)] + [o.valid]
        m.d.comb += [
            self.advance.eq(~o.valid | o.ready),
            i.ready.eq(self.advance),
            self.take.eq(i.valid & self.advance),
        ]
        gates = dict(gates or {})
        prev = i.valid
        with m.If(self.advance):
            for k, v in enumerate(self.valid):
                m.d.sync += v.eq(prev & gates[k] if k in gates else prev)
                prev = v


def delayed(m: Module, value, stages: int, en, *, name: str) -> list:
    """Registers ``name1 .. name<stages>`` carrying ``value`` beside a pipeline: register ``k`` holds the
    value presented ``k`` enabled cycles earlier (each loads when ``en`` is high)."""
    regs, prev = [], value
    for k in range(1, stages + 1):
        reg = Signal.like(prev, name=f"{name}{k}")
        with m.If(en):
            m.d.sync += reg.eq(prev)
        regs.append(reg)
        prev = reg
    return regs


class SkidBuffer(wiring.Component):
    """A stream slice that breaks the combinational ready chain: ``i.ready`` is the "not full" of a
    ``depth``-entry FIFO of flip-flops, itself a flip-flop, never a function of ``o.ready`` in the same
    cycle. An item passes straight through (same cycle, :attr:`latency` = 0) while the FIFO is empty and
    ``o.ready`` is high, so a pipeline that never stalls runs exactly as without it; otherwise it waits in
    the FIFO, in order, and the producer keeps running until ``depth`` items wait (the consumer may be busy
    for that many cycles without holding the producer back).

    The entries are flip-flops, not memory: an item straight from a block RAM's output meets a register,
    not a LUT RAM's write setup (a SyncFIFO's storage on the ECP5). ``late`` names the input that arrives
    late in its cycle and so gets the shorter logic:

    * ``"ready"`` (the default): the entries form a ring; an entry loads on the producer's valid, "not
      full" and the write pointer, never on ``o.ready``; ``o.payload`` is two multiplexer levels from
      the entries;
    * ``"payload"``: the oldest waiting item is always entry 0 (the entries shift on a read), so
      ``i.payload`` is one multiplexer level from ``o.payload``; the entries' loads depend on ``o.ready``.

    Ports: ``i`` In(stream of ``layout``), ``o`` Out(stream of ``layout``).
    """

    latency = 0
    LATE = ("ready", "payload")

    def __init__(self, layout, depth: int = SKID_DEPTH, *, late: str = "ready"):
        self.depth = check_int("SkidBuffer depth", depth, 1, 64)
        if late not in self.LATE:
            raise ValueError(f"SkidBuffer late must be one of {', '.join(self.LATE)}, not {late!r}")
        self.late = late
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    def elaborate(self, platform):
        m = Module()
        depth, width = self.depth, Shape.cast(self.i.payload.shape()).width
        entries = [Signal(width, name=f"entry{k}") for k in range(depth)]
        count = Signal(range(depth + 1))
        # "not full" and "not empty" as flip-flops of their own, loaded from the next count, so neither
        # waits on a compare (one LUT level less on the ready chains that end here)
        ready, waiting = Signal(init=1, name="not_full"), Signal(name="not_empty")
        bypass = ~waiting & self.o.ready     # nothing waits and the consumer takes the item now
        write, read = self.i.valid & ready & ~bypass, waiting & self.o.ready
        after = count + write - read
        m.d.sync += [count.eq(after), ready.eq(after != depth), waiting.eq(after != 0)]
        oldest = self._shift(m, entries, count, write, read) if self.late == "payload" else \
            self._ring(m, entries, write, read)
        m.d.comb += [
            self.i.ready.eq(ready),
            self.o.valid.eq(waiting | self.i.valid),
            self.o.payload.eq(Mux(waiting, oldest, self.i.payload)),
        ]
        return m

    def _ring(self, m, entries, write, read):
        """The free entry takes every offered item (one that passes straight through is not counted, and
        the next item takes the entry again); returns the oldest waiting entry."""
        head, tail = Signal(range(self.depth)), Signal(range(self.depth))   # oldest waiting, next free
        for k, entry in enumerate(entries):    # explicit loads: no incomplete case over tail in Verilog
            with m.If(self.i.valid & self.i.ready & (tail == k)):
                m.d.sync += entry.eq(self.i.payload)
        for pointer, step in ((tail, write), (head, read)):
            with m.If(step):
                m.d.sync += pointer.eq(Mux(pointer == self.depth - 1, 0, pointer + 1))
        return Array(entries)[head]

    def _shift(self, m, entries, count, write, read):
        """The oldest waiting item in entry 0: a read shifts every entry down, a written item goes to the
        first free entry after the shift; returns entry 0."""
        slot = count - read                     # the written item's entry, after this cycle's shift
        for k, entry in enumerate(entries):
            with m.If(write & (slot == k)):
                m.d.sync += entry.eq(self.i.payload)
            if k + 1 < self.depth:              # the last entry only ever takes a written item
                with m.Elif(read):
                    m.d.sync += entry.eq(entries[k + 1])
        return entries[0]


class HeadRegisterFIFO(wiring.Component):
    """A FIFO (up to ``depth`` + 1 items) whose output is a register: ``o.valid`` and ``o.payload`` come from
    flip-flops, so no memory read (on the iCE40 a fall-through :class:`~amaranth.lib.fifo.SyncFIFO`'s
    storage is flip-flops behind a multiplexer) lies on a path through the consumer's ``ready``, and
    the write side does not depend on ``o.ready`` either (no path from the consumer's ``ready`` into the
    storage's write enables). Every item passes through a ``depth``-entry SyncFIFO (the tail) into the
    head register: an item written in cycle t is on ``o`` from cycle t + 2 (:attr:`latency`), or the cycle
    after the item ahead of it leaves, whichever is later; one item leaves per cycle. ``i.ready`` is a
    flip-flop too: the tail held fewer than ``depth - 1`` items in the previous cycle (at most one item
    is written per cycle, so the tail never overflows), so no ready path runs from ``o`` or from the
    tail's level compare into the producer.

    Ports: ``i`` In(stream of ``layout``), ``o`` Out(stream of ``layout``).
    """

    latency = 2

    def __init__(self, layout, depth: int):
        if not isinstance(depth, int) or depth < 2:
            raise ValueError(f"HeadRegisterFIFO depth must be an int >= 2, not {depth!r}")
        self.depth = depth
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.tail = tail = fifo.SyncFIFO(width=self.i.payload.shape().size, depth=self.depth)
        o = self.o
        load = ~o.valid | o.ready                  # the head is empty or leaves in this cycle
        m.d.sync += self.i.ready.eq(tail.level < self.depth - 1)
        m.d.comb += [
            tail.w_data.eq(self.i.payload),
            tail.w_en.eq(self.i.valid & self.i.ready),
            tail.r_en.eq(load),
        ]
        with m.If(load):
            m.d.sync += [o.valid.eq(tail.r_rdy), o.payload.eq(tail.r_data)]
        return m
