"""The config loader: defaults, overrides, and every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from optikit.config import (
    AuditConfig,
    CacheConfig,
    LLMConfig,
    PerformanceConfig,
    find_pyproject,
    load_config,
)
from optikit.errors import OptikitError


def write(directory: Path, text: str) -> Path:
    path = directory / "pyproject.toml"
    path.write_text(text)
    return path


def test_defaults_without_any_pyproject(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert config.pyproject is None
    assert config.root == tmp_path.resolve()
    assert config.performance == PerformanceConfig()
    assert {s.source for s in config.settings()} == {"default"}


def test_documented_defaults(tmp_path: Path) -> None:
    write(tmp_path, '[project]\nname = "x"\n')
    config = load_config(tmp_path)
    assert config.performance.data_file == "tests/.performance_data.json"
    assert config.performance.baseline_file == "tests/.performance_baseline.json"
    assert config.performance.history_db == ".optikit/history.db"
    assert config.performance.individual_test_threshold == 20.0
    assert config.performance.suite_threshold == 15.0
    assert config.performance.slow_test_threshold_seconds == 30.0
    assert config.performance.noise_floor_seconds == 0.05
    assert config.cache == CacheConfig(dir="tests/.test_cache", size_limit_mb=500)
    assert config.llm.hosts == ("api.openai.com", "api.anthropic.com", "localhost:11434")
    assert config.llm.cassette_dir == "tests/cassettes"
    assert config.audit == AuditConfig(runs=20, workers="auto")


def test_overrides_and_their_sources(tmp_path: Path) -> None:
    write(
        tmp_path,
        "[tool.optikit.performance]\nsuite_threshold = 10\n"
        '[tool.optikit.llm]\nhosts = ["127.0.0.1"]\n'
        "[tool.optikit.audit]\nworkers = 4\n",
    )
    config = load_config(tmp_path)
    assert config.performance.suite_threshold == 10.0
    assert config.llm == LLMConfig(cassette_dir="tests/cassettes", hosts=("127.0.0.1",))
    assert config.audit.workers == 4
    sources = {f"{s.section}.{s.key}": s.source for s in config.settings()}
    assert sources["performance.suite_threshold"] == "pyproject.toml"
    assert sources["audit.workers"] == "pyproject.toml"
    assert sources["audit.runs"] == "default"


def test_nearest_pyproject_wins_and_paths_resolve_from_its_directory(tmp_path: Path) -> None:
    write(tmp_path, "[tool.optikit.cache]\ndir = 'outer'\n")
    inner = tmp_path / "pkg"
    (inner / "tests" / "deep").mkdir(parents=True)
    write(inner, "[tool.optikit.cache]\ndir = 'inner'\n")
    config = load_config(inner / "tests" / "deep")
    assert find_pyproject(inner / "tests" / "deep") == (inner / "pyproject.toml").resolve()
    assert config.cache.dir == "inner"
    assert config.path(config.cache.dir) == inner.resolve() / "inner"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[tool.optikit.performance]\nsuite_threshol = 3\n",
            "unknown key 'suite_threshol' in [tool.optikit.performance]; "
            "did you mean 'suite_threshold'?",
        ),
        ("[tool.optikit.perf]\nx = 1\n", "unknown section [tool.optikit.perf]"),
        ("[tool.optikit]\nperformance = 3\n", "[tool.optikit.performance] must be a table"),
        ("[tool]\noptikit = 3\n", "[tool.optikit] must be a table of sections"),
        (
            "[tool.optikit.performance]\nsuite_threshold = 'high'\n",
            "[tool.optikit.performance] suite_threshold must be a finite number >= 0, got 'high'",
        ),
        (
            "[tool.optikit.performance]\nnoise_floor_seconds = true\n",
            "noise_floor_seconds must be a finite number >= 0, got True",
        ),
        (
            "[tool.optikit.performance]\nindividual_test_threshold = -5\n",
            "individual_test_threshold must be a finite number >= 0, got -5",
        ),
        ("[tool.optikit.audit]\nruns = 2.5\n", "runs must be a whole number >= 1, got 2.5"),
        ("[tool.optikit.audit]\nruns = 0\n", "runs must be a whole number >= 1, got 0"),
        (
            "[tool.optikit.audit]\nworkers = 'many'\n",
            "workers must be \"auto\" or a whole number >= 1, got 'many'",
        ),
        (
            "[tool.optikit.llm]\nhosts = 'api.openai.com'\n",
            "hosts must be a list of non-empty strings",
        ),
        ("[tool.optikit.llm]\nhosts = ['a', 3]\n", "hosts must be a list of non-empty strings"),
        ("[tool.optikit.cache]\ndir = ''\n", "dir must be a non-empty string, got ''"),
        ("[tool.optikit.cache\ndir = 'x'\n", "is not valid TOML"),
    ],
)
def test_bad_config_is_one_line_naming_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(OptikitError) as caught:
        load_config(tmp_path)
    error = str(caught.value)
    assert error.startswith(f"{path.resolve()}: ")
    assert message in error
    assert "\n" not in error
