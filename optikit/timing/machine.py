"""Facts about where a run happened: git state, machine, and a CPU calibration score.

The gate compares runs made on different machines and days; the calibration score lets it
tell "this runner is slower" from "this code is slower" for suite totals.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CALIBRATION_LOOPS = 20_000


def git_facts(root: Path) -> dict[str, Any]:
    """Commit, branch and dirty flag; all None outside a git checkout."""

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return result.stdout.strip() if result.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "branch": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": commit,
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(status),
    }


def calibrate(repeats: int = 3) -> float:
    """Seconds for a fixed pure-Python workload, best of ``repeats``.

    About 3 ms in all, because every tracked run pays it.

    Best-of-n, because interference only ever makes a run slower.
    """
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        total = 0
        for number in range(CALIBRATION_LOOPS):
            total += number * number % 7
        best = min(best, time.perf_counter() - started)
    return round(best, 6)


def cpu_wait() -> float | None:
    """Seconds this process has spent ready to run but waiting for a CPU (Linux), or None.

    The kernel's own account (``/proc/self/schedstat``, second field): a busy neighbour
    shows here whole, where a short calibration loop, best of three, slips between its
    timeslices and sees nothing (measured: the same 1.1 ms with and without a CPU hog).
    """
    try:
        with open("/proc/self/schedstat", "rb") as stream:
            return int(stream.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def cpu_wait_counter() -> Callable[[], tuple[int, int]] | None:
    """A cheap reader of this thread's time on a CPU and time waiting for one, in nanoseconds
    since the thread started (Linux), or None.

    The file stays open and is read again from its start: about 2 microseconds a reading,
    against 17 for opening it each time, so it can run around every test.
    """

    def read(descriptor: int) -> tuple[int, int]:
        ran, waited, _ = os.pread(descriptor, 128, 0).split()
        return int(ran), int(waited)

    try:
        descriptor = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        read(descriptor)
    except (OSError, ValueError):
        return None
    return functools.partial(read, descriptor)


def children_cpu_time() -> float:
    """CPU seconds used by this process's child processes that have ended and been waited for.

    A test that runs its work in a child (a CLI started with ``subprocess``) waits for a CPU
    in that child, where this thread's count cannot see it.
    """
    used = os.times()  # in clock ticks (10 ms on Linux): finer than a child's start-up
    return used.children_user + used.children_system


class CpuWaitClock:
    """How much of its time this process has waited for a CPU since the clock was made."""

    def __init__(self) -> None:
        self._waited = cpu_wait()
        self._started = time.perf_counter()

    def reading(self) -> tuple[float, float] | None:
        """(seconds waited, seconds elapsed), or None where the kernel does not say."""
        now = cpu_wait()
        if now is None or self._waited is None:
            return None
        return now - self._waited, time.perf_counter() - self._started


def platform_facts() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }
