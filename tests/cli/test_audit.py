"""``optikit audit-parallel`` end to end: real pytest runs of planted suites through the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PLANTED = Path(__file__).parent.parent / "planted_suite"


def audit(project: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "optikit", "audit-parallel", "--project", str(project), *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = project / ".optikit" / "audit.json"
    return done, json.loads(report.read_text()) if report.exists() else {}


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    project = tmp_path / "planted"
    shutil.copytree(PLANTED, project)
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    return project


def test_every_planted_case_is_classified_with_its_culprit(planted: Path) -> None:
    done, report = audit(planted, "--runs", "3", "-n", "2", "--seed", "1", "--fail-on-flaky")
    assert done.returncode == 1, done.stdout + done.stderr
    found = {
        nodeid.split("::")[1]: (t["classification"], t["polluters"], t["state_setters"])
        for nodeid, t in report["tests"].items()
    }
    pollution = "test_pollution.py::"
    assert found["test_price_in_usd"] == ("order_dependent", [pollution + "test_set_currency"], [])
    assert found["test_cache_starts_empty"][0] == "order_dependent"
    assert sorted(found["test_cache_starts_empty"][1]) == [
        pollution + "test_cache_a",
        pollution + "test_cache_b",
    ]
    assert found["test_chain_victim"] == (
        "order_dependent",
        [pollution + "test_chain_first", pollution + "test_chain_second"],
        [],
    )
    assert found["test_needs_registry"] == (
        "order_dependent",
        [],
        [pollution + "test_setup_registry"],
    )
    assert found["test_every_other_run"][0] == "flaky"
    assert found["test_sampled_discount"][0] == "flaky"  # random data, not the order
    race = "test_race.py::"
    assert found["test_race_writer_a"] == ("parallel_unsafe", [race + "test_race_writer_b"], [])
    assert found["test_race_writer_b"] == ("parallel_unsafe", [race + "test_race_writer_a"], [])
    culprits = (
        "set_currency",
        "cache_a",
        "cache_b",
        "chain_first",
        "chain_second",
        "setup_registry",
    )
    assert all(found[f"test_{name}"][0] == "stable" for name in culprits)  # no false findings
    victim = report["tests"][pollution + "test_price_in_usd"]
    assert victim["reproduce"] == (
        "pytest -p no:randomly -p no:xdist "
        f"{pollution}test_set_currency {pollution}test_price_in_usd"
    )
    assert any("SETTINGS" in item for item in victim["evidence"])
    assert report["runs"] == 3
    assert report["seeds"] == [None, 2, 3]
    assert "order dependent" in done.stdout


def test_max_time_writes_a_partial_report_and_says_so(planted: Path) -> None:
    done, report = audit(planted, "--runs", "50", "-n", "2", "--max-time", "1s")
    assert done.returncode == 0, done.stderr
    assert report["partial"] is True
    assert "--max-time" in report["stopped"]
    assert "Partial report" in done.stdout


def test_a_suite_pytest_cannot_run_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "conftest.py").write_text("import a_module_that_is_not_there\n")
    (tmp_path / "test_a.py").write_text("def test_a():\n    pass\n")
    done, report = audit(tmp_path, "--runs", "2", "-n", "0")
    assert done.returncode == 2
    assert "pytest could not run the suite" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(report["crashes"]) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--max-time", "soon"], "not a duration"), (["--runs", "0"], "--runs")],
)
def test_bad_arguments_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    done, _ = audit(tmp_path, *args)
    assert done.returncode == 2
    assert message in done.stderr


def test_a_clean_suite_reports_the_bound_its_runs_support(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "test_fine.py").write_text("def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    done, report = audit(tmp_path, "--runs", "3", "-n", "2", "--format", "markdown")
    assert done.returncode == 0, done.stderr
    assert {t["classification"] for t in report["tests"].values()} == {"stable"}
    assert report["suite"]["clean_run_bound_95"] == pytest.approx(0.6316, abs=1e-3)
    assert "## optikit audit-parallel" in done.stdout


def test_a_victim_failing_in_every_default_order_run_is_order_dependent(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "test_order.py").write_text(
        "CONFIG = {}\n\n"
        "def test_configure():\n    CONFIG['debug'] = True\n\n"
        "def test_defaults():\n    assert CONFIG == {}\n"
    )
    done, report = audit(tmp_path, "--runs", "1", "-n", "0")
    assert done.returncode == 0, done.stderr
    victim = report["tests"]["test_order.py::test_defaults"]
    assert (victim["failures"], victim["runs"]) == (1, 1)
    assert victim["classification"] == "order_dependent"
    assert victim["polluters"] == ["test_order.py::test_configure"]


def test_a_crashed_run_is_listed_and_the_others_still_count(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "conftest.py").write_text(
        "def pytest_configure(config):\n"
        "    if config.getoption('audit_shuffle', None) == 3:\n"
        "        raise SystemExit('pytest died in run 2')\n"
    )
    (tmp_path / "test_a.py").write_text("def test_a():\n    pass\n")
    done, report = audit(tmp_path, "--runs", "3", "-n", "0")
    assert done.returncode == 0, done.stderr
    assert [crash["seed"] for crash in report["crashes"]] == [3]
    assert "pytest died in run 2" in report["crashes"][0]["why"]
    assert report["tests"]["test_a.py::test_a"]["runs"] == 2
    assert "1 crashed run" in done.stdout
