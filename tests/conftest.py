"""Shared fixtures: the fake LLM server and a runner for the bundled example suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from optikit.testing.fake_llm import FakeLLMServer

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "clinic"

pytest_plugins = ["pytester"]

# A suite with planted flakes for the auditor's tests: copied and audited, never run here.
collect_ignore = ["planted_suite"]

RunSuite = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    """A fake LLM server with no artificial latency: these tests check protocol, not speed."""
    with FakeLLMServer(latency=0.0) as server:
        yield server


@pytest.fixture
def run_example_suite() -> RunSuite:
    """Run pytest on the example suite in a fresh process, as its team would.

    Tests that use this share hard-coded /tmp paths through the example, so they run one at a
    time: ``@pytest.mark.serial`` (optikit's lock, shared by the xdist workers).
    """

    def run(
        *args: str, env: dict[str, str] | None = None, cwd: Path = EXAMPLE
    ) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
        return subprocess.run(
            command,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=600,
        )

    return run


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    """A private copy of the example project, without any cache or data a run left behind."""
    copy = tmp_path / "clinic"
    ignore = shutil.ignore_patterns(".optikit", ".test_cache", ".*.json", "__pycache__")
    shutil.copytree(EXAMPLE, copy, ignore=ignore)
    return copy
