"""The typer CLI: version, config show, exit codes; plus the console script and -m entry."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer.core
import typer.main
from typer.testing import CliRunner

from optikit import __version__
from optikit.cli.app import app, command_paths

runner = CliRunner()


def test_version_through_python_dash_m() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "optikit", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == f"optikit {__version__}"


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("optikit")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, check=True)
    assert "config" in result.stdout
    assert "init" in result.stdout


def test_help_lists_only_working_commands() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    assert set(group.commands) == {
        "config",
        "init",
        "baseline",
        "regression",
        "report",
        "import-junit",
        "export-durations",
        "cache",
        "cassettes",
        "codemod",
        "audit-parallel",
    }
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in group.commands:
        assert name in result.output


def test_config_show_reports_values_and_sources(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.optikit.audit]\nruns = 7\n")
    result = runner.invoke(
        app, ["config", "show", "--project", str(tmp_path)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    runs = next(line for line in result.output.splitlines() if " runs " in line)
    assert "7" in runs
    assert "pyproject.toml" in runs
    workers = next(line for line in result.output.splitlines() if " workers " in line)
    assert '"auto"' in workers
    assert "default" in workers


def test_bad_config_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.optikit.audit]\nrun = 7\n")
    result = subprocess.run(
        [sys.executable, "-m", "optikit", "config", "show", "--project", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "unknown key 'run' in [tool.optikit.audit]; did you mean 'runs'?" in lines[0]
    assert str(tmp_path.resolve() / "pyproject.toml") in lines[0]


def help_examples(words: list[str]) -> list[str]:
    """The example command lines at the end of a command's help."""
    result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = result.output.split("Examples:", 1)[1] if "Examples:" in result.output else ""
    return [line.strip() for line in text.splitlines() if line.strip().startswith("optikit ")]


@pytest.mark.parametrize("words", command_paths(), ids=" ".join)
def test_every_command_has_examples_that_parse(words: list[str]) -> None:
    """Each help page ends with examples; each names this command and only options it has,
    with values it accepts (parsed by the command itself, not run)."""
    examples = help_examples(words)
    assert examples, f"optikit {' '.join(words)} --help has no example"
    command = typer.main.get_command(app)
    for example in examples:
        args = shlex.split(example)[1:]
        assert args[: len(words)] == words, example
        leaf = command
        for word in words:
            leaf = leaf.commands[word]  # type: ignore[attr-defined]
        leaf.make_context(" ".join(["optikit", *words]), args[len(words) :])


def test_piped_tables_keep_node_ids_whole(tmp_path: Path) -> None:
    """In a CI log rich would wrap a table at 80 columns and break a node id over several
    lines; piped, every line is printed whole, so the id can be grepped."""
    from optikit.gate.baseline import write_baseline
    from optikit.timing.run_record import write_run_record
    from tests.factories import baseline, record

    nodeid = "tests/test_cohort_export_module.py::test_export_to_a_shared_folder[" + "x" * 60 + "]"
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    write_baseline(tmp_path / "tests/.performance_baseline.json", baseline({nodeid: 1.0}))
    write_run_record(tmp_path / "tests/.performance_data.json", record({nodeid: 3.0}))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "GITHUB_ACTIONS")}
    done = subprocess.run(
        [sys.executable, "-m", "optikit", "regression"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert any(nodeid in line for line in done.stdout.splitlines()), done.stdout


def test_help_imports_none_of_the_heavy_libraries() -> None:
    """`optikit --help` (and every command's start) must not pay for what only one command
    uses: libcst, vcrpy, diskcache, pydantic, pytest, yaml are imported by the command that
    needs them (their import took 1.5-1.9 s before)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "optikit", "--help"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    heavy = {"libcst", "vcr", "diskcache", "pydantic", "pytest", "yaml", "polars", "pandas"}
    assert not heavy & imported, sorted(heavy & imported)
    assert "optikit.cli.app" in imported  # the import time log is read right


def test_a_bug_in_optikit_exits_3_not_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """1 means "the check found something" to CI; a crash must not read as a regression."""
    from optikit.cli import app as app_module

    def broken() -> None:
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(app_module, "app", broken)
    with pytest.raises(SystemExit) as exited:
        app_module.main()
    assert exited.value.code == 3
    err = capsys.readouterr().err
    assert "ZeroDivisionError: float division by zero" in err
    assert err.rstrip().endswith("please report it with the traceback above")
