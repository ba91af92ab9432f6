"""The committed baseline: what "normal" is for each test, and how noisy it is.

Built from the latest run, or better from the median of the last N runs in the history; the
noise of each test (its median absolute deviation over the history) is what lets the gate
ignore a test that jitters by 30% on its own.
"""

from __future__ import annotations

import datetime
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Literal

from annotated_types import Ge, Gt, Le
from typing_extensions import NotRequired, TypedDict  # pydantic needs its TypedDict before 3.12

from fixtures_lib.atomic import write_text_atomic
from optikit.config import PerformanceConfig
from optikit.errors import OptikitError
from optikit.timing import history
from optikit.timing.run_record import (
    SCHEMA_VERSION,
    RunRecord,
    Seconds,
    TestEntry,
    read_json,
    validate,
)

NOISE_WINDOW = 20  # runs of history used for noise when the baseline is the latest run


Percent = Annotated[float, Gt(0), Le(10_000)]
"""A threshold: how many percent slower counts as a regression."""


class TestBaseline(TypedDict):
    duration: Seconds
    threshold: Percent
    noise: Seconds


class SuiteBaseline(TypedDict):
    total_duration: Seconds
    threshold: Percent
    noise: NotRequired[Seconds]  # MAD of the group's total over the history (absent: none)


class Baseline(TypedDict):
    """The schema: what ``read_baseline`` validates and ``build_baseline`` returns."""

    schema_version: Literal[1]
    baseline_date: str
    commit: str | None
    calibration: Annotated[float, Gt(0), Le(1e6)] | None
    cpu_wait_share: NotRequired[Annotated[float, Ge(0), Le(1e3)] | None]  # absent in old ones
    runs: Annotated[int, Gt(0)]
    tests: dict[str, TestBaseline]
    suite_metrics: dict[str, SuiteBaseline]
    groups: dict[str, list[str]]


def mad(values: list[float]) -> float:
    """Median absolute deviation: a spread that one outlier run cannot inflate."""
    if len(values) < 3:
        return 0.0
    centre = statistics.median(values)
    return statistics.median(abs(value - centre) for value in values)


def groups_of(test: TestEntry) -> list[str]:
    """The suite totals a test counts towards: the whole suite, its module, its markers."""
    return ["suite", f"module:{test['module']}", *(f"marker:{m}" for m in test["markers"])]


def build_baseline(
    latest: RunRecord,
    settings: PerformanceConfig,
    history_db: Path | None,
    from_history: int | None = None,
) -> Baseline:
    """Durations from the latest run (or history medians), noise from the history."""
    passed = [test for test in latest["tests"] if test["status"] == "passed"]
    durations = {test["nodeid"]: test["duration"] for test in passed}
    samples: dict[str, list[float]] = {}
    recent: list[history.RunSummary] = []
    past: list[dict[str, float]] = []
    runs = 1
    if history_db is not None and history_db.exists():
        window = from_history or NOISE_WINDOW
        past = history.run_durations(history_db, window)
        for run in past:
            for nodeid, seconds in run.items():
                samples.setdefault(nodeid, []).append(seconds)
        recent = history.recent_runs(history_db, window)
    if from_history:
        if not samples:
            raise OptikitError(
                "history has no passing tests to build a baseline from. "
                "Run 'pytest --track-performance' a few times first.",
                history_db,
            )
        durations = {
            nodeid: statistics.median(samples[nodeid]) for nodeid in durations if nodeid in samples
        }
        runs = max(len(values) for values in samples.values())
    tests = {
        nodeid: TestBaseline(
            duration=round(duration, 6),
            threshold=settings.individual_test_threshold,
            noise=round(mad(samples.get(nodeid, [])), 6),
        )
        for nodeid, duration in sorted(durations.items())
    }
    members: dict[str, list[str]] = defaultdict(list)
    for test in passed:
        if test["nodeid"] in tests:
            for group in groups_of(test):
                members[group].append(test["nodeid"])

    def machine_fact(name: str) -> float | None:
        """The history's median when the baseline comes from it, else the latest run's."""
        values = [getattr(run, name) for run in recent if getattr(run, name) is not None]
        if from_history and values:
            return float(statistics.median(values))
        value = latest["machine"].get(name)
        return float(value) if isinstance(value, int | float) else None

    return Baseline(
        schema_version=SCHEMA_VERSION,
        baseline_date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        commit=latest["git"].get("commit"),
        calibration=machine_fact("calibration"),
        cpu_wait_share=machine_fact("cpu_wait_share"),
        runs=runs,
        tests=tests,
        suite_metrics={
            group: _group_baseline(tests, nodeids, past, settings)
            for group, nodeids in sorted(members.items())
        },
        groups=dict(sorted(members.items())),
    )


def _group_baseline(
    tests: dict[str, TestBaseline],
    nodeids: list[str],
    past: list[dict[str, float]],
    settings: PerformanceConfig,
) -> SuiteBaseline:
    """A group's total and its own noise: the MAD of its total over the history runs that
    ran all of its tests. Over a few runs the MADs of short tests are often 0 while their
    total moves (a busy machine, a first import paid by a different test each run)."""
    entry = SuiteBaseline(
        total_duration=round(sum(tests[n]["duration"] for n in nodeids), 6),
        threshold=settings.suite_threshold,
    )
    totals = [sum(run[n] for n in nodeids) for run in past if all(n in run for n in nodeids)]
    if len(totals) >= 3:
        entry["noise"] = round(mad(totals), 6)
    return entry


def write_baseline(path: Path, baseline: Baseline) -> None:
    write_text_atomic(path, json.dumps(baseline, indent=1, sort_keys=False) + "\n")


def read_baseline(path: Path) -> Baseline:
    fix = "Run 'make performance-baseline' (or 'optikit baseline')."
    return validate(Baseline, read_json(path, "Baseline", fix), path, "Baseline", fix)
