"""Test vectors, references and a harness of the CREW blocks (hw/crew_sum.py, hw/crew_products.py), shared
by the Amaranth-simulator tests (tests/test_hw_crew_parts.py) and the cocotb testbench
(sim/testbenches/tb_crew.py), so both score against the same references.

* :func:`crew_sum_phases` -- product-bank writes and neuron beats of a :class:`hw.crew_sum.CrewSumUnit`,
  with the expected ``{acc, preact}`` of every neuron (``acc`` = bias + the fetched products,
  ``preact`` = :func:`golden_model.intops.neuron_preact`).
* :class:`ProductHarness` -- a :class:`hw.crew_products.ProductStage` with its own x and h row memories
  (``init`` given), every other port passed through.
* :func:`product_reference` -- the bank writes a product stage must make in one step, from the unique-value
  table words, the row memories and the step controls.

Payloads are dicts of Python ints (arrays as lists), as :mod:`sim.unit_vectors`.
"""

from __future__ import annotations

import random

from amaranth.hdl import Module, unsigned
from amaranth.lib import memory, stream, wiring

from golden_model import intops
from golden_model.formats import FixedPointConfig
from hw.crew_products import ProductStage
from hw.tile_params import CrewShape, TileParams

__all__ = ["ProductHarness", "crew_sum_phases", "decode_writes", "product_reference", "row_words", "signed_field"]


def signed_field(word: int, k: int, bits: int) -> int:
    """Lane ``k`` (``bits`` wide, two's complement) of ``word``."""
    v = (int(word) >> (k * bits)) & ((1 << bits) - 1)
    return v - (1 << bits) if v >> (bits - 1) else v


def row_words(rows: list[list[int]], bits: int) -> list[int]:
    """Memory words of rows of signed lane values (lane k at bits ``k*bits ..``)."""
    mask = (1 << bits) - 1
    return [sum((int(v) & mask) << (k * bits) for k, v in enumerate(row)) for row in rows]


# ------------------------------------------------------------------------------------------- adder lanes

def crew_sum_phases(cfg: FixedPointConfig, lanes: int, crew: CrewShape, rows: int, neurons: int, phases: int,
                    seed: int) -> list[dict]:
    """Traffic of a :class:`~hw.crew_sum.CrewSumUnit` (``lanes``, ``crew``, ``rows``; max_inputs
    ``rows * lanes``) in ``phases`` phases. Each phase is a dict:

    ``before``   bank writes (``{addr, group, products}``) to make before the phase's first beat: in phase
                 0 every (addr, group) once in random order, then random rewrites; later phases random ones;
    ``beats``    the beats of ``neurons`` neurons (1..rows beats each, random rows among the phase's
                 ``read_rows``, random indices < U_max, bias on the first beat and junk on the others);
    ``expected`` one ``{acc, preact}`` per neuron, from the banks after ``before``;
    ``during``   writes that may be made while the beats stream: only rows the phase does not read.

    Phase 0 also has corner neurons: every lane of row 0 holds w_min * a_min (largest product) at u = 0
    and w_max * a_min (most negative) at u = 1, read by neurons of ``rows`` beats with the extreme biases.
    """
    rng = random.Random(seed)
    U, M, S = crew.unique_max, crew.multipliers, crew.stride
    groups = lanes // M
    w, a, b_bits = cfg.weight, cfg.act, cfg.bias_bits
    b_min, b_max = -(1 << (b_bits - 1)), (1 << (b_bits - 1)) - 1
    bank = [[0] * (rows * S) for _ in range(lanes)]   # the banks start at zero (init=[])

    def product():
        if rng.random() < 0.1:
            return rng.choice([w.min_int * a.min_int, w.max_int * a.min_int, w.min_int * a.max_int, 0])
        if rng.random() < 0.4:   # small: sums in the preactivation's unsaturated range
            return rng.randint(-4, 4) * rng.randint(-(1 << a.frac), 1 << a.frac)
        return rng.randint(w.min_int, w.max_int) * rng.randint(a.min_int, a.max_int)

    def write(addr, group, products=None):
        products = products if products is not None else [product() for _ in range(M)]
        for j, v in enumerate(products):
            bank[group * M + j][addr] = v
        return {"addr": addr, "group": group, "products": list(products)}

    def bias():
        if rng.random() < 0.05:
            return rng.choice([b_min, b_max, 0])
        small = 1 << min(b_bits - 1, cfg.acc_frac + 2)
        return rng.randint(-small, small - 1)

    def neuron(read_rows, nb=None, row=None, index=None, b=None):
        nb = nb if nb is not None else rng.randint(1, rows)
        b = b if b is not None else bias()
        beats, dot = [], 0
        for k in range(nb):
            r = row if row is not None else rng.choice(read_rows)
            idx = [index if index is not None else rng.randrange(U) for _ in range(lanes)]
            dot += sum(bank[lane][r * S + u] for lane, u in enumerate(idx))
            beats.append({"indices": idx, "row": r, "bias": b if k == 0 else rng.randint(b_min, b_max),
                          "last": int(k == nb - 1)})
        return beats, {"acc": dot + b, "preact": int(intops.neuron_preact(dot, b, cfg))}

    out = []
    for ph in range(phases):
        if ph == 0:
            cells = [(addr, g) for addr in range(rows * S) for g in range(groups)]
            rng.shuffle(cells)
            before = [write(addr, g) for addr, g in cells]
            before += [write(rng.randrange(rows * S), rng.randrange(groups)) for _ in range(len(cells) // 4)]
            before += [write(0, g, [w.min_int * a.min_int] * M) for g in range(groups)]
            if U > 1:
                before += [write(1, g, [w.max_int * a.min_int] * M) for g in range(groups)]
        else:
            before = [write(rng.randrange(rows * S), rng.randrange(groups))
                      for _ in range(rng.randint(1, rows * S * groups))]
        read_rows = sorted(rng.sample(range(rows), rng.randint(1, rows)))
        if ph == 0 and 0 not in read_rows:
            read_rows = [0, *read_rows]
        beats, expected = [], []
        if ph == 0:
            corners = [(0, b_max), (0, b_min), (0, 0)] + ([(1, b_min), (1, b_max)] if U > 1 else [])
            for index, b in corners:
                bs, e = neuron(read_rows, nb=rows, row=0, index=index, b=b)
                beats += bs
                expected.append(e)
        for _ in range(neurons):
            bs, e = neuron(read_rows)
            beats += bs
            expected.append(e)
        spare = [r for r in range(rows) if r not in read_rows]
        during = [write(rng.choice(spare) * S + rng.randrange(U), rng.randrange(groups))
                  for _ in range(rng.randint(1, 3 * len(beats)))] if spare else []
        out.append({"before": before, "beats": beats, "expected": expected, "during": during})
    return out


# ---------------------------------------------------------------------------------------- product stage

class ProductHarness(wiring.Component):
    """A :class:`~hw.crew_products.ProductStage` of ``params`` (table ``init`` ``image["predictor"]``)
    whose ``xbuf`` / ``hbuf`` read ports read two memories of this component (``init`` the words
    ``xbuf`` / ``hbuf``: 2 * KX and 2 * KH rows of L activations); every other member of the stage is
    a member of the harness, the always-ready streams ``wr`` and ``writes`` as plain ones (``wr.ready``
    tied 1, ``writes.ready`` unused) so that the harness can be a Verilog top level."""

    def __init__(self, params: TileParams, image: dict | None, xbuf: list[int], hbuf: list[int]):
        self.stage = ProductStage(params, image)
        self.params, self.xbuf_init, self.hbuf_init = params, list(xbuf), list(hbuf)
        self.latency = ProductStage.latency
        members = {}
        for name, member in self.stage.signature.members.items():
            if name in ("xbuf", "hbuf"):
                continue
            if member.is_signature:   # wr, writes
                member = member.flow(stream.Signature(member.signature.members["payload"].shape))
            members[name] = member
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.stage = stage = self.stage
        row = unsigned(p.lanes * p.config.act.bits)
        m.submodules.xbuf = xbuf = memory.Memory(shape=row, depth=2 * p.x_rows, init=self.xbuf_init)
        m.submodules.hbuf = hbuf = memory.Memory(shape=row, depth=2 * p.h_rows, init=self.hbuf_init)
        wiring.connect(m, stage.xbuf, xbuf.read_port())
        wiring.connect(m, stage.hbuf, hbuf.read_port())
        for name, member in self.signature.members.items():
            outer, inner = getattr(self, name), getattr(stage, name)
            if member.is_port:
                m.d.comb += inner.eq(outer) if member.flow == wiring.In else outer.eq(inner)
            elif member.flow == wiring.In:   # wr: an always-ready input stream
                m.d.comb += [inner.valid.eq(outer.valid), inner.payload.eq(outer.payload), outer.ready.eq(1)]
            else:                            # writes: an always-ready output stream
                m.d.comb += [outer.valid.eq(inner.valid), outer.payload.eq(inner.payload)]
        return m


def _table_row(params: TileParams, table: list[int], slot: int, grow: int) -> list[list[int]]:
    """The slots of neuron row ``grow`` of ``slot`` in the unique-value table words: lane weights of
    u = 0 .. U_r - 1 (the word with the ``last`` bit ends the row)."""
    U, L, wb = params.crew.unique_max, params.lanes, params.config.weight.bits
    out = []
    for u in range(U):
        word = table[(slot * params.rows_per_neuron + grow) * params.crew.stride + u]
        out.append([signed_field(word, k, wb) for k in range(L)])
        if word >> (L * wb) & 1:
            return out
    raise ValueError(f"row {grow} of slot {slot}: no word of its {U} slots has the last bit")


def product_reference(params: TileParams, table: list[int], xbuf: list[int], hbuf: list[int], *, slot: int,
                      n_x: int, read_bank: int, h_bank: int, first_step: int) -> tuple[dict, int]:
    """``({(bank addr, lane): product}, S)``: the writes of one step of a product stage holding ``table``
    (the ``predictor`` words) and the row memories ``xbuf`` / ``hbuf`` (words), and S, the slots walked: the
    x rows holding the n_x inputs (ceil(n_x / L)), then the KH h rows (activations zero on a first step);
    per row its slots u < U_r, product of lane k = activation lane k * weight lane k, at grow * stride + u."""
    L, KX, KH, ab = params.lanes, params.x_rows, params.h_rows, params.config.act.bits
    rows = [(r, xbuf[read_bank * KX + r]) for r in range(-(-n_x // L))]
    rows += [(KX + r, 0 if first_step else hbuf[h_bank * KH + r]) for r in range(KH)]
    expected, slots = {}, 0
    for grow, word in rows:
        acts = [signed_field(word, k, ab) for k in range(L)]
        weights = _table_row(params, table, slot, grow)
        slots += len(weights)
        for u, ws in enumerate(weights):
            for k in range(L):
                expected[(grow * params.crew.stride + u, k)] = acts[k] * ws[k]
    return expected, slots


def decode_writes(params: TileParams, writes: list[dict]) -> dict:
    """``{(addr, lane): product}`` of ``writes`` payloads ({addr, group, products}); a (addr, lane)
    written twice is an error (the stage writes each once per step)."""
    M = params.crew.multipliers
    out = {}
    for wr in writes:
        for j, v in enumerate(wr["products"]):
            key = (int(wr["addr"]), int(wr["group"]) * M + j)
            if key in out:
                raise AssertionError(f"bank address {key[0]} lane {key[1]} written twice in one step")
            out[key] = int(v)
    return out
