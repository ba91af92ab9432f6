"""``rescope --verify``: run the promoted fixtures' tests the ways a suite really runs.

A promotion is kept only if, in every run, no test fails that did not already fail before
the change: the suite's own order, three random orders (optikit's ``--audit-shuffle``, so
pytest-randomly need not be installed) and twice under ``-n 2``. Tests that failed before
any change are reported as such, never blamed on the promotion.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

# "FAILED tests/x.py::test_a - AssertionError": not a captured log line "ERROR    app.py:1 ..."
SUMMARY_LINE = re.compile(r"^(?:FAILED|ERROR) (\S[^ ]*(?:\.py|::)\S*(?:\[.*?\])?)(?: - .*)?$")


OWN_ORDER = ["-p", "no:randomly", "-p", "no:xdist"]
"""pytest options for the suite's own order, in one process."""


def orders() -> list[tuple[str, list[str]]]:
    """(what it is, pytest options) for each verifying run."""
    shuffled = [
        (f"random order {seed}", ["-p", "no:randomly", f"--audit-shuffle={seed}", "-p", "no:xdist"])
        for seed in random.sample(range(1, 2**31), 3)
    ]
    return [
        ("own order", OWN_ORDER),
        *shuffled,
        ("-n 2", ["-n", "2"]),
        ("-n 2, again", ["-n", "2"]),
    ]


def failing(targets: Sequence[str], root: Path, options: Sequence[str]) -> set[str]:
    """The node ids that fail or error in one pytest run of ``targets``."""
    command = [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [*command, *options, *targets], cwd=root, capture_output=True, text=True, check=False
    )
    found = {m.group(1) for line in done.stdout.splitlines() if (m := SUMMARY_LINE.match(line))}
    if done.returncode not in (0, 1, 5) and not found:
        found.add(f"pytest exited {done.returncode}: {_tail(done.stdout + done.stderr)}")
    return found


def new_failures(
    targets: Sequence[str],
    root: Path,
    before: set[str],
    progress: Callable[[str], None] = lambda what: None,
) -> tuple[str, set[str]] | None:
    """The first run (its name, the tests) with failures that ``before`` did not have."""
    for name, options in orders():
        progress(name)
        new = failing(targets, root, options) - before
        if new:
            return name, new
    return None


def _tail(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
