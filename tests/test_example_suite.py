"""The bundled example suite passes as its team runs it, and has every planted problem.

Each test here proves one problem exists, so later capabilities have something real to fix.
They run the example in fresh pytest processes and share its hard-coded /tmp paths, hence
the xdist group.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from clinic.datasets import DATASETS
from clinic.fake_model import clinic_responder

from optikit.testing.fake_llm import ChatRequest, FakeLLMServer
from optikit.timing.run_record import read_run_record
from tests.conftest import EXAMPLE, RunSuite

pytestmark = pytest.mark.serial

TESTS = EXAMPLE / "tests"
UNITS = "tests/test_units.py"
REPORTS = "tests/test_reports.py"


def test_suite_passes_in_default_order_and_waits_on_the_llm(
    run_example_suite: RunSuite, tmp_path: Path
) -> None:
    data = tmp_path / "run.json"
    with FakeLLMServer(clinic_responder, latency=0.5) as server:
        result = run_example_suite(
            "--track-performance",
            f"--performance-data={data}",
            "--performance-no-history",
            "--no-llm-cassettes",  # the suite as it ran before its calls were recorded
            env={"CLINIC_LLM_URL": server.url},
        )
        calls = server.counts()
    output = result.stdout[-3000:] + result.stderr[-2000:]
    assert result.returncode == 0, output
    times = {test["nodeid"]: test for test in read_run_record(data)["tests"]}
    assert len(times) >= 18, output
    assert {test["status"] for test in times.values()} == {"passed"}, output
    assert calls["openai"] >= 8, (calls, output)
    assert calls["ollama-chat"] == 1, (calls, output)
    # Each of these makes two LLM calls, and every call waits for the model's latency:
    # a lower bound by construction, not a timing threshold.
    for name in (
        "tests/test_nl_query.py::test_streaming_parse_matches_plain_parse",
        "tests/test_nl_query.py::test_explanation_mentions_the_answer",
        "tests/test_statistics.py::test_monthly_review_workbook",
    ):
        assert times[name]["call"] >= 2 * server.latency, (name, times[name])


def test_unit_alias_pair_is_order_dependent(run_example_suite: RunSuite) -> None:
    victim = f"{UNITS}::test_unknown_units_pass_through"
    polluter = f"{UNITS}::test_register_imperial_alias"
    default_order = run_example_suite(victim, polluter)
    assert default_order.returncode == 0, default_order.stdout
    reversed_order = run_example_suite(polluter, victim)
    assert reversed_order.returncode == 1
    assert f"FAILED {victim}" in reversed_order.stdout
    assert "AssertionError: assert 'pound' == 'lb'" in reversed_order.stdout


def test_report_pair_races_on_a_shared_tmp_file(
    run_example_suite: RunSuite, tmp_path: Path
) -> None:
    """Alone, or one after the other, both pass; side by side, one reads the other's file."""
    tests = [f"{REPORTS}::test_site_report", f"{REPORTS}::test_diagnosis_report"]
    for order in (tests, tests[::-1]):
        assert run_example_suite(*order).returncode == 0

    # Hold each test's LLM call until both tests are inside it: both have written the
    # shared file and neither has read it back yet, which is the race, made certain.
    both_waiting = threading.Barrier(2, timeout=120)

    def responder(request: ChatRequest) -> str:
        both_waiting.wait()
        return clinic_responder(request)

    with FakeLLMServer(responder, latency=0.0) as server:
        env = {**os.environ, "CLINIC_LLM_URL": server.url}
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
        command.append("--no-llm-cassettes")  # the race needs both calls to reach the server
        processes = [
            subprocess.Popen(
                [*command, test], cwd=EXAMPLE, env=env, stdout=subprocess.PIPE, text=True
            )
            for test in tests
        ]
        outputs = [process.communicate(timeout=300)[0] for process in processes]
    codes = sorted(process.returncode for process in processes)
    assert codes == [0, 1], outputs
    failed = next(out for out in outputs if "1 failed" in out)
    assert "assert read_summary(REPORT) == rows" in failed


def hard_coded_tmp_paths(path: Path) -> set[str]:
    return {
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith("/tmp/")
    }


def test_tests_write_to_hard_coded_tmp_paths() -> None:
    assert hard_coded_tmp_paths(TESTS / "test_reports.py") >= {"/tmp/clinic_reports/summary.csv"}
    assert hard_coded_tmp_paths(TESTS / "test_excel_export.py") >= {
        "/tmp/clinic_exports/cohort.xlsx"
    }


def cache_figures(run: RunSuite, cwd: Path, *args: str) -> dict[str, dict[str, float]]:
    data = cwd / "run.json"
    result = run(
        "--track-performance",
        f"--performance-data={data}",
        "--performance-no-history",
        *args,
        cwd=cwd,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return read_run_record(data).get("fixture_cache", {})


def test_patients_table_is_built_once_then_read_from_the_cache(
    run_example_suite: RunSuite, example_copy: Path
) -> None:
    cold = cache_figures(run_example_suite, example_copy, "tests/test_cohorts.py")
    assert (cold["conftest.patients"]["misses"], cold["conftest.patients"]["hits"]) == (1, 3)
    warm = cache_figures(run_example_suite, example_copy, "tests/test_cohorts.py")
    assert (warm["conftest.patients"]["misses"], warm["conftest.patients"]["hits"]) == (0, 4)
    uncached = run_example_suite("--setup-show", "--no-fixture-cache", "tests/test_cohorts.py")
    setups = re.findall(r"^\s*SETUP\s+F patients\b", uncached.stdout, re.MULTILINE)
    assert len(setups) == 4


def test_a_dataset_test_loads_only_its_dataset(
    run_example_suite: RunSuite, example_copy: Path
) -> None:
    figures = cache_figures(
        run_example_suite, example_copy, "tests/test_datasets.py::test_lab_values_are_positive"
    )
    assert set(figures) == {"dataset.labs"}
    assert set(DATASETS) == {"patients", "labs", "visits", "medications"}


def test_llm_tests_replay_from_cassettes_with_the_server_down(run_example_suite: RunSuite) -> None:
    """The committed cassettes answer every call; nothing listens on port 9 (discard)."""
    result = run_example_suite(
        "tests/test_nl_query.py",
        "tests/test_statistics.py::test_monthly_review_workbook",
        env={"CLINIC_LLM_URL": "http://127.0.0.1:9"},
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert re.search(r"\d+ calls replayed \([\d.]+ s of recorded latency", result.stdout)
    assert ", 0 recorded" in result.stdout
