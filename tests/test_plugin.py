"""The pytest11 plugin: markers for --strict-markers suites, and config errors as usage errors."""

from __future__ import annotations

import pytest

from optikit.plugin import MARKERS


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

    required = [r for r in importlib.metadata.requires("optikit") or [] if "extra ==" not in r]
    assert "pytest-xdist>=3.5" in required  # the metadata read is optikit's own
    assert not [r for r in required if r.startswith("pytest-randomly")]
