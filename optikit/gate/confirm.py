"""Re-run a few tests in fresh pytest processes and collect their durations.

``optikit regression --confirm K`` uses it so that one unlucky run (a noisy neighbour, a GC
pause) never fails CI: a regression one run suggests must show in the median of K fresh
processes to count. Confirming only ever removes failures.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from optikit.config import PerformanceConfig
from optikit.errors import OptikitError
from optikit.gate.baseline import Baseline
from optikit.gate.verdict import (
    RERUN_OPTIONS,
    GateResult,
    confirm,
    group_suspects,
    reference_tests,
)
from optikit.timing.run_record import net_duration, read_run_record


def rerun_durations(
    nodeids: list[str],
    times: int,
    root: Path,
    progress: Callable[[int], None] = lambda done: None,
) -> list[dict[str, float]]:
    """The passing tests' durations in each of ``times`` fresh pytest runs of just these tests.

    One mapping per run: the gate compares tests within a run to tell that run's speed. The
    tests run in node id order, as the suite's files have them, twice in each process, and
    the second run is the one measured (``--performance-warm-up``): alone in a fresh process
    a suspect pays whatever one-time cost its suite spreads over whichever test comes first
    (python-dateutil's time zone database: a 1 ms test took 0.2 s), which confirmed false
    alarms instead of clearing them.
    """
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="optikit-confirm-") as tmp:
        data = Path(tmp) / "run.json"
        for attempt in range(times):
            command = [
                sys.executable,
                "-m",
                "pytest",
                *RERUN_OPTIONS,
                f"--performance-data={data}",
                *sorted(set(nodeids)),
            ]
            result = subprocess.run(command, cwd=root, capture_output=True, text=True)
            if not data.exists():
                tail = (result.stdout + result.stderr).strip().splitlines()[-1:] or ["no output"]
                raise OptikitError(f"re-running the flagged tests failed: {tail[0]}", root)
            tests = read_run_record(data)["tests"]
            runs.append({t["nodeid"]: net_duration(t) for t in tests if t["status"] == "passed"})
            data.unlink()
            progress(attempt + 1)
    return runs


def confirm_suspects(
    result: GateResult,
    baseline: Baseline,
    settings: PerformanceConfig,
    times: int,
    root: Path,
    progress: Callable[[int], None] = lambda done: None,
) -> GateResult:
    """``--confirm``: re-run the gate's regressions (and the tests of groups that regressed)
    ``times`` times beside reference tests and judge them again on those runs."""
    references = reference_tests(result, baseline, settings)
    members = group_suspects(result, baseline)
    reruns = rerun_durations([*result.suspects, *members, *references], times, root, progress)
    return confirm(result, reruns, baseline, settings, references)
