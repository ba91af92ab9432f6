"""TimingCollector and FixtureTimings: how real pytest reports become test and fixture entries."""

from __future__ import annotations

from typing import Any

import pytest

from optikit.timing.collect import FixtureTimings, TimingCollector

NODE = "tests/test_a.py::test_x"


def report(
    nodeid: str, when: Any, seconds: float, outcome: Any = "passed", **extra: Any
) -> pytest.TestReport:
    """A report as pytest (or xdist's controller, with ``worker_id``) hands it to plugins.

    ``when`` and ``outcome`` are plain strings here: pytest-rerunfailures adds "rerun".
    """
    names = (nodeid.rsplit("::", 1)[-1], *extra.pop("marks", ()))
    keywords: dict[str, Any] = dict.fromkeys(names, 1)
    return pytest.TestReport(
        nodeid,
        (nodeid.split("::")[0], 3, "test_x"),
        keywords,
        outcome,
        None,
        when,
        (),
        seconds,
        **extra,
    )


def phases(collector: TimingCollector, nodeid: str = NODE, **outcomes: str) -> None:
    """Reports as pytest makes them: no call phase after a setup that did not pass."""
    for when, seconds in (("setup", 0.1), ("call", 0.5), ("teardown", 0.2)):
        if when == "call" and outcomes.get("setup", "passed") != "passed":
            continue
        outcome = outcomes.get(when, "passed")
        collector.reports.append(report(nodeid, when, seconds, outcome, worker_id="gw1"))


def test_phases_add_up_and_keep_worker_and_line() -> None:
    collector = TimingCollector()
    phases(collector)
    (test,) = collector.tests()
    assert (test["setup"], test["call"], test["teardown"], test["duration"]) == (0.1, 0.5, 0.2, 0.8)
    assert (test["worker"], test["line"], test["module"]) == ("gw1", 4, "tests/test_a.py")
    assert test["status"] == "passed"


def test_a_single_process_run_is_worker_main() -> None:
    collector = TimingCollector()
    collector.reports.append(report(NODE, "setup", 0.1))
    assert collector.tests()[0]["worker"] == "main"


def test_outcomes() -> None:
    collector = TimingCollector()
    phases(collector, "t.py::setup_error", setup="failed")
    phases(collector, "t.py::skipped", setup="skipped")
    phases(collector, "t.py::failed", call="failed")
    phases(collector, "t.py::teardown_error", teardown="failed")
    collector.reports.append(report("t.py::xfail", "call", 0.1, "skipped", wasxfail=""))
    collector.reports.append(report("t.py::xpass", "call", 0.1, "passed", wasxfail=""))
    status = {t["nodeid"]: t["status"] for t in collector.tests()}
    assert status == {
        "t.py::setup_error": "error",
        "t.py::skipped": "skipped",
        "t.py::failed": "failed",
        "t.py::teardown_error": "error",
        "t.py::xfail": "xfailed",
        "t.py::xpass": "xpassed",
    }


def test_reruns_are_counted_separately_from_the_final_attempt() -> None:
    collector = TimingCollector()
    collector.reports.append(report(NODE, "setup", 0.1))
    collector.reports.append(report(NODE, "call", 3.0, "rerun"))
    phases(collector)
    (test,) = collector.tests()
    assert test["reruns"] == 1
    assert test["call"] == 0.5
    assert test["status"] == "passed"


def test_registered_markers_come_from_setup_and_memory_and_cpu_from_the_annotations() -> None:
    collector = TimingCollector(marker_names={"slow", "parametrize"})
    collector.reports.append(report(NODE, "setup", 0.1, marks=("slow", "parametrize", "tests")))
    annotations = {"cpu_time": 0.4, "memory_peak_mb": 12.5}
    collector.reports.append(report(NODE, "teardown", 0.1, optikit=annotations))
    (test,) = collector.tests()
    assert test["markers"] == ["slow"]  # parametrize says how it runs, not what it is
    assert test["cpu_time"] == 0.4
    assert test["memory_peak_mb"] == 12.5


def test_fixture_timings_are_aggregated_per_definition() -> None:
    timings = FixtureTimings()
    for seconds in (0.3, 0.5):
        timings.setup(("data", "function", "tests"), seconds)
    timings.teardown(("data", "function", "tests"), 0.2)
    assert timings.entries() == [
        {
            "name": "data",
            "scope": "function",
            "baseid": "tests",
            "setups": 2,
            "total": 0.8,
            "max": 0.5,
            "teardown_total": 0.2,
        }
    ]


def test_workers_fixture_timings_merge_into_the_controllers() -> None:
    workers = [FixtureTimings(), FixtureTimings()]
    workers[0].setup(("db", "session", ""), 1.0)
    workers[1].setup(("db", "session", ""), 3.0)
    workers[1].teardown(("db", "session", ""), 0.5)
    controller = FixtureTimings()
    for worker in workers:
        controller.merge(worker.rows())
    (fixture,) = controller.entries()
    assert (fixture["setups"], fixture["total"], fixture["max"]) == (2, 4.0, 3.0)
    assert fixture["teardown_total"] == 0.5


def test_excluded_paths_are_not_recorded() -> None:
    collector = TimingCollector(exclude=("tests/performance/test_*.py",))
    phases(collector, "tests/performance/test_gate.py::test_x")
    phases(collector)
    assert [t["nodeid"] for t in collector.tests()] == [NODE]


def test_record_has_summary_and_worker_load() -> None:
    collector = TimingCollector()
    phases(collector, "t.py::a")
    phases(collector, "t.py::b")
    record = collector.record(
        run_id="r",
        started_at="now",
        git={},
        machine={},
        slow_threshold=0.5,
        collection_time=0.2,
        wall_time=2.0,
    )
    assert record["summary"] == {
        "total_tests": 2,
        "slow_tests": 2,
        "total_duration": 1.6,
        "average_duration": 0.8,
    }
    assert record["workers"] == {"gw1": {"tests": 2, "busy": 1.6, "idle": 0.2}}


def test_a_tests_cpu_wait_is_kept_and_never_more_than_its_time() -> None:
    collector = TimingCollector()
    phases(collector)
    phases(collector, "tests/test_a.py::test_y")
    collector.cpu_waits.update({NODE: 0.3000004, "tests/test_a.py::test_y": 5.0})
    waits = {t["nodeid"]: t["cpu_wait"] for t in collector.tests()}
    assert waits == {NODE: 0.3, "tests/test_a.py::test_y": 0.8}
