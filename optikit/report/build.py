"""What ``optikit report`` says, computed once from the run record, the baseline and the history.

The renderers (``markdown``, ``html``, ``formats``) only format a ``Report``; they never compute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optikit.config import Budgets
from optikit.gate.budgets import Breach, breaches
from optikit.gate.verdict import GateResult
from optikit.timing import history
from optikit.timing.run_record import FixtureEntry, RunRecord, TestEntry

TOP = 10
WIDER_SCOPE = {"function": "module", "class": "module", "module": "session", "package": "session"}


@dataclass(frozen=True)
class HotSpot:
    name: str
    scope: str
    baseid: str
    setups: int
    total: float
    wider_scope: str
    saving: float


@dataclass(frozen=True)
class TrendPoint:
    run_id: str
    started_at: str
    commit: str | None
    total_duration: float
    tests: int


@dataclass
class Report:
    run: dict[str, Any]
    slowest: list[TestEntry]
    unmarked_slow: list[TestEntry]
    slow_threshold: float
    hot_spots: list[HotSpot]
    gate: GateResult | None = None
    trend: list[TrendPoint] = field(default_factory=list)
    test_trends: dict[str, list[float]] = field(default_factory=dict)
    recommendations: list[str] = field(default_factory=list)
    failing: list[str] = field(default_factory=list)  # node ids that did not pass
    budgeted: bool = False  # [tool.optikit.budgets] exists: over_budget is meaningful
    over_budget: list[Breach] = field(default_factory=list)


# pytest's built-in fixtures that are per test by design (a shared tmp_path or monkeypatch
# would leak between tests); a project that overrides one defines it under its own baseid
PYTEST_FUNCTION_FIXTURES = frozenset(
    {
        "tmp_path",
        "tmpdir",
        "monkeypatch",
        "capsys",
        "capsysbinary",
        "capfd",
        "capfdbinary",
        "caplog",
        "recwarn",
        "request",
        "record_property",
        "record_xml_attribute",
        "doctest_namespace",
        "pytester",
        "testdir",
    }
)


def hot_spots(fixtures: list[FixtureEntry], min_saving: float = 0.0) -> list[HotSpot]:
    """Fixtures set up more than once, with what one setup per wider scope would save.

    The saving is an upper bound: it assumes the value can be shared, which only a person (or
    the rescope codemod's checks) can confirm.
    """
    spots = []
    for fixture in fixtures:
        wider = WIDER_SCOPE.get(fixture["scope"])
        if wider is None or fixture["setups"] < 2:
            continue
        if fixture["name"] in PYTEST_FUNCTION_FIXTURES and not fixture["baseid"]:
            continue  # pytest's own, per test by design: nothing a project can rescope
        mean = fixture["total"] / fixture["setups"]
        if fixture["total"] - mean < min_saving:
            continue
        spots.append(
            HotSpot(
                fixture["name"],
                fixture["scope"],
                fixture["baseid"],
                fixture["setups"],
                fixture["total"],
                wider,
                round(fixture["total"] - mean, 6),
            )
        )
    return sorted(spots, key=lambda spot: spot.saving, reverse=True)[:TOP]


def build_report(
    record: RunRecord,
    slow_threshold: float,
    gate: GateResult | None = None,
    history_db: Path | None = None,
    trend_runs: int = 20,
    min_saving: float = 0.05,
    budgets: Budgets | None = None,
) -> Report:
    tests = sorted(record["tests"], key=lambda t: t["duration"], reverse=True)
    unmarked = [t for t in tests if t["duration"] >= slow_threshold and "slow" not in t["markers"]]
    run = {key: record.get(key) for key in ("run_id", "started_at", "git", "machine", "summary")}
    run["collection_time"] = record.get("collection_time")
    run["wall_time"] = record.get("wall_time")
    run["workers"] = record.get("workers", {})
    report = Report(
        run, tests[:TOP], unmarked, slow_threshold, hot_spots(record["fixtures"], min_saving), gate
    )
    if history_db is not None and history_db.exists():
        report.trend = [
            TrendPoint(r.run_id, r.started_at, r.commit, r.total_duration, r.tests)
            for r in history.recent_runs(history_db, trend_runs)
        ]
        samples = history.durations(history_db, trend_runs, passed_only=False)
        report.test_trends = {t["nodeid"]: samples.get(t["nodeid"], []) for t in tests[:5]}
    report.failing = [t["nodeid"] for t in record["tests"] if t["status"] in ("failed", "error")]
    if budgets:
        report.budgeted, report.over_budget = True, breaches(record, budgets)
    report.recommendations = recommendations(report)
    return report


def recommendations(report: Report) -> list[str]:
    advice = []
    if report.unmarked_slow:
        advice.append(
            f"Mark the {len(report.unmarked_slow)} test(s) over {report.slow_threshold:g} s with "
            "@pytest.mark.slow so the fast loop can deselect them (-m 'not slow')."
        )
    for spot in report.hot_spots[:3]:
        advice.append(
            f"Fixture '{spot.name}' ({spot.scope} scope) was set up {spot.setups} times "
            f"({spot.total:.2f} s); if its value is never mutated, {spot.wider_scope} scope "
            f"would save up to {spot.saving:.2f} s."
        )
    if report.over_budget:
        advice.append(
            f"{len(report.over_budget)} over their time budget: speed them up, mark them with "
            "a marker that has a larger budget, or raise [tool.optikit.budgets]."
        )
    if report.gate is not None and report.gate.failed:
        advice.append("Investigate the regressions below before merging; re-check with --confirm.")
    workers = report.run.get("workers") or {}
    if len(workers) > 1:
        busy = [load["busy"] for load in workers.values()]
        if min(busy) < 0.6 * max(busy):
            advice.append(
                "xdist workers are unevenly loaded; a few long tests dominate. "
                "Try '--dist worksteal' or split the slowest tests."
            )
    return advice
