"""Baseline vs memoizing tile on every synthesis target: runs ``synth.compare`` with each target's preset
(synth/configs.py) one target after the other (place and route is not run in parallel) and prints the
Markdown tables of docs/synthesis.md.

    .venv/bin/python bench/synth_results.py [--targets generic,ice40,ecp5] [--seed 1] [--out build/synth_runs]
    .venv/bin/python bench/synth_results.py --crew [--workload japanese_vowels] --targets ecp5,ice40
    .venv/bin/python bench/synth_results.py --from-json crew-ecp5.json   # fuzzymemo synth --scheme crew --json

``--crew``: the CREW tile of the workload's network against the baseline tile at equal lanes and at equal
multipliers (``fuzzymemo synth --top tile --scheme crew --compare``), the table of docs/synthesis.md *CREW*.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synth import configs  # noqa: E402
from synth.compare import compare  # noqa: E402

LABELS = {"lut": "LUT4", "ff": "FF", "bram": "BRAM", "dsp": "DSP", "cmos_transistors": "transistors (CMOS proxy)",
          "memory_bits": "memory bits", "gates": "gates", "fmax_mhz": "fmax (MHz)"}


def _f(v):
    if v is None:
        return "–"
    return f"{v:.1f}" if isinstance(v, float) else str(v)


def markdown(result: dict) -> str:
    b, v = result["base"], result["variant"]
    head = (f"**{result['target']}** ({b['device']}); configuration: "
            + ", ".join(f"{k}={val}" for k, val in b["options"].items() if k != "predictor"))
    if b.get("board_clock_mhz"):
        head += (f"; seed {b['seed']}; nextpnr constraint {b['clock_constraint_mhz']:.0f} MHz; board clock "
                 f"{b['board_clock_mhz']:.0f} MHz met: baseline {'yes' if b['meets_board_clock'] else 'NO'}, "
                 f"memoizing {'yes' if v['meets_board_clock'] else 'NO'}")
    head += "\n\n"
    lines = ["| | baseline | memoizing | delta | percent |", "|---|---:|---:|---:|---:|"]
    for k, o in result["overhead"].items():
        if k == "bram" and result["target"] == "generic":
            continue  # the same as memory bits there
        pct = "–" if o["percent"] is None else f"{o['percent']:+.1f}%"
        lines.append(f"| {LABELS.get(k, k)} | {_f(o['base'])} | {_f(o['variant'])} | {_f(o['delta'])} | {pct} |")
    text = head + "\n".join(lines)
    mods = result["modules"]
    if mods:
        keys = [k for k in ("lut", "ff", "bram", "dsp", "gates", "memory_bits", "cmos_transistors") if k in mods[0]]
        hdr = "| module | " + " | ".join(f"{LABELS.get(k, k)} base / memo" for k in keys) + " |"
        rows = [hdr, "|---|" + "---:|" * len(keys)]
        for m in mods:
            rows.append(f"| {m['module']} | " + " | ".join(f"{_f(m[k]['base'])} / {_f(m[k]['variant'])}"
                                                        for k in keys) + " |")
        text += "\n\nPer submodule:\n\n" + "\n".join(rows)
    return text


CREW_METRICS = ("lut", "ff", "bram", "dsp", "fmax_mhz")


def _short_reason(error: str) -> str:
    """A refusal without the configuration, the memory list and the advice."""
    text = error.split("cannot fit the ", 1)[-1]
    text = re.sub(r" \(memories \[.*?\]\] as \[width, depth\]\)", "", text)
    return text.split(". Choose", 1)[0]


def crew_markdown(result: dict) -> str:
    """One target of a CREW study (synth.crew.crew_compare): a row per design, then the ratios."""
    from synth.crew import DESIGNS

    recs, tgt = result["designs"], result["target"]
    lines = [f"**{tgt}** ({result.get('workload') or 'model'})", "",
             "| design | L | M | " + " | ".join(LABELS[k] for k in CREW_METRICS) + " |",
             "|---|---:|---:|" + "---:|" * len(CREW_METRICS)]
    for label in (k for k in DESIGNS if k in recs):
        r = recs[label]
        figures = ([_f(r.get(k)) for k in CREW_METRICS] if r["fits"]
                   else [f"not built: {_short_reason(r['error'])}"] + [""] * (len(CREW_METRICS) - 1))
        o = r["options"]
        lines.append(f"| {label} | {o['lanes']} | {o['multipliers']} | " + " | ".join(figures) + " |")
    for base, ratio in result["ratios"].items():
        lines.append(f"| crew / {base} | | | " + " | ".join("–" if ratio.get(k) is None else f"{ratio[k]:.2f}x"
                                                          for k in CREW_METRICS) + " |")
    return "\n".join(lines)


def run_crew(workload: str, targets: list[str], seed: int, out: Path) -> list[dict]:
    from types import SimpleNamespace

    from fuzzymemo.commands.source import load_source
    from fuzzymemo.commands.synth import crew_designs
    from synth.crew import crew_compare

    src = load_source(SimpleNamespace(workload=workload, model=None, data=None, split=None, limit=None))
    designs = crew_designs(src.model)
    results = []
    for target in targets:
        result = crew_compare(designs, target, build_dir=out / "crew" / target, seed=seed, workload=src.name)
        results.append(result)
        print(crew_markdown(result) + "\n", flush=True)
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default="generic,ice40,ecp5")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="build/synth_runs")
    ap.add_argument("--from-json", nargs="+", metavar="FILE",
                    help="only print the tables of saved comparisons (fuzzymemo synth --compare --json FILE)")
    ap.add_argument("--crew", action="store_true", help="the CREW study (tile of --workload's network)")
    ap.add_argument("--workload", default="japanese_vowels", help="--crew: the bundled workload")
    args = ap.parse_args(argv)
    if args.from_json:
        for f in args.from_json:
            data = json.loads(Path(f).read_text())
            if isinstance(data, dict) and "crew" in data:
                for result in data["crew"]:
                    print(crew_markdown(result) + "\n")
                continue
            for result in data.get("comparisons", data if isinstance(data, list) else []):
                print(markdown(result) + "\n")
        return 0
    out = Path(args.out)
    if args.crew:
        results = run_crew(args.workload, args.targets.split(","), args.seed, out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "crew_results.json").write_text(json.dumps({"crew": results}, indent=1))
        return 0
    results = []
    for target in args.targets.split(","):
        result = compare("tile", target, configs.preset("tile", target), build_dir=out / target, seed=args.seed)
        results.append(result)
        print(markdown(result) + "\n", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
