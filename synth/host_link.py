"""Host side of the UART board protocol (:mod:`synth.board`): :class:`HostLink` speaks it over any byte
transport, :class:`TileLink` runs the accelerator tile through it (load a model, run sequences, read the
counters).

The transport is any object with ``write(bytes)`` and ``read(n) -> bytes`` (``read`` may return fewer
bytes on a timeout), e.g. a ``serial.Serial(port, baud, timeout=1)`` from pyserial (not a dependency of
this project) or the simulated serial line of ``tests/test_synth_host_link.py``::

    import json, serial
    from synth.host_link import HostLink, TileLink
    link = HostLink.from_description(json.load(open("build/synth/ice40/tile-bnn/bridge.json")),
                                     serial.Serial("/dev/ttyUSB1", 115200, timeout=1))
    tile = TileLink(link, hidden=16)
    tile.load_model(compiled)                    # a fuzzymemo.compiled.CompiledModel of the same tile
    run = tile.run_sequence(x_q, memo_enable=1, theta=theta_q)
    run.h, run.counters

The layout comes from :func:`synth.board.bridge_map` (or the ``bridge.json`` that
:meth:`synth.board.UartBridge.describe` writes). That map gives each stream's payload width only; the
payload's fields (``x``: ``data``/``first``/``last``) come from :func:`stream_layouts` of the component
(:meth:`HostLink.from_component`, or ``describe_link`` which adds them to the description); without them a
beat is a raw int.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from golden_model.formats import THETA_BITS
from sim.codec import PayloadCodec
from sim.tile_protocol import COUNTERS, NetworkPlan, controls, sequence_beats

__all__ = ["HostLink", "LinkError", "TileLink", "SequenceResult", "stream_layouts", "describe_link"]

#: The board's link counters (:data:`synth.board.LINK_COUNTERS`) and what each means, for the messages.
LINK_FAULTS = {"link_framing_errors": "framing error(s) (bytes with a low stop bit: baud rate, noise, a break)",
               "link_dropped": "byte(s) dropped (sent while a beat waited for the block)",
               "link_bad_commands": "byte(s) that were no command (a garbled header or the host out of step)"}


class LinkError(RuntimeError):
    """The board saw faults on the serial line: what it received may be incomplete or misread."""


def stream_layouts(component) -> dict:
    """``{stream name: {field: {"offset", "width", "signed"}}}`` for every stream of ``component`` whose
    payload is a ``data.StructLayout`` (top-level fields; a nested field is a raw unsigned int)."""
    from amaranth.hdl import Shape
    from amaranth.lib import data, stream

    out = {}
    for name, member in component.signature.members.items():
        if not (member.is_signature and isinstance(member.signature, stream.Signature)):
            continue
        shape = member.signature.members["payload"].shape
        if not isinstance(shape, data.StructLayout):
            continue
        fields = {}
        for fname, f in shape:
            try:
                signed = Shape.cast(f.shape).signed
            except TypeError:
                signed = False
            fields[fname] = {"offset": f.offset, "width": f.width, "signed": bool(signed)}
        out[name] = fields
    return out


def describe_link(bridge) -> dict:
    """:meth:`UartBridge.describe` of ``bridge`` plus the payload layouts of its block's streams (the
    input of :meth:`HostLink.from_description`)."""
    return {**bridge.describe(), "layouts": stream_layouts(bridge.dut)}


class HostLink:
    """The host side of :mod:`synth.board`'s byte protocol over ``transport`` (``write(bytes)``,
    ``read(n)``).

    ``bmap`` -- :func:`synth.board.bridge_map` or the ``bridge.json`` description
    ``layouts`` -- :func:`stream_layouts` (optional; without it stream beats are raw ints)

    The control word is held on the host: :meth:`set_controls` changes the named fields and sends the
    whole word; fields never set are 0. Frames of other kinds read while waiting for one (an output beat
    while waiting for the status, the status while waiting for a beat) are queued, not lost."""

    def __init__(self, bmap: dict, transport, layouts: dict | None = None):
        self.map, self.transport = bmap, transport
        self.layouts = dict(layouts if layouts is not None else bmap.get("layouts", {}))
        self.in_streams = {s["name"]: s for s in bmap["in_streams"]}
        self.out_streams = {s["name"]: s for s in bmap["out_streams"]}
        self._out_by_tag = {s["tag"]: s for s in bmap["out_streams"]}
        self.control_fields = bmap["control"]["fields"]
        self.status_fields = bmap["status"]["fields"]
        self._control_codec = PayloadCodec.from_fields(self.control_fields, bmap["control"]["bits"])
        self._status_codec = PayloadCodec.from_fields(self.status_fields, bmap["status"]["bits"])
        self._codecs = {name: PayloadCodec.from_fields(fields) for name, fields in self.layouts.items()}
        self.controls = {name: 0 for name in self.control_fields}
        self._pending: dict[str, list] = {name: [] for name in self.out_streams}
        self._pending_status: list[dict] = []

    @classmethod
    def from_component(cls, component, transport) -> HostLink:
        """A link to ``component`` behind a :class:`synth.board.UartBridge` (layouts included)."""
        from .board import bridge_map

        return cls(bridge_map(component), transport, stream_layouts(component))

    @classmethod
    def from_description(cls, description: dict, transport) -> HostLink:
        """From :func:`describe_link` / ``bridge.json`` (a ``layouts`` key is used when present)."""
        return cls(description, transport, description.get("layouts"))

    # ------------------------------------------------------------------------- encoding (no I/O)
    def encode_control(self, values: dict | None = None) -> bytes:
        """The control frame of the word ``self.controls`` updated with ``values`` (not stored)."""
        merged = dict(self.controls)
        for name, v in (values or {}).items():
            if name not in self.control_fields:
                raise ValueError(f"no control field {name!r} (fields: {', '.join(self.control_fields)})")
            merged[name] = v
        word = self._control_codec.pack(merged, what="control", fill=True)
        return bytes([self.map["control"]["command"]]) + word.to_bytes(self.map["control"]["bytes"], "little")

    def encode_beat(self, stream: str, beat) -> bytes:
        """The frame of one beat on input stream ``stream``: ``beat`` a dict of field values (missing fields
        0; needs the stream's layout) or a raw int payload."""
        if stream not in self.in_streams:
            raise ValueError(f"no input stream {stream!r} (input streams: {', '.join(self.in_streams)})")
        s = self.in_streams[stream]
        if isinstance(beat, dict):
            if stream not in self.layouts:
                raise ValueError(f"no payload layout for stream {stream!r}: give the beat as a raw int")
            word = self._codecs[stream].pack(beat, what=stream, fill=True)
        else:
            word = PayloadCodec.unsigned(s["payload_bits"]).pack(beat, what=f"{stream} payload")
        return bytes([s["command"]]) + word.to_bytes(s["bytes"], "little")

    def decode_stream_payload(self, stream: str, body: bytes):
        """A beat of output stream ``stream`` from its payload bytes: a dict with its layout, else an int."""
        s = self.out_streams[stream]
        if len(body) != s["bytes"]:
            raise ValueError(f"stream {stream!r} beats have {s['bytes']} bytes, got {len(body)}")
        word = int.from_bytes(body, "little")
        if word >> s["payload_bits"]:
            raise ValueError(f"malformed {stream!r} beat {body.hex()}: bits set above its {s['payload_bits']} bits")
        return self._codecs[stream].unpack(word) if stream in self._codecs else word

    def decode_status(self, body: bytes) -> dict:
        """The status fields from the status word's bytes."""
        st = self.map["status"]
        if len(body) != st["bytes"]:
            raise ValueError(f"the status word has {st['bytes']} bytes, got {len(body)}")
        word = int.from_bytes(body, "little")
        if word >> st["bits"]:
            raise ValueError(f"malformed status word {body.hex()}: bits set above its {st['bits']} bits")
        return self._status_codec.unpack(word)

    def frame_length(self, header: int) -> int:
        """Payload bytes after the board->host header byte ``header`` (ValueError for an unknown one)."""
        if header == self.map["status"]["tag"]:
            return self.map["status"]["bytes"]
        if header in self._out_by_tag:
            return self._out_by_tag[header]["bytes"]
        raise ValueError(f"malformed frame: unknown header byte {header:#04x}")

    def decode_frame(self, frame: bytes) -> tuple[str, object]:
        """``("status", fields)`` or ``(stream name, beat)`` from one whole board->host frame."""
        if not frame:
            raise ValueError("malformed frame: empty")
        n = self.frame_length(frame[0])
        if len(frame) != 1 + n:
            raise ValueError(f"malformed frame {bytes(frame).hex()}: header {frame[0]:#04x} takes {n} bytes")
        if frame[0] == self.map["status"]["tag"]:
            return "status", self.decode_status(bytes(frame[1:]))
        name = self._out_by_tag[frame[0]]["name"]
        return name, self.decode_stream_payload(name, bytes(frame[1:]))

    # ------------------------------------------------------------------------- I/O
    def _read_exact(self, n: int, what: str) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.transport.read(n - len(data))
            if not chunk:
                break
            data += bytes(chunk)
        if len(data) < n:
            if not data and what == "header":
                raise TimeoutError("no frame from the board (read timed out)")
            raise ValueError(f"truncated {what}: {len(data)} of {n} bytes before the read timed out")
        return data

    def read_frame(self) -> tuple[str, object]:
        """Read and decode the next frame from the board (TimeoutError when none comes)."""
        header = self._read_exact(1, "header")
        body = self._read_exact(self.frame_length(header[0]), f"frame {header[0]:#04x}")
        return self.decode_frame(header + body)

    def set_controls(self, **values) -> None:
        """Set the named control fields (the others keep their value) and send the control word."""
        frame = self.encode_control(values)
        self.controls.update(values)
        self.transport.write(frame)

    def link_errors(self) -> dict:
        """The board's link counters (``{name: count}``, saturating at 255), cleared by :meth:`reset`."""
        return self.status(*LINK_FAULTS)

    def link_faults(self, fields: dict | None = None) -> str:
        """The link counters that are not 0, for people ("" when none): ``fields`` a status read that
        holds them, else they are read now."""
        fields = fields if fields is not None else self.link_errors()
        return "; ".join(f"{fields[k]}{'+' if fields[k] == 255 else ''} {text}"
                         for k, text in LINK_FAULTS.items() if fields.get(k))

    def check_link(self, what: str, fields: dict | None = None) -> None:
        """Raise :class:`LinkError` naming ``what`` (e.g. the sequence) when a link counter is not 0."""
        faults = self.link_faults(fields)
        if faults:
            raise LinkError(f"serial link faults during {what}: {faults}; what the board received may be wrong: "
                            f"reset it (HostLink.reset) and load the model again")

    def resync(self) -> dict:
        """A break (when the transport can send one, e.g. pyserial's ``send_break``): the board ends any
        frame it is receiving or beat it holds, and answers commands again; returns a status read (the
        link counters tell what went wrong; a break adds one framing error)."""
        if hasattr(self.transport, "send_break"):
            self.transport.send_break()
        return self.status()

    def reset(self) -> dict:
        """Bring the board back to a known state: :meth:`resync`, then the reset command resets the block's
        registers (not its memories) and the link counters. Every frame sent before the reset (read or not,
        up to the status the board sends after it) is discarded; returns that status."""
        self.resync()
        self.transport.write(bytes([self.map["reset"]["command"]]))
        self._pending = {name: [] for name in self.out_streams}
        self._pending_status = []
        fields = self.status()
        self._pending = {name: [] for name in self.out_streams}
        return fields

    def pulse(self, name: str) -> None:
        """Set control ``name`` to 1, then back to 0 (e.g. the tile's ``clear_counters``)."""
        self.set_controls(**{name: 1})
        self.set_controls(**{name: 0})

    def send(self, stream: str, beat) -> None:
        """Send one beat on input stream ``stream`` (see :meth:`encode_beat`). The board holds it until the
        block takes it and drops bytes arriving meanwhile: do not send more than the block will take."""
        self.transport.write(self.encode_beat(stream, beat))

    def send_many(self, stream: str, beats) -> None:
        """Send beats in one write (for a stream the block takes at once, e.g. the idle tile's ``wr``)."""
        self.transport.write(b"".join(self.encode_beat(stream, b) for b in beats))

    def receive(self, stream: str):
        """The next beat of output stream ``stream`` (queued ones first)."""
        if stream not in self.out_streams:
            raise ValueError(f"no output stream {stream!r} (output streams: {', '.join(self.out_streams)})")
        while not self._pending[stream]:
            kind, value = self.read_frame()
            (self._pending_status if kind == "status" else self._pending[kind]).append(value)
        return self._pending[stream].pop(0)

    def status(self, *names: str):
        """Request the status word; all fields as a dict, or the value of one named field, or a dict of
        the named fields."""
        for name in names:
            if name not in self.status_fields:
                raise ValueError(f"no status field {name!r} (fields: {', '.join(self.status_fields)})")
        self.transport.write(bytes([self.map["status"]["command"]]))
        while not self._pending_status:
            kind, value = self.read_frame()
            (self._pending_status if kind == "status" else self._pending[kind]).append(value)
        fields = self._pending_status.pop(0)
        if len(names) == 1:
            return fields[names[0]]
        return {n: fields[n] for n in names} if names else fields


# ----------------------------------------------------------------------------------------------- the tile

@dataclass
class SequenceResult:
    """One sequence run through the tile over the link."""
    h: np.ndarray                                   # (steps, H) int64
    counters: dict                                  # cycles, evaluations, reuses, stalls
    lasts: list = field(default_factory=list)       # indices of the h beats with `last`


class TileLink:
    """The accelerator tile (``hw.tile.Tile``, docs/tile.md) over a :class:`HostLink`: ``hidden`` is H.

    A thin transport of :mod:`sim.tile_protocol` (the beat rules, controls, counters and a network's pass
    order are there): it moves the beats over the link and keeps x at most two steps ahead of h."""

    COUNTERS = COUNTERS

    def __init__(self, link: HostLink, hidden: int):
        for stream in ("x", "wr"):
            if stream not in link.in_streams or stream not in link.layouts:
                raise ValueError(f"the link has no {stream!r} input stream with a payload layout: not a tile")
        if "h" not in link.out_streams or "h" not in link.layouts:
            raise ValueError("the link has no 'h' output stream with a payload layout: not a tile")
        self.link, self.hidden = link, hidden
        # the thresholds the tile's theta input holds, one per gate (hw.tile_params.TileParams.theta_shape)
        theta = link.control_fields.get("theta")
        self.theta_gates = max(1, theta["width"] // THETA_BITS) if theta else 1

    def load_words(self, words) -> None:
        """Write memories through ``wr`` ({mem, addr, data} dicts, e.g. ``CompiledModel.memory_words()``);
        the tile must be idle (checked)."""
        if self.link.status("busy"):
            raise RuntimeError("memories are written only while the tile is idle")
        self.link.send_many("wr", list(words))

    def load_model(self, compiled) -> None:
        """Load a compiled model (``fuzzymemo.compiled.CompiledModel``: a network on a tile of the board's
        parameters) through ``wr``: its fit is checked first (``compiled.check()``), then every word of its
        memory image is written (``compiled.memory_words()``)."""
        compiled.check()
        self.load_words(compiled.memory_words())

    def counters(self) -> dict:
        return self.link.status(*self.COUNTERS)

    def reset(self) -> None:
        """Reset the tile (:meth:`HostLink.reset`): ends a sequence that never got its ``last``, keeps the
        weights; the recovery after :class:`LinkError` or a timeout (then load the model again)."""
        self.link.reset()

    def clear_counters(self) -> None:
        self.link.pulse("clear_counters")

    def run_sequence(self, x, *, slot: int = 0, memo_enable: int = 0, theta: int = 0, form=0,
                     clear: bool = True) -> SequenceResult:
        """Run one sequence ``x`` ((steps, n_x) ints in the activation format) through slot ``slot``:
        ``theta`` the threshold register value (``intops.quantize_threshold``) of every gate, or one per
        gate, ``form`` 0/"relative" or 1/"absolute". Counters are cleared first (``clear``) and read once
        every h has come back.

        x is sent at most two steps ahead of the h received (step t's x once all h of step t-2 are in): the
        tile takes step t+1's x while step t computes, and the board drops bytes arriving while a beat waits.

        Faults: ``RuntimeError`` when the tile is busy before the sequence (an earlier one did not end);
        :class:`LinkError` when the board counted link faults before or during it, or an h read timed out
        after such faults; ``TimeoutError`` (naming the h stream and the sequence) when h stops without
        them. :meth:`reset` recovers from each."""
        beats = sequence_beats(x)
        steps, n_x = np.asarray(x).shape
        H = self.hidden
        what = f"the sequence of {steps} steps on slot {slot}"
        before = self.link.status()
        self.link.check_link(f"the run before {what}", before)
        if before["busy"]:
            raise RuntimeError(f"the tile is busy before {what}: an earlier sequence did not end (sent without "
                               f"`last`, or cut short); TileLink.reset() ends it")
        self.link.set_controls(**controls(slot=slot, n_x=n_x, memo_enable=memo_enable, theta=theta, form=form,
                                          gates=self.theta_gates))
        if clear:
            self.clear_counters()
        h: list[int] = []
        lasts: list[int] = []

        def collect_step():
            for _ in range(H):
                try:
                    beat = self.link.receive("h")
                except TimeoutError:
                    self._timed_out(what, len(h), steps * H)
                if beat["last"]:
                    lasts.append(len(h))
                h.append(beat["data"])

        for t in range(steps):
            if t >= 2:
                collect_step()                       # all h of step t-2
            self.link.send_many("x", beats[t * n_x:(t + 1) * n_x])
        while len(h) < steps * H:
            collect_step()
        after = self.link.status()
        self.link.check_link(what, after)
        counters = {k: after[k] for k in self.COUNTERS}
        return SequenceResult(np.array(h, dtype=np.int64).reshape(steps, H), counters, lasts)

    def _timed_out(self, what: str, got: int, expected: int):
        """Raise the error of an h read that timed out: a :class:`LinkError` when the board, resynchronised
        (:meth:`HostLink.resync`), counts link faults besides the break, else a TimeoutError."""
        where = f"h of {what}: {got} of {expected} outputs before the read timed out"
        fields = dict(self.link.resync())
        fields["link_framing_errors"] -= int(hasattr(self.link.transport, "send_break"))   # not the break
        faults = self.link.link_faults(fields)
        if faults:
            raise LinkError(f"{where}; serial link faults: {faults}: reset the board (TileLink.reset) and load "
                            f"the model again") from None
        raise TimeoutError(f"{where}: the tile waits for x (the input cut short?)") from None

    def run_network(self, x, lengths, *, inputs: list[int], directions: int = 1, memo_enable: int = 0,
                    theta=0, form=0) -> tuple[list[np.ndarray], list[dict]]:
        """Run a whole network (layer l takes ``inputs[l]`` values per step) over the batch ``x`` (B, T, n_x)
        of sequences of ``lengths``, pass by pass as :class:`sim.tile_protocol.NetworkPlan` orders it;
        ``theta`` one threshold register value, or one entry per layer (a value, or one per gate). Returns
        every layer's outputs (B, T, D*H) and the counters summed per pass."""
        plan = NetworkPlan(x, lengths, inputs=inputs, directions=directions, hidden=self.hidden)
        thetas = list(theta) if isinstance(theta, (list, tuple, np.ndarray)) else [theta] * len(inputs)
        passes = []
        for p in plan.passes:
            h, totals = [], dict.fromkeys(self.COUNTERS, 0)
            for seq in plan.sequences(p):
                r = self.run_sequence(seq, slot=p.slot, memo_enable=memo_enable, theta=thetas[p.layer],
                                      form=form)
                h.append(r.h.reshape(-1))
                totals = {k: totals[k] + r.counters[k] for k in self.COUNTERS}
            plan.put(p, np.concatenate(h) if h else [])
            passes.append({"layer": p.layer, "direction": p.direction, "slot": p.slot, "counters": totals})
        return plan.outputs, passes
