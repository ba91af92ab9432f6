"""Time budgets: seconds a test may take, by marker, and the suite's wall time.

A regression gate compares a suite with its own past, so a suite that was always slow never
fails it. Budgets are absolute: ``[tool.optikit.budgets]`` maps a marker (or ``default``,
for tests with no budgeted marker) to seconds per test, and ``suite`` to the run's wall
time. ``optikit regression`` fails on a breach (``--no-budgets`` lists them without
failing) and ``optikit report`` lists them. Nothing is budgeted until the table exists:
``optikit init --budgets`` writes the plan's four (unit tests 1 s, integration 5 s,
end-to-end 10 s, the suite 5 minutes).
"""

from __future__ import annotations

from dataclasses import dataclass

from optikit.config import SEED_BUDGETS, SUITE, Budgets
from optikit.timing.run_record import RunRecord


@dataclass(frozen=True)
class Breach:
    what: str  # a node id, or "suite"
    seconds: float
    budget: float
    source: str  # "marker integration", "default", "suite wall time"

    def __str__(self) -> str:
        return f"{self.seconds:.2f} s > {self.budget:g} s ({self.source})  {self.what}"


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
