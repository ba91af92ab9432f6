"""optikit's markers written into the project's own pytest configuration, wherever it lives:
a checkout without optikit then still collects the marked tests under strict markers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from optikit.markers import MARKERS, addopts_marks, pytest_config, register, registered

MARKED = (
    "import pytest\n\n\n@pytest.mark.slow\n@pytest.mark.serial\n@pytest.mark.real_llm\n"
    "def test_marked():\n    pass\n"
)
CONFIGS = {
    "pyproject-ini-options": (
        "pyproject.toml",
        '[project]\nname = "p"  # kept\n\n[tool.pytest.ini_options]\n'
        'addopts = "--strict-markers"\nmarkers = ["stress: long soak tests"]\n',
    ),
    "pyproject-without-pytest": ("pyproject.toml", '[project]\nname = "p"  # kept\n'),
    "pyproject-native": (
        "pyproject.toml",
        '[project]\nname = "p"  # kept\n\n[tool.pytest]\nstrict = true\n',
    ),
    "pytest-ini": (
        "pytest.ini",
        "# kept\n[pytest]\naddopts = --strict-markers\nmarkers =\n"
        "    stress: long soak tests\n\nfilterwarnings = error\n",
    ),
    "tox-ini": (
        "tox.ini",
        "# kept\n[tox]\nenvlist = py3\n\n[pytest]\naddopts = --strict-markers\n",
    ),
    "setup-cfg": (
        "setup.cfg",
        "# kept\n[metadata]\nname = p\n\n[tool:pytest]\naddopts = --strict-markers\n"
        "markers = stress: long soak tests\n",
    ),
}


def collect_without_optikit(root: Path) -> subprocess.CompletedProcess[str]:
    """``pytest --collect-only --strict-markers`` as a checkout without optikit runs it:
    optikit's two plugins (and so its marker registration) off."""
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "--strict-markers"]
    command += ["-p", "no:optikit", "-p", "no:optikit-fixtures", "-p", "no:randomly"]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_markers_land_where_pytest_reads_them(tmp_path: Path, case: str) -> None:
    name, text = CONFIGS[case]
    (tmp_path / name).write_text(text)
    (tmp_path / "test_marked.py").write_text(MARKED)
    path, added = register(tmp_path, list(MARKERS))
    assert path == tmp_path / name
    assert added == list(MARKERS)
    written = path.read_text()
    assert "# kept" in written
    assert registered(tmp_path) >= set(MARKERS) | ({"stress"} if "stress" in text else set())
    assert register(tmp_path, list(MARKERS)) == (path, [])
    assert path.read_text() == written  # a second run changes nothing
    collected = collect_without_optikit(tmp_path)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert "test_marked.py::test_marked" in collected.stdout


def test_an_empty_project_gets_the_markers_in_pyproject(tmp_path: Path) -> None:
    assert pytest_config(tmp_path) == (
        tmp_path / "pyproject.toml",
        ("tool", "pytest", "ini_options"),
    )
    register(tmp_path, ["slow"])
    assert registered(tmp_path) == {"slow"}


def test_pytest_ini_wins_over_pyproject(tmp_path: Path) -> None:
    """pytest's own order: a pytest.ini is the configuration even beside a pyproject.toml."""
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-q'\n")
    (tmp_path / "pytest.ini").write_text("")
    path, _ = register(tmp_path, ["serial"])
    assert path.name == "pytest.ini"
    assert "[pytest]\nmarkers =\n    serial: " in path.read_text()


def test_addopts_selection_is_read_past_blank_lines(tmp_path: Path) -> None:
    """aiohttp's setup.cfg: addopts spread over indented lines with blank lines between."""
    (tmp_path / "setup.cfg").write_text(
        "[tool:pytest]\naddopts =\n\t--durations=10\n\t\n\t-v\n\t\n\t-m 'not dev_mode'\n"
        "\nmarkers =\n\tdev_mode: mark test to run in dev mode.\n"
    )
    assert addopts_marks(tmp_path) == "not dev_mode"
    register(tmp_path, ["slow"])
    assert registered(tmp_path) == {"dev_mode", "slow"}
    assert (
        "\tdev_mode: mark test to run in dev mode.\n\tslow: "
        in (tmp_path / "setup.cfg").read_text()
    )
