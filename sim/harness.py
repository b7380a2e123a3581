"""A Verilog test harness around a streaming design, for fast cocotb runs (one await per batch of beats).

Driving every cycle from Python costs a Python wakeup per clock edge and per beat; this harness moves the
clock, the stream source, the stream sink and their randomness into Verilog (docs/simulation.md):

* the clock is generated in Verilog (``always #5 clk = ~clk``; Verilator builds it with ``--timing``), and
  a reset of a few cycles opens the run;
* a **source buffer** (``src_mem``, loaded with ``$readmemh`` from ``fm_src.hex`` at the start of a batch)
  plays its beats on one of the design's input streams (``target``: its index in ``sources``), holding
  ``valid`` and the payload until ``ready``;
* a **sink buffer** (``sink_mem``) takes every beat of the design's output stream and is written back with
  ``$writememh`` to ``fm_sink.hex`` at the end of the batch;
* valid gaps and back-pressure come from a xorshift32 generator per side (seed ``*_seed``): in a cycle the
  source may present a beat (the sink may be ready) when the generator's low 16 bits are below
  ``*_thresh`` (65536: always) **and** bit ``phase`` of the 32-bit pause mask ``*_mask`` is set, the phase
  counting 0..``*_mlen`` cyclically (a periodic pattern; all ones: none);
* the protocol of the output stream is checked in Verilog: ``proto_errors`` counts every cycle in which a
  beat offered and not taken changed its payload or was withdrawn;
* the other inputs of the design (controls) are registers ``ctl_<port>`` set from Python; its other outputs
  are readable as wires of the same names; ``clear_counters`` (when the design has it) is pulsed for one
  cycle before a batch whose ``clear`` register is set.

Python (:class:`HarnessDriver`) writes the batch file and the registers, then increments ``cmd``; the
harness runs the batch until every source beat went out, ``sink_expect`` beats came in and the design's
``busy`` output (when it has one) is low, waits ``drain`` more cycles (anything arriving then is counted as
extra), writes the sink file and sets ``done`` to ``cmd``: Python awaits that one value change. A batch
exceeding ``timeout`` cycles ends with ``timed_out`` set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "HARNESS_TOP",
    "BatchStatus",
    "HarnessDriver",
    "HarnessSpec",
    "harness_verilog",
    "pause_registers",
    "pauses",
]

log = logging.getLogger(__name__)

HARNESS_TOP = "fm_harness"
SRC_FILE, SINK_FILE = "fm_src.hex", "fm_sink.hex"
#: Always: the threshold of a probability of 1.
ALWAYS = 1 << 16
_CLOCK_HALF_NS = 5
_RESET_CYCLES = 4


@dataclass(frozen=True)
class HarnessSpec:
    """What the harness wraps: the design's top module, its port description (:func:`sim.runner.port_info`),
    the input streams the source buffer can drive, the output stream of the sink buffer and the buffers'
    depths (beats)."""
    top: str
    ports: dict
    sources: tuple[str, ...]
    sink: str
    src_depth: int = 1 << 17
    sink_depth: int = 1 << 17

    def to_json(self) -> dict:
        """The spec without the ports (they are the design description's ``ports``)."""
        return {"top": self.top, "sources": list(self.sources), "sink": self.sink, "src_depth": self.src_depth,
                "sink_depth": self.sink_depth}

    @classmethod
    def from_design(cls, design: dict) -> HarnessSpec:
        """The spec of a harness build from its description (:func:`sim.runner.load_design`)."""
        h = design["config"]["harness"]
        return cls(top=h["top"], ports=design["ports"], sources=tuple(h["sources"]), sink=h["sink"],
                   src_depth=int(h["src_depth"]), sink_depth=int(h["sink_depth"]))

    def design(self, tile_verilog: str, *, name: str, config: dict, sim_sources: dict | None = None):
        """The :class:`sim.runner.Design` of the harness around ``tile_verilog`` (the module ``top``);
        ``sim_sources`` -- ``{sim: function returning another text of the module}`` (see
        :class:`sim.runner.Design`)."""
        from .runner import Design

        around = harness_verilog(self)
        sources = {sim: (lambda make=make: make() + "\n" + around) for sim, make in (sim_sources or {}).items()}
        return Design(name=name, config={**config, "harness": self.to_json()}, toplevel=HARNESS_TOP,
                      verilog=tile_verilog + "\n" + around, ports=dict(self.ports),
                      public=tuple(self.registers), timing=True, sim_sources=sources)

    def width(self, port: str) -> int:
        return int(self.ports[port]["shape"]["width"])

    @property
    def controls(self) -> list[str]:
        """Inputs of the design that are neither clock/reset, stream ports nor ``clear_counters``."""
        streams = {f"{s}__{p}" for s in (*self.sources, self.sink) for p in ("valid", "ready", "payload")}
        return [n for n, p in self.ports.items()
                if p["dir"] == "in" and n not in streams and n not in ("clk", "rst", "clear_counters")]

    @property
    def outputs(self) -> list[str]:
        streams = {f"{s}__{p}" for s in (*self.sources, self.sink) for p in ("valid", "ready", "payload")}
        return [n for n, p in self.ports.items() if p["dir"] == "out" and n not in streams]

    @property
    def src_width(self) -> int:
        return max(self.width(f"{s}__payload") for s in self.sources)

    @property
    def registers(self) -> list[str]:
        """The harness's names that Python reads or writes (made public to Verilator's VPI)."""
        fixed = ["clk", "rst", "cmd", "done", "target", "clear", "src_count", "sink_expect", "timeout", "drain",
                 "valid_seed", "valid_thresh", "valid_mask", "valid_mlen", "ready_seed", "ready_thresh",
                 "ready_mask", "ready_mlen", "src_sent", "sink_got", "batch_cycles", "proto_errors",
                 "timed_out", "now_cycles"]
        return fixed + [f"ctl_{c}" for c in self.controls] + self.outputs


def _decl(width: int) -> str:
    return f"[{width - 1}:0] " if width > 1 else ""


def harness_verilog(spec: HarnessSpec) -> str:
    """The Verilog text of the harness module :data:`HARNESS_TOP` around ``spec.top``."""
    return "\n".join(_declarations(spec) + _control(spec) + _instance(spec))


def _declarations(spec: HarnessSpec) -> list[str]:
    """Clock, reset, the registers Python sets and reads, the buffers, the pause generators."""
    sw, hw = spec.src_width, spec.width(f"{spec.sink}__payload")
    tw = max(1, (len(spec.sources) - 1).bit_length())
    lines = [
        f"// generated by sim/harness.py: source/sink buffers and a Verilog clock around {spec.top}",
        f"module {HARNESS_TOP};",
        f"  localparam SRC_DEPTH = {spec.src_depth};",
        f"  localparam SINK_DEPTH = {spec.sink_depth};",
        "  reg clk = 1'b0;",
        f"  always #{_CLOCK_HALF_NS} clk = ~clk;",
        "  reg [3:0] rst_count = 4'd0;",
        f"  wire rst = rst_count != 4'd{_RESET_CYCLES};",
        "  always @(posedge clk) if (rst) rst_count <= rst_count + 4'd1;",
        "  reg [63:0] now_cycles = 64'd0;",
        "  always @(posedge clk) now_cycles <= now_cycles + 64'd1;",
        "  // set from Python",
        "  reg [31:0] cmd = 32'd0;",
        f"  reg [{tw - 1}:0] target = 0;",
        "  reg clear = 1'b0;",
        "  reg [31:0] src_count = 32'd0, sink_expect = 32'd0, timeout = 32'd0, drain = 32'd8;",
        "  reg [31:0] valid_seed = 32'd1, ready_seed = 32'd2, valid_mask = 32'hffffffff, ready_mask = 32'hffffffff;",
        f"  reg [16:0] valid_thresh = 17'd{ALWAYS}, ready_thresh = 17'd{ALWAYS};",
        "  reg [4:0] valid_mlen = 5'd0, ready_mlen = 5'd0;",
    ]
    for c in spec.controls:
        lines.append(f"  reg {_decl(spec.width(c))}ctl_{c} = 0;")
    lines += [
        "  // status, read by Python",
        "  reg [31:0] done = 32'd0, src_sent = 32'd0, sink_got = 32'd0, batch_cycles = 32'd0, proto_errors = 32'd0;",
        "  reg timed_out = 1'b0;",
        f"  reg [{sw - 1}:0] src_mem [0:SRC_DEPTH-1];",
        f"  reg [{hw - 1}:0] sink_mem [0:SINK_DEPTH-1];",
    ]
    for o in spec.outputs:
        lines.append(f"  wire {_decl(spec.width(o))}{o};")
    for s in spec.sources:
        lines.append(f"  wire {s}__ready;")
    lines += [
        f"  wire {spec.sink}__valid;",
        f"  wire [{hw - 1}:0] {spec.sink}__payload;",
        "  reg src_valid = 1'b0;",
        f"  reg [{sw - 1}:0] src_payload = 0;",
        "  reg sink_ready = 1'b0;",
        "  reg clear_pulse = 1'b0;",
        "  // xorshift32 generators and pause masks",
        "  function [31:0] xorshift(input [31:0] v);",
        "    reg [31:0] a;",
        "    begin a = v ^ (v << 13); a = a ^ (a >> 17); xorshift = a ^ (a << 5); end",
        "  endfunction",
        "  reg [31:0] valid_rng = 32'd1, ready_rng = 32'd2;",
        "  reg [4:0] valid_phase = 5'd0, ready_phase = 5'd0;",
        "  wire valid_ok = ({1'b0, valid_rng[15:0]} < valid_thresh) && valid_mask[valid_phase];",
        "  wire ready_ok = ({1'b0, ready_rng[15:0]} < ready_thresh) && ready_mask[ready_phase];",
    ]
    return lines


def _control(spec: HarnessSpec) -> list[str]:
    """The batch state machine: idle until Python raises ``cmd``, run the source and the sink, drain, write
    the sink buffer back."""
    p = spec.ports
    hw = spec.width(f"{spec.sink}__payload")
    busy = "busy" if "busy" in p and p["busy"]["dir"] == "out" else "1'b0"
    lines = []
    ready_terms = " : ".join(f"target == {i} ? {s}__ready" for i, s in enumerate(spec.sources))
    lines += [
        f"  wire src_ready = {ready_terms} : 1'b0;",
        "  wire src_fire = src_valid & src_ready;",
        f"  wire sink_fire = {spec.sink}__valid & sink_ready;",
        "  wire [31:0] src_next = src_sent + {31'd0, src_fire};",
        "  localparam IDLE = 2'd0, RUN = 2'd1, DRAIN = 2'd2;",
        "  reg [1:0] state = IDLE;",
        "  reg [31:0] drain_left = 32'd0;",
        "  reg pending = 1'b0;",
        f"  reg [{hw - 1}:0] pending_payload = 0;",
        f"  wire design_busy = {busy};",
        "  always @(posedge clk) begin",
        "    clear_pulse <= 1'b0;",
        "    if (!rst) begin",
        "      valid_rng <= xorshift(valid_rng);",
        "      ready_rng <= xorshift(ready_rng);",
        "      valid_phase <= valid_phase == valid_mlen ? 5'd0 : valid_phase + 5'd1;",
        "      ready_phase <= ready_phase == ready_mlen ? 5'd0 : ready_phase + 5'd1;",
        "      if (state != IDLE) begin",
        "        batch_cycles <= batch_cycles + 32'd1;",
        "        sink_ready <= ready_ok;",
        "        if (sink_fire) begin",
        f"          if (sink_got < SINK_DEPTH) sink_mem[sink_got] <= {spec.sink}__payload;",
        "          sink_got <= sink_got + 32'd1;",
        "        end",
        f"        if (pending && (!{spec.sink}__valid || {spec.sink}__payload != pending_payload))",
        "          proto_errors <= proto_errors + 32'd1;",
        f"        pending <= {spec.sink}__valid & ~sink_ready;",
        f"        pending_payload <= {spec.sink}__payload;",
        "      end",
        "      case (state)",
        "        IDLE: if (cmd != done) begin",
        f"          if (src_count != 0) $readmemh(\"{SRC_FILE}\", src_mem, 0, src_count - 1);",
        "          state <= RUN;",
        "          src_sent <= 32'd0; sink_got <= 32'd0; batch_cycles <= 32'd0; proto_errors <= 32'd0;",
        "          timed_out <= 1'b0; pending <= 1'b0; src_valid <= 1'b0;",
        "          valid_rng <= valid_seed; ready_rng <= ready_seed; valid_phase <= 5'd0; ready_phase <= 5'd0;",
        "          clear_pulse <= clear;",
        "        end",
        "        RUN: begin",
        "          src_sent <= src_next;",
        "          if (!src_valid || src_fire) begin",
        "            if (!clear_pulse && src_next < src_count && valid_ok) begin",
        "              src_valid <= 1'b1;",
        "              src_payload <= src_mem[src_next];",
        "            end else",
        "              src_valid <= 1'b0;",
        "          end",
        "          if (src_next == src_count && !src_valid && sink_got >= sink_expect && !design_busy",
        "              && !clear_pulse) begin",
        "            state <= DRAIN; drain_left <= drain;",
        "          end else if (batch_cycles >= timeout) begin",
        "            state <= DRAIN; drain_left <= drain; timed_out <= 1'b1; src_valid <= 1'b0;",
        "          end",
        "        end",
        "        DRAIN: begin",
        "          if (drain_left != 0) drain_left <= drain_left - 32'd1;",
        "          else begin",
        f"            if (sink_got != 0) $writememh(\"{SINK_FILE}\", sink_mem, 0,"
        " (sink_got < SINK_DEPTH ? sink_got : SINK_DEPTH) - 1);",
        "            state <= IDLE; sink_ready <= 1'b0; done <= cmd;",
        "          end",
        "        end",
        "        default: state <= IDLE;",
        "      endcase",
        "    end",
        "  end",
    ]
    return lines


def _instance(spec: HarnessSpec) -> list[str]:
    """The tile instance, its streams on the source and sink, its controls on the registers."""
    lines = []
    conns = [".clk(clk)", ".rst(rst)"]
    for i, s in enumerate(spec.sources):
        w = spec.width(f"{s}__payload")
        conns += [f".{s}__valid(src_valid && target == {i})", f".{s}__ready({s}__ready)",
                  f".{s}__payload(src_payload[{w - 1}:0])"]
    conns += [f".{spec.sink}__valid({spec.sink}__valid)", f".{spec.sink}__ready(sink_ready)",
              f".{spec.sink}__payload({spec.sink}__payload)"]
    if "clear_counters" in spec.ports:
        conns.append(".clear_counters(clear_pulse)")
    conns += [f".{c}(ctl_{c})" for c in spec.controls]
    conns += [f".{o}({o})" for o in spec.outputs]
    lines.append(f"  {spec.top} dut (")
    lines.append(",\n".join(f"    {c}" for c in conns))
    lines += ["  );", "endmodule", ""]
    return lines




def _check_pauses(prob: float, mask: int, mask_len: int) -> None:
    if not 0.0 < prob <= 1.0:
        raise ValueError(f"a probability in (0, 1], not {prob}")
    if not 1 <= mask_len <= 32 or not 0 <= mask < 1 << 32 or mask & ((1 << mask_len) - 1) == 0:
        raise ValueError(f"a pause mask of 1..32 bits with a bit set, not {mask:#x} over {mask_len}")


def pause_registers(prob: float, mask: int = 0xFFFFFFFF, mask_len: int = 32) -> tuple[int, int, int]:
    """``(thresh, mask, mlen)`` of a side of the harness: a beat may move in a cycle with probability
    ``prob`` and when bit ``cycle % mask_len`` of ``mask`` is set (the Verilog twin of :func:`pauses`)."""
    _check_pauses(prob, mask, mask_len)
    return min(ALWAYS, round(prob * ALWAYS)), mask, mask_len - 1


def pauses(prob: float = 1.0, *, rng=None, mask: int = 0xFFFFFFFF, mask_len: int = 32):
    """A pause generator (one bool per cycle, True = pause) for the Python drivers (:mod:`sim.streams`,
    the Amaranth transport): in cycle c a beat may move with probability ``prob`` and only when bit
    ``c % mask_len`` of ``mask`` is set, as the harness does in Verilog. None when it never pauses."""
    import random

    _check_pauses(prob, mask, mask_len)
    full = (1 << mask_len) - 1
    if prob >= 1.0 and mask & full == full:
        return None
    rng = rng or random.Random(0)

    def generate():
        while True:
            for c in range(mask_len):
                yield not ((mask >> c) & 1) or (prob < 1.0 and rng.random() >= prob)

    return generate()


@dataclass
class BatchStatus:
    """What a batch did: beats sent and received (the received payloads, raw), cycles, protocol errors."""
    sent: int
    received: list[int]
    got: int
    cycles: int
    proto_errors: int
    timed_out: bool


class HarnessDriver:
    """cocotb side of the harness (``dut`` is the :data:`HARNESS_TOP` handle, ``workdir`` the simulator's
    working directory). :meth:`batch` plays raw source beats and returns the sink's raw beats."""

    def __init__(self, dut, spec: HarnessSpec, workdir: Path | str = "."):
        self.dut, self.spec = dut, spec
        self.workdir = Path(workdir)
        self._cmd = 0

    def set_pauses(self, side: str, prob: float, seed: int, mask: int = 0xFFFFFFFF, mask_len: int = 32) -> None:
        """Valid gaps (``side="valid"``) or back-pressure (``"ready"``): see :func:`pause_registers`."""
        thresh, mask, mlen = pause_registers(prob, mask, mask_len)
        seed &= 0xFFFFFFFF
        getattr(self.dut, f"{side}_seed").value = seed or 0x9E3779B9
        getattr(self.dut, f"{side}_thresh").value = thresh
        getattr(self.dut, f"{side}_mask").value = mask
        getattr(self.dut, f"{side}_mlen").value = mlen

    def set_controls(self, controls: dict) -> None:
        for name, value in controls.items():
            getattr(self.dut, f"ctl_{name}").value = int(value)

    def read(self, name: str) -> int:
        return int(getattr(self.dut, name).value)

    async def batch(self, beats: list[int], *, target: str, expect: int, timeout: int, clear: bool = False,
                    drain: int = 8) -> BatchStatus:
        """Play ``beats`` (raw payloads) on the input stream ``target``, expect ``expect`` output beats."""
        from cocotb.triggers import ValueChange

        if len(beats) > self.spec.src_depth or expect > self.spec.sink_depth:
            raise ValueError(f"a batch of {len(beats)} beats in, {expect} out exceeds the harness buffers "
                             f"({self.spec.src_depth}, {self.spec.sink_depth})")
        digits = -(-self.spec.src_width // 4)
        (self.workdir / SRC_FILE).write_text("".join(f"{b:0{digits}x}\n" for b in beats))
        sink_file = self.workdir / SINK_FILE
        sink_file.unlink(missing_ok=True)
        d = self.dut
        d.target.value = self.spec.sources.index(target)
        d.src_count.value = len(beats)
        d.sink_expect.value = expect
        d.timeout.value = min(int(timeout), (1 << 32) - 1)
        d.drain.value = drain
        d.clear.value = int(clear)
        self._cmd += 1
        d.cmd.value = self._cmd
        while self.read("done") != self._cmd:
            await ValueChange(d.done)
        got = self.read("sink_got")
        received = []
        if got:
            for line in sink_file.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith(("//", "@")):
                    received.append(int(line, 16))
        status = BatchStatus(sent=self.read("src_sent"), received=received, got=got,
                             cycles=self.read("batch_cycles"), proto_errors=self.read("proto_errors"),
                             timed_out=bool(self.read("timed_out")))
        log.debug("batch on %s: %d beats in, %d out, %d cycles", target, status.sent, got, status.cycles)
        return status
