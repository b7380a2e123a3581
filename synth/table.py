"""Readable terminal tables of synthesis records and overhead comparisons."""

from __future__ import annotations

__all__ = ["format_table", "record_table", "compare_table"]


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def format_table(header: list[str], rows: list[list]) -> str:
    cells = [[str(h) for h in header]] + [[_fmt(c) for c in r] for r in rows]
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
            notes.append(f"{r['design']} ({r['target']}, {r['device']}, seed {r['seed']}): fmax {_fmt(r['fmax_mhz'])}"
                         f" MHz at a {_fmt(r.get('clock_constraint_mhz'))} MHz constraint (board clock "
                         f"{_fmt(r.get('board_clock_mhz'))} MHz: {'met' if r.get('meets_board_clock') else 'NOT met'});"
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
