"""mark-slow: ``@pytest.mark.slow`` on the tests the timing data shows are slow.

The CLI hands over each test's duration (latest run, or the history median); this module
decides, per test function, whether to mark all of it, some of its cases, or (``unmark``)
to take the mark away from a test that is now far under the threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from codemods.add_marks import Placement, TestKey, place
from codemods.nodeids import parse_nodeid


def plan_mark_slow(
    durations: Mapping[str, float],
    *,
    root: Path,
    threshold: float,
    unmark_below: float | None = None,
) -> Placement:
    functions: dict[tuple[str, TestKey], dict[str | None, float]] = {}
    for nodeid, duration in durations.items():
        test = parse_nodeid(nodeid)
        if test is not None:
            functions.setdefault((test.path, test.key), {})[test.case] = duration
    add: dict[tuple[str, TestKey], frozenset[str] | None] = {}
    remove: set[tuple[str, TestKey]] = set()
    for function, cases in functions.items():
        slow = {case for case, duration in cases.items() if duration > threshold}
        if slow:
            whole = len(slow) == len(cases) or None in slow
            add[function] = None if whole else frozenset(c for c in slow if c is not None)
        elif unmark_below is not None and all(d < unmark_below for d in cases.values()):
            remove.add(function)
    seen = {f: frozenset(c for c in cases if c is not None) for f, cases in functions.items()}
    return place(root, "slow", add, frozenset(remove), seen_cases=seen)
