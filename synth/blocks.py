"""Blocks the synthesis flows know: those of the registry (hw/registry.py), the tile included."""

from __future__ import annotations

__all__ = ["get_block", "all_blocks", "elaborate"]


def get_block(name: str):
    from hw import registry

    return registry.get(name)


def all_blocks() -> list:
    from hw import registry

    return list(registry.BLOCKS.values())


def elaborate(top: str, options: dict | None = None):
    """(component, resolved options) of registered block ``top``."""
    block = get_block(top)
    resolved = block.resolve(options)
    return block.builder(resolved), resolved

