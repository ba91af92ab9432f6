"""The pytest11 plugin: markers for --strict-markers suites, and config errors as usage errors."""

from __future__ import annotations

import pytest

from optikit.markers import MARKERS


def test_markers_are_registered_for_strict_suites(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.slow
        def test_slow(): pass

        @pytest.mark.serial
        def test_serial(): pass

        @pytest.mark.real_llm
        def test_llm(): pass
        """
    )
    result = pytester.runpytest("--strict-markers", "-p", "no:randomly")
    result.assert_outcomes(passed=3)
    listed = pytester.runpytest("--markers").stdout.str()
    for name in MARKERS:
        assert f"@pytest.mark.{name}:" in listed


def test_unregistered_marker_still_fails_strict_suites(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n@pytest.mark.sloww\ndef test_x(): pass\n")
    result = pytester.runpytest("--strict-markers")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*'sloww' not found in `markers` configuration option*"])


def test_bad_config_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.optikit.cache]\nsize_limit_mb = 'big'\n")
    pytester.makepyfile("def test_x(): pass\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: optikit: *pyproject.toml: [[]tool.optikit.cache[]] size_limit_mb must be a "
            "finite number >= 0, got 'big'"
        ]
    )
    assert "Traceback" not in result.stderr.str()


def test_installing_optikit_brings_no_plugin_that_changes_every_run() -> None:
    """pytest-randomly reorders and reseeds every suite in an environment once installed;
    the audit shuffles by itself (--audit-shuffle), so optikit does not bring it."""
    import importlib.metadata

    required = [
        r for r in importlib.metadata.requires("pytest-optikit") or [] if "extra ==" not in r
    ]
    assert "pytest-xdist>=3.5" in required  # the metadata read is optikit's own
    assert not [r for r in required if r.startswith("pytest-randomly")]


def test_a_suite_runs_the_same_with_and_without_optikit(pytester: pytest.Pytester) -> None:
    """Installed, optikit changes nothing until asked: the same tests in the same order,
    the same random draws (no reseeding), and no line of output of its own."""
    pytester.makepyfile(
        test_b="import random\n\nrandom.seed(7)\n\n\n"
        "def test_z():\n    print('draw', random.random())\n\n\n"
        "def test_a():\n    print('draw', random.random())\n",
        test_a="def test_m():\n    pass\n\nclass TestK:\n    def test_y(self):\n        pass\n",
    )

    def run(*plugins: str) -> list[str]:
        # pytest-randomly is in optikit's dev environment (not a dependency): off in both
        result = pytester.runpytest_subprocess("-v", "-s", "-p", "no:randomly", *plugins)
        lines = result.outlines
        body = lines[lines.index(next(line for line in lines if "collected" in line)) :]
        return [line for line in body if " in " not in line or "passed" not in line]

    with_optikit = run()
    without = run("-p", "no:optikit", "-p", "no:optikit-fixtures")
    assert with_optikit == without
    assert any(line.startswith("test_b.py::test_a draw") for line in without)
