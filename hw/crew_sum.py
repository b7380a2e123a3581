"""CREW adder lanes: the dot-product unit whose L products are fetched by index from per-lane product
banks instead of multiplied (docs/crew.md, *Hardware*).

Lane k of every beat belongs to input ``row * L + k`` of the neuron's row ``row`` (the tile's row layout,
docs/tile.md). Bank k holds the products of those inputs with their unique weights, row-major:
``bank_k[row * S + u] = v_{row*L+k} * unique_{row*L+k}[u]`` (S = 2**index_bits >= U_max, so the
address is the row and the index side by side), written by the product stage
(:class:`hw.crew_products.ProductStage`) through the ``writes`` stream. A beat carries the lane's index
``u`` and reads ``bank_k[row * S + u]``: the memory's read register is the pipeline's first stage,
so the unit keeps :class:`~hw.dot_product.DotProductUnit`'s adder tree, accumulator, requantizer and
``latency``, and its arithmetic: ``acc = bias + sum_k product_k`` exactly.
"""

from __future__ import annotations

from amaranth.hdl import Cat, signed, unsigned
from amaranth.lib import data, memory, stream
from amaranth.lib.wiring import In

from .checks import check_int, silence_unused
from .dot_product import DotProductUnit, dot_layouts
from .pipeline import delayed
from .shapes import index_shape

__all__ = ["CrewSumUnit", "crew_beat_layout", "product_write_layout"]


def _product_shape(config):
    return signed(config.weight.bits + config.act.bits)


def crew_beat_layout(lanes: int, rows: int, crew, config) -> data.StructLayout:
    """One beat of a CREW neuron: per lane the ``indices`` into its input's unique products, the neuron
    ``row`` (0..rows-1, the input part's rows then the recurrent part's), ``bias`` and ``last`` as in
    :func:`hw.dot_product.dot_layouts`."""
    return data.StructLayout({
        "indices": data.ArrayLayout(unsigned(crew.index_bits), lanes),
        "row": index_shape(rows),
        "bias": signed(config.bias_bits),
        "last": 1,
    })


def product_write_layout(lanes: int, rows: int, crew, config) -> data.StructLayout:
    """One write of the product stage: the products of lanes ``group * M .. group * M + M - 1`` (M =
    ``crew.multipliers``) at bank address ``addr`` (= row * S + u, S = ``crew.stride``)."""
    return data.StructLayout({
        "addr": index_shape(rows * crew.stride),
        "group": index_shape(lanes // crew.multipliers),
        "products": data.ArrayLayout(_product_shape(config), crew.multipliers),
    })


class CrewSumUnit(DotProductUnit):
    """L adder lanes over product banks (module docstring).

    Parameters: ``lanes`` (L), ``max_inputs`` (N_max, sizes the accumulator), ``config``
    (FixedPointConfig), ``crew`` (:class:`hw.tile_params.CrewShape`), ``rows`` (rows of a neuron, KX + KH).

    Ports: ``i`` In(stream :func:`crew_beat_layout`), ``o`` Out(stream, ``acc`` and ``preact`` as the
    dot-product unit's), ``writes`` In(stream :func:`product_write_layout`, always ready): product writes,
    each stored in the cycle it is valid. :attr:`latency` as :class:`DotProductUnit`'s.
    """

    def __init__(self, lanes: int, max_inputs: int, config, crew, rows: int):
        try:
            if crew is None or not hasattr(crew, "unique_max") or not hasattr(crew, "multipliers"):
                raise TypeError(f"crew must be a hw.tile_params.CrewShape, not {type(crew).__name__}")
            self.rows = check_int("CrewSumUnit rows", rows, 1, 1 << 20)
            if lanes % crew.multipliers:
                raise ValueError(f"{crew.multipliers} multipliers do not divide the {lanes} lanes")
        except (TypeError, ValueError):
            silence_unused(self)
            raise
        self.crew = crew
        super().__init__(lanes, max_inputs, config)

    def layouts(self):
        out_layout = dot_layouts(self.lanes, self.max_inputs, self.config)[1]
        return crew_beat_layout(self.lanes, self.rows, self.crew, self.config), out_layout

    def extra_ports(self) -> dict:
        layout = product_write_layout(self.lanes, self.rows, self.crew, self.config)
        return {"writes": In(stream.Signature(layout, always_ready=True))}

    def products(self, m, pipe) -> list:
        """Stage 1 is the banks' read register: bank k read at ``row * S + indices[k]`` on ``advance``;
        stage 2 registers the read data (nothing follows a block RAM read in its cycle)."""
        depth, mult = self.rows * self.crew.stride, self.crew.multipliers
        beat, wr = self.i.payload, self.writes
        out = []
        for k in range(self.lanes):
            m.submodules[f"bank{k}"] = bank = memory.Memory(shape=_product_shape(self.config), depth=max(2, depth),
                                                            init=[])
            wp, rp = bank.write_port(), bank.read_port()
            m.d.comb += [wp.addr.eq(wr.payload.addr), wp.data.eq(wr.payload.products[k % mult]),
                         wp.en.eq(wr.valid & (wr.payload.group == k // mult)),
                         rp.addr.eq(Cat(beat.indices[k], beat.row)), rp.en.eq(pipe.advance)]
            out.append(delayed(m, rp.data, 1, pipe.advance, name=f"product{k}_")[0])
        return out
