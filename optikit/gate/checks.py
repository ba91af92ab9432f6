"""The regression gate as tests, for suites that want it inside pytest.

Put one line in ``tests/performance/test_performance_regression.py`` (the tracker ignores that
folder by default, so the checks never measure themselves)::

    from optikit.performance_checks import *  # noqa: F403

They judge the *latest recorded* run (``data_file``) against the committed baseline, and skip
with the command to run when either file is missing.
"""

from __future__ import annotations

import pytest

from optikit.config import OptikitConfig
from optikit.errors import OptikitError
from optikit.gate.baseline import Baseline, read_baseline
from optikit.gate.verdict import GateResult, compare
from optikit.plugin import optikit_config
from optikit.timing.run_record import RunRecord, read_run_record

__all__ = [
    "test_no_individual_test_regressions",
    "test_no_suite_regressions",
    "test_slow_test_count_not_growing",
]


def _inputs(config: OptikitConfig) -> tuple[Baseline, RunRecord]:
    performance = config.performance
    try:
        baseline = read_baseline(config.path(performance.baseline_file))
        record = read_run_record(config.path(performance.data_file))
    except OptikitError as exc:
        pytest.skip(str(exc))
    return baseline, record


def _gate(request: pytest.FixtureRequest) -> tuple[GateResult, Baseline, RunRecord]:
    config = optikit_config(request.config)
    baseline, record = _inputs(config)
    return compare(baseline, record, config.performance), baseline, record


def test_no_individual_test_regressions(request: pytest.FixtureRequest) -> None:
    result, _, _ = _gate(request)
    found = [
        f"{t.nodeid}: {t.baseline:.3f}s -> {t.corrected:.3f}s ({t.change:+.0f}%)"
        for t in result.regressions
    ]
    assert not found, "slower than the baseline:\n" + "\n".join(found)


def test_no_suite_regressions(request: pytest.FixtureRequest) -> None:
    result, _, _ = _gate(request)
    found = [
        f"{s.group}: {s.baseline:.2f}s -> {s.adjusted:.2f}s ({s.change:+.0f}%)"
        for s in result.suite_regressions
    ]
    assert not found, "suite totals over their threshold:\n" + "\n".join(found)


def test_slow_test_count_not_growing(request: pytest.FixtureRequest) -> None:
    config = optikit_config(request.config)
    baseline, record = _inputs(config)
    limit = config.performance.slow_test_threshold_seconds
    before = {n for n, e in baseline["tests"].items() if e["duration"] >= limit}
    now = {t["nodeid"] for t in record["tests"] if t["duration"] >= limit}
    assert not now - before, f"new tests over {limit:g}s: {sorted(now - before)}"
