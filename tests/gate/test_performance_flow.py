"""track -> baseline -> report -> regression, through the real CLI in fresh processes."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from optikit.timing import history

PYPROJECT = """
[tool.optikit.performance]
# sleeps are exact lower bounds; a wide floor keeps a loaded machine's jitter out of the gate
noise_floor_seconds = 0.2
"""

TESTS = """
import os
import time

import pytest

@pytest.mark.parametrize("n", range(6))
def test_steady(n):
    time.sleep(0.05)

def test_target():
    time.sleep(0.3 + (0.6 if os.environ.get("SLOWDOWN") else 0.0))
"""


def run(
    project: Path, *args: str, slowdown: bool = False, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SLOWDOWN", "GITHUB_ACTIONS")}
    env["COLUMNS"] = str(columns)
    if slowdown:
        env["SLOWDOWN"] = "1"
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=project, env=env, capture_output=True, text=True
    )


def track(project: Path, slowdown: bool = False) -> None:
    result = run(
        project, "pytest", "-q", "-p", "no:randomly", "--track-performance", slowdown=slowdown
    )
    assert result.returncode == 0, result.stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_work.py").write_text(TESTS)
    return tmp_path


def test_gate_passes_steady_runs_and_fails_a_real_slowdown(project: Path) -> None:
    missing = run(project, "optikit", "regression")
    assert missing.returncode == 2
    assert "Baseline not found. Run 'make performance-baseline'" in missing.stderr
    assert "Traceback" not in missing.stderr

    track(project)
    track(project)
    made = run(project, "optikit", "baseline", "--from-history", "2")
    assert made.returncode == 0, made.stderr
    saved = json.loads((project / "tests/.performance_baseline.json").read_text())
    assert sum(len(rows) for rows in saved["tests"].values()) == 7
    assert saved["runs"] == 2

    report = run(project, "optikit", "report", "--compare-baseline")
    assert report.returncode == 0, report.stderr
    assert "## Slowest tests" in report.stdout
    assert "`tests/test_work.py::test_target`" in report.stdout
    html = run(project, "optikit", "report", "--format", "html", "--output", "report.html")
    assert html.returncode == 0
    assert (project / "report.html").read_text().startswith("<!doctype html>")

    track(project)
    steady = run(project, "optikit", "regression")
    assert steady.returncode == 0, steady.stdout

    track(project, slowdown=True)
    slower = run(project, "optikit", "regression")
    assert slower.returncode == 1, slower.stdout
    # the verdict first, naming the test; narrow and piped, each node id stays whole on a line
    narrow = run(project, "optikit", "regression", columns=80)
    first = narrow.stdout.splitlines()[0]
    assert first.startswith("Gate FAILED: 3 regressions (tests/test_work.py::test_target +"), first
    assert "module tests/test_work.py +" in first  # the test, its module, the suite
    rows = [line for line in narrow.stdout.splitlines() if "test_target" in line]
    assert len(rows) >= 2
    assert all("tests/test_work.py::test_target" in row for row in rows)
    assert "test_steady" not in narrow.stdout  # only what is not ok, without --all

    # --confirm re-runs the flagged test: a slowdown that is gone is not a regression
    gone = run(project, "optikit", "regression", "--confirm", "2")
    assert gone.returncode == 0, gone.stdout
    assert "unconfirmed" in gone.stdout
    # piped (a CI log): a plain progress line per re-run, not silence until the end
    assert "suspects beside reference tests: 2/2 done (" in gone.stderr
    persists = run(project, "optikit", "regression", "--confirm", "2", slowdown=True)
    assert persists.returncode == 1, persists.stdout


def test_github_actions_annotations(project: Path) -> None:
    track(project)
    assert run(project, "optikit", "baseline").returncode == 0
    track(project, slowdown=True)
    env = {
        **os.environ,
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(project / "summary.md"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "optikit", "regression"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert (
        "::warning file=tests/test_work.py,line=11::tests/test_work.py::test_target is"
        in result.stdout
    )
    report = subprocess.run(
        [sys.executable, "-m", "optikit", "report"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert report.returncode == 0
    assert "# Test performance report" in (project / "summary.md").read_text()


def test_corrupt_run_record_is_exit_2(project: Path) -> None:
    (project / "tests/.performance_data.json").write_text("{half a file")
    for command in (("baseline",), ("report",)):
        result = run(project, "optikit", *command)
        assert result.returncode == 2
        assert "Run record is corrupt" in result.stderr
        assert "pytest --track-performance" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_import_junit_and_export_durations(project: Path) -> None:
    junit = run(project, "pytest", "-q", "-p", "no:randomly", "--junitxml=junit.xml")
    assert junit.returncode == 0
    tracked = project / "tests/.performance_data.json"
    before = tracked.read_bytes() if tracked.exists() else None
    imported = run(project, "optikit", "import-junit", "junit.xml")
    assert imported.returncode == 0, imported.stderr
    record = json.loads((project / ".optikit/junit-run.json").read_text())
    assert "tests/test_work.py::test_target" in {t["nodeid"] for t in record["tests"]}
    assert (tracked.read_bytes() if tracked.exists() else None) == before  # left alone
    replaced = run(project, "optikit", "import-junit", "junit.xml", "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads(tracked.read_text())["run_id"].startswith("junit-")
    track(project)
    exported = run(project, "optikit", "export-durations", "--runs", "5")
    assert exported.returncode == 0, exported.stderr
    durations = json.loads((project / ".test_durations").read_text())
    # the median of the history's times less their CPU wait (a busy CI runner's wait is not
    # the test's; compared by value: the net time of a 0.3 s sleep read 0.297 s under load)
    history_times = history.durations(project / ".optikit/history.db", 5)
    target = "tests/test_work.py::test_target"
    assert durations[target] == round(statistics.median(history_times[target]), 6)
    raw = {t["nodeid"]: t["duration"] for t in json.loads(tracked.read_text())["tests"]}
    assert raw[target] >= 0.3  # the sleep, wait included


def test_a_suspect_that_fails_when_re_run_keeps_its_verdict_with_a_command_that_shows_why(
    tmp_path: Path,
) -> None:
    """--confirm has no second opinion on a test that does not pass when re-run (this one
    passes once per process): the first verdict stands, and the command it prints, pasted
    into a shell, shows the failure."""
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_once.py").write_text(
        "import os\nimport time\n\nRAN = []\n\n"
        "def test_target():\n    assert not RAN, 'runs once per process'\n    RAN.append(1)\n"
        "    time.sleep(0.3 + (0.6 if os.environ.get('SLOWDOWN') else 0.0))\n"
    )
    track(tmp_path)
    assert run(tmp_path, "optikit", "baseline").returncode == 0
    track(tmp_path, slowdown=True)
    judged = run(tmp_path, "optikit", "regression", "--confirm", "1", slowdown=True)
    assert judged.returncode == 1, judged.stdout
    assert "1 flagged test(s) did not pass when re-run" in judged.stdout
    printed = judged.stdout.split("as --confirm does: ", 1)[1].split("\n", 1)[0]
    assert printed.endswith(" tests/test_once.py::test_target")
    shell = subprocess.run(
        printed, shell=True, cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )  # fmt: skip
    assert shell.returncode == 1
    assert "runs once per process" in shell.stdout
