"""``fuzzymemo run --scheme crew``: the CREW tile against the baseline tile of as many multipliers, in RTL
simulation, every h_t checked against the golden model (CREW is exact: the fixed-point baseline's)."""

from __future__ import annotations

from golden_model.crew import crew_tables
from golden_model.sweep import accuracy
from hw.tile_image import product_slots

from ..compiled import CREW, CompiledModel
from ..energy import energy_figures, energy_line
from .tile_runs import accuracy_text, network_line, run_both, summary_end

__all__ = ["crew_summary", "run_crew", "weight_bits"]


def weight_bits(compiled: CompiledModel) -> dict:
    """Weight storage of the model on the baseline tile and on the CREW tile, counted as the tiles hold
    it: the baseline W at the weight format's bits; CREW the index of every weight (the tile's one width,
    ceil(log2 U_max)) and the unique-value table (per neuron row r, U_r words of L values and a row-end
    bit, U_r the most unique values of the row's inputs)."""
    p = compiled.params
    wb, ib = p.config.weight.bits, p.crew.index_bits
    weights = sum(q.w.size for layer in compiled.model.layers for q in layer)
    slots = product_slots(p, compiled.model)
    table = sum(slots) * (p.lanes * wb + 1)
    exact_tables = sum(int(crew_tables(q.w).counts.sum()) * wb for layer in compiled.model.layers for q in layer)
    return {"weight_bits_baseline": weights * wb, "weight_bits_scheme": weights * ib + table,
            "index_bits": ib, "unique_table_bits": table, "unique_values_bits": exact_tables}


def _figures(src, runs: dict, compiled: CompiledModel, energy: tuple[dict, str]) -> dict:
    (p_base, base), (_, crew) = runs["baseline"], runs[CREW]
    p = compiled.params
    cyc_base, cyc_crew = base.counters["cycles"], crew.counters["cycles"]
    baseline_mults = int(crew.stats.baseline_multiplications.sum())
    rtl_mults = crew.counters["products"] * p.crew.multipliers
    model = src.model
    acc = (dict.fromkeys(("accuracy_rtl", "accuracy_baseline_rtl")) if model.net.head is None else
           {"accuracy_rtl": accuracy(model.logits(crew.outputs[-1], src.lengths), src.y),
            "accuracy_baseline_rtl": accuracy(model.logits(base.outputs[-1], src.lengths), src.y)})
    return {
        "bit_exact": bool(base.bit_exact and crew.bit_exact),
        "bit_exact_baseline": bool(base.bit_exact), "bit_exact_crew": bool(crew.bit_exact),
        **acc,
        "cycles_baseline": cyc_base, "cycles_crew": cyc_crew,
        "speedup": cyc_base / cyc_crew if cyc_crew else None,
        "cycles_model_baseline": p_base.predicted_cycles(base), "cycles_model_crew": compiled.predicted_cycles(crew),
        "multiplications_baseline": baseline_mults,
        "multiplications_avoided": crew.stats.multiplications_avoided(),
        "multiplications_rtl": rtl_mults,
        "multiplications_avoided_rtl": 1.0 - rtl_mults / baseline_mults if baseline_mults else 0.0,
        **weight_bits(compiled),
        "sim_cycles": base.sim_cycles + crew.sim_cycles, "sim_seconds": sum(r.wall_seconds for r in (base, crew)),
        "passes_baseline": base.passes, "passes_crew": crew.passes,
        **energy_figures(runs["baseline"], runs[CREW], *energy),
    }


def run_crew(args, src, energy: tuple[dict, str]) -> dict:
    """Both tiles on ``src`` with the run's options and the energy table (table, name); the result dict
    of the JSON (docs/crew.md)."""
    compiled = CompiledModel(src.model, scheme=CREW, lanes=args.lanes, multipliers=args.multipliers,
                             max_steps=args.max_steps, layers_in_hardware=args.layers_in_hardware)
    compiled.check(src.lengths, compiled.policy())
    runs = run_both(args, compiled, src, reuse_label=CREW)
    net, p = src.model.net, compiled.params
    result = {
        "workload": src.name, "sim": args.sim, "sequences": int(src.x.shape[0]), "steps": int(src.lengths.sum()),
        "cell": net.cell, "layers": net.num_layers, "directions": net.num_directions, "hidden": net.hidden_size,
        "layers_in_hardware": compiled.layers_in_hardware,
        "scheme": CREW, "lanes": p.lanes, "adder_lanes": p.lanes, "multipliers": p.crew.multipliers,
        "baseline_lanes": p.crew.multipliers, "unique_max": p.crew.unique_max,
        **_figures(src, runs, compiled, energy),
    }
    if not result["bit_exact"]:
        result["mismatch_report"] = "\n".join(r.report for _, r in runs.values() if r.report)
    return result


def crew_summary(r: dict) -> str:
    """The run's figures as a few lines of text."""
    acc = accuracy_text
    lines = [
        f"{network_line(r)}, CREW tile: {r['adder_lanes']} adder lanes, {r['multipliers']} "
        f"multipliers, U_max={r['unique_max']}; baseline tile L={r['baseline_lanes']}; {r['sim']}, "
        f"{r['sequences']} sequences ({r['steps']} steps)",
        f"  bit-exact vs golden model: {'yes' if r['bit_exact'] else 'NO'} (baseline "
        f"{'yes' if r['bit_exact_baseline'] else 'no'}, crew {'yes' if r['bit_exact_crew'] else 'no'}); accuracy "
        f"RTL {acc(r['accuracy_rtl'])}, baseline {acc(r['accuracy_baseline_rtl'])}",
        f"  multiplications avoided {r['multiplications_avoided']:.1%} (unique products), "
        f"{r['multiplications_avoided_rtl']:.1%} in the tile (rows padded to their most unique values)",
        f"  cycles baseline {r['cycles_baseline']}, crew {r['cycles_crew']}: speedup {r['speedup']:.3f}x at "
        f"{r['multipliers']} multipliers (cycle model {r['cycles_model_baseline']} / {r['cycles_model_crew']})",
        f"  weight storage {r['weight_bits_scheme']} bits vs {r['weight_bits_baseline']} "
        f"({r['weight_bits_scheme'] / r['weight_bits_baseline']:.2f}x: {r['index_bits']}-bit indices + "
        f"unique-value table {r['unique_table_bits']} bits)",
        energy_line(r),
    ]
    return summary_end(r, lines)
