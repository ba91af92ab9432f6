"""Which tests a run had started and not finished, for a run that is killed (a hung test,
``--max-time``): the recorder writes a line as each test starts and ends, flushed; the
auditor reads them back. Kept apart from the recorder so that the auditor's side (and the
``optikit`` command) does not import pytest."""

from __future__ import annotations

from pathlib import Path


def running_path(log: Path) -> Path:
    return log.with_name(log.name + ".running")


def still_running(log: Path) -> list[str]:
    """The tests a killed run had started and not finished, from ``SequenceLog``'s lines."""
    try:
        lines = running_path(log).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    started = [line[1:] for line in lines if line.startswith("+")]
    ended = {line[1:] for line in lines if line.startswith("-")}
    return [nodeid for nodeid in started if nodeid not in ended]
