"""The end-of-run summary of ``pytest --track-performance``."""

from __future__ import annotations

import pytest

from optikit.timing.summary import summary_lines
from tests.factories import record


def test_the_slowest_tests_and_costliest_fixtures_whole_and_in_order() -> None:
    long_id = "tests/test_" + "x" * 120 + ".py::test_slow[" + "p" * 60 + "]"
    run = record(
        {"tests/test_a.py::test_fast": 0.01, long_id: 2.5, "tests/test_b.py::test_mid": 0.4}
    )
    run["fixtures"] = [
        {"name": "db", "scope": "function", "baseid": "", "setups": 15, "total": 14.5, "max": 1.2},
        {"name": "tmp", "scope": "function", "baseid": "", "setups": 3, "total": 0.0, "max": 0.0},
    ]
    lines = summary_lines(run, 2)
    assert lines == [
        "slowest 2 tests (setup + call + teardown):",
        f"     2.500 s  {long_id}",
        "     0.400 s  tests/test_b.py::test_mid",
        "costliest 1 fixtures (total setup time):",
        "    14.500 s  db (function scope, 15 setups)",
    ]
    assert summary_lines(run, 0) == []


def test_collection_is_named_only_when_it_is_a_large_share() -> None:
    run = record({"t.py::a": 0.1})
    run["wall_time"], run["collection_time"] = 10.0, 1.0
    assert not [line for line in summary_lines(run, 5) if "collection" in line]
    run["collection_time"] = 4.0
    assert summary_lines(run, 5)[-1] == "collection took 4.00 s of 10.00 s (40%)"


def test_a_tracked_run_ends_with_its_summary(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_s="import time\ndef test_sleepy():\n    time.sleep(0.2)\n")
    result = pytester.runpytest_subprocess("--track-performance", "-p", "no:randomly")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["slowest 1 tests (setup + call + teardown):", "*s  test_s.py::test_sleepy"]
    )
    quiet = pytester.runpytest_subprocess(
        "--track-performance", "--track-summary", "0", "-p", "no:randomly"
    )
    assert "slowest" not in quiet.stdout.str()
    refused = pytester.runpytest_subprocess("--track-performance", "--track-summary", "-1")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    assert "--track-summary takes a number" in refused.stderr.str()
