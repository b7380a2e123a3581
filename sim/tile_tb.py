"""cocotb module that runs a job of :func:`sim.tile_host.run_network` on the tile.

The job (params.json from :func:`sim.runner.run` plus ``job.npz``) holds the quantized inputs, the lengths,
the golden outputs of every layer and the run's controls; the result (``result.npz``) holds the RTL outputs
of every layer and a JSON summary (counters per pass, mismatches, simulated cycles). The network runs layer
by layer, host-driven (:class:`sim.tile_driver.TileHost`).
"""

from __future__ import annotations

import json
import time

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge

from sim.runner import load_design, load_params
from sim.scoreboard import Scoreboard
from sim.tile_driver import TileHost


def _sequences(inputs: np.ndarray, lengths: np.ndarray, reverse: bool) -> list[np.ndarray]:
    seqs = []
    for b, n in enumerate(lengths):
        s = inputs[b, :n]
        seqs.append(s[::-1] if reverse else s)
    return seqs


@cocotb.test()
async def run_job(dut):
    p, design = load_params(), load_design()
    wall_start = time.perf_counter()
    with np.load(p["job"], allow_pickle=False) as job:
        x = job["x"]
        lengths = job["lengths"].astype(np.int64)
        theta = job["theta"].astype(np.int64)
        exp_eval, exp_reuse = job["evaluations"], job["reuses"]
        expected = [job[f"expected_{li}"] for li in range(p["num_layers"])]
    hidden, dirs, gates = p["hidden"], p["directions"], p["gates"]
    host = TileHost(dut, design, valid_prob=p["valid_prob"], ready_prob=p["ready_prob"], seed=p["seed"])
    await host.reset()
    if p.get("wr"):
        await host.load(p["wr"])
        for _ in range(4):
            await RisingEdge(dut.clk)
    batch, steps = x.shape[:2]
    inputs = x
    outputs, passes = [], []
    scoreboards = []
    sim_start = host.now_cycles()
    counters_ok = True
    for li in range(p["num_layers"]):
        n_x = p["inputs"][li]
        out = np.zeros((batch, steps, dirs * hidden), dtype=np.int64)
        for d in range(dirs):
            slot = li * dirs + d
            want = expected[li][:, :, d * hidden:(d + 1) * hidden]
            sb = Scoreboard(f"tile.h layer {li}{' reverse' if d else ''}")
            for b, n in enumerate(lengths):
                order = range(n - 1, -1, -1) if d else range(n)
                for k, t in enumerate(order):
                    for j in range(hidden):
                        last = int(k == n - 1 and j == hidden - 1)
                        sb.expect({"data": int(want[b, t, j]), "last": last}, context=(b, t, j))
            got = []

            def on_output(item, sb=sb, got=got):
                sb.receive(item)
                got.append(item["data"])

            seqs = _sequences(inputs, lengths, reverse=bool(d))
            beats = int(lengths.sum()) * (n_x + hidden)
            timeout = int(p["timeout_factor"] * int(lengths.sum()) * gates * hidden
                          * (-(-n_x // p["lanes"]) + -(-hidden // p["lanes"]) + 4)) + 20 * beats + 10000
            counters, cycles = await host.run_pass(seqs, slot=slot, n_x=n_x, memo_enable=p["memo_enable"],
                                                   theta=int(theta[li]), form=p["form"], on_output=on_output,
                                                   timeout_cycles=timeout)
            for _ in range(8):   # nothing more may come out
                await RisingEdge(dut.clk)
            # place the received elements (in stream order) into the layer's output
            flat = np.zeros(int(lengths.sum()) * hidden, dtype=np.int64)
            flat[:min(len(got), flat.size)] = got[:flat.size]
            pos = 0
            for b, n in enumerate(lengths):
                block = flat[pos:pos + n * hidden].reshape(n, hidden)
                pos += n * hidden
                out[b, :n, d * hidden:(d + 1) * hidden] = block[::-1] if d else block
            ev_ok = counters.get("evaluations", int(exp_eval[li, d])) == int(exp_eval[li, d])
            re_ok = counters.get("reuses", int(exp_reuse[li, d])) == int(exp_reuse[li, d])
            counters_ok = counters_ok and ev_ok and re_ok
            passes.append({"layer": li, "direction": d, "slot": slot, "n_x": n_x, "counters": counters,
                           "sim_cycles": cycles, "steps": int(lengths.sum()),
                           "useful_macs": int(lengths.sum()) * gates * hidden * (n_x + hidden),
                           "expected_evaluations": int(exp_eval[li, d]),
                           "expected_reuses": int(exp_reuse[li, d])})
            scoreboards.append(sb)
            dut._log.info("layer %d direction %d: %s; counters %s (golden evaluations %d, reuses %d); %d cycles",
                          li, d, sb.report().splitlines()[0], counters, exp_eval[li, d], exp_reuse[li, d], cycles)
        outputs.append(out)
        inputs = out   # host-driven: this layer's RTL outputs are the next layer's inputs
    sim_cycles = host.now_cycles() - sim_start
    totals = {k: sum(ps["counters"].get(k, 0) for ps in passes) for k in TileHost.COUNTERS}
    mismatches = sum(sb.mismatch_count for sb in scoreboards)
    lost = sum(len(sb.expected) for sb in scoreboards)
    extra = sum(sb.extra_count for sb in scoreboards)
    report = "\n".join(sb.report() for sb in scoreboards if not sb.ok)
    if host.h.protocol_errors:
        report += "\nprotocol: " + "; ".join(host.h.protocol_errors)
    info = {"counters": totals, "passes": passes, "sim_cycles": sim_cycles, "mismatches": mismatches,
            "lost": lost, "extra": extra, "counters_ok": counters_ok, "report": report,
            "protocol_errors": host.h.protocol_errors, "sim_wall_seconds": time.perf_counter() - wall_start}
    np.savez(p["result"], info=np.array(json.dumps(info)),
             **{f"out_{li}": o for li, o in enumerate(outputs)})
    if p.get("strict", True):
        assert not report, report
        assert not host.h.protocol_errors, host.h.protocol_errors
        assert counters_ok, f"counters differ from the golden model: {passes}"
