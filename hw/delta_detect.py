"""Delta change detector: every input of [x_t ; h_{t-1}] against its reference as it arrives, the result out
to the correction engine (docs/delta.md, *Hardware*).

Two lanes, one per part, each with its reference memory, compare one element per cycle: the x lane each
x element as the x row writer takes it (the input of the step that will read that x bank), the h lane
each new h element as the state update writes it (the recurrent input of the next step, whose h bank it
is written to). So the comparison of a step's inputs is done before the step starts, during the arrival
of x and the previous step. An element is changed when |v - ref| >= theta and v != ref
(``golden_model.intops.delta_update``; theta_x or theta_h), and then its reference moves to v.

A sequence's first step is a full computation: its x elements are compared with a cleared reference at
threshold 0 (changed when nonzero), and the h elements of the first step are compared with a cleared
reference (h_{-1} = 0); both write their reference whatever the outcome, so the memories need no
clearing. The h elements of a sequence's last step feed no step and are not passed on.
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model.formats import DELTA_THETA_BITS, THETA_BITS
from golden_model.intops import QUANT_FRAC

from .arith import round_shift, saturate
from .shapes import index_shape
from .tile_memories import MEM_IDS, wr_layout
from .tile_params import QUANTIZER_BITS, QUANTIZER_REGISTERS, TileParams, check_part_params
from .tile_rows import element_layout

__all__ = ["ChangeDetector", "change_layout", "THETA_PART_BITS"]

#: The tile's 16-bit ``theta`` input holds theta_x in its low and theta_h in its high half.
THETA_PART_BITS = DELTA_THETA_BITS


def change_layout(params: TileParams, elements: int) -> data.StructLayout:
    """One compared element of a part of ``elements`` inputs: ``index``, ``delta`` (v - ref, one bit
    wider than the activations), ``changed``, ``bank`` (of the step it is an input of)."""
    return data.StructLayout({"index": index_shape(elements), "delta": signed(params.config.act.bits + 1),
                              "changed": 1, "bank": 1})


class ChangeDetector(wiring.Component):
    """The change detector of a delta tile (module docstring). Parameters: ``params`` (a
    :class:`~hw.tile_params.TileParams` with ``delta``).

    Ports
    -----
    x : In(stream, always ready)   each x element as the x row writer takes it (``data``, ``index``, ``last``)
    x_bank : In(1)                 the x bank it is written to
    h : In(stream, always ready)   each new h element as the state update writes it
    h_bank : In(1)                 the running step's h bank (its new h go to the other one)
    seq_start, first_step, last_step : In(1)  step controls
    theta : In(THETA_BITS)         delta: theta_x (low half) and theta_h (high half), sampled at ``seq_start``
    slot : In                      the sequence's slot (similarity: its quantizer registers)
    wr : In(stream, always ready)  run-time writes (similarity: the ``predictor`` words, the registers)
    x_changes, h_changes : Out(stream, always ready)  every compared element (:func:`change_layout`)
    count_x, count_h : Out(1)      a changed element leaves in this cycle (the ``x_changed`` /
                                   ``h_changed`` counters)
    h_first_delta : Out            the value of h_{-1} = 0 (a first step's recurrent input): 0 under delta,
                                   e0 (the value of 0's level) under similarity

    :attr:`latency` = 1: an element's comparison leaves the cycle after the element.
    """

    latency = 1

    def __init__(self, params: TileParams):
        self.params = p = check_part_params(self, params)
        if not p.delta:
            raise ValueError("ChangeDetector needs a delta tile (TileParams.delta)")
        act = signed(p.config.act.bits)
        super().__init__({
            "x": In(stream.Signature(element_layout(p.input_size, act), always_ready=True)), "x_bank": In(1),
            "h": In(stream.Signature(element_layout(p.hidden, act), always_ready=True)), "h_bank": In(1),
            "seq_start": In(1), "first_step": In(1), "last_step": In(1), "theta": In(THETA_BITS),
            "slot": In(index_shape(p.slots)),
            "wr": In(stream.Signature(wr_layout(p), always_ready=True)),
            "x_changes": Out(stream.Signature(change_layout(p, p.input_size), always_ready=True)),
            "h_changes": Out(stream.Signature(change_layout(p, p.hidden), always_ready=True)),
            "count_x": Out(1), "count_h": Out(1),
            "h_first_delta": Out(signed(p.config.act.bits + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        x_first = Signal()
        # x elements of a sequence's first step: from its first element (seq_start) to its step's last
        first_x = self.seq_start | x_first
        with m.If(self.x.valid & self.x.payload.last):
            m.d.sync += x_first.eq(0)
        with m.If(self.seq_start & ~(self.x.valid & self.x.payload.last)):
            m.d.sync += x_first.eq(1)
        forms = _LevelCompare.parts(m, self) if p.similarity else _DeltaCompare.parts(m, self)
        if p.similarity:   # a first step's h_{-1} = 0 has the value e0 (its level's) for every unit
            m.d.comb += self.h_first_delta.eq(forms[1].regs["e0"])
        self._lane(m, "x", self.x, self.x_bank, forms[0], self.x_changes, self.count_x, full=first_x)
        self._lane(m, "h", self.h, ~self.h_bank, forms[1], self.h_changes, self.count_h, cleared=self.first_step,
                   keep=~self.last_step)
        return m

    def _lane(self, m, name, elements, bank, form, out, count, full=0, cleared=0, keep=1):
        """Compare ``elements`` with their stored values: stage 0 reads the memory, stage 1 decides (the
        ``form``), stores and sends the result on ``out``. ``full``: a first step's full computation (every
        nonzero value changed); ``cleared``: the stored value is the cleared one (h_{-1} = 0)."""
        p = self.params
        depth = p.input_size if name == "x" else p.hidden
        m.submodules[f"{name}_stored"] = mem = memory.Memory(shape=form.word_shape, depth=max(2, depth), init=[])
        # transparent: with one input per part (n_x = 1) an element can follow its predecessor of the same
        # index by one cycle, and must compare against the value that one has just stored
        wr = mem.write_port()
        rd = mem.read_port(transparent_for=(wr,))
        s1 = {k: Signal.like(v, name=f"{name}_s1_{k}") for k, v in
              (("valid", elements.valid), ("index", elements.payload.index), ("v", elements.payload.data),
               ("bank", bank))}
        s1["full"], s1["cleared"] = Signal(name=f"{name}_s1_full"), Signal(name=f"{name}_s1_cleared")
        # what the form computes from the element alone runs beside the memory read (stage 0)
        for key, value in form.early(m, name, elements.payload.data).items():
            s1[key] = Signal.like(value, name=f"{name}_s1_{key}")
            m.d.sync += s1[key].eq(value)
        m.d.comb += [rd.addr.eq(elements.payload.index), rd.en.eq(1)]
        m.d.sync += [s1["valid"].eq(elements.valid & keep), s1["index"].eq(elements.payload.index),
                     s1["v"].eq(elements.payload.data), s1["bank"].eq(bank), s1["full"].eq(full),
                     s1["cleared"].eq(cleared)]
        changed, delta, word = form.decide(m, name, s1, rd.data)
        m.d.comb += [wr.addr.eq(s1["index"]), wr.data.eq(word),
                     wr.en.eq(s1["valid"] & (changed | s1["full"] | s1["cleared"])),
                     out.valid.eq(s1["valid"]), out.payload.index.eq(s1["index"]), out.payload.delta.eq(delta),
                     out.payload.changed.eq(changed), out.payload.bank.eq(s1["bank"]), count.eq(changed)]


class _DeltaCompare:
    """The delta form of a lane: the stored value is the reference; changed when |v - ref| >= theta and
    v != ref (threshold 0 for a full computation, reference 0 when cleared)."""

    def __init__(self, params, threshold):
        self.params, self.threshold = params, threshold
        self.word_shape = signed(params.config.act.bits)

    @classmethod
    def parts(cls, m, det):
        theta = Signal(THETA_BITS)
        with m.If(det.seq_start):
            m.d.sync += theta.eq(det.theta)
        return cls(det.params, theta[:THETA_PART_BITS]), cls(det.params, theta[THETA_PART_BITS:])

    def early(self, m, name, v) -> dict:
        """Nothing is computed before the stored reference is read."""
        return {}

    def decide(self, m, name, s1, stored):
        cleared = s1["full"] | s1["cleared"]
        ref = Mux(cleared, 0, stored)
        delta = Signal(signed(self.params.config.act.bits + 1), name=f"{name}_delta")
        m.d.comb += delta.eq(s1["v"] - ref)
        magnitude = Mux(delta[-1], -delta, delta)
        changed = Signal(name=f"{name}_changed")
        m.d.comb += changed.eq(s1["valid"] & (magnitude >= Mux(s1["full"], 0, self.threshold)) & (delta != 0))
        return changed, delta, Mux(changed, s1["v"], ref)


class _LevelCompare:
    """The similarity form of a lane: the stored value is the level and its value e; v's level
    ``intops.linear_quantize`` and value ``linear_dequantize`` under the part's quantizer registers;
    changed when the level differs (a full computation: when e != 0; cleared: the stored level of 0)."""

    def __init__(self, params, regs: dict, sampling: dict):
        #: ``regs`` the sampled quantizer registers; ``sampling`` their values from this cycle on (a
        #: sequence's first element may come with its ``seq_start``)
        self.params, self.regs, self.sampling = params, regs, sampling
        self.word_shape = data.StructLayout({"q": unsigned(params.config.act.bits + 1),
                                             "e": signed(params.config.act.bits)})

    @classmethod
    def parts(cls, m, det):
        """The quantizer registers of both parts, written through ``wr`` (``predictor`` words: slot s,
        part k, register r at (s * 2 + k) * 6 + r) and sampled for the sequence's slot at ``seq_start``."""
        p = det.params
        n = len(QUANTIZER_REGISTERS)
        words = [Signal(QUANTIZER_BITS, name=f"quant{i}") for i in range(p.slots * 2 * n)]
        hit = det.wr.valid & (det.wr.payload.mem == MEM_IDS["predictor"])
        for i, word in enumerate(words):
            with m.If(hit & (det.wr.payload.addr == i)):
                m.d.sync += word.eq(det.wr.payload.data[:QUANTIZER_BITS])
        out = []
        for part in range(2):
            regs, sampling = {}, {}
            for r, name in enumerate(QUANTIZER_REGISTERS):
                regs[name] = Signal(signed(QUANTIZER_BITS), name=f"quant_{part}_{name}")
                picked = Signal(signed(QUANTIZER_BITS), name=f"quant_{part}_{name}_slot")
                # one entry per value of the slot input (a complete case; slots past the last repeat it)
                table = Array(words[(min(s, p.slots - 1) * 2 + part) * n + r] for s in range(1 << len(det.slot)))
                m.d.comb += picked.eq(table[det.slot])
                with m.If(det.seq_start):
                    m.d.sync += regs[name].eq(picked)
                sampling[name] = Mux(det.seq_start, picked, regs[name])
            out.append(cls(p, regs, sampling))
        return out

    def early(self, m, name, v) -> dict:
        """The level's product (v - lo) * m, from the element alone: one multiplication per stage."""
        return {"scaled": (v - self.sampling["lo"]) * self.sampling["m"]}

    def decide(self, m, name, s1, stored):
        p, regs = self.params, self.regs
        K = QUANT_FRAC
        level = round_shift(s1["scaled"], K)
        q = Signal(unsigned(p.config.act.bits + 1), name=f"{name}_level")
        m.d.comb += q.eq(Mux(level < 0, 0, Mux(level > regs["levels"] - 1, regs["levels"] - 1, level)))
        e = Signal(signed(p.config.act.bits), name=f"{name}_value")
        m.d.comb += e.eq(saturate(regs["lo"] + round_shift(q * regs["g"], K), p.config.act.bits))
        old = self.word_shape(stored)
        old_q, old_e = Mux(s1["cleared"], regs["q0"], old.q), Mux(s1["cleared"], regs["e0"], old.e)
        delta = Signal(signed(p.config.act.bits + 1), name=f"{name}_delta")
        changed = Signal(name=f"{name}_changed")
        m.d.comb += [changed.eq(s1["valid"] & Mux(s1["full"], e != 0, q != old_q)),
                     delta.eq(Mux(s1["full"], e, e - old_e))]
        word = Signal(self.word_shape, name=f"{name}_word")
        m.d.comb += [word.q.eq(q), word.e.eq(e)]
        return changed, delta, word
