"""Turn the test reports pytest already makes into a run record.

Plain code with no pytest hooks in it, so the aggregation rules (phases, outcomes, reruns,
fixture attribution, worker load) are unit-tested directly; the tracker plugin only feeds it.

Everything here runs once, at session end, over reports kept as they arrived: a tight loop
over 15,000 reports costs a fraction of doing the same work through a hook call per report.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from optikit.timing.run_record import SCHEMA_VERSION, FixtureEntry, RunRecord, TestEntry, summarise

if TYPE_CHECKING:
    import pytest

# Markers that describe how a test is run rather than what kind of test it is.
MECHANICAL_MARKERS = frozenset({"parametrize", "usefixtures", "filterwarnings"})
FixtureKey = tuple[str, str, str]  # name, scope, baseid (where it is defined)


class FixtureTimings:
    """Setup and teardown seconds per fixture definition, summed where the fixtures ran."""

    def __init__(self) -> None:
        # [setups, total, max, teardown_total]: lists, so a setup updates in place
        self._by_key: dict[FixtureKey, list[float]] = {}

    def setup(self, key: FixtureKey, seconds: float) -> None:
        figures = self._by_key.get(key)
        if figures is None:
            self._by_key[key] = [1, seconds, seconds, 0.0]
            return
        figures[0] += 1
        figures[1] += seconds
        figures[2] = max(figures[2], seconds)

    def teardown(self, key: FixtureKey, seconds: float) -> None:
        figures = self._by_key.setdefault(key, [0, 0.0, 0.0, 0.0])
        figures[3] += seconds

    def rows(self) -> list[list[Any]]:
        """Plain lists, as an xdist worker sends them to the controller."""
        return [[*key, *figures] for key, figures in self._by_key.items()]

    def merge(self, rows: Iterable[list[Any]]) -> None:
        for name, scope, baseid, setups, total, longest, teardown in rows:
            figures = self._by_key.setdefault((name, scope, baseid), [0, 0.0, 0.0, 0.0])
            figures[0] += setups
            figures[1] += total
            figures[2] = max(figures[2], longest)
            figures[3] += teardown

    def entries(self) -> list[FixtureEntry]:
        entries: list[FixtureEntry] = []
        for (name, scope, baseid), (setups, total, longest, teardown) in self._by_key.items():
            entry: FixtureEntry = {
                "name": name,
                "scope": scope,
                "baseid": baseid,
                "setups": int(setups),
                "total": round(total, 6),
                "max": round(longest, 6),
            }
            if teardown:
                entry["teardown_total"] = round(teardown, 6)
            entries.append(entry)
        return sorted(entries, key=lambda f: f["total"], reverse=True)


class TimingCollector:
    """The session's reports, kept in memory as they arrive; folded once by ``record()``."""

    def __init__(self, exclude: tuple[str, ...] = (), marker_names: Iterable[str] = ()) -> None:
        self.exclude = exclude
        self.marker_names = set(marker_names)  # the registered ones; set by the tracker at the end
        self.reports: list[pytest.TestReport] = []  # the tracker appends each report, nothing more
        self.fixtures = FixtureTimings()
        self.cpu_waits: dict[str, float] = {}  # node id -> seconds it waited for a CPU (1 ms+)

    def tests(self) -> list[TestEntry]:
        """One entry per test: its phases added up, its final outcome, reruns counted apart."""
        entries: dict[str, TestEntry] = {}
        excluded_paths: dict[str, bool] = {}  # one fnmatch per file, not per report
        marker_names = frozenset(self.marker_names) - MECHANICAL_MARKERS
        entry: TestEntry | None = None
        previous_location = None
        for report in self.reports:
            when = report.when
            location = report.location
            # In a single process a test's reports arrive together and share the item's
            # cached location tuple: then this is the previous report's test, and the node id
            # (a property computed per access since pytest 9) need not be looked up again.
            if location is not previous_location or when == "setup" or entry is None:
                nodeid = report.nodeid
                entry = entries.get(nodeid)
                if entry is None:
                    path = nodeid.split("::", 1)[0]
                    excluded = excluded_paths.get(path)
                    if excluded is None:
                        excluded = excluded_paths[path] = self._excluded(path)
                    if excluded:
                        previous_location = None
                        continue
                    entry = entries[nodeid] = _new_entry(report, path)
                previous_location = location
            # Attributes only some reports have (``worker_id`` under xdist, ``wasxfail``,
            # optikit's own ``optikit``) are read from the instance dict: a missing attribute
            # through getattr() costs an exception per report.
            attributes = report.__dict__
            outcome: str = report.outcome  # pytest-rerunfailures adds "rerun"
            if outcome == "rerun":
                entry["reruns"] = entry.get("reruns", 0) + 1
                continue
            entry[when] = report.duration
            if when == "setup":
                if not marker_names.isdisjoint(report.keywords):
                    entry["markers"] = [k for k in report.keywords if k in marker_names]
            elif when == "teardown" and "optikit" in attributes:
                entry.update(attributes["optikit"])
            if outcome != "passed" or "wasxfail" in attributes:
                entry["status"] = _status(entry["status"], report, "wasxfail" in attributes)
        for nodeid, waited in self.cpu_waits.items():
            if (waiting := entries.get(nodeid)) is not None:
                waiting["cpu_wait"] = waited
        tests = list(entries.values())
        for entry in tests:
            # to the microsecond, by arithmetic: round(x, 6) costs several times as much
            setup = int(entry["setup"] * 1e6 + 0.5)
            call = int(entry["call"] * 1e6 + 0.5)
            teardown = int(entry["teardown"] * 1e6 + 0.5)
            entry["duration"] = (setup + call + teardown) / 1e6
            entry["setup"], entry["call"], entry["teardown"] = (
                setup / 1e6,
                call / 1e6,
                teardown / 1e6,
            )
            if "cpu_wait" in entry:  # never more than the phases it is taken from
                entry["cpu_wait"] = min(int(entry["cpu_wait"] * 1e6 + 0.5) / 1e6, entry["duration"])
        return tests

    def _excluded(self, path: str) -> bool:
        return any(fnmatch.fnmatch(path, pattern) for pattern in self.exclude)

    def record(
        self,
        *,
        run_id: str,
        started_at: str,
        git: dict[str, Any],
        machine: dict[str, Any],
        slow_threshold: float,
        collection_time: float,
        wall_time: float,
    ) -> RunRecord:
        tests = self.tests()
        busy: dict[str, dict[str, float]] = {}
        for test in tests:
            load = busy.setdefault(test["worker"], {"tests": 0, "busy": 0.0})
            load["tests"] += 1
            load["busy"] += test["duration"]
        for load in busy.values():
            load["busy"] = round(load["busy"], 6)
            load["idle"] = round(max(wall_time - collection_time - load["busy"], 0.0), 6)
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": run_id,
            "started_at": started_at,
            "git": git,
            "machine": machine,
            "tests": tests,
            "fixtures": self.fixtures.entries(),
            "summary": summarise(tests, slow_threshold),
            "collection_time": round(collection_time, 6),
            "wall_time": round(wall_time, 6),
            "workers": busy,
        }


def _new_entry(report: pytest.TestReport, module: str) -> TestEntry:
    entry: TestEntry = {
        "nodeid": report.nodeid,
        "duration": 0.0,
        "setup": 0.0,
        "call": 0.0,
        "teardown": 0.0,
        "status": "passed",
        "markers": [],
        "module": module,
        "worker": report.__dict__.get("worker_id", "main"),
    }
    location = report.location
    if location is not None and location[1] is not None:
        entry["line"] = location[1] + 1
    return entry


def _status(current: str, report: pytest.TestReport, xfail: bool) -> str:
    """The test's status after this report; a plain pass changes nothing, so it never gets here."""
    if report.when == "setup":
        return "error" if report.outcome == "failed" else "skipped"
    if report.when == "call":
        if xfail:
            return "xfailed" if report.outcome == "skipped" else "xpassed"
        return report.outcome
    if report.outcome == "failed" and current == "passed":
        return "error"
    return current
