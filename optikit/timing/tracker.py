"""``pytest --track-performance``: per-test and per-fixture timings at almost no cost.

Small plugin objects, registered only when the flag is given:

* ``SessionRecorder`` runs in the controller (or the single process). Its whole per-test work
  is keeping each report pytest makes anyway (xdist forwards the workers' reports); at the end
  a ``TimingCollector`` folds them, and the run record and the history are written once.
* ``FixtureTimer`` runs where tests run. It times each fixture's own setup and teardown and,
  in an xdist worker, sends the totals to the controller with the worker's final message
  (``workeroutput``): no worker writes a file of its own.
* ``CpuWaitTimer`` runs where tests run: how long each test waited for a CPU (a busy
  neighbour), from the kernel's count as each test finishes; sent like the fixture timings.
* ``ResourceSampler`` (``--track-memory`` only) samples RSS and CPU time around each test and
  hangs them on its teardown report.
"""

from __future__ import annotations

import datetime
import functools
import gc
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from fixtures_lib.cache.settings import run_totals
from optikit.config import OptikitConfig
from optikit.errors import OptikitError, debugging, user_message
from optikit.timing import history
from optikit.timing.collect import FixtureKey, FixtureTimings, TimingCollector
from optikit.timing.machine import (
    CpuWaitClock,
    calibrate,
    children_cpu_time,
    cpu_wait_counter,
    git_facts,
    platform_facts,
)
from optikit.timing.run_record import write_run_record
from optikit.timing.summary import summary_lines

MB = 1024 * 1024
FIXTURES_KEY = "optikit_fixture_timings"  # what each xdist worker sends in its workeroutput
CPU_WAIT_KEY = "optikit_cpu_wait"
TEST_WAITS_KEY = "optikit_test_cpu_waits"
MIN_WAIT = 0.001  # seconds: shorter waits are left out, so a quiet run has none


class FixtureTimer:
    """Times each fixture's own setup and teardown where tests run (the single process, or
    each xdist worker, which sends its totals to the controller when it finishes).

    Nothing runs per test: only fixtures that are really set up or torn down cost anything.
    """

    def __init__(self, timings: FixtureTimings) -> None:
        self.timings = timings
        self._teardown_started: tuple[pytest.FixtureDef[Any], float] | None = None

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any]) -> Any:
        # Dependencies were set up before this hook runs, so this time is the fixture's own.
        if _is_parameter(fixturedef):
            return (yield)
        started = time.perf_counter()
        try:
            return (yield)
        finally:
            self.timings.setup(_key(fixturedef), time.perf_counter() - started)
            # Finalizers run last-in first-out: this one runs after the teardowns of fixtures
            # that depend on this one and right before this fixture's own teardown code.
            fixturedef.addfinalizer(functools.partial(self._teardown_starts, fixturedef))

    def _teardown_starts(self, fixturedef: pytest.FixtureDef[Any]) -> None:
        self._teardown_started = (fixturedef, time.perf_counter())

    def pytest_fixture_post_finalizer(self, fixturedef: pytest.FixtureDef[Any]) -> None:
        """Called once the fixture's teardown code has run."""
        started = self._teardown_started
        if started is None or started[0] is not fixturedef:
            return
        self._teardown_started = None
        self.timings.teardown(_key(fixturedef), time.perf_counter() - started[1])


class CpuWaitTimer:
    """Seconds each test spent ready to run but waiting for a CPU: time a busy machine added
    that the test's code did not, which the gate takes off before judging.

    The kernel's count is read as a test finishes (about 2 microseconds, on a hook pytest
    calls anyway), at most once a millisecond: the growth since the last reading is the
    test's, and an interval under a millisecond cannot hold a millisecond's wait, so a wait
    is never more than 1 ms off while a suite of tiny tests reads it only now and then.
    A per-session share cannot do this job: a neighbour slows a 0.3 s test by half and a
    1 ms test (inside one timeslice) not at all.

    A test whose work ran in child processes (a CLI started with ``subprocess``) waited in
    them, where this thread's count cannot see: their CPU time is charged the wait this
    thread has had per second on a CPU, the nearest measure of the same machine's contention
    (the aiohttp soak's only false alarms were two such tests beside a busy neighbour).
    """

    def __init__(
        self,
        read: Callable[[], tuple[int, int]],
        waits: dict[str, float],
        clock: Callable[[], float] = time.perf_counter,
        children: Callable[[], float] = children_cpu_time,
    ) -> None:
        self.read = read
        self.waits = waits
        self.clock = clock
        self.children = children
        self.here = True  # tests run in this process
        self.read_at = clock()
        self.last = read()[1]
        self.last_children = children()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        # xdist's controller is told of each test finishing too, but runs none of them
        self.here = not session.config.pluginmanager.has_plugin("dsession")
        # collection's wait is nobody's
        self.read_at, self.last, self.last_children = self.clock(), self.read()[1], self.children()

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        now = self.clock()
        if not self.here:
            return
        self.waits.pop(nodeid, None)  # run again (--performance-warm-up): its last run counts
        if now - self.read_at < MIN_WAIT:
            return
        ran, count = self.read()
        children = self.children()
        waited = (count - self.last) / 1e9
        if children > self.last_children and ran:
            waited += (children - self.last_children) * count / ran
        if waited >= MIN_WAIT:
            self.waits[nodeid] = waited
        self.read_at, self.last, self.last_children = now, count, children


class WarmUp:
    """``--performance-warm-up``: every selected test runs twice, in order, and the second
    run's reports (which overwrite the first's in the record) are the ones kept. pytest runs
    an item again as pytest-rerunfailures does; fixtures are set up again as needed."""

    @pytest.hookimpl(trylast=True)  # after any reordering
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        items[:] = items + items

    @pytest.hookimpl(trylast=True)  # after pytest's own teardown of what ``nextitem`` lacks
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """A test followed by itself (a single selected test) would keep its function-scoped
        fixtures and arguments set up: pytest tears down only what the next item does not
        share, and sets up only what is not set up. Its second run then failed with
        ``KeyError`` on its first argument (attrs' parametrized ``test_frozen_slots_combo``),
        ``--confirm`` had no time for it and kept the first run's false alarm. Tear the test
        itself down, as pytest-rerunfailures does before a rerun (``_setupstate``)."""
        if nextitem is item and item.parent is not None:
            item.session._setupstate.teardown_exact(item.parent)  # type: ignore[arg-type]


class WorkerSummary:
    """In an xdist worker: what it measured, sent with its final message (``workeroutput``)."""

    def __init__(
        self, timings: FixtureTimings, waits: dict[str, float], workeroutput: dict[str, Any]
    ) -> None:
        self.timings = timings
        self.waits = waits
        self.workeroutput = workeroutput
        self.clock = CpuWaitClock()

    def pytest_sessionfinish(self) -> None:
        self.workeroutput[FIXTURES_KEY] = self.timings.rows()
        self.workeroutput[CPU_WAIT_KEY] = self.clock.reading()
        self.workeroutput[TEST_WAITS_KEY] = self.waits


def _key(fixturedef: pytest.FixtureDef[Any]) -> FixtureKey:
    return (fixturedef.argname, fixturedef.scope, fixturedef.baseid)


class ResourceSampler:
    """``--track-memory``: each test's RSS growth and CPU time, sampled around its phases."""

    def __init__(self) -> None:
        import psutil  # optional dependency: `pip install 'pytest-optikit[memory]'`

        self._process = psutil.Process()
        self._cpu_start = 0.0
        self._rss_start = 0
        self._rss_peak = 0

    def pytest_runtest_logstart(self) -> None:
        self._cpu_start = time.process_time()
        self._rss_start = self._rss_peak = self._process.memory_info().rss

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # tryfirst: under xdist, the worker's own logreport hook sends the report to the
        # controller with every attribute set on it by then, this one included.
        self._rss_peak = max(self._rss_peak, self._process.memory_info().rss)
        if report.when == "teardown":
            report.optikit = {  # type: ignore[attr-defined]
                "cpu_time": round(time.process_time() - self._cpu_start, 6),
                "memory_peak_mb": round((self._rss_peak - self._rss_start) / MB, 3),
            }


def _is_parameter(fixturedef: pytest.FixtureDef[Any]) -> bool:
    """``@pytest.mark.parametrize`` arguments are pseudo-fixtures; they cost nothing."""
    return getattr(fixturedef.func, "__name__", "") == "get_direct_param_fixture_func"


class SessionRecorder:
    def __init__(
        self, config: pytest.Config, settings: OptikitConfig, data_file: Path, keep_history: bool
    ) -> None:
        self.config = config
        self.settings = settings
        self.data_file = data_file
        self.keep_history = keep_history
        self.collector = TimingCollector(settings.performance.exclude)
        self.cpu_waits: list[tuple[float, float]] = []  # seconds waited and elapsed, per worker
        self.clock = CpuWaitClock()
        self.started = time.perf_counter()
        self.started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self.collection_time = 0.0
        self.outcome: str | None = None
        self.summary: list[str] = []
        # git and platform facts wait on subprocesses and files: gather them while tests run
        self._facts = ThreadPoolExecutor(1, thread_name_prefix="optikit-facts")
        # CPU seconds of the git processes that thread runs, known once it is done
        self.own_children = 0.0
        self._children_at_start = children_cpu_time()
        self._git = self._facts.submit(self._git_facts, settings.root)
        self._platform = self._facts.submit(platform_facts)

    def _git_facts(self, root: Path) -> dict[str, Any]:
        before = children_cpu_time()
        try:
            return git_facts(root)
        finally:
            self.own_children += children_cpu_time() - before

    def children_cpu(self) -> float:
        """CPU seconds of this process's ended children, less optikit's own git processes:
        what a test that finishes now may have spent in children (``CpuWaitTimer``). While
        git still runs, no growth is seen (a test is never charged for git's)."""
        if not self._git.done():
            return self._children_at_start
        return children_cpu_time() - self.own_children

    def pytest_collection_finish(self) -> None:
        self.collection_time = time.perf_counter() - self.started

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self) -> None:
        self.collection_time = max(self.collection_time, time.perf_counter() - self.started)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # Kept, not looked at: the whole per-test cost of the tracker is this append.
        self.collector.reports.append(report)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any) -> None:
        """An xdist worker finished: add the fixture timings and CPU wait it measured."""
        workeroutput = getattr(node, "workeroutput", {})
        self.collector.fixtures.merge(workeroutput.get(FIXTURES_KEY, ()))
        self.collector.cpu_waits.update(workeroutput.get(TEST_WAITS_KEY, {}))
        if workeroutput.get(CPU_WAIT_KEY):
            self.cpu_waits.append(tuple(workeroutput[CPU_WAIT_KEY]))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self) -> None:
        """Write even after a failure or Ctrl-C: an interrupted run keeps what it measured."""
        self._facts.shutdown(wait=False)
        if not self.collector.reports:
            self.outcome = "no tests ran; nothing recorded"
            return
        # Building the record allocates tens of thousands of objects and frees none of them:
        # the collections they would set off scan pytest's whole heap for nothing (measured:
        # about a sixth of the tracker's cost on 1,000 trivial tests).
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._write()
        except (OSError, OptikitError) as exc:  # the suite's own result stands: warn, go on
            if debugging():
                raise
            self.outcome = f"warning: nothing recorded: {user_message(exc)}"
        finally:
            if collecting:
                gc.enable()

    def _write(self) -> None:
        self.collector.marker_names = registered_markers(self.config)
        record = self.collector.record(
            run_id=f"{self.started_at[:19].replace(':', '')}-{os.urandom(4).hex()}",
            started_at=self.started_at,
            git=self._git.result(),
            machine={**self._platform.result(), **self._machine_load()},
            slow_threshold=self.settings.performance.slow_test_threshold_seconds,
            collection_time=self.collection_time,
            wall_time=time.perf_counter() - self.started,
        )
        if cache_figures := run_totals(self.config):
            record["fixture_cache"] = {
                label: {k: round(v, 6) for k, v in vars(counts).items() if k != "last_used"}
                for label, counts in cache_figures.items()
            }
        tests_json = write_run_record(self.data_file, record)
        self.summary = summary_lines(record, self.config.getoption("track_summary"))
        self.outcome = f"{len(record['tests'])} tests recorded in {self.data_file}"
        if self.keep_history:
            db = self.settings.path(self.settings.performance.history_db)
            try:
                history.append_run(db, record, tests_json)
            except (OSError, OptikitError) as exc:
                self.outcome += f"; warning: history not updated: {user_message(exc)}"
                return
            self.outcome += f" and {db}"

    def _machine_load(self) -> dict[str, float]:
        """The CPU calibration, taken now, and the share of their time the test processes
        waited for a CPU: the xdist workers' together, or this process's own.

        Calibrating in the workers as they start was tried: with no neighbour it read up to
        1.5 times the baseline's (the workers and the controller start together), which would
        excuse a real suite-wide slowdown. A best-of-three loop measures the hardware;
        the kernel's wait count measures the neighbours.
        """
        facts = {"calibration": calibrate()}
        if self.config.pluginmanager.has_plugin("dsession"):  # xdist's controller
            waits = self.cpu_waits
        else:
            own = self.clock.reading()
            waits = [own] if own else []
        waited, elapsed = sum(w for w, _ in waits), sum(e for _, e in waits)
        if elapsed:
            facts["cpu_wait_share"] = round(waited / elapsed, 4)
        return facts

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for line in self.summary:
            terminalreporter.write_line(line)
        if self.outcome:
            terminalreporter.write_line(f"optikit: {self.outcome}")


def register(config: pytest.Config, settings: OptikitConfig) -> None:
    """Called from ``pytest_configure`` when ``--track-performance`` is on."""
    if config.getoption("track_summary") < 0:
        raise pytest.UsageError("--track-summary takes a number of tests, 0 or more")
    if config.getoption("track_memory"):
        try:
            import psutil  # noqa: F401
        except ImportError:
            raise pytest.UsageError(
                "--track-memory needs psutil: pip install 'pytest-optikit[memory]'"
            ) from None
        config.pluginmanager.register(ResourceSampler(), "optikit-resource-sampler")
    if config.getoption("performance_warm_up"):
        config.pluginmanager.register(WarmUp(), "optikit-warm-up")
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller records
        timings, waits = FixtureTimings(), dict[str, float]()
        children: Callable[[], float] = children_cpu_time
        summary = WorkerSummary(timings, waits, workeroutput)
        config.pluginmanager.register(summary, "optikit-worker")
    else:
        data_file = config.getoption("performance_data") or settings.performance.data_file
        recorder = SessionRecorder(
            config,
            settings,
            settings.path(data_file),
            keep_history=not config.getoption("performance_no_history"),
        )
        config.pluginmanager.register(recorder, "optikit-session-recorder")
        timings, waits = recorder.collector.fixtures, recorder.collector.cpu_waits
        children = recorder.children_cpu
    config.pluginmanager.register(FixtureTimer(timings), "optikit-fixture-timer")
    if (read_wait := cpu_wait_counter()) is not None:
        timer = CpuWaitTimer(read_wait, waits, children=children)
        config.pluginmanager.register(timer, "optikit-cpu-wait")


def registered_markers(config: pytest.Config) -> set[str]:
    """Names of the markers registered with pytest: what a test's keywords are checked against."""
    lines: list[str] = config.getini("markers")
    return {line.split(":", 1)[0].split("(", 1)[0].strip() for line in lines}
