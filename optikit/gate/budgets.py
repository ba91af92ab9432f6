"""Time budgets: seconds a test may take, by marker, and the suite's wall time.

A regression gate compares a suite with its own past, so a suite that was always slow never
fails it. Budgets are absolute: ``[tool.optikit.budgets]`` maps a marker (or ``default``,
for tests with no budgeted marker) to seconds per test, and ``suite`` to the run's wall
time. ``optikit regression`` fails on a breach (``--no-budgets`` skips them) and ``optikit
report`` lists them. Nothing is budgeted until the table exists: ``optikit init --budgets``
writes the plan's four (unit tests 1 s, integration 5 s, end-to-end 10 s, the suite 5
minutes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optikit.errors import OptikitError
from optikit.timing.run_record import MAX_SECONDS, RunRecord

SUITE = "suite"
DEFAULT = "default"
SEED_BUDGETS = {DEFAULT: 1.0, "integration": 5.0, "e2e": 10.0, SUITE: 300.0}


@dataclass(frozen=True)
class Budgets:
    per_test: Mapping[str, float] = field(default_factory=dict)  # marker or "default" -> s
    suite: float | None = None  # the run's wall time, seconds

    def __bool__(self) -> bool:
        return bool(self.per_test) or self.suite is not None

    def for_test(self, markers: list[str]) -> tuple[float, str] | None:
        """The most generous budget among the test's markers, else ``default``, else none."""
        own = [(self.per_test[m], f"marker {m}") for m in markers if m in self.per_test]
        if own:
            return max(own)
        if DEFAULT in self.per_test:
            return self.per_test[DEFAULT], DEFAULT
        return None


@dataclass(frozen=True)
class Breach:
    what: str  # a node id, or "suite"
    seconds: float
    budget: float
    source: str  # "marker integration", "default", "suite wall time"

    def __str__(self) -> str:
        return f"{self.seconds:.2f} s > {self.budget:g} s ({self.source})  {self.what}"


def parse_budgets(values: Mapping[str, Any], pyproject: Path) -> Budgets:
    """``[tool.optikit.budgets]``: every value a number of seconds, finite, above 0."""
    seconds: dict[str, float] = {}
    for key, raw in values.items():
        number = raw if isinstance(raw, int | float) and not isinstance(raw, bool) else None
        if number is None or not math.isfinite(number) or not 0 < number <= MAX_SECONDS:
            raise OptikitError(
                f"[tool.optikit.budgets] {key} must be seconds (a number above 0), got {raw!r}",
                pyproject,
            )
        seconds[key] = float(number)
    suite = seconds.pop(SUITE, None)
    return Budgets(per_test=dict(sorted(seconds.items())), suite=suite)


def breaches(record: RunRecord, budgets: Budgets) -> list[Breach]:
    """Tests (that ran) over their budget, slowest first, then the suite over its own."""
    found = []
    for test in record["tests"]:
        budget = budgets.for_test(test["markers"])
        if budget is not None and test["status"] != "skipped" and test["duration"] > budget[0]:
            found.append(Breach(test["nodeid"], test["duration"], *budget))
    found.sort(key=lambda b: b.seconds - b.budget, reverse=True)
    if budgets.suite is not None:
        wall = record.get("wall_time")
        total = wall if wall is not None else sum(t["duration"] for t in record["tests"])
        source = "suite wall time" if wall is not None else "suite, summed test time"
        if total > budgets.suite:
            found.append(Breach(SUITE, total, budgets.suite, source))
    return found


def seed_budgets_text() -> str:
    """The table ``optikit init --budgets`` writes."""
    lines = [
        "[tool.optikit.budgets]",
        "# seconds per test by marker (default: tests with no budgeted marker); suite: wall time",
    ]
    lines += [f"{key} = {value:g}" for key, value in SEED_BUDGETS.items()]
    return "\n".join(lines)
