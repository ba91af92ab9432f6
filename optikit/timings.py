"""Turn the test reports pytest already makes into a run record.

Plain code with no pytest objects in it, so the aggregation rules (phases, outcomes, reruns,
fixture attribution, worker load) are unit-tested directly; the tracker plugin only feeds it.
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from optikit.run_record import SCHEMA_VERSION, FixtureEntry, RunRecord, TestEntry, summarise

# Markers that describe how a test is run rather than what kind of test it is.
MECHANICAL_MARKERS = frozenset({"parametrize", "usefixtures", "filterwarnings"})
NO_EXTRA: Mapping[str, Any] = MappingProxyType({})  # a report without optikit's annotations


@dataclass(slots=True)
class _Test:
    nodeid: str
    line: int | None = None
    worker: str = "main"
    phases: dict[str, float] = field(default_factory=dict)
    status: str = "passed"
    markers: list[str] = field(default_factory=list)
    reruns: int = 0
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class _Fixture:
    setups: int = 0
    total: float = 0.0
    max: float = 0.0
    teardown_total: float = 0.0


class PhaseReport(NamedTuple):
    """The fields of one ``TestReport`` the tracker uses (xdist forwards all of them).

    A named tuple because one is built per phase of every test: it is the cheapest record.
    """

    nodeid: str
    when: str
    duration: float
    outcome: str
    worker: str
    line: int | None = None
    xfail: bool = False
    optikit: Mapping[str, Any] = NO_EXTRA
    markers: list[str] | None = None  # given on the setup report only


class TimingCollector:
    """Accumulates phase reports in memory; nothing touches the disk until ``record()``."""

    def __init__(self, exclude: tuple[str, ...] = ()) -> None:
        self.exclude = exclude
        self._tests: dict[str, _Test] = {}
        self._fixtures: dict[tuple[str, str, str], _Fixture] = defaultdict(_Fixture)
        self._excluded_paths: dict[str, bool] = {}  # one fnmatch per file, not per report

    def add(self, report: PhaseReport) -> None:
        # Called for every phase of every test while the session runs: each line here is
        # paid 15,000 times in a 5,000-test suite, so the common case does the least.
        extra = report.optikit
        if extra:
            self._add_fixture_timings(extra)
        test = self._tests.get(report.nodeid)
        if test is None:
            if self._excluded(report.nodeid):
                return
            test = self._tests[report.nodeid] = _Test(report.nodeid, report.line, report.worker)
        if report.outcome == "rerun":
            test.reruns += 1
            return
        test.phases[report.when] = report.duration
        if report.markers is not None:
            test.markers = report.markers
        if extra:
            for key in ("memory_peak_mb", "cpu_time"):
                if key in extra:
                    test.extra[key] = extra[key]
        test.status = _status(test.status, report)

    def _excluded(self, nodeid: str) -> bool:
        path = nodeid.split("::", 1)[0]
        excluded = self._excluded_paths.get(path)
        if excluded is None:
            excluded = any(fnmatch.fnmatch(path, pattern) for pattern in self.exclude)
            self._excluded_paths[path] = excluded
        return excluded

    def __len__(self) -> int:
        """How many tests were recorded."""
        return len(self._tests)

    def _add_fixture_timings(self, extra: Mapping[str, Any]) -> None:
        for name, scope, baseid, seconds in extra.get("fixtures", ()):
            fixture = self._fixtures[(name, scope, baseid)]
            fixture.setups += 1
            fixture.total += seconds
            fixture.max = max(fixture.max, seconds)
        for name, scope, baseid, seconds in extra.get("teardowns", ()):
            self._fixtures[(name, scope, baseid)].teardown_total += seconds

    def tests(self) -> list[TestEntry]:
        entries = []
        for test in self._tests.values():
            setup, call, teardown = (test.phases.get(p, 0.0) for p in ("setup", "call", "teardown"))
            entry: TestEntry = {
                "nodeid": test.nodeid,
                "duration": round(setup + call + teardown, 6),
                "setup": round(setup, 6),
                "call": round(call, 6),
                "teardown": round(teardown, 6),
                "status": test.status,
                "markers": test.markers,
                "module": test.nodeid.split("::", 1)[0],
                "worker": test.worker,
            }
            if test.line is not None:
                entry["line"] = test.line
            if test.reruns:
                entry["reruns"] = test.reruns
            if "memory_peak_mb" in test.extra:
                entry["memory_peak_mb"] = round(test.extra["memory_peak_mb"], 3)
            if "cpu_time" in test.extra:
                entry["cpu_time"] = round(test.extra["cpu_time"], 6)
            entries.append(entry)
        return entries

    def fixtures(self) -> list[FixtureEntry]:
        entries: list[FixtureEntry] = []
        for (name, scope, baseid), fixture in self._fixtures.items():
            entry: FixtureEntry = {
                "name": name,
                "scope": scope,
                "baseid": baseid,
                "setups": fixture.setups,
                "total": round(fixture.total, 6),
                "max": round(fixture.max, 6),
            }
            if fixture.teardown_total:
                entry["teardown_total"] = round(fixture.teardown_total, 6)
            entries.append(entry)
        return sorted(entries, key=lambda f: f["total"], reverse=True)

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
            load["busy"] = round(load["busy"] + test["duration"], 6)
        for load in busy.values():
            load["idle"] = round(max(wall_time - collection_time - load["busy"], 0.0), 6)
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": run_id,
            "started_at": started_at,
            "git": git,
            "machine": machine,
            "tests": tests,
            "fixtures": self.fixtures(),
            "summary": summarise(tests, slow_threshold),
            "collection_time": round(collection_time, 6),
            "wall_time": round(wall_time, 6),
            "workers": busy,
        }


def _status(current: str, report: PhaseReport) -> str:
    if report.outcome == "passed" and not report.xfail:
        return "passed" if report.when == "call" else current
    if report.when == "setup":
        return "error" if report.outcome == "failed" else "skipped"
    if report.when == "call":
        if report.xfail:
            return "xfailed" if report.outcome == "skipped" else "xpassed"
        return report.outcome
    if report.outcome == "failed" and current == "passed":
        return "error"
    return current
