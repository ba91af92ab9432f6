"""Small builders for run records and baselines, so gate and report tests read as data."""

from __future__ import annotations

from optikit.gate.baseline import Baseline, SuiteBaseline, TestBaseline, groups_of
from optikit.timing.run_record import SCHEMA_VERSION, RunRecord, TestEntry, summarise


def entry(
    nodeid: str, duration: float, status: str = "passed", markers: list[str] | None = None
) -> TestEntry:
    return {
        "nodeid": nodeid,
        "duration": duration,
        "setup": 0.0,
        "call": duration,
        "teardown": 0.0,
        "status": status,
        "markers": markers or [],
        "module": nodeid.split("::", 1)[0],
        "worker": "main",
        "line": 3,
    }


def record(
    durations: dict[str, float], calibration: float | None = 0.02, run_id: str = "run-1"
) -> RunRecord:
    tests = [entry(nodeid, seconds) for nodeid, seconds in durations.items()]
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "started_at": "2026-11-23T10:00:00+00:00",
        "git": {"commit": "abc123", "branch": "main", "dirty": False},
        "machine": {
            "platform": "test",
            "python": "3.11",
            "cpu_count": 2,
            "calibration": calibration,
        },
        "tests": tests,
        "fixtures": [],
        "summary": summarise(tests, 30.0),
    }


def baseline(
    durations: dict[str, float],
    noise: dict[str, float] | None = None,
    threshold: float = 20.0,
    suite_threshold: float = 15.0,
    calibration: float | None = 0.02,
) -> Baseline:
    tests = {
        nodeid: TestBaseline(
            duration=seconds, threshold=threshold, noise=(noise or {}).get(nodeid, 0.0)
        )
        for nodeid, seconds in durations.items()
    }
    groups: dict[str, list[str]] = {}
    for nodeid, seconds in durations.items():
        for group in groups_of(entry(nodeid, seconds)):
            groups.setdefault(group, []).append(nodeid)
    return Baseline(
        schema_version=SCHEMA_VERSION,
        baseline_date="2026-11-22T10:00:00+00:00",
        commit="abc123",
        calibration=calibration,
        runs=1,
        tests=tests,
        suite_metrics={
            group: SuiteBaseline(
                total_duration=sum(durations[n] for n in members), threshold=suite_threshold
            )
            for group, members in groups.items()
        },
        groups=groups,
    )
