"""``fuzzymemo schemes``: what is registered in :mod:`golden_model.schemes` (schemes, predictors, oracles),
with their parameters and their cost per neuron per step."""

from __future__ import annotations

import json

from golden_model.formats import FixedPointConfig

from .args import at_least

#: Inputs per neuron and gate neurons per layer direction at which the costs are given unless --inputs and
#: --neurons say otherwise: the bundled default workload's layer (japanese_vowels: 12 inputs + 32 hidden,
#: 4 gates x 32).
DEFAULT_INPUTS = 44
DEFAULT_NEURONS = 128


def _table(rows: list[dict]) -> str:
    lines = [f"{'name':<13} {'kind':<9} {'hardware':<8} {'cost (MAC-eq.)':>14} {'state bits':>10}  summary"]
    for r in rows:
        c = r["cost"]
        lines.append(f"{r['name']:<13} {r['kind']:<9} {'yes' if r['hardware'] else 'no':<8} "
                     f"{c['mac_equivalent']:>14.3g} {c['state_bits']:>10}  {r['summary']}")
        for p in r["parameters"]:
            choices = f" ({'|'.join(p['choices'])})" if "choices" in p else ""
            lines.append(f"{'':<13}   --{p['name'].replace('_', '-')}{choices}: {p['help']} (default {p['default']})")
    n, neurons = (rows[0]["cost"]["inputs"], rows[0]["cost"]["neurons"]) if rows else (DEFAULT_INPUTS, 1)
    lines.append(f"costs per neuron per step at N = {n} inputs and {neurons} neurons per layer direction (the "
                 f"neuron itself: {n} MACs); 64 XNOR-popcount bits count as one MAC")
    return "\n".join(lines)


def run_schemes(args) -> int:
    from golden_model import schemes

    config = FixedPointConfig()
    rows = [e.as_dict(args.inputs, config, args.neurons) for e in schemes.entries()]
    print(json.dumps(rows, indent=1) if args.json else _table(rows))
    return 0


def register(sub) -> None:
    p = sub.add_parser("schemes", help="list the registered reuse schemes, predictors and oracles")
    p.add_argument("--json", action="store_true", help="print one JSON list of objects (name, kind, "
                                                       "parameters, cost, ...)")
    p.add_argument("--inputs", type=at_least(1), default=DEFAULT_INPUTS, metavar="N",
                   help=f"inputs per neuron (n_x + H) at which costs are given (default {DEFAULT_INPUTS})")
    p.add_argument("--neurons", type=at_least(1), default=DEFAULT_NEURONS, metavar="G*H",
                   help=f"gate neurons per layer direction, sharing per-step work (default {DEFAULT_NEURONS})")
    p.set_defaults(func=run_schemes)
