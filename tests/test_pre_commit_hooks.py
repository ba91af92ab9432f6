"""The pre-commit hooks optikit ships: a manifest pre-commit accepts, and each hook's entry,
run the way pre-commit runs it (the entry, then the staged files), does what its name says."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
MANIFEST = REPO / ".pre-commit-hooks.yaml"


def hooks() -> dict[str, dict[str, Any]]:
    return {hook["id"]: hook for hook in yaml.safe_load(MANIFEST.read_text())}


def run_hook(hook_id: str, root: Path, *files: str) -> subprocess.CompletedProcess[str]:
    """``entry FILES`` from the project root, this environment's scripts first on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    command = [*shlex.split(hooks()[hook_id]["entry"]), *files]
    env = {**os.environ, "PATH": path}
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)


def test_pre_commit_accepts_the_manifest() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-manifest", str(MANIFEST)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_replace_tmp_hook_fails_on_a_hard_coded_tmp_path(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (tmp_path / "test_a.py").write_text('def test_a():\n    open("/tmp/a.txt", "w").close()\n')
    (tmp_path / "test_b.py").write_text("def test_b(tmp_path):\n    (tmp_path / 'b').touch()\n")
    assert run_hook("optikit-replace-tmp-check", tmp_path, "test_b.py").returncode == 0
    flagged = run_hook("optikit-replace-tmp-check", tmp_path, "test_a.py")
    assert flagged.returncode == 1
    assert "tmp_path" in flagged.stdout  # the diff --apply would write


def test_the_cassette_hook_passes_clean_cassettes_and_names_a_secret(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    cassette = tmp_path / "tests" / "cassettes" / "test_a" / "test_a.yaml"
    cassette.parent.mkdir(parents=True)
    cassette.write_text("interactions: []\nmetadata: {test: test_a.py::test_a}\n")
    relative = "tests/cassettes/test_a/test_a.yaml"
    assert run_hook("optikit-cassettes-check", tmp_path, relative).returncode == 0
    key = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"
    cassette.write_text(f"interactions: []\nmetadata: {{test: test_a.py::test_a, note: {key}}}\n")
    found = run_hook("optikit-cassettes-check", tmp_path, relative)
    assert found.returncode == 1
    assert relative.split("/")[-1] in found.stderr
    assert key not in found.stdout + found.stderr  # the kind is named, never the value
