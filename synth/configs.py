"""Default tile configurations per target (``fuzzymemo synth --top tile`` starts from these unless
``--preset none``): one that fits the iCE40UP5K and meets timing on the iCEBreaker's 12 MHz clock, a
larger one for the LFE5U-85F, and a middle one for the generic (ASIC-proxy) flow. Measured figures are in
docs/synthesis.md."""

from __future__ import annotations

__all__ = ["PRESETS", "preset"]

#: target -> tile options (names of hw.tile_params.TileParams / the ``tile`` registry block)
PRESETS = {
    "ice40": {"cell": "lstm", "input_size": 8, "hidden": 16, "slots": 1, "lanes": 2, "bnn_width": 8,
              "max_steps": 255},
    "ecp5": {"cell": "lstm", "input_size": 64, "hidden": 64, "slots": 2, "lanes": 8, "bnn_width": 32,
             "max_steps": 4095},
    "generic": {"cell": "lstm", "input_size": 16, "hidden": 16, "slots": 1, "lanes": 4, "bnn_width": 16,
                "max_steps": 255},
}

#: blocks the presets apply to
PRESET_BLOCKS = ("tile",)


def preset(top: str, target: str, mode: str = "target") -> dict:
    """Options of ``target``'s preset for block ``top`` (only the options the block declares); {} for
    blocks other than the tile or with ``mode`` "none"."""
    if mode == "none" or top not in PRESET_BLOCKS:
        return {}
    from .blocks import get_block

    known = {o.name for o in get_block(top).options}   # an unknown block: ValueError naming the known ones
    return {k: v for k, v in PRESETS.get(target, {}).items() if k in known}
