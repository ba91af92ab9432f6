"""``pytest --track-performance`` on real pytest runs, serial and under xdist."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from optikit.timing import history

CONFTEST = """
import time
import pytest

@pytest.fixture(scope="session")
def session_db():
    time.sleep(0.2)
    yield "db"
    time.sleep(0.1)

@pytest.fixture(scope="module")
def module_data(session_db):
    time.sleep(0.1)
    return [1, 2]

@pytest.fixture
def per_test():
    time.sleep(0.05)
    return 1
"""

TEST_A = """
import pytest

def test_one(module_data, per_test):
    assert module_data

@pytest.mark.slow
def test_slow(module_data):
    pass

@pytest.mark.parametrize("n", [1, 2])
def test_param(per_test, n):
    assert n
"""

TEST_B = """
def test_other(module_data):
    assert module_data
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_a=TEST_A, test_b=TEST_B)
    return pytester


def tracked(pytester: pytest.Pytester, *args: str) -> dict[str, Any]:
    result = pytester.runpytest_subprocess("--track-performance", "-p", "no:randomly", *args)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["optikit: * tests recorded in *"])
    data: dict[str, Any] = json.loads((pytester.path / "tests/.performance_data.json").read_text())
    return data


def test_serial_and_parallel_record_the_same_tests_and_phases(suite: pytest.Pytester) -> None:
    serial = tracked(suite)
    parallel = tracked(suite, "-n", "2")

    def shape(record: dict[str, Any]) -> set[tuple[str, ...]]:
        return {
            (
                t["nodeid"],
                t["status"],
                *sorted(k for k in ("setup", "call", "teardown") if k in t),
                *t["markers"],
            )
            for t in record["tests"]
        }

    assert shape(serial) == shape(parallel)
    assert any("slow" in entry for entry in shape(parallel))
    assert len(serial["tests"]) == 5
    assert {t["worker"] for t in serial["tests"]} == {"main"}
    assert {t["worker"] for t in parallel["tests"]} <= {"gw0", "gw1"}
    assert {f["name"] for f in serial["fixtures"]} == {f["name"] for f in parallel["fixtures"]}
    assert set(parallel["workers"]) == {t["worker"] for t in parallel["tests"]}
    if Path("/proc/self/schedstat").exists():  # the kernel's count of time spent waiting
        assert 0 <= serial["machine"]["cpu_wait_share"] < 1
        assert 0 <= parallel["machine"]["cpu_wait_share"] < 1
    assert parallel["collection_time"] > 0


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_fixture_time_goes_to_the_fixture_not_the_first_test(
    suite: pytest.Pytester, workers: list[str]
) -> None:
    record = tracked(suite, *workers)
    fixtures = {f["name"]: f for f in record["fixtures"]}
    processes = len(record["workers"])  # a session fixture is set up once in each process
    assert fixtures["session_db"]["scope"] == "session"
    assert fixtures["session_db"]["setups"] == processes
    assert fixtures["session_db"]["total"] >= 0.2
    assert fixtures["session_db"]["teardown_total"] >= 0.1
    # each fixture's teardown is its own: module_data has no teardown code of its own
    assert fixtures["module_data"].get("teardown_total", 0.0) < 0.05
    # module_data's own time excludes session_db, which it depends on
    assert fixtures["module_data"]["scope"] == "module"
    assert 2 <= fixtures["module_data"]["setups"] <= 2 * processes  # per module per process
    assert 0.1 <= fixtures["module_data"]["max"] < fixtures["session_db"]["total"] + 0.1
    assert fixtures["per_test"]["setups"] == 3
    assert "n" not in fixtures  # parametrize arguments are not fixtures


def test_markers_lines_and_summary(suite: pytest.Pytester) -> None:
    record = tracked(suite)
    tests = {t["nodeid"]: t for t in record["tests"]}
    assert tests["test_a.py::test_slow"]["markers"] == ["slow"]
    assert tests["test_a.py::test_param[1]"]["markers"] == []
    assert tests["test_a.py::test_slow"]["line"] == 6  # its first line: the decorator
    assert record["summary"]["total_tests"] == 5
    assert record["machine"]["calibration"] > 0
    assert record["git"] == {"commit": None, "branch": None, "dirty": None}


def test_each_run_is_appended_to_the_history(suite: pytest.Pytester) -> None:
    tracked(suite)
    tracked(suite, "-n", "2")
    db = suite.path / ".optikit/history.db"
    assert len(history.recent_runs(db, 10)) == 2
    assert all(len(values) == 2 for values in history.durations(db, 10).values())


def test_without_the_flag_nothing_is_written(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("-p", "no:randomly")
    assert result.ret == 0
    assert not (suite.path / "tests/.performance_data.json").exists()
    assert "optikit:" not in result.stdout.str()


def test_interrupted_run_keeps_what_it_measured(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_c="def test_stop():\n    raise KeyboardInterrupt\n")
    result = suite.runpytest_subprocess("--track-performance", "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    record = json.loads((suite.path / "tests/.performance_data.json").read_text())
    assert {t["nodeid"] for t in record["tests"]} >= {
        "test_a.py::test_one",
        "test_b.py::test_other",
    }


def test_memory_tracking(suite: pytest.Pytester) -> None:
    record = tracked(suite, "--track-memory")
    assert all("memory_peak_mb" in t and t["cpu_time"] >= 0 for t in record["tests"])


def test_custom_data_path_and_no_history(suite: pytest.Pytester, tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    result = suite.runpytest_subprocess(
        "--track-performance", f"--performance-data={target}", "--performance-no-history"
    )
    assert result.ret == 0
    assert len(json.loads(target.read_text())["tests"]) == 5
    assert not (suite.path / ".optikit/history.db").exists()


def test_excluded_paths_are_not_recorded(suite: pytest.Pytester) -> None:
    suite.makepyprojecttoml('[tool.optikit.performance]\nexclude = ["test_b.py"]\n')
    record = tracked(suite)
    assert "test_b.py::test_other" not in {t["nodeid"] for t in record["tests"]}


CONTENDED = """
import os
import subprocess
import sys
import time

def test_shares_its_cpu():
    # Pinned to one CPU beside a busy loop pinned there too: the kernel must make this test
    # wait for the CPU while it computes.
    os.sched_setaffinity(0, {0})
    hog = subprocess.Popen(
        [sys.executable, "-c", "import os; os.sched_setaffinity(0, {0})\\nwhile True: pass"]
    )
    try:
        spent = time.process_time()
        while time.process_time() - spent < 0.3:
            pass
    finally:
        hog.kill()
        hog.wait()

def test_quiet():
    pass

def test_runs_its_work_in_a_child():
    subprocess.run(
        [sys.executable, "-c", "import time\\nwhile time.process_time() < 0.2: pass"], check=True
    )
"""


@pytest.mark.skipif(
    not Path("/proc/thread-self/schedstat").exists() or not hasattr(os, "sched_setaffinity"),
    reason="the kernel's per-thread wait count and CPU pinning are Linux's",
)
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_time_a_test_waited_for_a_cpu_is_recorded(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    """Where tests run (the process, or each xdist worker, which sends it): the gate takes
    it off the test's time."""
    pytester.makepyfile(test_busy=CONTENDED)
    tests = {t["nodeid"]: t for t in tracked(pytester, *workers)["tests"]}
    busy = tests["test_busy.py::test_shares_its_cpu"]
    assert 0.001 <= busy["cpu_wait"] <= busy["duration"]
    assert tests["test_busy.py::test_quiet"].get("cpu_wait", 0.0) < busy["cpu_wait"]
    if not workers:  # the same thread as the busy test: 0.2 s in a child, charged its wait
        assert tests["test_busy.py::test_runs_its_work_in_a_child"]["cpu_wait"] >= 0.01


def test_a_tests_wait_is_the_counts_growth_since_the_last_reading_and_xdists_controller_keeps_none(
    pytester: pytest.Pytester,
) -> None:
    """Readings (the kernel's count in nanoseconds, the clock in seconds) as they would come:
    collection's growth is nobody's; a test that finished under a millisecond after the last
    reading is not read (it cannot have waited a millisecond), so its growth goes to the next
    test read; a growth under 1 ms is left out; the controller of xdist workers, told of
    every test finishing, records nothing of its own."""
    from optikit.timing.tracker import CpuWaitTimer

    counts = iter([(9, c) for c in (0, 5_000_000, 5_200_000, 9_200_000, 9_200_000)])
    times = iter([0.0, 1.0, 1.01, 1.0105, 1.02, 2.0, 3.0])
    waits: dict[str, float] = {}
    timer = CpuWaitTimer(lambda: next(counts), waits, lambda: next(times), lambda: 0.0)
    session = pytest.Session.from_config(pytester.parseconfigure())
    timer.pytest_runtestloop(session)  # count 5 ms, at 1.0 s
    for nodeid in ("t.py::a", "t.py::b", "t.py::c"):  # at 1.01 s, 1.0105 s (not read), 1.02 s
        timer.pytest_runtest_logfinish(nodeid)
    assert waits == {"t.py::c": 0.004}
    session.config.pluginmanager.register(object(), "dsession")
    timer.pytest_runtestloop(session)
    timer.pytest_runtest_logfinish("t.py::d")
    assert waits == {"t.py::c": 0.004}


def test_a_tests_child_processes_are_charged_the_wait_this_thread_had_per_second_on_a_cpu(
    pytester: pytest.Pytester,
) -> None:
    """A test that ran 0.2 s of CPU in a child process, on a machine where this thread has
    waited 1 s for every 2 s it ran, is charged 0.1 s for the child beside its own 3 ms; a
    test that started no child is charged only its own wait."""
    from optikit.timing.tracker import CpuWaitTimer

    counts = iter(
        [
            (1_000_000_000, 0),
            (2_000_000_000, 1_000_000_000),
            (2_000_000_000, 1_003_000_000),
            (3_000_000_000, 1_500_000_000),
        ]
    )
    children = iter([5.0, 5.0, 5.2, 5.2])
    times = iter([0.0, 0.0, 1.0, 2.0])
    waits: dict[str, float] = {}
    timer = CpuWaitTimer(lambda: next(counts), waits, lambda: next(times), lambda: next(children))
    timer.pytest_runtestloop(pytest.Session.from_config(pytester.parseconfigure()))
    timer.pytest_runtest_logfinish("t.py::spawns")
    timer.pytest_runtest_logfinish("t.py::computes")
    assert waits == {"t.py::spawns": pytest.approx(0.003 + 0.2 * 0.5015), "t.py::computes": 0.497}


FIRST_CALL = """
import time

LOADED = []

def load_database():
    if not LOADED:  # a one-time cost: whichever test comes first pays it
        time.sleep(0.3)
        LOADED.append(1)

def test_uses_the_database():
    load_database()

def test_other():
    pass
"""


def test_warm_up_runs_each_test_twice_and_records_the_second(pytester: pytest.Pytester) -> None:
    """What ``--confirm`` re-runs with: a suspect alone in a fresh process would pay the
    suite's one-time cost (and confirm a false alarm); its second run does not."""
    pytester.makepyfile(test_first=FIRST_CALL)
    cold = {t["nodeid"]: t for t in tracked(pytester)["tests"]}
    assert cold["test_first.py::test_uses_the_database"]["duration"] >= 0.3
    warm = tracked(pytester, "--performance-warm-up")
    tests = {t["nodeid"]: t for t in warm["tests"]}
    assert len(warm["tests"]) == 2
    assert tests["test_first.py::test_uses_the_database"]["duration"] < 0.3
    assert {t["status"] for t in warm["tests"]} == {"passed"}


def test_warm_up_of_a_single_test_sets_its_fixtures_and_arguments_up_again(
    pytester: pytest.Pytester,
) -> None:
    """``--confirm`` re-runs one suspect alone when no reference test is stable enough: it
    is then followed by itself, and its second run must set up (and tear down) again."""
    pytester.makepyfile(
        test_one="""
        import pytest

        EVENTS = []

        @pytest.fixture
        def resource():
            EVENTS.append("setup")
            yield "value"
            EVENTS.append("teardown")

        @pytest.mark.parametrize("flag", [True])
        def test_param(flag, resource):
            assert flag is True and resource == "value"
            assert EVENTS.count("setup") == EVENTS.count("teardown") + 1
        """
    )
    warm = tracked(pytester, "--performance-warm-up", "test_one.py::test_param[True]")
    assert [t["status"] for t in warm["tests"]] == ["passed"]
    result = pytester.runpytest_subprocess(
        "--track-performance", "--performance-warm-up", "-p", "no:randomly", "-v",
        "test_one.py::test_param[True]",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()
    assert result.stdout.str().count("test_one.py::test_param[True] PASSED") == 2
