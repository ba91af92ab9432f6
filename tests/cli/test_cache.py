"""``optikit cache stats | prune | clear`` on a cache filled by a real pytest run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fixtures_lib.cache.store import FixtureStore
from optikit.cli.app import app
from optikit.cli.cache import parse_age

runner = CliRunner()


@pytest.fixture
def filled(pytester: pytest.Pytester) -> Path:
    pytester.makepyprojecttoml("[tool.optikit.cache]\ndir = 'cache'\n")
    pytester.makeconftest(
        """
        from fixtures_lib import cached_fixture

        @cached_fixture(params=[1, 2, 3])
        def numbers(request):
            return list(range(request.param * 1000))
        """
    )
    pytester.makepyfile("def test_numbers(numbers):\n    assert numbers\n")
    for _ in range(2):
        pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)
    return pytester.path


def invoke(*args: str) -> str:
    result = runner.invoke(app, ["cache", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_stats_shows_entries_and_per_fixture_figures(filled: Path) -> None:
    output = invoke("stats", "--project", str(filled))
    assert output.startswith("3 entries")
    row = next(line for line in output.splitlines() if "conftest.numbers" in line)
    cells = [cell.strip() for cell in row.split("│") if cell.strip()]
    assert cells[1:4] == ["3", "3", "3"]  # entries, hits (second run), misses (first run)


def test_prune_removes_only_entries_unused_for_the_given_age(filled: Path) -> None:
    assert "Pruned 0 entries" in invoke("prune", "--older-than", "1h", "--project", str(filled))
    output = invoke("prune", "--older-than", "0s", "--project", str(filled))
    assert "Pruned 3 entries" in output
    store = FixtureStore(filled / "cache", 500)
    assert list(store.entry_keys()) == []
    store.close()


def test_clear_empties_the_cache(filled: Path) -> None:
    assert "Cleared 3 entries" in invoke("clear", "--project", str(filled))
    assert invoke("stats", "--project", str(filled)).startswith("0 entries")


def test_stats_without_a_cache_says_so(tmp_path: Path) -> None:
    assert "No fixture cache" in invoke("stats", "--project", str(tmp_path))


@pytest.mark.parametrize(("text", "seconds"), [("90m", 5400), ("7d", 604800), ("2w", 1209600)])
def test_ages(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "optikit", "cache", *args], capture_output=True, text=True
    )


def test_a_bad_age_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_cli("prune", "--older-than", "7 days", "--project", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "90m, 12h, 7d, 2w" in result.stderr


def test_a_damaged_cache_is_one_line_and_exit_2_and_clear_removes_it(tmp_path: Path) -> None:
    entries = tmp_path / "tests" / ".test_cache" / "entries"
    entries.mkdir(parents=True)
    (entries / "cache.db").write_bytes(b"this is not a database" * 100)
    result = run_cli("stats", "--project", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "is damaged" in result.stderr
    assert "optikit cache clear" in result.stderr
    cleared = run_cli("clear", "--project", str(tmp_path))
    assert cleared.returncode == 0, cleared.stderr
    assert not (tmp_path / "tests" / ".test_cache").exists()
