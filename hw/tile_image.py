"""Memory image of the accelerator tile: the golden model's integer weights as memory words.

:func:`memory_image` turns a :class:`golden_model.fixed_model.FixedPointNetwork` into the contents of
every run-time-loadable memory of a :class:`hw.tile.Tile` (``docs/tile.md``, *Memory image*). The same
words are the elaboration-time ``init`` of the memories and the payloads of a ``wr`` stream
(:func:`image_writes`), so one build serves any model of the same shape.

Words are raw bit patterns (non-negative ints of the memory's width; signed fields in two's complement).
"""

from __future__ import annotations

import numpy as np

from golden_model.crew import crew_tables

from .tile_memories import MEM_NAMES
from .tile_params import QUANTIZER_BITS, QUANTIZER_REGISTERS, TileParams

__all__ = ["memory_image", "image_writes", "product_slots", "quantizer_writes", "slot_of"]


def slot_of(layer: int, direction: int, num_directions: int) -> int:
    """Slot index of a layer-direction: ``layer * num_directions + direction``."""
    return layer * num_directions + direction


def _raw(value: int, bits: int) -> int:
    return int(value) & ((1 << bits) - 1)


def _check_network(params: TileParams, fixed) -> list:
    if not (hasattr(fixed, "layers") and hasattr(fixed, "net") and hasattr(fixed, "config")):
        raise TypeError(f"fixed_network must be a golden_model FixedPointNetwork, not {type(fixed).__name__}")
    net = fixed.net
    if fixed.config != params.config:
        raise ValueError(f"the network was quantized to {fixed.config}, the tile is elaborated for {params.config}")
    if net.cell != params.cell:
        raise ValueError(f"the network is a {net.cell.upper()}, the tile a {params.cell.upper()}")
    if net.hidden_size != params.hidden:
        raise ValueError(f"the network has hidden size {net.hidden_size}, the tile {params.hidden}")
    slots = [d for layer in fixed.layers for d in layer]
    if len(slots) > params.slots:
        raise ValueError(f"the network has {len(slots)} layer-directions, the tile holds {params.slots} slots")
    for s, q in enumerate(slots):
        if q.input_size > params.input_size:
            raise ValueError(f"slot {s} has {q.input_size} inputs per step, the tile at most {params.input_size}")
    return slots


def memory_image(params: TileParams, fixed_network) -> dict[str, list[int]]:
    """Words of every memory for all slots (slot = layer * num_directions + direction; unused slots
    are zero). Keys and layouts (``docs/tile.md``), with neuron n = j * G + g (hidden j, gate g), gate
    row ``g * H + j`` of the golden ``W = [W_ih | W_hh]``, I_s = the slot's input size:

    ``weight``  row ``(s * G*H + n) * (KX + KH) + r``: lane k (bits ``k*wb .. k*wb+wb-1``) holds
                ``W[row, r*L + k]`` for r < KX (input part, zero past I_s) and ``W[row, I_s + (r-KX)*L + k]``
                for r >= KX (recurrent part, zero past H);
    ``bias``    row ``s * G*H + n``: ``bias_x[row]`` (LSTM: b_ih + b_hh; GRU r, z: b_ih + b_hh; GRU n: b_in);
    ``bias_hn`` (GRU) row ``s * H + j``: ``bias_h[2*H + j]`` = b_hn;
    and the memory of the predictor front end (``params.front_end.image_words`` of each slot's W; the BNN
    front end's ``predictor``: row ``(s * G*H + n) * KB + k`` = word k of
    ``intops.pack_bits(sign_bits(W[row, :I_s + H])[::-1], B)``, the [x ; h] bits reversed (bit i of word k =
    element N - 1 - (k*B + i), N = I_s + H: the order the front end's sign banks hold them in), zero past
    the neuron's words).
    """
    if not isinstance(params, TileParams):
        raise TypeError(f"params must be a TileParams, not {type(params).__name__}")
    slots = _check_network(params, fixed_network)
    G, H, L = params.gates, params.hidden, params.lanes
    KX, KH = params.x_rows, params.h_rows
    wb, bb = params.config.weight.bits, params.config.bias_bits
    depths = params.depths()
    image = {name: [0] * depth for name, depth in depths.items()}
    for s, q in enumerate(slots):
        w = np.asarray(q.w, dtype=np.int64)
        n_in = q.input_size
        lanes_of = w
        if params.crew is not None:   # the index memory in place of the weight memory
            tables = crew_tables(w)
            _unique_table(params, s, n_in, tables, image["predictor"])
            lanes_of, wb = tables.index, params.crew.index_bits
        for j in range(H):
            for g in range(G):
                n = j * G + g
                row = g * H + j
                base = (s * G * H + n) * (KX + KH)
                for r in range(0 if params.delta else KX + KH):
                    if r < KX:
                        cols = [r * L + k for k in range(L)]
                        vals = [lanes_of[row, c] if c < n_in else 0 for c in cols]
                    else:
                        cols = [(r - KX) * L + k for k in range(L)]
                        vals = [lanes_of[row, n_in + c] if c < H else 0 for c in cols]
                    image["weight"][base + r] = sum(_raw(v, wb) << (k * wb) for k, v in enumerate(vals))
                image["bias"][s * G * H + n] = _raw(q.bias_x[row], bb)
            if params.cell == "gru":
                image["bias_hn"][s * H + j] = _raw(q.bias_h[2 * H + j], bb)
        if params.delta:
            _input_major(params, s, w, n_in, image["weight"])
        if params.front_end is not None:
            for name, words in params.front_end.image_words(params, s, w[:, :n_in + H]).items():
                for addr, word in words:
                    image[name][addr] = word
    return image


def _input_major(params: TileParams, slot: int, w: np.ndarray, n_in: int, words: list) -> None:
    """The delta tile's input-major weights of one slot into ``words``: word ``(slot * (I_max + H) + col)
    * NG + g`` holds in lane k the weight of column col (input i at col = i, hidden unit j at col = I_max +
    j) of neuron n = g*L + k in issue order (golden row (n mod G) * H + n div G; zero past G*H and past the
    slot's inputs)."""
    G, H, L, NG, wb = params.gates, params.hidden, params.lanes, params.neuron_groups, params.config.weight.bits
    neurons = np.arange(NG * L)
    rows = (neurons % G) * H + neurons // G
    present = neurons < G * H
    columns = [(col, col if col < n_in else None) for col in range(params.input_size)]
    columns += [(params.input_size + j, n_in + j) for j in range(H)]
    for col, source in columns:
        if source is None:
            continue
        lane_values = np.where(present, w[np.where(present, rows, 0), source], 0).reshape(NG, L)
        for g in range(NG):
            words[(slot * params.columns + col) * NG + g] = sum(_raw(v, wb) << (k * wb)
                                                                for k, v in enumerate(lane_values[g]))


def _row_inputs(params: TileParams, n_in: int, grow: int) -> list:
    """The input (column of W) of every lane of neuron row ``grow`` (None past the part's inputs)."""
    L, KX = params.lanes, params.x_rows
    if grow < KX:
        return [c if c < n_in else None for c in range(grow * L, grow * L + L)]
    return [n_in + c if c < params.hidden else None for c in range((grow - KX) * L, (grow - KX + 1) * L)]


def _unique_table(params: TileParams, slot: int, n_in: int, tables, words: list) -> None:
    """CREW's unique-value table of one slot into ``words`` (the ``predictor`` memory): word
    ``(slot * (KX + KH) + grow) * S + u`` (S = ``crew.stride``) holds in lane k unique value u of the lane's
    input (zero past its own) and, in the bit above the lanes, ``last``: u is the row's final slot (U_r - 1,
    U_r the most unique values of the row's inputs)."""
    U, wb, L = params.crew.unique_max, params.config.weight.bits, params.lanes
    if tables.unique_max > U:
        raise ValueError(f"slot {slot} has an input with {tables.unique_max} unique weights, the tile holds "
                         f"U_max = {U}")
    for grow in range(params.rows_per_neuron):
        inputs = [c for c in _row_inputs(params, n_in, grow) if c is not None]
        if not inputs:
            continue
        slots = int(tables.counts[inputs].max())
        for u in range(slots):
            word = sum(_raw(tables.unique[c, u], wb) << (k * wb)
                       for k, c in enumerate(_row_inputs(params, n_in, grow)) if c is not None)
            address = (slot * params.rows_per_neuron + grow) * params.crew.stride + u
            words[address] = word | (int(u == slots - 1) << (L * wb))


def product_slots(params: TileParams, fixed_network) -> list[int]:
    """CREW: per slot, the unique-value slots the product stage walks in one step (sum over the rows
    holding the slot's inputs of U_r); the cycle model's product phase."""
    out = []
    for q in _check_network(params, fixed_network):
        tables = crew_tables(np.asarray(q.w, dtype=np.int64))
        rows = (_row_inputs(params, q.input_size, grow) for grow in range(params.rows_per_neuron))
        out.append(sum(int(tables.counts[[c for c in r if c is not None]].max()) for r in rows
                       if any(c is not None for c in r)))
    return out


def quantizer_writes(params: TileParams, fixed_network, policy) -> list[dict]:
    """Similarity: the ``wr`` payloads of every slot's quantizer registers (the ``predictor`` words: slot
    s, part k, register r of :data:`hw.tile_params.QUANTIZER_REGISTERS` at (s * 2 + k) * 6 + r), from the
    golden similarity ``policy``'s detector of each layer (its levels and ranges)."""
    from golden_model import intops

    from .tile_memories import MemId
    net, fmt, n = fixed_network.net, params.config.act, len(QUANTIZER_REGISTERS)
    writes = []
    for layer in range(net.num_layers):
        det = policy.detector(fixed_network, layer, 1)
        for d in range(net.num_directions):
            s = slot_of(layer, d, net.num_directions)
            for part in range(2):
                lo, m, g, levels = (int(np.ravel(v)[0]) for v in (det.lo[part], det.m[part], det.g[part],
                                                                  det.levels[part]))
                q0 = int(intops.linear_quantize(0, lo, m, levels))
                values = {"lo": lo, "m": m, "g": g, "levels": levels, "q0": q0,
                          "e0": int(intops.linear_dequantize(q0, lo, g, fmt))}
                writes += [{"mem": MemId.PREDICTOR, "addr": (s * 2 + part) * n + r,
                            "data": _raw(values[name], QUANTIZER_BITS)} for r, name in enumerate(QUANTIZER_REGISTERS)]
    return writes


def image_writes(params: TileParams, image: dict[str, list[int]], skip_zero: bool = False) -> list[dict]:
    """The ``wr`` stream payloads ({mem, addr, data}) that load ``image`` at run time, memory by memory.
    ``skip_zero`` leaves out zero words (only correct over a tile whose memories are zero)."""
    writes = []
    for mem, name in MEM_NAMES.items():
        for addr, word in enumerate(image.get(name, ())):
            if skip_zero and not word:
                continue
            writes.append({"mem": mem, "addr": addr, "data": int(word)})
    return writes
