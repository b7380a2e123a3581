"""Parameter validation shared by the datapath units (clear TypeError / ValueError messages)."""

from __future__ import annotations

from golden_model.formats import FixedPointConfig

__all__ = ["check_int", "check_config", "silence_unused"]


def check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < lo or (hi is not None and value > hi):
        bound = f"in {lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be {bound}, not {value}")
    return value


def check_config(config) -> FixedPointConfig:
    if not isinstance(config, FixedPointConfig):
        raise TypeError(f"config must be a golden_model.formats.FixedPointConfig, not {type(config).__name__}")
    return config


def silence_unused(elaboratable) -> None:
    """A component whose constructor rejected its parameters was never meant to be used: keep Amaranth
    from warning 'created but never used' about it at exit."""
    elaboratable._MustUse__silence = True
