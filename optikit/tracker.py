"""``pytest --track-performance``: per-test and per-fixture timings at almost no cost.

Small plugin objects, registered only when the flag is given:

* ``FixtureTimer`` runs where tests run (the single process, or each xdist worker). It times
  fixture setups and teardowns and hangs them on the reports pytest already makes; xdist
  forwards every report attribute to the controller, so no worker writes a file of its own.
  ``ResourceSampler`` does the same for RSS and CPU time, with ``--track-memory`` only.
* ``SessionRecorder`` runs in the controller (or the single process). It feeds each report to
  a ``TimingCollector`` in memory (markers come from the keywords every report carries) and
  writes the run record and the history once, at the end.
"""

from __future__ import annotations

import datetime
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from fixtures_lib.cache_session import run_totals
from optikit import history
from optikit.config import OptikitConfig
from optikit.environment import calibrate, git_facts, platform_facts
from optikit.errors import OptikitError
from optikit.run_record import write_run_record
from optikit.timings import MECHANICAL_MARKERS, NO_EXTRA, PhaseReport, TimingCollector

MB = 1024 * 1024


class FixtureTimer:
    """Times fixture setups and teardowns where tests run and hangs them on the next report.

    Plain hooks, no wrappers around the test protocol: the tracker's cost is the sum of what
    runs per test, and this is the only part that must run in the worker.
    """

    def __init__(self) -> None:
        self._setups: list[tuple[str, str, str, float]] = []
        self._teardowns: list[tuple[str, str, str, float]] = []
        self._teardown_mark: float | None = None

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any]) -> Any:
        # Dependencies were set up before this hook runs, so this time is the fixture's own.
        if _is_parameter(fixturedef):
            return (yield)
        started = time.perf_counter()
        try:
            return (yield)
        finally:
            seconds = time.perf_counter() - started
            self._setups.append((fixturedef.argname, fixturedef.scope, fixturedef.baseid, seconds))

    def pytest_fixture_post_finalizer(self, fixturedef: pytest.FixtureDef[Any]) -> None:
        """Fixtures are finalized one after another: each one's share is the time since the last."""
        if self._teardown_mark is None or fixturedef.cached_result is None:
            return
        if _is_parameter(fixturedef):
            return
        now = time.perf_counter()
        key = (fixturedef.argname, fixturedef.scope, fixturedef.baseid)
        self._teardowns.append((*key, now - self._teardown_mark))
        self._teardown_mark = now

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # tryfirst: under xdist, the worker's own logreport hook sends the report to the
        # controller with every attribute set on it by then, this one included.
        # A report is logged right after its phase: after setup and call, teardown is next.
        self._teardown_mark = time.perf_counter() if report.when != "teardown" else None
        if not (self._setups or self._teardowns):
            return
        extra = _annotations(report)
        if self._setups:
            extra["fixtures"], self._setups = self._setups, []
        if self._teardowns:
            extra["teardowns"], self._teardowns = self._teardowns, []


class ResourceSampler:
    """``--track-memory``: each test's RSS growth and CPU time, sampled around its phases."""

    def __init__(self) -> None:
        import psutil  # optional dependency: `pip install optikit[memory]`

        self._process = psutil.Process()
        self._cpu_start = 0.0
        self._rss_start = 0
        self._rss_peak = 0

    def pytest_runtest_logstart(self) -> None:
        self._cpu_start = time.process_time()
        self._rss_start = self._rss_peak = self._process.memory_info().rss

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._rss_peak = max(self._rss_peak, self._process.memory_info().rss)
        if report.when == "teardown":
            extra = _annotations(report)
            extra["cpu_time"] = time.process_time() - self._cpu_start
            extra["memory_peak_mb"] = (self._rss_peak - self._rss_start) / MB


def _annotations(report: pytest.TestReport) -> dict[str, Any]:
    """optikit's dict on the report, created on first use: most reports never get one."""
    extra: dict[str, Any] | None = getattr(report, "optikit", None)
    if extra is None:
        extra = report.optikit = {}  # type: ignore[attr-defined]
    return extra


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
        self.started = time.perf_counter()
        self.started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self.collection_time = 0.0
        self.outcome: str | None = None
        self._marker_names: frozenset[str] | None = None
        # git and platform facts wait on subprocesses and files: gather them while tests run
        self._facts = ThreadPoolExecutor(1, thread_name_prefix="optikit-facts")
        self._git = self._facts.submit(git_facts, settings.root)
        self._platform = self._facts.submit(platform_facts)

    def pytest_collection_finish(self) -> None:
        self.collection_time = time.perf_counter() - self.started

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self) -> None:
        self.collection_time = max(self.collection_time, time.perf_counter() - self.started)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # Folded in as it arrives: under xdist this overlaps the workers' run, where folding
        # everything at session end would sit on the critical path (measured: +12% vs +6%).
        # Attributes xdist or optikit may have set are looked up in the instance dict:
        # a missing attribute through getattr() costs an exception per report.
        attributes = vars(report)
        node = attributes.get("node")
        line = report.location[1] if report.location else None
        when = report.when or "call"
        self.collector.add(
            PhaseReport(
                report.nodeid,
                when,
                report.duration,
                report.outcome,
                node.gateway.id if node is not None else "main",
                line + 1 if line is not None else None,
                "wasxfail" in attributes,
                attributes.get("optikit", NO_EXTRA),
                self._markers(report) if when == "setup" else None,
            )
        )

    def _markers(self, report: pytest.TestReport) -> list[str]:
        """The test's registered markers, read from the keywords every report already carries.

        Reading them here rather than from the item in the worker spares a hook wrapper per
        phase and an attribute on every report crossing xdist's pipe.
        """
        if self._marker_names is None:
            lines: list[str] = self.config.getini("markers")
            names = {line.split(":", 1)[0].split("(", 1)[0].strip() for line in lines}
            self._marker_names = frozenset(names - MECHANICAL_MARKERS)
        return [keyword for keyword in report.keywords if keyword in self._marker_names]

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self) -> None:
        """Write even after a failure or Ctrl-C: an interrupted run keeps what it measured."""
        self._facts.shutdown(wait=False)
        if not self.collector:
            self.outcome = "no tests ran; nothing recorded"
            return
        record = self.collector.record(
            run_id=f"{self.started_at[:19].replace(':', '')}-{os.urandom(4).hex()}",
            started_at=self.started_at,
            git=self._git.result(),
            machine={**self._platform.result(), "calibration": calibrate()},
            slow_threshold=self.settings.performance.slow_test_threshold_seconds,
            collection_time=self.collection_time,
            wall_time=time.perf_counter() - self.started,
        )
        if cache_figures := run_totals(self.config):
            record["fixture_cache"] = {
                label: {k: round(v, 6) for k, v in vars(counts).items() if k != "last_used"}
                for label, counts in cache_figures.items()
            }
        write_run_record(self.data_file, record)
        self.outcome = f"{len(record['tests'])} tests recorded in {self.data_file}"
        if self.keep_history:
            db = self.settings.path(self.settings.performance.history_db)
            try:
                history.append_run(db, record)
            except OptikitError as exc:
                self.outcome += f"; history not updated: {exc}"
                return
            self.outcome += f" and {db}"

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.outcome:
            terminalreporter.write_line(f"optikit: {self.outcome}")


def register(config: pytest.Config, settings: OptikitConfig) -> None:
    """Called from ``pytest_configure`` when ``--track-performance`` is on."""
    track_memory = bool(config.getoption("track_memory"))
    if track_memory:
        try:
            import psutil  # noqa: F401
        except ImportError:
            raise pytest.UsageError(
                "--track-memory needs psutil: pip install 'optikit[memory]'"
            ) from None
    config.pluginmanager.register(FixtureTimer(), "optikit-fixture-timer")
    if track_memory:
        config.pluginmanager.register(ResourceSampler(), "optikit-resource-sampler")
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller records
    data_file = config.getoption("performance_data") or settings.performance.data_file
    recorder = SessionRecorder(
        config,
        settings,
        settings.path(data_file),
        keep_history=not config.getoption("performance_no_history"),
    )
    config.pluginmanager.register(recorder, "optikit-session-recorder")
