"""Blocks the synthesis flows know: the registry's (hw/registry.py), plus a stand-in ``tile`` block built
from ``hw.tile.Tile`` for as long as the registry does not list one (the registry's entry wins)."""

from __future__ import annotations

__all__ = ["get_block", "all_blocks", "TILE_BLOCK"]


def _bool(text) -> bool:
    if isinstance(text, bool):
        return text
    t = str(text).strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r} (use true/false)")


_bool.__name__ = "bool"


def _tile(o):
    from hw.checks import config_from_options
    from hw.tile import Tile
    from hw.tile_params import TileParams

    params = TileParams(cell=o["rnn"], input_size=o["input_size"], hidden=o["hidden"], slots=o["slots"],
                        lanes=o["lanes"], bnn_width=o["bnn_width"], config=config_from_options(o),
                        memo=o["memo"], max_steps=o["max_steps"], cache_update=o["cache_update"])
    return Tile(params)


def _tile_block():
    from hw.registry import _FORMATS, Block, opt

    return Block("tile", _tile, "LSTM/GRU tile (E-PUR style) with optional memoization hardware", (
        opt("rnn", str, "lstm", "cell type (the option 'cell' is the cell-state format)", choices=("lstm", "gru")),
        opt("input_size", int, 16, "I_max, largest per-step input"),
        opt("hidden", int, 16, "H, hidden size"),
        opt("slots", int, 1, "layer-directions held"),
        opt("lanes", int, 4, "L, MACs per cycle"),
        opt("bnn_width", int, 16, "B, BNN sign bits per cycle"),
        opt("memo", _bool, True, "memoization hardware present"),
        opt("max_steps", int, 4096, "longest sequence"),
        opt("cache_update", str, "compute", "b_m policy", choices=("compute", "always")),
        *_FORMATS))


TILE_BLOCK = None


def get_block(name: str):
    """The registry's block ``name``, or the stand-in tile."""
    from hw import registry

    global TILE_BLOCK
    if name == "tile" and "tile" not in registry.BLOCKS:
        try:
            import hw.tile  # noqa: F401
        except ImportError:
            return registry.get(name)
        if TILE_BLOCK is None:
            TILE_BLOCK = _tile_block()
        return TILE_BLOCK
    return registry.get(name)


def all_blocks() -> list:
    from hw import registry

    blocks = list(registry.BLOCKS.values())
    if "tile" not in registry.BLOCKS:
        try:
            blocks.append(get_block("tile"))
        except ValueError:
            pass
    return blocks
