"""Transaction reference of the hardware memo table (hw/memo_table.py) built on golden_model.intops.

Within one cycle: clear, then the update, then the lookup (the documented RTL ordering). The decision is
``intops.within_threshold``; the table semantics are those of golden_model.memo.MemoTable (checked
separately against it step by step)."""

from __future__ import annotations

from golden_model import intops

FORMS = (intops.RELATIVE, intops.ABSOLUTE)   # index = the ThresholdForm encoding


class MemoTableRef:
    def __init__(self, entries: int, cache_update: str = "compute"):
        self.entries = entries
        self.always = cache_update == "always"
        self.valid = [False] * entries
        self.y = [0] * entries
        self.b = [0] * entries

    def clear(self):
        self.valid = [False] * self.entries

    def update(self, index: int, y: int, b: int):
        if index >= self.entries:
            return
        self.y[index] = y
        if not self.always:
            self.b[index] = b
        self.valid[index] = True

    def lookup(self, index: int, b: int, enable: int, theta: int, form: int) -> dict:
        hit = False
        if index < self.entries:
            hit = bool(enable) and self.valid[index] and bool(
                intops.within_threshold(b, self.b[index], theta, FORMS[form]))
            if self.always:
                self.b[index] = b
        return {"hit": int(hit), "y": self.y[index] if hit else 0, "index": index, "b": b}
