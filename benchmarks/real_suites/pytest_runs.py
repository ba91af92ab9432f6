"""One pytest (or optikit) process on a real suite, and what it did, read from pytest-reportlog.

Outcomes and order come from the report log (one JSON object per report), never from the
terminal, so the suites' own ``-v``, ``-q`` or ``--color`` options cannot confuse them.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from corpus import Project


@dataclass
class Run:
    command: list[str]
    exit_code: int
    seconds: float
    output: str
    outcomes: dict[str, str] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def tail(self, lines: int = 12) -> str:
        return "\n".join(self.output.strip().splitlines()[-lines:])

    def counts(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for outcome in self.outcomes.values():
            counted[outcome] = counted.get(outcome, 0) + 1
        return dict(sorted(counted.items()))


def environ(project: Project) -> dict[str, str]:
    env = {**os.environ, **project.env}
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "VIRTUAL_ENV", "PYTHONPATH"):
        env.pop(name, None)
    env["PYTHONHASHSEED"] = env.get("PYTHONHASHSEED", "0")
    env["COLUMNS"] = "400"  # optikit's tables wrap node ids at 80 columns when piped
    return env


def run(
    project: Project,
    flavour: str,
    cwd: Path,
    args: list[str],
    *,
    module: str = "pytest",
    script: str | None = None,
    log: Path | None = None,
    timeout: int | None = None,
) -> Run:
    """``python -m MODULE ARGS`` (or the environment's console ``script``) in one of the
    project's environments.

    With ``log``, a pytest run writes its report log there and the outcomes are read back.
    """
    python = project.python(flavour)
    command = [str(python.parent / script)] if script else [str(python), "-m", module]
    command += args
    if log is not None:
        log.unlink(missing_ok=True)
        command.append(f"--report-log={log}")
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            env=environ(project),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout or project.timeout,
            check=False,
        )
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as expired:
        code = -1
        output = (
            f"timed out after {expired.timeout} s\n" + _text(expired.stdout) + _text(expired.stderr)
        )
    result = Run(command, code, round(time.perf_counter() - started, 2), output)
    if log is not None and log.is_file():
        result.outcomes, result.order = read_log(log)
    return result


def _text(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data or ""


# A test's outcome is its worst phase: a failed teardown after a passed call is an error.
RANK = {"passed": 0, "skipped": 1, "xpassed": 2, "xfailed": 2, "error": 3, "failed": 4}


def read_log(path: Path) -> tuple[dict[str, str], list[str]]:
    """Each test's outcome (passed, failed, error, skipped, xfailed, xpassed) and run order."""
    outcomes: dict[str, str] = {}
    order: list[str] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        report = json.loads(line)
        if report.get("$report_type") != "TestReport":
            continue
        nodeid, when, outcome = report["nodeid"], report["when"], report["outcome"]
        if when == "setup":
            order.append(nodeid)
        if "wasxfail" in report:
            outcome = "xfailed" if outcome == "skipped" else "xpassed"
        elif outcome == "failed" and when != "call":
            outcome = "error"
        if RANK[outcome] > RANK.get(outcomes.get(nodeid, ""), -1):
            outcomes[nodeid] = outcome
    return outcomes, order


def differences(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Tests whose outcome changed, appeared or disappeared, as ``nodeid: a -> b`` lines."""
    changed = []
    for nodeid in sorted(before.keys() | after.keys()):
        a, b = before.get(nodeid, "absent"), after.get(nodeid, "absent")
        if a != b:
            changed.append(f"{nodeid}: {a} -> {b}")
    return changed
