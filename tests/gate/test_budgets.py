"""Time budgets: which budget a test gets, what breaches, bad tables, and the CLI end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from optikit.cli.init import init_project
from optikit.config import SEED_BUDGETS, Budgets, load_config, parse_budgets
from optikit.errors import OptikitError
from optikit.gate.budgets import breaches
from tests.factories import record

BUDGETS = Budgets(per_test={"default": 1.0, "integration": 5.0, "e2e": 10.0}, suite=8.0)


def test_a_test_gets_its_most_generous_marker_budget_else_the_default() -> None:
    assert BUDGETS.for_test([]) == (1.0, "default")
    assert BUDGETS.for_test(["integration"]) == (5.0, "marker integration")
    assert BUDGETS.for_test(["integration", "e2e", "slow"]) == (10.0, "marker e2e")
    assert Budgets(per_test={"e2e": 10.0}).for_test(["slow"]) is None  # no default: no budget


def test_breaches_slowest_over_first_skipped_never_and_the_suite_by_wall_time() -> None:
    run = record({"t.py::fast": 0.5, "t.py::slow": 3.0, "t.py::slower": 7.0, "t.py::skip": 9.0})
    by_id = {t["nodeid"]: t for t in run["tests"]}
    by_id["t.py::slow"]["markers"] = ["integration"]
    by_id["t.py::skip"]["status"] = "skipped"
    run["wall_time"] = 9.5
    found = breaches(run, BUDGETS)
    assert [(b.what, b.budget, b.source) for b in found] == [
        ("t.py::slower", 1.0, "default"),
        ("suite", 8.0, "suite wall time"),
    ]
    assert str(found[0]) == "7.00 s > 1 s (default)  t.py::slower"
    assert breaches(run, Budgets()) == []


@pytest.mark.parametrize("bad", ["nan", "inf", "-1", "0", '"fast"', "true"])
def test_a_budget_that_is_not_seconds_is_an_error_naming_the_key(tmp_path: Path, bad: str) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(f"[tool.optikit.budgets]\ndefault = {bad}\n")
    with pytest.raises(OptikitError, match=r"\[tool.optikit.budgets\] default must be seconds"):
        load_config(tmp_path)
    assert parse_budgets({"default": 2, "suite": 60}, pyproject) == Budgets({"default": 2.0}, 60.0)


def test_init_writes_the_plan_budgets_only_when_asked_and_once(tmp_path: Path) -> None:
    init_project(tmp_path)
    assert not load_config(tmp_path).budgets
    init_project(tmp_path, budgets=True)
    budgets = load_config(tmp_path).budgets
    assert {**budgets.per_test, "suite": budgets.suite} == SEED_BUDGETS
    before = (tmp_path / "pyproject.toml").read_text()
    init_project(tmp_path, budgets=True)
    assert (tmp_path / "pyproject.toml").read_text() == before


TESTS = """
import time

import pytest

def test_quick():
    pass

@pytest.mark.integration
def test_integration():
    time.sleep(0.3)

def test_sluggish():
    time.sleep(0.3)
"""


def test_regression_fails_on_a_breach_and_report_lists_it(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nmarkers = ["integration"]\n'
        "[tool.optikit.budgets]\ndefault = 0.2\nintegration = 5\n"
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_budget.py").write_text(TESTS)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "COLUMNS": "80"}
        return subprocess.run(
            [sys.executable, "-m", *args], cwd=tmp_path, capture_output=True, text=True, env=env
        )

    assert run("pytest", "-q", "-p", "no:randomly", "--track-performance").returncode == 0
    assert run("optikit", "baseline").returncode == 0
    judged = run("optikit", "regression")
    assert judged.returncode == 1, judged.stdout
    first = judged.stdout.splitlines()[0]
    assert first.startswith("Gate FAILED: 1 over budget (tests/test_budget.py::test_sluggish 0.3")
    assert "  over budget  0.3" in judged.stdout
    assert "(default)  tests/test_budget.py::test_sluggish" in judged.stdout  # whole, piped
    assert "test_integration" not in judged.stdout  # 0.3 s is within its 5 s

    waived = run("optikit", "regression", "--no-budgets")
    assert waived.returncode == 0, waived.stdout
    assert "not enforced: --no-budgets" in waived.stdout.splitlines()[0]

    as_json = run("optikit", "regression", "--format", "json")
    assert as_json.returncode == 1  # the same exit in every format
    data = json.loads(as_json.stdout)
    assert data["failed"] is True
    assert [b["what"] for b in data["over_budget"]] == ["tests/test_budget.py::test_sluggish"]
    assert data["verdict"].startswith("Gate FAILED: 1 over budget")
    as_markdown = run("optikit", "regression", "--format", "markdown")
    assert as_markdown.stdout.startswith("**Gate FAILED: 1 over budget")
    assert "`tests/test_budget.py::test_sluggish`" in as_markdown.stdout

    report = run("optikit", "report")
    assert "## Over their time budget" in report.stdout
    assert "| `tests/test_budget.py::test_sluggish` | 0.3" in report.stdout
