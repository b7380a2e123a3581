"""Test vectors, references and harnesses of the delta-tile blocks (hw/delta_detect.py, hw/delta_engine.py,
hw/delta_emit.py), shared by the Amaranth-simulator tests (tests/test_hw_delta_parts.py) and the cocotb
testbench (sim/testbenches/tb_delta.py), so both score against the same references.

* :func:`detector_phases` / :func:`detector_reference` -- element streams of a
  :class:`hw.delta_detect.ChangeDetector` (sequences of steps: x and h values, banks, first/last steps,
  thresholds, similarity quantizer registers written through ``wr``) and every compared element it must
  send, from :func:`golden_model.intops.delta_update`, ``linear_quantize`` and ``linear_dequantize``.
* :class:`EngineHarness` -- a :class:`hw.delta_engine.DeltaEngine` with its input-major weight memory.
* :class:`EmitterHarness` / :func:`emitter_reference` -- a :class:`hw.delta_emit.DeltaEmitter` with its
  accumulator and bias memories (``init`` given), and the results and tags it must give, in issue order.

Payloads are dicts of Python ints (arrays as lists), as :mod:`sim.unit_vectors`.
"""

from __future__ import annotations

import random

from amaranth.hdl import Module, unsigned
from amaranth.lib import memory, wiring

from golden_model import intops
from hw.delta_detect import THETA_PART_BITS
from hw.delta_emit import DeltaEmitter
from hw.delta_engine import DeltaEngine, accumulator_layout
from hw.tile_memories import MemId
from hw.tile_params import QUANTIZER_BITS, QUANTIZER_REGISTERS, TileParams

__all__ = ["EmitterHarness", "EngineHarness", "detector_phases", "detector_reference", "emitter_reference",
           "emitter_steps", "quantizer_values", "quantizer_writes_of", "random_accumulators", "result_groups",
           "weight_words"]


# ------------------------------------------------------------------------------------------- detector

def quantizer_values(lo: int, hi: int, levels: int, fmt) -> dict:
    """The six quantizer registers (:data:`hw.tile_params.QUANTIZER_REGISTERS`) of a part quantizing
    [lo, hi] to ``levels`` levels, as :func:`hw.tile_image.quantizer_writes` computes them."""
    m, g = intops.quantizer_registers(lo, hi, levels)
    q0 = int(intops.linear_quantize(0, lo, m, levels))
    return {"lo": lo, "m": m, "g": g, "levels": levels, "q0": q0, "e0": int(intops.linear_dequantize(q0, lo, g, fmt))}


def quantizer_writes_of(slot: int, regs: list[dict]) -> list[dict]:
    """The ``wr`` payloads of slot ``slot``'s quantizer registers ``regs`` (x part, h part)."""
    n = len(QUANTIZER_REGISTERS)
    return [{"mem": int(MemId.PREDICTOR.value), "addr": (slot * 2 + part) * n + r,
             "data": int(regs[part][name]) & ((1 << QUANTIZER_BITS) - 1)}
            for part in range(2) for r, name in enumerate(QUANTIZER_REGISTERS)]


def _random_quantizer(rng: random.Random, fmt) -> dict:
    if rng.random() < 0.2:   # the datapath's own resolution
        return quantizer_values(fmt.min_int, fmt.max_int, 1 << fmt.bits, fmt)
    lo = rng.randint(fmt.min_int, fmt.max_int - 1)
    hi = rng.randint(lo + 1, fmt.max_int)
    return quantizer_values(lo, hi, rng.randint(2, min(hi - lo + 1, 64)), fmt)


def detector_phases(params: TileParams, sequences: int, seed: int, max_steps: int = 4) -> list[dict]:
    """Traffic of a :class:`~hw.delta_detect.ChangeDetector`: ``sequences`` sequences of 1..max_steps
    steps. Each step (a phase) is a dict: ``wr`` (writes before it: under similarity, before a sequence
    the quantizer registers of its slot, plus a non-``predictor`` write to the same addresses),
    ``seq_start`` (a pulse before it, with ``theta`` and ``slot`` set), ``first_step``, ``last_step``,
    ``x_bank``, ``h_bank``, ``x`` (values of the step's n_x inputs, index order), ``h`` (the H values the
    step's state update writes). Values: random, repeated from the last step, or close to it (thresholds
    are crossed both ways)."""
    rng, fmt = random.Random(seed), params.config.act
    n_in, H = params.input_size, params.hidden
    last = {"x": [0] * n_in, "h": [0] * H}

    def values(n, prev):
        mode = rng.random()
        out = []
        for k in range(n):
            r = rng.random()
            if r < 0.3 and mode < 0.7:
                v = prev[k]
            elif r < 0.7:
                v = prev[k] + rng.randint(-12, 12)
            elif r < 0.8:
                v = rng.choice([fmt.min_int, fmt.max_int, 0])
            else:
                v = rng.randint(fmt.min_int, fmt.max_int)
            out.append(max(fmt.min_int, min(fmt.max_int, v)))
        return out

    phases, x_bank, h_bank = [], rng.randrange(2), rng.randrange(2)
    for _ in range(sequences):
        slot, steps = rng.randrange(params.slots), rng.randint(1, max_steps)
        n_x = n_in if rng.random() < 0.7 else rng.randint(1, n_in)
        theta = rng.choice([0, 1, rng.randint(0, 20), rng.randint(0, 255)]) | (
            rng.choice([0, 1, rng.randint(0, 20), rng.randint(0, 255)]) << THETA_PART_BITS)
        wr = []
        if params.similarity:
            wr = [{"mem": int(MemId.WEIGHT.value), "addr": a, "data": (1 << QUANTIZER_BITS) - 1} for a in range(3)]
            for s in sorted({slot, rng.randrange(params.slots)}):
                wr += quantizer_writes_of(s, [_random_quantizer(rng, fmt) for _ in range(2)])
        for t in range(steps):
            x = values(n_x, last["x"])
            h = values(H, last["h"])
            last["x"][:n_x], last["h"] = x, h
            phases.append({"wr": wr if t == 0 else [], "seq_start": int(t == 0), "theta": theta, "slot": slot,
                           "first_step": int(t == 0), "last_step": int(t == steps - 1),
                           "x_bank": x_bank, "h_bank": h_bank, "x": x, "h": h})
            x_bank, h_bank = x_bank ^ 1, h_bank ^ 1
    return phases


def _signed(word: int, bits: int) -> int:
    word &= (1 << bits) - 1
    return word - (1 << bits) if word >> (bits - 1) else word


def detector_reference(params: TileParams, phases: list[dict]) -> list[dict]:
    """Per phase ``{"x": [...], "h": [...]}``: the ``{index, delta, changed, bank}`` the detector sends for
    each element (none for the h of a last step). Delta: ``delta_update`` against the reference (0 and
    threshold 0 for a sequence's first x, 0 for a first step's h); similarity: the level of
    ``linear_quantize`` against the stored one (a first x: changed when its value e != 0; a first step's h:
    against q0/e0), delta = e - the stored e."""
    fmt, n = params.config.act, len(QUANTIZER_REGISTERS)
    words = [0] * (params.slots * 2 * n)
    stored = {"x": [(0, 0)] * params.input_size, "h": [(0, 0)] * params.hidden}   # delta: (ref, -); sim.: (q, e)
    theta, regs, out = (0, 0), None, []
    for ph in phases:
        for wr in ph["wr"]:
            if wr["mem"] == int(MemId.PREDICTOR.value):
                words[wr["addr"]] = wr["data"]
        if ph["seq_start"]:
            mask = (1 << THETA_PART_BITS) - 1
            theta = (ph["theta"] & mask, ph["theta"] >> THETA_PART_BITS & mask)
            regs = [{name: _signed(words[(ph["slot"] * 2 + part) * n + r], QUANTIZER_BITS)
                     for r, name in enumerate(QUANTIZER_REGISTERS)} for part in range(2)]
        res = {"x": [], "h": []}
        for part, lane, bank, full, cleared in ((0, "x", ph["x_bank"], ph["seq_start"], 0),
                                                 (1, "h", ph["h_bank"] ^ 1, 0, ph["first_step"])):
            if lane == "h" and ph["last_step"]:
                continue
            for i, v in enumerate(ph[lane]):
                if params.similarity:
                    r = regs[part]
                    q = int(intops.linear_quantize(v, r["lo"], r["m"], r["levels"]))
                    e = int(intops.linear_dequantize(q, r["lo"], r["g"], fmt))
                    old_q, old_e = (r["q0"], r["e0"]) if cleared else stored[lane][i]
                    changed, delta = (e != 0, e) if full else (q != old_q, e - old_e)
                    if changed or full or cleared:
                        stored[lane][i] = (q, e)
                else:
                    ref = 0 if full or cleared else stored[lane][i][0]
                    new, _, ch = intops.delta_update([v], [ref], 0 if full else theta[part])
                    changed, delta = bool(ch[0]), v - ref
                    stored[lane][i] = (int(new[0]), 0)
                res[lane].append({"index": i, "delta": int(delta), "changed": int(changed), "bank": bank})
        out.append(res)
    return out


# --------------------------------------------------------------------------------------------- engine

class EngineHarness(wiring.Component):
    """A :class:`~hw.delta_engine.DeltaEngine` of ``params`` whose ``weight`` port reads a memory of this
    component (``init`` the words ``weights``); every other member of the engine is a member of the harness."""

    def __init__(self, params: TileParams, weights: list[int]):
        self.engine = DeltaEngine(params)
        self.params, self.weights, self.latency = params, list(weights), DeltaEngine.latency
        super().__init__({k: v for k, v in self.engine.signature.members.items() if k != "weight"})

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = eng = self.engine
        depths, widths = self.params.depths(), self.params.widths()
        m.submodules.weight = mem = memory.Memory(shape=unsigned(widths["weight"]), depth=depths["weight"],
                                                  init=self.weights)
        wiring.connect(m, eng.weight, mem.read_port())
        _pass_through(m, self, eng)
        return m


def _pass_through(m, outer_component, inner_component) -> None:
    for name, member in outer_component.signature.members.items():
        outer, inner = getattr(outer_component, name), getattr(inner_component, name)
        if member.is_port:
            m.d.comb += inner.eq(outer) if member.flow == wiring.In else outer.eq(inner)
        else:
            wiring.connect(m, wiring.flipped(outer), inner)


def weight_words(params: TileParams, w: list) -> list[int]:
    """The input-major weight words of slot-major matrices ``w[slot][neuron][column]`` (NG * L neurons,
    I_max + H columns): word ``(slot * columns + col) * NG + g`` holds lane k = neuron g*L + k."""
    L, NG, wb = params.lanes, params.neuron_groups, params.config.weight.bits
    words = []
    for ws in w:
        for col in range(params.columns):
            for g in range(NG):
                words.append(sum((int(ws[g * L + k][col]) & ((1 << wb) - 1)) << (k * wb) for k in range(L)))
    return words + [0] * (params.depths()["weight"] - len(words))


# -------------------------------------------------------------------------------------------- emitter

class EmitterHarness(wiring.Component):
    """A :class:`~hw.delta_emit.DeltaEmitter` of ``params`` whose ``acc_x`` / ``acc_h`` / ``bias`` /
    ``bias_hn`` ports read memories of this component (``init`` ``acc_x``, ``acc_h``: NG lists of L
    accumulators; ``bias``, ``bias_hn``: raw words); its other members are the harness's (all plain ports and
    streams, so it can be a Verilog top level)."""

    def __init__(self, params: TileParams, acc_x: list, acc_h: list, bias: list[int], bias_hn: list[int] = ()):
        self.emitter = DeltaEmitter(params)
        self.params, self.latency = params, DeltaEmitter.latency
        self.init = {"acc_x": [list(a) for a in acc_x], "acc_h": [list(a) for a in acc_h], "bias": list(bias),
                     "bias_hn": list(bias_hn)}
        super().__init__({k: v for k, v in self.emitter.signature.members.items() if k not in self.init})

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.emitter = emit = self.emitter
        depths, widths = p.depths(), p.widths()
        for name in ("acc_x", "acc_h"):
            m.submodules[name] = mem = memory.Memory(shape=accumulator_layout(p), depth=max(2, p.neuron_groups),
                                                     init=self.init[name])
            wiring.connect(m, getattr(emit, name), mem.read_port())
        for name in ("bias", "bias_hn") if p.cell == "gru" else ("bias",):
            m.submodules[name] = mem = memory.Memory(shape=unsigned(widths[name]), depth=depths[name],
                                                     init=self.init[name])
            wiring.connect(m, getattr(emit, name), mem.read_port())
        _pass_through(m, self, emit)
        return m


def random_accumulators(params: TileParams, rng: random.Random) -> tuple[list, list, list[int], list[int]]:
    """(acc_x, acc_h, bias words, bias_hn words) of a random emitter test: the accumulators W_x e_x and
    W_h e_h of random weights and inputs (so sums stay in the accumulator format), extremes included."""
    cfg, L, NG = params.config, params.lanes, params.neuron_groups
    w, a = cfg.weight, cfg.act
    b_min, b_max = -(1 << (cfg.bias_bits - 1)), (1 << (cfg.bias_bits - 1)) - 1

    def dot(n):
        r = rng.random()
        if r < 0.1:
            return n * w.min_int * a.min_int
        if r < 0.2:
            return n * w.max_int * a.min_int
        if r < 0.5:
            return sum(rng.randint(-3, 3) * rng.randint(-(1 << a.frac), 1 << a.frac) for _ in range(n))
        return sum(rng.randint(w.min_int, w.max_int) * rng.randint(a.min_int, a.max_int) for _ in range(n))

    acc_x = [[dot(params.input_size) for _ in range(L)] for _ in range(NG)]
    acc_h = [[dot(params.hidden) for _ in range(L)] for _ in range(NG)]

    def bias():
        if rng.random() < 0.05:
            return rng.choice([b_min, b_max, 0])
        small = 1 << min(cfg.bias_bits - 1, cfg.acc_frac + 2)
        return rng.randint(-small, small - 1)

    mask = (1 << cfg.bias_bits) - 1
    bias_words = [bias() & mask for _ in range(params.slots * params.neurons)]
    hn_words = [bias() & mask for _ in range(params.slots * params.hidden)] if params.cell == "gru" else []
    return acc_x, acc_h, bias_words, hn_words


def emitter_reference(params: TileParams, acc_x, acc_h, bias: list[int], bias_hn: list[int], slot: int):
    """(results, tags ``{g, part, j}``) of a step of ``slot``, in ``DeltaEmitter.order``: ``acc`` =
    acc_x + acc_h + bias with its ``preact``, or for the GRU candidate (``part`` 1) ``acc`` = acc_x + b_in
    and ``acc_h`` = acc_h + b_hn (a GRU result's ``acc_h`` is 0 on the other gates)."""
    cfg, L, G, bb = params.config, params.lanes, params.gates, params.config.bias_bits
    gru = params.cell == "gru"
    results, tags = [], []
    for n in DeltaEmitter.order(params):
        j, g = divmod(n, G)
        ax, ah = acc_x[n // L][n % L], acc_h[n // L][n % L]
        b = _signed(bias[slot * params.neurons + n], bb)
        candidate = gru and g == 2
        acc = ax + b if candidate else ax + ah + b
        result = {"acc": acc, "preact": int(intops.to_preact(acc, cfg.acc_frac, cfg.preact))}
        if gru:
            result["acc_h"] = ah + _signed(bias_hn[slot * params.hidden + j], bb) if candidate else 0
        results.append(result)
        tags.append({"g": g, "part": int(candidate), "j": j})
    return results, tags


def result_groups(params: TileParams) -> list[int]:
    """The group of each result of a step, in order."""
    return [n // params.lanes for n in DeltaEmitter.order(params)]


def emitter_steps(params: TileParams, mems: tuple, count: int, rng: random.Random) -> list[dict]:
    """``count`` steps of an emitter test over the memories ``mems`` (:func:`random_accumulators`): each
    ``{seq_start, slot, results, tags}`` (a new sequence, with a random slot, on step 0 and at random;
    the expected results and tags of :func:`emitter_reference`)."""
    steps = []
    for k in range(count):
        seq = k == 0 or rng.random() < 0.5
        slot = rng.randrange(params.slots) if seq else steps[-1]["slot"]
        results, tags = emitter_reference(params, *mems, slot)
        steps.append({"seq_start": int(seq), "slot": slot, "results": results, "tags": tags})
    return steps
