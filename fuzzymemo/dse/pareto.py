"""Pareto analysis of a space's records: the non-dominated points for the space's objectives, a Markdown
table and a plot (matplotlib)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from synth.table import cell_text

from .space import Objective, point_label

__all__ = ["dominates", "front", "markdown_table", "pareto_entries", "plot_front"]


def dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """``a`` dominates ``b`` (both minimised): no worse in every objective, better in one."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def _value(record: dict, objective: Objective):
    v = record.get("metrics", {}).get(objective.metric)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def _vector(record: dict, objectives: list[Objective]) -> tuple[float, ...] | None:
    """The record's objective values, each turned into a minimised one; None when one is missing."""
    values = [_value(record, o) for o in objectives]
    if record.get("status") != "ok" or any(v is None for v in values):
        return None
    return tuple(v if o.sense == "min" else -v for v, o in zip(values, objectives, strict=True))


def front(records: list[dict], objectives: list[Objective]) -> list[dict]:
    """The records no other record dominates, among those that ran (status ok) with every objective's
    metric; equal vectors are all kept. In the records' order."""
    scored = [(r, v) for r in records if (v := _vector(r, objectives)) is not None]
    return [r for r, v in scored if not any(dominates(w, v) for _, w in scored)]


def pareto_entries(records: list[dict], objectives: list[Objective]) -> list[dict]:
    """The front as the results file lists it: id, label and each objective's value."""
    return [{"id": r["id"], "label": point_label(r["inputs"]),
             **{o.metric: r["metrics"][o.metric] for o in objectives}} for r in front(records, objectives)]


def markdown_table(records: list[dict], objectives: list[Objective], only_front: bool = False,
                   extra: tuple[str, ...] = ()) -> str:
    """One row per record (or per front point): label, objectives, ``extra`` metrics, status, on the front."""
    on_front = {r["id"] for r in front(records, objectives)}
    rows = [r for r in records if r["id"] in on_front] if only_front else records
    keys = [o.metric for o in objectives] + [k for k in extra if k not in {o.metric for o in objectives}]
    head = ["point", *[f"{o.metric} ({o.sense})" for o in objectives], *keys[len(objectives):], "status", "front"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        status = r["status"] if r["status"] == "ok" else f"failed ({(r.get('error') or {}).get('stage')})"
        cells = [point_label(r["inputs"]), *[cell_text(r.get("metrics", {}).get(k), ".4g") for k in keys], status,
                 "*" if r["id"] in on_front else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _family(record: dict) -> str:
    p = record["inputs"]
    return p["scheme"] if p["scheme"] != "memo" else p.get("predictor", "memo")


def plot_front(records: list[dict], objectives: list[Objective], path, title: str = "") -> Path:
    """Every pair of the first three objectives: the points (colour: scheme or predictor) and the front
    (black-edged, joined in 2-D); written to ``path`` (PNG unless it has another suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    objs = objectives[:3]
    pairs = list(itertools.combinations(range(len(objs)), 2)) or [(0, 0)]
    on_front = {r["id"] for r in front(records, objectives)}
    ok = [r for r in records if r.get("status") == "ok"]
    families = sorted({_family(r) for r in ok})
    colours = {f: plt.get_cmap("tab10")(i % 10) for i, f in enumerate(families)}
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 4.2), squeeze=False)
    for ax, (i, j) in zip(axes[0], pairs, strict=True):
        oi, oj = objs[i], objs[j]
        pts = [(r, _value(r, oi), _value(r, oj)) for r in ok]
        pts = [(r, x, y) for r, x, y in pts if x is not None and y is not None]
        for fam in families:
            xs = [x for r, x, _ in pts if _family(r) == fam]
            ys = [y for r, _, y in pts if _family(r) == fam]
            edges = ["black" if r["id"] in on_front else "none" for r, _, _ in pts if _family(r) == fam]
            ax.scatter(xs, ys, s=46, color=colours[fam], edgecolors=edges, linewidths=1.4, label=fam, zorder=3)
        if len(objectives) == 2:   # the 2-D front joined
            fr = sorted((x, y) for r, x, y in pts if r["id"] in on_front)
            if fr:
                ax.plot([p[0] for p in fr], [p[1] for p in fr], color="black", lw=0.8, ls="--", zorder=2)
        ax.set_xlabel(f"{oi.metric} ({oi.sense})")
        ax.set_ylabel(f"{oj.metric} ({oj.sense})")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="best", title="black edge: Pareto front", title_fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
