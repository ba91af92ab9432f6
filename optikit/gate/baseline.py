"""The committed baseline: what "normal" is for each test, and how noisy it is.

Built from the latest run, or better from the median of the last N runs in the history; the
noise of each test (its median absolute deviation over the history) is what lets the gate
ignore a test that jitters by 30% on its own.
"""

from __future__ import annotations

import datetime
import json
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from annotated_types import Ge, Gt, Le, Len
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
    net_duration,
    read_json,
    validate,
)

DEFAULTS = PerformanceConfig()  # the thresholds a baseline without its own falls back to
NOISE_WINDOW = 20  # runs of history used for noise when the baseline is the latest run


Percent = Annotated[float, Gt(0), Le(10_000)]
"""A threshold: how many percent slower counts as a regression."""


class TestBaseline(TypedDict):
    """In memory every key is there; on disk only what differs from the defaults."""

    duration: Seconds
    threshold: Percent  # on disk: absent when it is the baseline's test_threshold
    noise: Seconds  # on disk: absent when 0
    markers: NotRequired[list[str]]  # on disk only: the marker groups it counts towards
    module: NotRequired[str]  # on disk only, when it is not the node id's file


class SuiteBaseline(TypedDict):
    total_duration: Seconds
    threshold: Percent  # on disk: absent when it is the baseline's suite_threshold
    noise: NotRequired[Seconds]  # MAD of the group's total over the history (absent: none)


class Baseline(TypedDict):
    """The schema: what ``read_baseline`` validates and ``build_baseline`` returns."""

    schema_version: Literal[1]
    baseline_date: str
    commit: str | None
    calibration: Annotated[float, Gt(0), Le(1e6)] | None
    cpu_wait_share: NotRequired[Annotated[float, Ge(0), Le(1e3)] | None]  # absent in old ones
    runs: Annotated[int, Gt(0)]
    test_threshold: NotRequired[Percent]  # on disk only: the tests' usual threshold
    suite_threshold: NotRequired[Percent]  # on disk only: the groups' usual threshold
    tests: dict[str, TestBaseline]
    suite_metrics: dict[str, SuiteBaseline]
    groups: dict[str, list[str]]  # in memory; on disk only in baselines before 2026-12


MAD_RUNS = 5  # from this many runs the spread is the MAD; below it, half the range
# A hypothesis test draws new examples every run, so its time moves with what it drew: attrs'
# @given tests moved by 15% of their time (MAD over 12 unchanged runs) where three runs had
# shown 4%, and failed the gate on unchanged code. Their spread is never taken as less.
DRAWN_EXAMPLES_NOISE = 0.15


def mad(values: list[float]) -> float:
    """The spread of a test's (or group's) times over the history runs.

    From ``MAD_RUNS`` runs on, the median absolute deviation: one outlier run cannot inflate
    it. Below that, half the range: of three runs the MAD is the smaller of two deviations,
    so a test that took 0.21, 0.22 and 0.41 s (more-itertools' ``test_cross_check``, which
    runs at either speed) came out with a noise of 0.007 s and failed 7 of 10 unchanged
    runs; three runs cannot tell an outlier from a second mode.
    """
    if len(values) < 3:
        return 0.0
    if len(values) < MAD_RUNS:
        return (max(values) - min(values)) / 2
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
    durations = {test["nodeid"]: net_duration(test) for test in passed}
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
    drawn = {test["nodeid"] for test in passed if "hypothesis" in test.get("markers", ())}

    def noise(nodeid: str, duration: float) -> float:
        spread = mad(samples.get(nodeid, []))
        return max(spread, DRAWN_EXAMPLES_NOISE * duration) if nodeid in drawn else spread

    tests = {
        nodeid: TestBaseline(
            duration=round(duration, 4),
            threshold=settings.individual_test_threshold,
            noise=round(noise(nodeid, duration), 4),
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
        groups={group: sorted(nodeids) for group, nodeids in sorted(members.items())},
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
        total_duration=round(sum(tests[n]["duration"] for n in nodeids), 4),
        threshold=settings.suite_threshold,
    )
    totals = [sum(run[n] for n in nodeids) for run in past if all(n in run for n in nodeids)]
    if len(totals) >= 3:
        entry["noise"] = round(mad(totals), 4)
    return entry


class _StoredTest(TypedDict):
    duration: Seconds
    threshold: NotRequired[Percent]
    noise: NotRequired[Seconds]
    markers: NotRequired[list[str]]
    module: NotRequired[str]


class _StoredGroup(TypedDict):
    total_duration: Seconds
    threshold: NotRequired[Percent]
    noise: NotRequired[Seconds]


class _StoredHead(TypedDict):
    schema_version: Literal[1]
    baseline_date: str
    commit: str | None
    calibration: Annotated[float, Gt(0), Le(1e6)] | None
    cpu_wait_share: NotRequired[Annotated[float, Ge(0), Le(1e3)] | None]
    runs: Annotated[int, Gt(0)]
    test_threshold: NotRequired[Percent]
    suite_threshold: NotRequired[Percent]
    suite_metrics: dict[str, _StoredGroup]


class StoredBaseline(_StoredHead):
    """The file. Tests sit under their file, one per line as ``"name": [duration, noise]``
    (``[duration]`` when the noise is 0); what few tests differ in (a threshold, markers, a
    module that is not their file) is listed apart, so a committed baseline's diff reads as
    the tests that changed, at 55-100 bytes a test.
    """

    tests: dict[str, dict[str, Annotated[list[Seconds], Len(1, 2)]]]  # file -> name -> row
    thresholds: NotRequired[dict[str, Percent]]  # node id -> its own threshold
    markers: NotRequired[dict[str, list[str]]]  # marker -> node ids
    modules: NotRequired[dict[str, str]]  # node id -> module, where not the node id's file


class _LegacyBaseline(_StoredHead):
    """Baselines written before 2026-12-02: one ``{"duration": ...}`` object per node id."""

    tests: dict[str, _StoredTest]
    groups: NotRequired[dict[str, list[str]]]


def rename_tests(baseline: Baseline, renamed: dict[str, str]) -> Baseline:
    """The same baseline under new node ids (``rescope --allow-renames``): each entry and
    group membership moves to the test's new id; nothing is measured again."""
    tests = {renamed.get(n, n): entry for n, entry in baseline["tests"].items()}
    groups = {g: [renamed.get(n, n) for n in members] for g, members in baseline["groups"].items()}
    return {**baseline, "tests": tests, "groups": groups}


def write_baseline(path: Path, baseline: Baseline) -> None:
    write_text_atomic(path, baseline_text(baseline))


def baseline_text(baseline: Baseline) -> str:
    tests, metrics = baseline["tests"], baseline["suite_metrics"]
    default = DEFAULTS.individual_test_threshold
    test_threshold = _usual([t["threshold"] for t in tests.values()], default)
    suite_threshold = _usual([m["threshold"] for m in metrics.values()], DEFAULTS.suite_threshold)
    markers: dict[str, list[str]] = {}
    modules: dict[str, str] = {}
    for group, members in baseline["groups"].items():
        kind, _, name = group.partition(":")
        if kind == "marker":
            markers[name] = sorted(members)
        elif kind == "module":
            modules |= {n: name for n in members if _split(n)[0] != name}
    files: dict[str, dict[str, list[float]]] = defaultdict(dict)
    for nodeid, entry in sorted(tests.items()):
        file, name = _split(nodeid)
        files[file][name] = (
            [entry["duration"], entry["noise"]] if entry["noise"] else [entry["duration"]]
        )
    thresholds = {n: t["threshold"] for n, t in tests.items() if t["threshold"] != test_threshold}
    head = {
        key: value
        for key, value in baseline.items()
        if key not in ("tests", "suite_metrics", "groups", "test_threshold", "suite_threshold")
    }
    head |= {"test_threshold": test_threshold, "suite_threshold": suite_threshold}
    lines = ["{"] + [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    lines.append(' "tests": {')
    lines.append(
        ",\n".join(
            f"  {json.dumps(file)}: {{\n"
            + ",\n".join(f"   {json.dumps(n)}: {json.dumps(row)}" for n, row in rows.items())
            + "\n  }"
            for file, rows in sorted(files.items())
        )
    )
    lines.append(" },")
    for name, entries in (("thresholds", thresholds), ("markers", markers), ("modules", modules)):
        if entries:
            lines += _block(name, dict(sorted(entries.items())), last=False)
    groups = {
        group: {k: v for k, v in metric.items() if k != "threshold" or v != suite_threshold}
        for group, metric in sorted(metrics.items())
    }
    lines += _block("suite_metrics", groups)
    return "\n".join([*lines, "}"]) + "\n"


def _block(name: str, entries: dict[str, Any], last: bool = True) -> list[str]:
    """``"name": {`` then one entry per line."""
    if not entries:
        return [f" {json.dumps(name)}: {{}}{'' if last else ','}"]
    rows = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in entries.items()]
    return [f" {json.dumps(name)}: {{", ",\n".join(rows), " }" + ("" if last else ",")]


def _usual(values: list[float], default: float) -> float:
    return Counter(values).most_common(1)[0][0] if values else default


def _split(nodeid: str) -> tuple[str, str]:
    """``file.py::Class::test[p]`` -> (``file.py``, ``Class::test[p]``); a node id with no
    ``::`` (a doctest file, a non-Python item) is its own file with an empty name."""
    file, _, name = nodeid.partition("::")
    return file, name


def _join(file: str, name: str) -> str:
    return f"{file}::{name}" if name else file


def read_baseline(path: Path) -> Baseline:
    """The file, validated, with every default filled in and the groups rebuilt."""
    fix = "Run 'make performance-baseline' (or 'optikit baseline')."
    data = read_json(path, "Baseline", fix)
    tests_data = data.get("tests") if isinstance(data, dict) else None
    if isinstance(tests_data, dict) and any(
        isinstance(v, dict) and "duration" in v for v in tests_data.values()
    ):
        return _read_legacy(validate(_LegacyBaseline, data, path, "Baseline", fix))
    stored = validate(StoredBaseline, data, path, "Baseline", fix)
    test_threshold = stored.get("test_threshold", DEFAULTS.individual_test_threshold)
    thresholds, modules = stored.get("thresholds", {}), stored.get("modules", {})
    groups: dict[str, list[str]] = defaultdict(list)
    tests: dict[str, TestBaseline] = {}
    for file, rows in stored["tests"].items():
        for name, (duration, *noise) in rows.items():
            nodeid = _join(file, name)
            tests[nodeid] = TestBaseline(
                duration=duration,
                threshold=thresholds.get(nodeid, test_threshold),
                noise=noise[0] if noise else 0.0,
            )
            groups["suite"].append(nodeid)
            groups[f"module:{modules.get(nodeid, file)}"].append(nodeid)
    for marker, nodeids in stored.get("markers", {}).items():
        groups[f"marker:{marker}"] = [n for n in nodeids if n in tests]
    return _assemble(stored, tests, groups)


def _read_legacy(stored: _LegacyBaseline) -> Baseline:
    test_threshold = stored.get("test_threshold", DEFAULTS.individual_test_threshold)
    groups: dict[str, list[str]] = defaultdict(list)
    tests: dict[str, TestBaseline] = {}
    for nodeid, entry in stored["tests"].items():
        tests[nodeid] = TestBaseline(
            duration=entry["duration"],
            threshold=entry.get("threshold", test_threshold),
            noise=entry.get("noise", 0.0),
        )
        groups["suite"].append(nodeid)
        groups[f"module:{entry.get('module', _split(nodeid)[0])}"].append(nodeid)
        for marker in entry.get("markers", []):
            groups[f"marker:{marker}"].append(nodeid)
    return _assemble(stored, tests, stored.get("groups") or groups)


# Not copied to the in-memory baseline as they are: rebuilt, or filled into each entry.
_BODY = {"tests", "suite_metrics", "groups", "thresholds", "markers", "modules"}
_BODY |= {"test_threshold", "suite_threshold"}


def _assemble(
    stored: _StoredHead, tests: dict[str, TestBaseline], groups: dict[str, list[str]]
) -> Baseline:
    suite_threshold = stored.get("suite_threshold", DEFAULTS.suite_threshold)
    metrics: dict[str, SuiteBaseline] = {}
    for group, metric in stored["suite_metrics"].items():
        metrics[group] = SuiteBaseline(
            total_duration=metric["total_duration"],
            threshold=metric.get("threshold", suite_threshold),
        )
        if "noise" in metric:
            metrics[group]["noise"] = metric["noise"]
    head = {k: v for k, v in stored.items() if k not in _BODY}
    return cast(
        Baseline,
        {
            **head,
            "tests": tests,
            "suite_metrics": metrics,
            "groups": {g: sorted(m) for g, m in sorted(groups.items())},
        },
    )
