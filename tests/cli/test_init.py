"""``optikit init``: appends only what is missing, keeps existing bytes, and is idempotent."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optikit.cli.app import app
from optikit.cli.init import init_project, make_targets
from optikit.config import PerformanceConfig, load_config
from optikit.markers import MARKERS, registered
from tests.test_markers import collect_without_optikit

EXISTING_PYPROJECT = """\
[project]
name = "clinic"   # odd spacing and a comment that must survive
dependencies = [
    "polars",  # trailing comma, on purpose
]

[tool.ruff]
line-length = 88
"""


def snapshot(root: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(root.iterdir()) if path.is_file()}


def test_appends_section_and_keeps_existing_bytes(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(EXISTING_PYPROJECT)
    init_project(tmp_path)
    text = (tmp_path / "pyproject.toml").read_text()
    assert text.startswith(EXISTING_PYPROJECT)
    assert "\n[tool.optikit]\n" in text
    assert registered(tmp_path) == set(MARKERS)  # where pytest reads them
    config = load_config(tmp_path)
    assert config.performance == PerformanceConfig()
    assert {s.source for s in config.settings()} == {"default"}  # it sets nothing


def test_second_run_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(EXISTING_PYPROJECT)
    first = init_project(tmp_path)
    assert all(change.changed for change in first)
    before = snapshot(tmp_path)
    second = init_project(tmp_path)
    assert not any(change.changed for change in second)
    assert snapshot(tmp_path) == before


def test_file_without_trailing_newline_keeps_its_bytes(tmp_path: Path) -> None:
    original = '[project]\nname = "x"'
    (tmp_path / "pyproject.toml").write_text(original)
    init_project(tmp_path)
    assert (tmp_path / "pyproject.toml").read_text().startswith(original + "\n")
    assert load_config(tmp_path).audit.runs == 20


def test_existing_optikit_section_is_left_alone(tmp_path: Path) -> None:
    text = "[tool.optikit.audit]\nruns = 3  # we like it short\n"
    (tmp_path / "pyproject.toml").write_text(text)
    changes = init_project(tmp_path)
    assert not changes[0].changed
    assert (tmp_path / "pyproject.toml").read_text().startswith(text)


def test_creates_missing_files_but_a_makefile_only_when_asked(tmp_path: Path) -> None:
    init_project(tmp_path)
    assert load_config(tmp_path).pyproject == (tmp_path / "pyproject.toml").resolve()
    assert not (tmp_path / "Makefile").exists()  # the project may run its tasks with tox or nox
    init_project(tmp_path, makefile=True)
    assert (tmp_path / "Makefile").exists()
    ignored = (tmp_path / ".gitignore").read_text().splitlines()
    assert {"tests/.performance_data.json", "tests/.test_cache/", ".optikit/"} <= set(ignored)
    assert "tests/.performance_baseline.json" not in ignored  # the baseline is committed


def test_keeps_existing_make_targets_and_ignore_lines(tmp_path: Path) -> None:
    makefile = "test-fast: ## ours\n\tpytest -x\n"
    (tmp_path / "Makefile").write_text(makefile)
    (tmp_path / ".gitignore").write_text("/.optikit/\n*.pyc")
    changes = {change.path.name: change for change in init_project(tmp_path)}
    assert "test-fast" not in changes["Makefile"].added
    text = (tmp_path / "Makefile").read_text()
    assert text.startswith(makefile)
    assert text.count("test-fast:") == 1
    assert ".optikit/" not in changes[".gitignore"].added
    assert (tmp_path / ".gitignore").read_text().startswith("/.optikit/\n*.pyc\n")


def test_ignore_entries_follow_configured_paths(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.optikit.cache]\ndir = 'build/fixture-cache'\n"
        "[tool.optikit.performance]\nhistory_db = 'perf.db'\n"
    )
    init_project(tmp_path)
    ignored = (tmp_path / ".gitignore").read_text().splitlines()
    assert "build/fixture-cache/" in ignored
    assert "perf.db" in ignored


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_added_make_targets_are_valid(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text("all:\n\techo all\n")
    init_project(tmp_path)
    targets = make_targets()
    for target in targets:
        result = subprocess.run(
            ["make", "--dry-run", "--no-print-directory", target],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        assert result.stdout.strip() == targets[target][1]


def test_cli_reports_what_it_did(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["init", "--project", str(tmp_path)], env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    assert "[tool.optikit]" in first.output
    assert "No Makefile here" in first.output
    assert 'test-fast: pytest -n auto -m "not slow and not serial and not real_llm"' in first.output
    second = runner.invoke(app, ["init", "--project", str(tmp_path)], env={"COLUMNS": "200"})
    assert second.output.count("up to date") == 3  # config, markers, ignores


def test_cli_rejects_broken_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project\n")
    result = CliRunner().invoke(app, ["init", "--project", str(tmp_path)])
    assert result.exit_code == 2
    assert "is not valid TOML" in result.output
    assert (tmp_path / "pyproject.toml").read_text() == "[project\n"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("target", ["test-serial", "test-integration-llm"])
def test_targets_that_select_nothing_succeed(tmp_path: Path, target: str) -> None:
    """pytest exits 5 when no test is marked serial (or real_llm): not a failure of `make`."""
    init_project(tmp_path, makefile=True)
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    pass\n")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    done = subprocess.run(
        ["make", "--no-print-directory", target],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "deselected" in done.stdout  # pytest ran and selected nothing


NOT_STRESS_PROJECT = """\
[project]
name = "p"

[tool.pytest.ini_options]
addopts = "-m 'not stress' -p no:randomly"
markers = ["stress: long soak tests"]
strict = true
"""
TESTS = """\
import pytest


def test_plain():
    pass


@pytest.mark.stress
def test_soak():
    pass


@pytest.mark.slow
def test_slow():
    pass
"""


def test_printed_commands_keep_the_projects_own_selection(tmp_path: Path) -> None:
    """A real project's addopts deselect (`-m 'not stress'`); test-fast's own -m would have
    replaced that, running the soak tests too. Without a Makefile, init writes none and
    prints the commands; each, pasted into a shell, keeps the project's selection; and the
    marked test still collects without optikit (strict = true)."""
    (tmp_path / "pyproject.toml").write_text(NOT_STRESS_PROJECT)
    (tmp_path / "test_things.py").write_text(TESTS)
    result = CliRunner().invoke(app, ["init", "--project", str(tmp_path)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "Makefile").exists()
    printed = dict(
        line.strip().split(": ", 1)[::1]
        for line in result.output.splitlines()
        if line.startswith("  test-")
    )
    command = printed["test-fast"].split("  #")[0]
    assert (
        command
        == """pytest -n auto -m "(not stress) and not slow and not serial and not real_llm\""""
    )
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    done = subprocess.run(
        ["/bin/sh", "-c", command], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "PATH": path},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    collected = collect_without_optikit(tmp_path)
    assert collected.returncode == 0, collected.stdout
    assert "test_things.py::test_slow" in collected.stdout


def test_github_actions_workflow_is_valid_and_never_overwritten(tmp_path: Path) -> None:
    from optikit.cli.github_actions import WORKFLOW_PATH

    (tmp_path / "pyproject.toml").write_text(
        "[tool.optikit.performance]\nhistory_db = 'perf/history.db'\n"
    )
    init_project(tmp_path, github_actions=True)
    workflow = tmp_path / WORKFLOW_PATH
    assert "path: perf/history.db" in workflow.read_text()
    checked = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         str(workflow)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    workflow.write_text("# ours\n")
    again = init_project(tmp_path, github_actions=True)
    assert not again[-1].changed
    assert workflow.read_text() == "# ours\n"
