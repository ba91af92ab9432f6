"""The pytest-side gate: checks that run as tests and skip when their inputs are missing."""

from __future__ import annotations

import pytest

from optikit.config import PerformanceConfig
from optikit.gate.baseline import build_baseline, write_baseline
from optikit.timing.run_record import write_run_record
from tests.factories import record

CHECKS = "from optikit.performance_checks import *  # noqa: F403\n"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.mkdir("tests")
    pytester.mkdir("tests/performance")
    (pytester.path / "tests/performance/test_performance_regression.py").write_text(CHECKS)
    return pytester


def write_inputs(
    project: pytest.Pytester, before: dict[str, float], after: dict[str, float]
) -> None:
    write_baseline(
        project.path / "tests/.performance_baseline.json",
        build_baseline(record(before), PerformanceConfig(), None),
    )
    write_run_record(project.path / "tests/.performance_data.json", record(after))


def test_skips_with_the_fix_when_inputs_are_missing(project: pytest.Pytester) -> None:
    result = project.runpytest("-rs", "-p", "no:randomly")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(["*Baseline not found. Run 'make performance-baseline'*"])


def test_pass_when_nothing_changed(project: pytest.Pytester) -> None:
    durations = {f"tests/test_a.py::test_{i}": 1.0 for i in range(6)}
    write_inputs(project, durations, durations)
    project.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


def test_fail_on_regressions_and_new_slow_tests(project: pytest.Pytester) -> None:
    before = {f"tests/test_a.py::test_{i}": 1.0 for i in range(6)}
    after = {**before, "tests/test_a.py::test_0": 45.0}
    write_inputs(project, before, after)
    result = project.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*tests/test_a.py::test_0: 1.000s -> 45.000s*",
            "*suite: 6.00s -> 50.00s*",
            "*new tests over 30s: ?'tests/test_a.py::test_0'?",
        ]
    )
