"""Readable terminal tables of synthesis records and overhead comparisons."""

from __future__ import annotations

__all__ = ["cell_text", "format_table", "record_table", "compare_table", "crew_table"]


def cell_text(v, float_format: str = ".1f") -> str:
    """A table cell: ``-`` for None, yes/no for a bool, a float in ``float_format``, else ``str``."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return format(v, float_format)
    return str(v)


def format_table(header: list[str], rows: list[list]) -> str:
    cells = [[str(h) for h in header]] + [[cell_text(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for n, r in enumerate(cells):
        pairs = enumerate(zip(r, widths, strict=True))
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def record_table(records: list[dict]) -> str:
    header = ["design", "target", "LUT4", "FF", "BRAM", "DSP", "fmax MHz", "transistors"]
    rows = [[r["design"], r["target"], r["lut"], r["ff"], r["bram"], r["dsp"], r["fmax_mhz"],
             r.get("cmos_transistors")] for r in records]
    text = format_table(header, rows)
    notes = []
    for r in records:
        if r["target"] == "generic":
            notes.append(f"{r['design']} (generic): {r.get('gates')} gates; BRAM = memory bits, costed at 6 "
                         f"transistors/bit in the transistor count ({r.get('cmos_logic_transistors')} in logic)")
        else:
            w = r.get("wrapper") or {}
            met = "met" if r.get("meets_board_clock") else "NOT met"
            notes.append(f"{r['design']} ({r['target']}, {r['device']}, seed {r['seed']}): fmax "
                         f"{cell_text(r['fmax_mhz'])} MHz at a {cell_text(r.get('clock_constraint_mhz'))} MHz "
                         f"constraint (board clock {cell_text(r.get('board_clock_mhz'))} MHz: {met});"
                         + (f" UART board top ({w.get('baud')} baud, protocol {w.get('protocol')});"
                            if w.get("kind") == "uart" else f" scan wrapper {w.get('ff')} FF included;")
                         + f" bitstream {r['build_dir']}/"
                         f"{r['reports']['bitstream']}")
    return text + "\n" + "\n".join(notes)


def compare_table(result: dict) -> str:
    from .compare import METRICS

    base_label, var_label = tuple(result["values"])
    if result["key"] == "predictor":
        base_label = "baseline"
    labels = dict(METRICS)
    rows = [[labels[k], v["base"], v["variant"], v["delta"],
             None if v["percent"] is None else f"{v['percent']:+.1f}%"] for k, v in result["overhead"].items()]
    text = (f"{result['design'].split('-')[0]} on {result['target']}: cost of {result['key']} "
            f"({base_label} -> {var_label})\n")
    text += format_table(["", base_label, var_label, "delta", "percent"], rows)
    mods = result["modules"]
    if mods and "gates" in mods[0]:
        mrows = [[m["module"], m["gates"]["base"], m["gates"]["variant"], m["ff"]["delta"],
                  m["memory_bits"]["delta"], m["cmos_transistors"]["base"], m["cmos_transistors"]["variant"],
                  m["cmos_transistors"]["delta"]] for m in mods]
        text += "\n\nper submodule (hierarchical totals):\n" + format_table(
            ["module", "gates base", f"gates {var_label}", "FF delta", "mem bits delta", "trans. base",
             f"trans. {var_label}", "trans. delta"], mrows)
    elif mods:
        mrows = [[m["module"], m["lut"]["base"], m["lut"]["variant"], m["lut"]["delta"], m["ff"]["base"],
                  m["ff"]["variant"], m["ff"]["delta"], m["bram"]["delta"], m["dsp"]["delta"]] for m in mods]
        text += ("\n\nper submodule (Yosys mapping with the hierarchy kept; the flat build above optimises "
                 "across modules):\n" + format_table(["module", "LUT base", f"LUT {var_label}", "LUT delta",
                                                      "FF base", f"FF {var_label}", "FF delta", "BRAM delta",
                                                      "DSP delta"], mrows))
    return text


def _crew_cell(record: dict, key: str):
    return record.get(key) if record.get("fits") else None


def crew_table(result: dict) -> str:
    """The CREW study of one target (:func:`synth.crew.crew_compare`): each design's figures, the ratios
    CREW / baseline, the designs that did not fit with the tool's reason, and per submodule."""
    from .compare import METRICS
    from .crew import DESIGNS

    recs = result["designs"]
    labels = [k for k in DESIGNS if k in recs]
    bases = [k for k in labels if k != "crew"]
    shape = {k: f"{k} (L={recs[k]['options']['lanes']}, M={recs[k]['options']['multipliers']})" for k in labels}
    rows = []
    for key, name in METRICS:
        values = [_crew_cell(recs[k], key) for k in labels]
        if all(v is None for v in values) or (key == "bram" and result["target"] == "generic"):
            continue
        ratio = [result["ratios"].get(b, {}).get(key) for b in bases]
        rows.append([name, *values, *(None if r is None else f"{r:.2f}x" for r in ratio)])
    crew_opts = recs["crew"]["options"]
    text = (f"CREW tile on {result['target']}"
            + (f" for {result['workload']}" if result.get("workload") else "")
            + f": {crew_opts['cell'].upper()} H={crew_opts['hidden']} I<={crew_opts['input_size']}, "
            f"U_max={crew_opts.get('unique_max')} ({crew_opts.get('index_bits')}-bit indices)\n")
    text += format_table(["", *(shape[k] for k in labels), *(f"crew/{b}" for b in bases)], rows)
    failed = [k for k in labels if not recs[k]["fits"]]
    if failed:
        text += "\n" + "\n".join(f"{shape[k]}: not built: {recs[k]['error']}" for k in failed)
    mods = result["modules"]
    if mods:
        first = next(iter(mods.values()))
        keys = ("gates", "ff", "memory_bits") if first and "gates" in first[0] else ("lut", "ff", "bram", "dsp")
        by_module: dict = {}
        for b, rows_b in mods.items():
            for m in rows_b:
                row = by_module.setdefault(m["module"], {})
                for k in keys:
                    row[("crew", k)] = m[k]["variant"]
                    row[(b, k)] = m[k]["base"]
        cols = [(d, k) for k in keys for d in ["crew", *mods]]
        mrows = [[name, *(row.get(c) for c in cols)] for name, row in by_module.items()]
        text += ("\n\nper submodule (hierarchy kept; the flat build above optimises across modules):\n"
                 + format_table(["module", *(f"{dict(METRICS).get(k, k)} {d}" for d, k in cols)], mrows))
    return text
