"""The one payload codec: integers, structs and arrays to and from a packed bit vector.

Used by the cocotb drivers (:mod:`sim.streams`), the Verilog harness's buffers (:mod:`sim.tile_driver`)
and the UART host link (:mod:`synth.host_link`). Needs neither cocotb nor a simulator.

A codec is built from a :func:`sim.runner.shape_json` description (:class:`PayloadCodec`), from an
Amaranth shape (:meth:`PayloadCodec.from_shape`), from a flat ``{field: {"offset", "width", "signed"}}``
map (:meth:`PayloadCodec.from_fields`, the host link's layouts and control/status words) or from a
design description's stream port (:func:`stream_codec`). Values are range-checked: a value that does not
fit its field is a ``ValueError`` naming the field, never truncated.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PayloadCodec", "stream_codec"]


def _as_int(what: str, value) -> int:
    if hasattr(value, "value") and not isinstance(value, (int, np.integer)):   # an enum member
        value = value.value
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if not isinstance(value, (int, np.integer)):
        raise ValueError(f"{what}: {value!r} is not an integer")
    return int(value)


class PayloadCodec:
    """Pack/unpack integers, structs (dicts) and arrays (lists) to/from a packed bit vector.

    ``desc`` is a :func:`sim.runner.shape_json` description. ``pack(value, what=, fill=)`` names the
    payload ``what`` in its errors (a field is ``what.field``); with ``fill`` a struct's missing fields
    are 0 (else they are an error)."""

    def __init__(self, desc: dict):
        self.desc = desc
        self.width: int = desc["width"]
        self.kind: str = desc["kind"]
        self.signed = bool(desc.get("signed", False))
        self._mask = (1 << self.width) - 1
        if self.kind in ("struct", "union"):
            self.fields = {name: (f["offset"], PayloadCodec(f["shape"])) for name, f in desc["fields"].items()}
        elif self.kind == "array":
            self.elem = PayloadCodec(desc["elem"])
            self.length = desc["length"]
        elif self.kind != "int":
            raise ValueError(f"unknown shape kind {self.kind!r}")

    @classmethod
    def from_shape(cls, shape) -> PayloadCodec:
        from .runner import shape_json
        return cls(shape_json(shape))

    @classmethod
    def from_fields(cls, fields: dict, width: int | None = None) -> PayloadCodec:
        """A struct of integer fields ``{name: {"offset", "width", "signed" (optional)}}``."""
        top = max((f["offset"] + f["width"] for f in fields.values()), default=0)
        return cls({"kind": "struct", "width": top if width is None else width,
                    "fields": {name: {"offset": f["offset"], "shape": {"kind": "int", "width": f["width"],
                                                                      "signed": bool(f.get("signed", False))}}
                               for name, f in fields.items()}})

    @classmethod
    def unsigned(cls, width: int) -> PayloadCodec:
        return cls({"kind": "int", "width": width, "signed": False})

    def pack(self, value, *, what: str = "payload", fill: bool = False) -> int:
        if self.kind == "int":
            value = _as_int(what, value)
            lo = -(1 << (self.width - 1)) if self.signed else 0
            hi = (1 << (self.width - 1)) - 1 if self.signed else self._mask
            if not lo <= value <= hi:
                kind = "signed" if self.signed else "unsigned"
                raise ValueError(f"{what}: {value} does not fit {self.width} bits {kind} ({lo}..{hi})")
            return value & self._mask
        if self.kind == "array":
            if len(value) != self.length:
                raise ValueError(f"{what}: expected {self.length} elements, got {len(value)}")
            return sum(self.elem.pack(v, what=f"{what}[{k}]") << (k * self.elem.width) for k, v in enumerate(value))
        if not isinstance(value, dict):
            raise ValueError(f"{what}: a struct payload is a dict of {sorted(self.fields)}, "
                             f"not {type(value).__name__}")
        for name in value:
            if name not in self.fields:
                raise ValueError(f"{what} has no field {name!r} (fields: {', '.join(self.fields) or 'none'})")
        if self.kind == "struct" and not fill:
            missing = [name for name in self.fields if name not in value]
            if missing:
                raise ValueError(f"{what}: fields {missing} missing")
        raw = 0
        for name, v in value.items():
            offset, codec = self.fields[name]
            raw |= codec.pack(v, what=f"{what}.{name}") << offset
        return raw

    def unpack(self, raw: int):
        raw = int(raw) & self._mask
        if self.kind == "int":
            if self.signed and raw >> (self.width - 1):
                return raw - (1 << self.width)
            return raw
        if self.kind == "array":
            w = self.elem.width
            return [self.elem.unpack(raw >> (k * w)) for k in range(self.length)]
        return {name: codec.unpack(raw >> offset) for name, (offset, codec) in self.fields.items()}


def stream_codec(design_or_ports: dict, stream: str) -> PayloadCodec:
    """The payload codec of stream ``stream`` (e.g. ``"i"``) from a design description
    (:func:`sim.runner.load_design`) or its ``ports`` dict."""
    ports = design_or_ports.get("ports", design_or_ports)
    key = f"{stream}__payload"
    if key not in ports:
        raise KeyError(f"no stream {stream!r} (port {key}) among {sorted(ports)}")
    return PayloadCodec(ports[key]["shape"])
