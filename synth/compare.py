"""Overhead study: the same configuration built twice, once as the baseline (``predictor`` none at
elaboration: no predictor front end, no memo table, no memo control) and once as the memoizing tile with the
chosen predictor (``bnn``, ``low-rank``), on one target; the cost of memoization is the difference,
absolute and in percent of the baseline, for the whole design and (on the ``generic`` target, where Yosys
keeps the hierarchy) for each submodule of the top."""

from __future__ import annotations

from pathlib import Path

from .flow import design_name, synthesize

__all__ = ["compare", "overhead", "module_breakdown", "METRICS"]

#: Figures compared (record key, label). fmax is compared too but is not a cost.
METRICS = (("lut", "LUT4"), ("ff", "FF"), ("bram", "BRAM"), ("dsp", "DSP"), ("cmos_transistors", "transistors"),
           ("memory_bits", "memory bits"), ("gates", "gates"), ("fmax_mhz", "fmax MHz"))


def _delta(base, variant):
    if base is None or variant is None:
        return None, None
    d = variant - base
    pct = (100.0 * d / base) if base else (None if d else 0.0)
    return (round(d, 2) if isinstance(d, float) else d), (round(pct, 1) if pct is not None else None)


def overhead(base: dict, variant: dict) -> dict:
    """{metric: {"base", "variant", "delta", "percent"}} of two records of the same target."""
    out = {}
    for key, _ in METRICS:
        if base.get(key) is None and variant.get(key) is None:
            continue
        d, p = _delta(base.get(key), variant.get(key))
        out[key] = {"base": base.get(key), "variant": variant.get(key), "delta": d, "percent": p}
    return out


def _children(modules: dict, top: str) -> list[str]:
    prefix = top + "."
    return sorted(m for m in modules if m.startswith(prefix) and "." not in m[len(prefix):])


def module_breakdown(base: dict, variant: dict) -> list[dict]:
    """Per direct submodule of the top (records with ``modules``: generic, or FPGA with a breakdown):
    resources in each variant and the difference;
    the top's own logic (not in any submodule: control, muxes, registers) is the row ``(top logic)``."""
    rows = []
    bm, vm = base.get("modules") or {}, variant.get("modules") or {}
    if not bm or not vm:
        return rows
    btop, vtop = base["block"], variant["block"]
    names = sorted({m[len(btop) + 1:] for m in _children(bm, btop)} | {m[len(vtop) + 1:] for m in _children(vm, vtop)})
    keys = ("gates", "ff", "memory_bits", "cmos_transistors") if "gates" in bm[btop] else ("lut", "ff", "bram", "dsp")

    def local(mods, top):
        own = dict(mods[top])
        for child in _children(mods, top):
            for k in keys:
                own[k] -= mods[child][k]
        return own

    for label, b, v in [("(top logic)", local(bm, btop), local(vm, vtop))] + [
            (n, bm.get(f"{btop}.{n}"), vm.get(f"{vtop}.{n}")) for n in names]:
        row = {"module": label}
        for k in keys:
            bv, vv = (b or {}).get(k, 0), (v or {}).get(k, 0)
            row[k] = {"base": bv if b else None, "variant": vv if v else None, "delta": vv - bv}
        rows.append(row)
    return rows


def compare(top: str, target: str, options: dict | None = None, key: str = "predictor", values=None,
            build_dir=None, seed: int = 1, constraint_mhz: float | None = None, check_fit: bool = True) -> dict:
    """Build ``top`` with ``options[key]`` = each of ``values`` (baseline first) on ``target``. For the
    tile's ``predictor`` (the default key) ``values`` defaults to ``("none", <options' predictor>)``: the
    baseline against the chosen predictor (the registry default, bnn, when none is given)."""
    from .blocks import get_block

    block = get_block(top)
    if key not in {o.name for o in block.options}:
        raise ValueError(f"--compare needs a block with option {key!r} (the tile's predictor); "
                         f"block {top!r} takes {', '.join(o.name for o in block.options) or 'no options'}")
    if values is None:
        if key != "predictor":
            raise ValueError(f"compare: give the values of option {key!r} to build")
        chosen = block.resolve(options)["predictor"]
        if chosen == "none":
            raise ValueError("--compare builds the baseline against a predictor: choose --predictor "
                             "(e.g. bnn or low-rank), not none")
        values = ("none", chosen)
    root = Path(build_dir) if build_dir is not None else Path("build") / "synth" / target
    records = []
    for value in values:
        opts = {**(options or {}), key: value}
        resolved = block.resolve(opts)
        name = design_name(top, resolved) if key == "predictor" else f"{top}-{key}-{value}"
        records.append(synthesize(top, target, opts, root / name, seed=seed, constraint_mhz=constraint_mhz,
                                  check_fit=check_fit, breakdown=True))
    base, variant = records
    return {"design": base["design"], "block": top, "target": target, "key": key,
            "values": [str(v) for v in values], "base": base, "variant": variant,
            "overhead": overhead(base, variant), "modules": module_breakdown(base, variant)}
