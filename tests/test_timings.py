"""TimingCollector: how phase reports become test and fixture entries."""

from __future__ import annotations

from optikit.timings import PhaseReport, TimingCollector

NODE = "tests/test_a.py::test_x"


def phases(collector: TimingCollector, nodeid: str = NODE, **outcomes: str) -> None:
    """Reports as pytest makes them: no call phase after a setup that did not pass."""
    for when, seconds in (("setup", 0.1), ("call", 0.5), ("teardown", 0.2)):
        if when == "call" and outcomes.get("setup", "passed") != "passed":
            continue
        collector.add(PhaseReport(nodeid, when, seconds, outcomes.get(when, "passed"), "gw1", 4))


def test_phases_add_up_and_keep_worker_and_line() -> None:
    collector = TimingCollector()
    phases(collector)
    (test,) = collector.tests()
    assert (test["setup"], test["call"], test["teardown"], test["duration"]) == (0.1, 0.5, 0.2, 0.8)
    assert (test["worker"], test["line"], test["module"]) == ("gw1", 4, "tests/test_a.py")
    assert test["status"] == "passed"


def test_outcomes() -> None:
    collector = TimingCollector()
    phases(collector, "t.py::setup_error", setup="failed")
    phases(collector, "t.py::skipped", setup="skipped")
    phases(collector, "t.py::failed", call="failed")
    phases(collector, "t.py::teardown_error", teardown="failed")
    collector.add(PhaseReport("t.py::xfail", "call", 0.1, "skipped", "main", xfail=True))
    collector.add(PhaseReport("t.py::xpass", "call", 0.1, "passed", "main", xfail=True))
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
    collector.add(PhaseReport(NODE, "setup", 0.1, "passed", "main"))
    collector.add(PhaseReport(NODE, "call", 3.0, "rerun", "main"))
    phases(collector)
    (test,) = collector.tests()
    assert test["reruns"] == 1
    assert test["call"] == 0.5
    assert test["status"] == "passed"


def test_markers_come_from_setup_and_memory_and_cpu_from_the_annotations() -> None:
    collector = TimingCollector()
    collector.add(PhaseReport(NODE, "setup", 0.1, "passed", "main", markers=["slow"]))
    collector.add(
        PhaseReport(
            NODE,
            "teardown",
            0.1,
            "passed",
            "main",
            optikit={"cpu_time": 0.4, "memory_peak_mb": 12.5},
        )
    )
    (test,) = collector.tests()
    assert test["markers"] == ["slow"]
    assert test["cpu_time"] == 0.4
    assert test["memory_peak_mb"] == 12.5


def test_fixture_timings_are_aggregated_per_definition() -> None:
    collector = TimingCollector()
    for seconds in (0.3, 0.5):
        collector.add(
            PhaseReport(
                NODE,
                "setup",
                seconds,
                "passed",
                "main",
                optikit={"fixtures": [["data", "function", "tests", seconds]]},
            )
        )
    collector.add(
        PhaseReport(
            NODE,
            "teardown",
            0.2,
            "passed",
            "main",
            optikit={"teardowns": [["data", "function", "tests", 0.2]]},
        )
    )
    (fixture,) = collector.fixtures()
    assert fixture == {
        "name": "data",
        "scope": "function",
        "baseid": "tests",
        "setups": 2,
        "total": 0.8,
        "max": 0.5,
        "teardown_total": 0.2,
    }


def test_excluded_paths_keep_fixture_timings_but_not_tests() -> None:
    collector = TimingCollector(exclude=("tests/performance/test_*.py",))
    collector.add(
        PhaseReport(
            "tests/performance/test_gate.py::test_x",
            "setup",
            0.1,
            "passed",
            "main",
            optikit={"fixtures": [["db", "session", "", 0.1]]},
        )
    )
    phases(collector)
    assert [t["nodeid"] for t in collector.tests()] == [NODE]
    assert collector.fixtures()[0]["name"] == "db"


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
