"""The top-k predictor's parts (golden_model.predictors.TopK; docs/hw/top_k.md): the changes
delta = v_t - v_{t-1} of the elements of v = [x ; h] as the tile writes them (:class:`InputChanges`), a
streaming selection of the k largest |delta| (:class:`TopKList`, ties to the lower index) and the per-neuron
running score s_t = s_{t-1} + sum over the chosen of w'_i delta_i (:class:`TopKScorer`, one neuron per cycle).

Element indices: x element i is index i, h element j is index ``inputs + j`` (the golden index of h_j is
n_x + j: the same order, so the same ties). A neuron's narrow weights are one memory word of
``inputs + hidden`` fields of ``weight_bits`` bits (field i for index i), the output-rule shift above them.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .checks import check_int, silence_unused
from .low_rank import scorer_layouts
from .memo_table import valid_flags
from .output_rule import SHIFT_BITS
from .pipeline import StreamPipeline
from .shapes import index_shape, read_port
from .tile_rows import element_layout

__all__ = ["InputChanges", "TopKList", "TopKScorer", "change_layout", "chosen_layout", "topk_score_bits"]


def change_layout(elements: int, act_bits: int) -> data.StructLayout:
    """A changed element: ``index`` (in [x ; h]), ``delta`` = v_t - v_{t-1} (act_bits + 1 bits), ``bank``
    (the parity of the step it belongs to)."""
    return data.StructLayout({"index": index_shape(elements), "delta": signed(act_bits + 1), "bank": 1})


def chosen_layout(k: int, elements: int, act_bits: int) -> data.ArrayLayout:
    """The k chosen changes, largest |delta| first (an empty entry: index 0, delta 0)."""
    return data.ArrayLayout(data.StructLayout({"index": index_shape(elements), "delta": signed(act_bits + 1)}), k)


def topk_score_bits(act_bits: int, weight_bits: int, k: int, steps: int) -> int:
    """Width of a signed running score over ``steps`` steps: |w'| <= 2**(weight_bits-1),
    |delta| < 2**act_bits, k terms a step."""
    return act_bits + weight_bits - 1 + k.bit_length() + steps.bit_length() + 1


def _check(owner, checks):
    try:
        for name, value, low, high in checks:
            check_int(f"{type(owner).__name__} {name}", value, low, high)
    except (TypeError, ValueError):
        silence_unused(owner)
        raise


class InputChanges(wiring.Component):
    """delta = v_t - v_{t-1} of every x and h element as it arrives, against the element's previous value
    (a register per element: ``inputs`` x and ``hidden`` h registers of ``act_bits`` bits).

    ``seq_start`` zeroes every previous value (an x element seen in that cycle is compared with 0). Out:
    ``xo`` / ``ho`` (always ready) the nonzero changes of x / h with their step parity ``bank`` (x: flips after
    each step's ``last`` x element, first 0; h: flips after each ``last`` h element, first 1, since h_t belongs
    to step t + 1). :attr:`latency` = 1: an element seen in cycle c is on the output in cycle c + 1.
    """

    latency = 1

    def __init__(self, inputs: int, hidden: int, act_bits: int):
        _check(self, (("inputs", inputs, 1, 1 << 16), ("hidden", hidden, 1, 1 << 16), ("act_bits", act_bits, 2, 32)))
        self.inputs, self.hidden, self.act_bits = inputs, hidden, act_bits
        act, change = signed(act_bits), change_layout(inputs + hidden, act_bits)
        super().__init__({
            "x": In(stream.Signature(element_layout(inputs, act), always_ready=True)),
            "h": In(stream.Signature(element_layout(hidden, act), always_ready=True)),
            "seq_start": In(1),
            "xo": Out(stream.Signature(change, always_ready=True)),
            "ho": Out(stream.Signature(change, always_ready=True)),
        })

    def elaborate(self, platform):
        m = Module()
        self._part(m, "x", self.x, self.xo, self.inputs, 0, 0)
        self._part(m, "h", self.h, self.ho, self.hidden, self.inputs, 1)
        return m

    def _part(self, m, name, i, o, size, offset, first_bank):
        prev = Signal(data.ArrayLayout(signed(self.act_bits), size), name=f"{name}_prev")
        bank = Signal(init=first_bank, name=f"{name}_bank")
        e = i.payload
        old = Signal(signed(self.act_bits), name=f"{name}_old")
        m.d.comb += old.eq(Mux(self.seq_start, 0, prev[e.index]))
        delta = e.data - old
        with m.If(self.seq_start):
            m.d.sync += prev.eq(0)
        m.d.sync += [o.valid.eq(i.valid & (delta != 0)), o.payload.index.eq(e.index + offset),
                     o.payload.delta.eq(delta), o.payload.bank.eq(bank)]
        with m.If(i.valid):
            for k in range(size):   # explicit elements: no incomplete case over the index in Verilog
                with m.If(e.index == k):
                    m.d.sync += prev[k].eq(e.data)
            with m.If(e.last):
                m.d.sync += bank.eq(~bank)


class TopKList(wiring.Component):
    """The k changes of largest |delta| of a step (ties to the lower index), selected as they arrive.

    Two banks of k sorted entries (the step being scored, read on ``chosen``, and the next one); every
    cycle each of ``a`` and ``b`` (always ready) may insert a change into the bank of its ``bank`` parity
    (the entries it beats move down one place; the last falls off). The selection is a total order on
    (|delta| descending, index ascending), so the arrival order does not matter. ``swap`` flips the read
    bank and empties the one read until then (this cycle's inserts into it still land); ``clear`` empties
    both banks and drops this cycle's inserts. :attr:`latency` = 1: an insert in cycle c shows from c + 1.

    Parameters: ``k`` (1..64 entries), ``elements`` (indices 0..elements-1), ``act_bits``.
    """

    latency = 1

    def __init__(self, k: int, elements: int, act_bits: int):
        _check(self, (("k", k, 1, 64), ("elements", elements, 2, 1 << 17), ("act_bits", act_bits, 2, 32)))
        self.k, self.elements, self.act_bits = k, elements, act_bits
        change = change_layout(elements, act_bits)
        super().__init__({
            "a": In(stream.Signature(change, always_ready=True)),
            "b": In(stream.Signature(change, always_ready=True)),
            "clear": In(1), "swap": In(1),
            "chosen": Out(chosen_layout(k, elements, act_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        layout = chosen_layout(self.k, self.elements, self.act_bits)
        banks = [Signal(layout, name=f"bank{b}") for b in range(2)]
        rbank = Signal()
        m.d.comb += self.chosen.eq(Mux(rbank, banks[1], banks[0]))
        with m.If(self.swap):
            m.d.sync += rbank.eq(~rbank)
        for b, bank in enumerate(banks):
            base = Signal(layout, name=f"base{b}")
            m.d.comb += base.eq(Mux(self.swap & (rbank == b), 0, bank))
            after = base
            for name in ("a", "b"):
                port = getattr(self, name)
                after = self._insert(m, after, port.valid & (port.payload.bank == b), port.payload,
                                     f"{name}{b}")
            m.d.sync += bank.eq(Mux(self.clear, 0, after))
        return m

    def _insert(self, m, entries, valid, new, name):
        """``entries`` with ``new`` inserted in its place (when ``valid`` and it beats an entry)."""
        out = Signal(entries.shape(), name=f"ins_{name}")
        mag = abs(new.delta)
        beats = [valid & ((mag > abs(e.delta)) | ((mag == abs(e.delta)) & (new.index < e.index)))
                 for e in entries]
        item = [entries[p].as_value() for p in range(self.k)]
        placed = new.as_value()[:len(item[0])]   # (index, delta): the leading fields of a change
        for p in range(self.k):
            shifted = Mux(beats[p - 1], item[p - 1], placed) if p else placed
            m.d.comb += out[p].eq(Mux(beats[p], shifted, item[p]))
        return out


class TopKScorer(wiring.Component):
    """s_n += sum over the k ``chosen`` changes of w'_{n,index} * delta, for neuron ``index`` of the input
    stream (its weight row read through ``w_row`` at ``w_base + index``), one neuron per cycle, into a
    per-neuron running-score memory (zero after ``clear``); the new s leaves with ``func`` and the row's
    output-rule shift. :attr:`latency` = 3: read (row, running score), k products, sum and write-back.

    Parameters: ``neurons`` (G*H), ``k``, ``elements`` (fields of a row), ``act_bits``, ``weight_bits``,
    ``s_bits`` (running-score width), ``depth`` (weight memory rows). A row is ``elements`` fields of
    ``weight_bits`` bits, the shift above them.
    """

    latency = 3

    def __init__(self, neurons: int, k: int, elements: int, act_bits: int, weight_bits: int, s_bits: int,
                 depth: int):
        _check(self, (("neurons", neurons, 2, 1 << 16), ("k", k, 1, 64), ("elements", elements, 2, 1 << 17),
                      ("act_bits", act_bits, 2, 32), ("weight_bits", weight_bits, 2, 16), ("s_bits", s_bits, 2, 64),
                      ("depth", depth, 2, 1 << 24)))
        self.neurons, self.k, self.elements, self.weight_bits, self.s_bits = neurons, k, elements, weight_bits, s_bits
        self.act_bits = act_bits
        self.width = elements * weight_bits + SHIFT_BITS
        i_layout, o_layout = scorer_layouts(neurons, s_bits)
        super().__init__({
            "i": In(stream.Signature(i_layout)), "o": Out(stream.Signature(o_layout)),
            "chosen": In(chosen_layout(k, elements, act_bits)),
            "clear": In(1),
            "w_base": In(index_shape(depth)), "w_row": read_port(depth, self.width),
        })

    def elaborate(self, platform):
        m = Module()
        pipe = StreamPipeline(m, self.i, self.o, self.latency, name="topk")
        look = self.i.payload
        m.d.comb += [self.w_row.addr.eq(self.w_base + look.index), self.w_row.en.eq(pipe.advance)]
        m.submodules.running = mem = memory.Memory(shape=signed(self.s_bits), depth=self.neurons, init=[])
        wp = mem.write_port()
        rp = mem.read_port(transparent_for=(wp,))
        m.d.comb += [rp.addr.eq(look.index), rp.en.eq(pipe.advance)]
        item1, item2 = Signal(look.shape(), name="item1"), Signal(look.shape(), name="item2")
        vbit1 = Signal()
        s_new = Signal(signed(self.s_bits))
        seen = valid_flags(m, self.neurons, self.clear, wp.en, wp.addr)
        s_old, shift, products = self._products(m, pipe, rp.data, vbit1)
        with m.If(pipe.advance):
            m.d.sync += [item1.eq(look), vbit1.eq(seen(look.index)), item2.eq(item1)]
            m.d.sync += [self.o.payload.s.eq(s_new), self.o.payload.shift.eq(shift),
                         self.o.payload.index.eq(item2.index), self.o.payload.func.eq(item2.func)]
        m.d.comb += [s_new.eq(s_old + sum(products)), wp.addr.eq(item2.index), wp.data.eq(s_new),
                     wp.en.eq(pipe.advance & pipe.valid[1])]
        return m

    def _products(self, m, pipe, running, vbit1):
        """Stage 2: the k products w' * delta (the weights selected from the row by the chosen indices),
        the old running score (0 for a neuron not written since ``clear``) and the row's shift."""
        row, wb = self.w_row.data, self.weight_bits
        products = [Signal(signed(self.act_bits + 1 + wb), name=f"product{j}") for j in range(self.k)]
        s_old = Signal(signed(self.s_bits), name="s_old")
        shift = Signal(len(row) - self.elements * wb, name="shift2")
        with m.If(pipe.advance):
            for j, p in enumerate(products):
                c = self.chosen[j]
                m.d.sync += p.eq(row.word_select(c.index, wb).as_signed() * c.delta)
            m.d.sync += [s_old.eq(Mux(vbit1, running, 0)), shift.eq(row[self.elements * wb:])]
        return s_old, shift, products
