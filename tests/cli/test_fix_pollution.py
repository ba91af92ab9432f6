"""``optikit codemod fix-pollution`` end to end: a real audit of a copy of the planted suite,
the fix command the audit prints pasted into a shell, and the victims run after their
polluters again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.cli.test_audit import audit, planted, shell

__all__ = ["planted"]  # the fixture, imported for these tests

POLLUTION = "test_pollution.py::"
PAIRS = {  # victim: its polluters, as the audit names them
    "test_price_in_usd": ["test_set_currency"],
    "test_cache_starts_empty": ["test_cache_a", "test_cache_b"],
    "test_chain_victim": ["test_chain_first", "test_chain_second"],
}


def outcome_after(project: Path, victim: str, polluters: list[str]) -> int:
    sequence = [POLLUTION + name for name in [*polluters, victim]]
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:xdist"]
    return subprocess.run([*command, *sequence], cwd=project, capture_output=True).returncode


def test_the_printed_fix_makes_every_victim_pass_after_its_polluters(planted: Path) -> None:
    done, report = audit(planted, "--runs", "3", "-n", "2", "--seed", "1")
    found = {n for n, t in report["tests"].items() if t["classification"] == "order_dependent"}
    assert found >= {POLLUTION + victim for victim in PAIRS}
    hints = [line for line in done.stdout.splitlines() if line.startswith("fix with: ")]
    assert len(hints) == 1, done.stdout
    command = hints[0].removeprefix("fix with: ")
    assert command.endswith("fix-pollution --apply --verify"), command
    assert all(outcome_after(planted, v, p) == 1 for v, p in PAIRS.items())  # the bug is real
    source = (planted / "test_pollution.py").read_text()

    dry = shell(command.removesuffix(" --apply --verify"), planted)
    assert dry.returncode == 1, dry.stdout + dry.stderr
    assert (planted / "test_pollution.py").read_text() == source  # a dry run writes nothing
    assert '+    monkeypatch.setitem(SETTINGS, "currency", "EUR")' in dry.stdout
    assert "+    REGISTRY.update({'ready': True})" in dry.stdout  # for the brittle test

    fixed = shell(command, planted)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "verified: 6 fix(es) hold" in fixed.stdout, fixed.stdout
    assert "Traceback" not in fixed.stderr
    assert all(outcome_after(planted, v, p) == 0 for v, p in PAIRS.items())
    assert outcome_after(planted, "test_needs_registry", []) == 0  # brittle no more
    rewritten = (planted / "test_pollution.py").read_text()
    assert "def test_price_in_usd() -> None:\n    assert" in rewritten  # victims untouched
    assert '@pytest.mark.usefixtures("restore_test_pollution_seen")' in rewritten
    again = shell(command.removesuffix(" --apply --verify"), planted)
    assert again.returncode == 0, again.stdout  # nothing left to change


HALF_FIXED = """\
import os

STATE = {"ready": False}


def test_polluter():
    os.environ["OPTIKIT_TEST_MODE"] = "1"
    STATE["ready"] = True


def test_victim():
    assert not STATE["ready"]
"""


def test_a_fix_that_does_not_hold_is_reverted_with_why_and_the_reproducer(tmp_path: Path) -> None:
    """The report names only the environment variable (an audit of an older version, say):
    the setenv fix is written, the victim still fails after the polluter, so the file goes
    back as it was and the reproducer is printed."""
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (tmp_path / "test_half.py").write_text(HALF_FIXED)
    reproduce = (
        "python -m pytest -p no:randomly test_half.py::test_polluter test_half.py::test_victim"
    )
    report = {
        "schema_version": 1,
        "tests": {
            "test_half.py::test_victim": {
                "classification": "order_dependent",
                "polluters": ["test_half.py::test_polluter"],
                "state_setters": [],
                "reproduce": reproduce,
            },
            "test_half.py::test_polluter": {
                "classification": "stable",
                "polluters": [],
                "state_setters": [],
                "leaves": {"env": {"OPTIKIT_TEST_MODE": "1"}},
            },
        },
    }
    (tmp_path / ".optikit").mkdir()
    (tmp_path / ".optikit" / "audit.json").write_text(json.dumps(report))
    done = shell("optikit codemod fix-pollution --apply --verify", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    assert any(
        line.startswith(
            "reverted the fix of test_half.py::test_polluter: test_half.py::test_victim"
            " still fails after test_half.py::test_polluter"
        )
        for line in lines
    ), done.stdout
    assert f"  see it: {reproduce}" in lines
    assert (tmp_path / "test_half.py").read_text() == HALF_FIXED  # back as it was
