"""CREW product stage: at each step start, every input of [x_t ; h_{t-1}] times each of its unique
weights, into the product banks of :class:`hw.crew_sum.CrewSumUnit` (docs/crew.md, *Hardware*).

It walks the neuron rows of the step (the x rows that hold n_x inputs, then the KH h rows) and, per row,
its unique-value slots u = 0 .. U_r - 1 (U_r: the most unique weights of the row's L inputs; the table
word's ``last`` bit marks the row's final slot). A slot is one read of the unique-value table (L weights)
and of the row's activations; its L products are made by M multipliers in L/M cycles (one group of M
lanes per cycle) and written to bank k at ``grow * S + u`` (S = 2**index_bits) (grow: the row's index among the KX + KH
rows of a neuron, so the layout does not depend on n_x). h_{t-1} is zero on a sequence's first step.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .crew_sum import product_write_layout
from .shapes import count_shape, index_shape, read_port
from .tile_memories import wr_layout, write_from
from .tile_params import TileParams, check_part_params

__all__ = ["ProductStage", "unique_word_layout"]


def unique_word_layout(params: TileParams) -> data.StructLayout:
    """A word of the unique-value table: ``weights`` (slot u of the row's L inputs, zero past an input's own
    unique values) and ``last`` (u is the row's final slot)."""
    return data.StructLayout({"weights": data.ArrayLayout(unsigned(params.config.weight.bits), params.lanes),
                              "last": 1})


class ProductStage(wiring.Component):
    """The product stage of a CREW tile (module docstring). Parameters: ``params`` (a
    :class:`~hw.tile_params.TileParams` with ``crew``), ``image`` (memory image words: ``predictor`` is
    the unique-value table's ``init``).

    Ports
    -----
    start : In(1)            the step starts (StepSequencer ``step_start``): walk its rows
    step_reset : In(1)       step end or sequence start: ``done`` falls
    first_step, read_bank, h_bank, n_x, slot : In  step controls (StepSequencer)
    xbuf, hbuf : read ports of the tile's row memories
    wr : In(stream, always ready)  run-time memory writes (the ``predictor`` ones fill the table)
    writes : Out(stream, always ready)  product writes to the banks (:func:`~hw.crew_sum.product_write_layout`)
    done : Out(1)            the step's products are all written: the issue stage may start
    count_products : Out(1)  a group of M products is made in this cycle (the ``products`` counter)

    :attr:`latency` = 2: ``done`` rises 2 + S * L/M cycles after ``start``, for S slots in the step's rows.
    """

    latency = 2

    def __init__(self, params: TileParams, image: dict | None = None):
        self.params = p = check_part_params(self, params)
        if p.crew is None:
            raise ValueError("ProductStage needs a CREW tile (TileParams.crew)")
        self.image = image or {}
        row_bits = p.lanes * p.config.act.bits
        super().__init__({
            "start": In(1), "step_reset": In(1), "first_step": In(1), "read_bank": In(1), "h_bank": In(1),
            "n_x": In(count_shape(p.input_size)),
            "slot": In(index_shape(p.slots)),
            "xbuf": read_port(2 * p.x_rows, row_bits),
            "hbuf": read_port(2 * p.h_rows, row_bits),
            "wr": In(stream.Signature(wr_layout(p), always_ready=True)),
            "writes": Out(stream.Signature(product_write_layout(p.lanes, p.rows_per_neuron, p.crew, p.config),
                                           always_ready=True)),
            "done": Out(1),
            "count_products": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        depth, width = p.depths()["predictor"], p.widths()["predictor"]
        m.submodules.unique_mem = mem = memory.Memory(shape=unsigned(width), depth=depth,
                                                      init=self.image.get("predictor", []))
        write_from(m, mem, "predictor", self.wr)
        table = mem.read_port()
        held = self._walk(m, table)
        self._multiply(m, table, held)
        return m

    def _walk(self, m, table):
        """The slot pointer: reads the next slot while the held one's last group is made."""
        p = self.params
        KX, KH, L, U, ib = p.x_rows, p.h_rows, p.lanes, p.crew.unique_max, p.crew.index_bits
        groups = L // p.crew.multipliers
        busy, have = Signal(), Signal()               # walking the step; the read ports hold a slot
        held = {"have": have, "part": Signal(), "r": Signal(index_shape(max(KX, KH))), "u": Signal(index_shape(U)),
                "xe": Signal(count_shape(KX * L + L)), "s": Signal(index_shape(groups))}
        word = unique_word_layout(p)(table.data)
        last_row = Mux(held["part"], held["r"] == KH - 1, 0)
        x_end = ~held["part"] & (held["xe"] >= self.n_x)
        final_group = have & (held["s"] == groups - 1)
        read = busy & (~have | (final_group & ~(word.last & last_row)))
        # the slot to read: the first one, the next of the held slot's row, or the next row's first
        part = Mux(have & word.last, held["part"] | x_end, held["part"] & have)
        r = Mux(~have, 0, Mux(word.last, Mux(x_end, 0, held["r"] + 1), held["r"]))
        u = Mux(have & ~word.last, held["u"] + 1, 0)
        xe = Mux(~have, L, Mux(word.last & ~x_end, held["xe"] + L, held["xe"]))
        grow = Mux(part, KX + r, r)
        m.d.comb += [
            table.addr.eq(Cat(u[:ib], self.slot * (KX + KH) + grow)), table.en.eq(read),
            self.xbuf.addr.eq(Mux(self.read_bank, KX, 0) + r), self.xbuf.en.eq(read),
            self.hbuf.addr.eq(Mux(self.h_bank, KH, 0) + r), self.hbuf.en.eq(read),
        ]
        with m.If(have):
            m.d.sync += held["s"].eq(Mux(final_group, 0, held["s"] + 1))
        with m.If(read):
            m.d.sync += [have.eq(1), held["part"].eq(part), held["r"].eq(r), held["u"].eq(u), held["xe"].eq(xe)]
        with m.Elif(final_group):
            m.d.sync += [have.eq(0), busy.eq(0), self.done.eq(1)]
        with m.If(self.start):
            m.d.sync += busy.eq(1)
        with m.If(self.step_reset):
            m.d.sync += self.done.eq(0)
        return held

    def _multiply(self, m, table, held):
        """Group ``s`` of the held slot: M products, registered as the ``writes`` of the banks."""
        p = self.params
        KX, M, ib = p.x_rows, p.crew.multipliers, p.crew.index_bits
        wb, ab = p.config.weight.bits, p.config.act.bits
        word = unique_word_layout(p)(table.data)
        acts = Mux(held["part"], Mux(self.first_step, 0, self.hbuf.data), self.xbuf.data)
        weights = word.weights.as_value().word_select(held["s"], M * wb)
        group_acts = acts.word_select(held["s"], M * ab)
        out = self.writes.payload
        grow = Mux(held["part"], KX + held["r"], held["r"])
        m.d.sync += self.writes.valid.eq(0)
        with m.If(held["have"]):
            m.d.sync += [self.writes.valid.eq(1), out.addr.eq(Cat(held["u"][:ib], grow)), out.group.eq(held["s"])]
            m.d.sync += [out.products[k].eq(weights[k * wb:(k + 1) * wb].as_signed()
                                            * group_acts[k * ab:(k + 1) * ab].as_signed()) for k in range(M)]
        m.d.comb += self.count_products.eq(self.writes.valid)
