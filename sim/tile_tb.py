"""cocotb module that runs a :class:`sim.job.TileJob` on the tile (from :func:`sim.tile_host.run_job`, which
:meth:`fuzzymemo.compiled.CompiledModel.run` calls).

The job file is named by the run's params (``{"job": path, "result": path}``, see :func:`sim.runner.run`);
the network runs pass by pass as :class:`sim.tile_protocol.NetworkPlan` orders it (or, a ``chained`` job
on a :class:`hw.layer_chain.LayerChain`, as one pass of :class:`sim.tile_protocol.ChainPlan`), through the
transport of the job's mode (:mod:`sim.tile_driver`: the Verilog harness, or cocotb drivers on the tile's ports);
every h element is scored against the golden model and the counters against the golden counts; the
:class:`sim.job.TileResult` is saved for the host.
"""

from __future__ import annotations

import logging
import time

import cocotb

from hw.layer_chain import pass_counter
from sim.job import TileJob, TileResult
from sim.runner import load_design, load_params
from sim.scoreboard import Scoreboard
from sim.tile_driver import transport_for
from sim.tile_protocol import ChainPlan, NetworkPlan, chain_controls, controls

log = logging.getLogger(__name__)


@cocotb.test()
async def run_job(dut):
    p, design = load_params(), load_design()
    job = TileJob.load(p["job"])
    wall_start = time.perf_counter()
    transport = transport_for(dut, design, job)
    await transport.start()
    if job.wr:
        await transport.load(job.wr)
    sim_start = transport.now_cycles()
    run = _chained if job.chained else _pass_by_pass
    outputs, passes, scoreboards, counters_ok = await run(transport, job)
    sim_cycles = transport.now_cycles() - sim_start
    report = "\n".join(sb.report() for sb in scoreboards if not sb.ok)
    errors = transport.protocol_errors
    result = TileResult(
        outputs=outputs, counters={k: sum(ps["counters"][k] for ps in passes) for k in passes[0]["counters"]},
        passes=passes, sim_cycles=sim_cycles, mismatches=sum(sb.mismatch_count for sb in scoreboards),
        lost=sum(sb.pending for sb in scoreboards), extra=sum(sb.extra_count for sb in scoreboards),
        counters_ok=counters_ok, report=report + ("\nprotocol: " + "; ".join(errors) if errors else ""),
        protocol_errors=errors, sim_seconds=time.perf_counter() - wall_start)
    result.save(p["result"])
    if job.strict:
        assert not report, report
        assert not errors, errors
        assert counters_ok, f"counters differ from the golden model: {passes}"


def _pass_entry(job: TileJob, ps, counters: dict, cycles: int, steps: int) -> tuple[dict, bool]:
    """A pass's record in the result and whether its counters equal the golden counts."""
    want_eval = int(job.expected_evaluations[ps.layer, ps.direction])
    want_reuse = int(job.expected_reuses[ps.layer, ps.direction])
    ok = counters.get("evaluations", want_eval) == want_eval and counters.get("reuses", want_reuse) == want_reuse
    return {"layer": ps.layer, "direction": ps.direction, "slot": ps.slot, "n_x": ps.n_x, "counters": counters,
            "sim_cycles": cycles, "steps": steps, "useful_macs": steps * job.gates * job.hidden * (ps.n_x + job.hidden),
            "expected_evaluations": want_eval, "expected_reuses": want_reuse, "memo_enable": int(job.memo_enable)}, ok


async def _pass_by_pass(transport, job: TileJob):
    """The host-driven mode: every layer-direction pass streamed by the host (NetworkPlan)."""
    plan = NetworkPlan(job.x, job.lengths, inputs=job.inputs, directions=job.directions, hidden=job.hidden)
    passes, scoreboards, counters_ok = [], [], True
    for ps in plan.passes:
        sb = Scoreboard(f"tile.h layer {ps.layer}{' reverse' if ps.reverse else ''}")
        sb.expect_many(plan.expected_h(ps, job.expected[ps.layer]), plan.h_positions(ps))
        ctl = controls(slot=ps.slot, n_x=ps.n_x, memo_enable=job.memo_enable, theta=job.theta[ps.layer],
                       form=job.form, gates=job.theta_gates)
        got, counters, cycles = await transport.run_pass(plan.sequences(ps), ctl,
                                                         timeout_cycles=job.timeout_cycles(ps.n_x))
        for item in got:
            sb.receive(item)
        plan.put(ps, [item["data"] for item in got])
        entry, ok = _pass_entry(job, ps, counters, cycles, plan.total_steps)
        passes.append(entry)
        counters_ok = counters_ok and ok
        scoreboards.append(sb)
        log.info("layer %d direction %d: %s; counters %s (golden evaluations %d, reuses %d); %d cycles",
                 ps.layer, ps.direction, sb.report().splitlines()[0], counters, entry["expected_evaluations"],
                 entry["expected_reuses"], cycles)
    return plan.outputs, passes, scoreboards, counters_ok


async def _chained(transport, job: TileJob):
    """The layers sequenced in hardware: the layer-0 sequences once, the last layer's outputs back; each
    pass's counters from the chain's per-pass outputs (the pass's sim_cycles: the whole run's)."""
    plan = ChainPlan(job.x, job.lengths, inputs=job.inputs, directions=job.directions, hidden=job.hidden)
    sb = Scoreboard(f"layer chain h (layer {job.num_layers - 1})")
    sb.expect_many(plan.expected_h(job.expected[-1]), plan.h_positions())
    ctl = chain_controls(memo_enable=job.memo_enable, theta=job.theta, form=job.form, gates=job.theta_gates)
    timeout = sum(job.timeout_cycles(n_x) for n_x in job.inputs) * job.directions
    got, counters, cycles = await transport.run_pass(plan.sequences(), ctl, timeout_cycles=timeout)
    for item in got:
        sb.receive(item)
    plan.put([item["data"] for item in got])
    passes, counters_ok = [], True
    tile_counters = [name for name in job.counters if pass_counter(name, 0) in counters]
    for ps in plan.passes:
        own = {name: counters[pass_counter(name, ps.slot)] for name in tile_counters}
        entry, ok = _pass_entry(job, ps, own, cycles, plan.total_steps)
        passes.append(entry)
        counters_ok = counters_ok and ok
    log.info("layer chain: %s; counters %s; %d cycles", sb.report().splitlines()[0], counters, cycles)
    return [plan.output], passes, [sb], counters_ok
