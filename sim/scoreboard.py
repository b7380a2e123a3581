"""In-order scoreboard: every received item is compared with the next expected one.

Nothing lost (expected items left over at the end), nothing duplicated or invented (items received
beyond the expected ones), bit-exact (``==`` unless a ``compare`` function is given). Mismatches are
collected and reported together by :meth:`Scoreboard.check` with their position and context.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["Scoreboard", "ScoreboardError"]


class ScoreboardError(AssertionError):
    pass


class Scoreboard:
    """Compare received items with expected ones, in order.

    name -- shown in reports (e.g. ``"bnn.o"``)
    compare -- ``compare(expected, received) -> bool``; default ``==``
    max_report -- mismatches listed in the report (all are counted)
    fail_fast -- raise at the first mismatch instead of collecting
    """

    def __init__(self, name: str, *, compare: Callable[[Any, Any], bool] | None = None, max_report: int = 10,
                 fail_fast: bool = False):
        self.name = name
        self.compare = compare or (lambda e, r: e == r)
        self.max_report = max_report
        self.fail_fast = fail_fast
        self.expected: deque = deque()
        self.received = 0
        self.matched = 0
        self.mismatches: list[str] = []
        self.mismatch_count = 0
        self.extra: list[str] = []
        self.extra_count = 0

    def expect(self, item, context: Any = None) -> None:
        """Queue the next expected item; ``context`` (e.g. the input vector) is shown on a mismatch."""
        self.expected.append((item, context))

    def expect_many(self, items, contexts=None) -> None:
        contexts = contexts if contexts is not None else [None] * len(items)
        for item, ctx in zip(items, contexts, strict=True):
            self.expect(item, ctx)

    def receive(self, item) -> None:
        index = self.received
        self.received += 1
        if not self.expected:
            self.extra_count += 1
            if len(self.extra) < self.max_report:
                self.extra.append(f"#{index}: {item!r}")
            if self.fail_fast:
                raise ScoreboardError(f"{self.name}: unexpected item #{index} {item!r} (nothing expected)")
            return
        want, context = self.expected.popleft()
        if self.compare(want, item):
            self.matched += 1
            return
        self.mismatch_count += 1
        line = f"#{index}: expected {want!r}, received {item!r}" + (f" [{context}]" if context is not None else "")
        if len(self.mismatches) < self.max_report:
            self.mismatches.append(line)
        if self.fail_fast:
            raise ScoreboardError(f"{self.name}: mismatch {line}")

    @property
    def pending(self) -> int:
        """Expected items not received yet."""
        return len(self.expected)

    @property
    def ok(self) -> bool:
        return not self.mismatch_count and not self.extra_count and not self.expected

    def report(self) -> str:
        lines = [(f"{self.name}: {self.received} received, {self.matched} matched, {self.mismatch_count} "
                 f"mismatched, {self.extra_count} unexpected, {len(self.expected)} missing")]
        if self.mismatches:
            lines.append("  mismatches:" + "".join(f"\n    {m}" for m in self.mismatches))
        if self.extra:
            lines.append("  unexpected (duplicated or invented):" + "".join(f"\n    {m}" for m in self.extra))
        if self.expected:
            first = [f"{item!r}" + (f" [{ctx}]" if ctx is not None else "")
                     for item, ctx in list(self.expected)[:self.max_report]]
            lines.append(f"  missing, first expected #{self.received}.. :" + "".join(f"\n    {m}" for m in first))
        return "\n".join(lines)

    def check(self, *, complete: bool = True) -> None:
        """Raise :class:`ScoreboardError` on any mismatch or unexpected item, and (``complete``) on any
        expected item not received."""
        if self.mismatch_count or self.extra_count or (complete and self.expected):
            raise ScoreboardError(self.report())
