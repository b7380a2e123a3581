"""The raw speed of the tile's RTL simulation, without cocotb or Python: the limit of ``fuzzymemo run``.

    .venv/bin/python bench/sim_speed.py [--workload japanese_vowels] [--sim verilator icarus] [--memo-off]

Builds the tile (as ``fuzzymemo run`` does: the memoizing tile of the workload's model, its weights in
the memories) inside the Verilog harness of ``sim/harness.py`` with a small Verilog-only top (``fm_bench``)
that plays the whole test set's x stream as one batch and waits for every h: Verilator as a plain
``--binary --timing`` executable (same ``OPT_FAST``), Icarus as plain ``vvp`` (the same optimized netlist
as the cocotb runs). Prints the simulated cycles, the wall time of the simulation (build excluded) and
cycles per second per simulator; ``fuzzymemo run``'s ``sim_cycles_per_second`` is the figure to compare.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BENCH_TOP = """
module fm_bench;
  fm_harness h();
  initial begin
    #20;
    h.target = 0; h.src_count = {beats}; h.sink_expect = {expect}; h.timeout = 32'hffffffff;
    h.clear = 1; h.ctl_slot = 0; h.ctl_n_x = {n_x}; h.ctl_memo_enable = {memo}; h.ctl_theta = {theta};
    h.ctl_form = 0;
    h.cmd = 1;
    wait (h.done == 1);
    $display("FM_BENCH cycles %0d in %0d out %0d errors %0d", h.batch_cycles, h.src_sent, h.sink_got,
             h.proto_errors);
    $finish;
  end
endmodule
"""


def _prepare(workload: str, memo: bool):
    import numpy as np

    from fuzzymemo.commands.source import add_source_arguments, load_source
    from fuzzymemo.compiled import CompiledModel
    from sim.codec import stream_codec
    from sim.tile_protocol import x_beats

    parser = argparse.ArgumentParser()
    add_source_arguments(parser)
    src = load_source(parser.parse_args(["--workload", workload]))
    model = src.model
    compiled = CompiledModel(model)
    design = compiled.design()
    theta = int(compiled.policy(0.2).thresholds_q(model.net.num_layers)[0]) if memo else 0
    x_q = model.quantize_input(src.x) if not np.issubdtype(np.asarray(src.x).dtype, np.integer) else src.x
    seqs = [x_q[b, :n] for b, n in enumerate(src.lengths)]
    pack = stream_codec({"ports": design.ports}, "x").pack
    raw = [pack(b) for b in x_beats(seqs)]
    expect = int(src.lengths.sum()) * model.net.hidden_size
    return design, raw, expect, model.net.layer_input_size(0), theta


def _run(cmd, cwd) -> tuple[str, float]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout, time.perf_counter() - start


def measure(sim: str, design, raw, expect, n_x, theta, memo: bool, work: Path) -> dict:
    from sim import runner

    work.mkdir(parents=True, exist_ok=True)
    digits = -(-max(r.bit_length() for r in raw) // 4)
    (work / "fm_src.hex").write_text("".join(f"{r:0{digits}x}\n" for r in raw))
    (work / "design.v").write_text("`timescale 1ns/1ps\n" + design.source_text(sim))
    (work / "bench.v").write_text(BENCH_TOP.format(beats=len(raw), expect=expect, n_x=n_x, memo=int(memo),
                                                   theta=theta))
    start = time.perf_counter()
    if sim == "verilator":
        exe = runner.verilator_executable()
        subprocess.run([exe, "--binary", "--top-module", "fm_bench", *runner.build_args("verilator"),
                        *runner.TIMING_ARGS, "-Wno-fatal", "-Mdir", "obj", "-o", "bench", "design.v", "bench.v",
                        "-j", str(os.cpu_count() or 1)],
                       cwd=work, check=True, capture_output=True,
                       env={**os.environ, "OPT_FAST": runner.verilator_opt()})
        cmd = ["obj/bench"]
    else:
        subprocess.run(["iverilog", "-g2012", "-o", "bench.vvp", "-s", "fm_bench", "design.v", "bench.v"],
                       cwd=work, check=True, capture_output=True)
        cmd = ["vvp", "-n", "bench.vvp"]
    build = time.perf_counter() - start
    out, seconds = _run(cmd, work)
    line = next(ln for ln in out.splitlines() if ln.startswith("FM_BENCH"))
    f = line.split()
    cycles, got = int(f[2]), int(f[6])
    return {"sim": sim, "cycles": cycles, "seconds": seconds, "cycles_per_second": cycles / seconds,
            "h_received": got, "h_expected": expect, "build_seconds": build}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="japanese_vowels")
    parser.add_argument("--sim", nargs="+", default=["verilator", "icarus"], choices=["verilator", "icarus"])
    parser.add_argument("--memo-off", action="store_true", help="memo_enable = 0 (the baseline's cycles)")
    args = parser.parse_args()
    design, raw, expect, n_x, theta = _prepare(args.workload, not args.memo_off)
    with tempfile.TemporaryDirectory() as tmp:
        for sim in args.sim:
            r = measure(sim, design, raw, expect, n_x, theta, not args.memo_off, Path(tmp) / sim)
            ok = "all h received" if r["h_received"] == expect else f"{r['h_received']} of {expect} h"
            print(f"{args.workload} {sim}: {r['cycles']} cycles in {r['seconds']:.2f} s = "
                  f"{r['cycles_per_second']:,.0f} cycles/s ({ok}; build {r['build_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
