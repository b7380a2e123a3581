"""The Verilator warning waivers for Amaranth-generated Verilog: the ONE list used by the cocotb builds
(:mod:`sim.runner`) and the lint test (``tests/test_hw_lint.py``). See ``docs/simulation.md``.

Each waiver names a pattern of Amaranth's Verilog backend, not a design problem. Add one only with the
reason, and only when a generated design needs it.
"""

from __future__ import annotations

#: Verilator warning code -> why Amaranth's output triggers it.
VERILATOR_WAIVERS: dict[str, str] = {
    "WIDTHEXPAND": "Amaranth emits operands of mixed widths (e.g. `acc + beat`, `1'h0 < count`) and relies on "
                   "Verilog's implicit zero/sign extension, which matches Amaranth's semantics",
    "WIDTHTRUNC": "Amaranth emits assignments that rely on implicit truncation (e.g. a 1-bit wire from "
                  "`vector >> index` for a bit select)",
    "UNUSEDSIGNAL": "Amaranth declares debug wires for every struct field (`\\i__payload.x`) and keeps "
                    "intermediate signals some of whose bits are unused",
    "PROCASSINIT": "Amaranth gives registers their reset value as a declaration initializer "
                   "(`reg [4:0] acc = 5'h00;`) and also assigns them in an always block",
    "DECLFILENAME": "Amaranth writes the submodules of a hierarchical design into the one output file, "
                    "named after their path (`activation.lookup` in `activation.v`)",
}


def verilator_waiver_args() -> list[str]:
    """``-Wno-<CODE>`` arguments for every waiver, in a stable order."""
    return [f"-Wno-{code}" for code in VERILATOR_WAIVERS]
