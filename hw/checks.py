"""Parameter validation shared by the datapath units (clear TypeError / ValueError messages)."""

from __future__ import annotations

from amaranth.lib import wiring

from golden_model.formats import FixedPointConfig, QFormat

__all__ = ["check_config", "check_int", "config_from_options", "parse_qformat", "silence_tree", "silence_unused"]


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


def silence_tree(part) -> None:
    """A composite's parts are used exactly when the composite is (which itself warns if it is never
    elaborated): keep Amaranth from warning about them, and the components they hold, separately."""
    silence_unused(part)
    for value in vars(part).values():
        if isinstance(value, wiring.Component):
            silence_tree(value)


def parse_qformat(text) -> QFormat:
    """A :class:`~golden_model.formats.QFormat` from ``"Q8.6"`` or ``"8.6"`` (bits.frac), or a QFormat."""
    if isinstance(text, QFormat):
        return text
    body = str(text).strip()
    if body[:1] in ("Q", "q"):
        body = body[1:]
    bits, sep, frac = body.partition(".")
    try:
        if not sep:
            raise ValueError
        return QFormat(int(bits), int(frac))
    except ValueError as e:
        detail = f": {e}" if str(e) else ""
        raise ValueError(f"a number format is written Q<bits>.<frac> (e.g. Q8.6), not {text!r}{detail}") from None


def config_from_options(options: dict) -> FixedPointConfig:
    """The FixedPointConfig of a registry block's format options (weight, act, cell, preact, bias_bits)."""
    return FixedPointConfig(weight=parse_qformat(options["weight"]), act=parse_qformat(options["act"]),
                            cell=parse_qformat(options["cell"]), preact=parse_qformat(options["preact"]),
                            bias_bits=options["bias_bits"])
