"""Default tile configurations per target (``fuzzymemo synth --top tile`` starts from these unless
``--preset none``): one that fits the iCE40UP5K and meets timing on the iCEBreaker's 12 MHz clock, a
larger one for the LFE5U-85F, and a middle one for the generic (ASIC-proxy) flow. Measured figures are in
docs/synthesis.md."""

from __future__ import annotations

__all__ = ["PAPER_PRESETS", "PRESETS", "PRESET_MODES", "preset"]

#: target -> tile options (names of hw.tile_params.TileParams / the ``tile`` registry block)
PRESETS = {
    "ice40": {"cell": "lstm", "input_size": 8, "hidden": 16, "slots": 1, "lanes": 2, "bnn_width": 8,
              "max_steps": 255},
    "ecp5": {"cell": "lstm", "input_size": 64, "hidden": 64, "slots": 2, "lanes": 8, "bnn_width": 32,
             "max_steps": 4095},
    "generic": {"cell": "lstm", "input_size": 16, "hidden": 16, "slots": 1, "lanes": 4, "bnn_width": 16,
                "max_steps": 255},
}

#: target -> a tile of the papers' shape (``--preset paper``; issue 10 item 6): on the LFE5U-85F an LSTM
#: with H = I = 192, whose 2.4 Mbit of 8-bit weights (and the BNN's sign copy) fit its 3.7 Mbit of block
#: RAM; on the generic flow H = I = 256. The iCE40UP5K's 120 kbit of EBR holds no such layer.
PAPER_PRESETS = {
    "ecp5": {"cell": "lstm", "input_size": 192, "hidden": 192, "slots": 1, "lanes": 16, "bnn_width": 64,
             "max_steps": 4095},
    "generic": {"cell": "lstm", "input_size": 256, "hidden": 256, "slots": 1, "lanes": 16, "bnn_width": 64,
                "max_steps": 4095},
}

#: ``--preset`` modes: the target's default, the paper-scale one, or the block's own defaults
PRESET_MODES = ("target", "paper", "none")

#: blocks the presets apply to
PRESET_BLOCKS = ("tile",)


def preset(top: str, target: str, mode: str = "target") -> dict:
    """Options of ``target``'s preset (``mode`` "target" or "paper") for block ``top`` (only the options the
    block declares); {} for blocks other than the tile or with ``mode`` "none"."""
    if mode not in PRESET_MODES:
        raise ValueError(f"unknown preset {mode!r}; the presets are {', '.join(PRESET_MODES)}")
    if mode == "none" or top not in PRESET_BLOCKS:
        return {}
    table = PAPER_PRESETS if mode == "paper" else PRESETS
    if target not in table:
        raise ValueError(f"no {mode} preset for target {target!r} (the {mode} presets: {', '.join(table)})")
    from .blocks import get_block

    known = {o.name for o in get_block(top).options}   # an unknown block: ValueError naming the known ones
    return {k: v for k, v in table[target].items() if k in known}
