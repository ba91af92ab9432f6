"""One pytest process of an audit: how it is started, and what it reports back.

Every run is a real ``python -m pytest`` in the project, with optikit's recorder writing
each worker's sequence to a log file (``--audit-log``); a run that dies before writing it is
a crash, kept with its exit code and the tail of its output.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunSpec:
    """``order_seed`` None keeps the suite's own order; ``workers`` 0 means no xdist;
    ``sequence`` runs exactly those node ids in that order (a probe)."""

    order_seed: int | None
    data_seed: int
    workers: str | int = 0
    sequence: tuple[str, ...] = ()
    deselect: tuple[str, ...] = ()  # tests already explained: no more runs spent on them


@dataclass
class RunResult:
    spec: RunSpec
    workers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    crash: str | None = None

    def outcomes(self) -> dict[str, str]:
        return {nodeid: outcome for tests in self.workers.values() for nodeid, outcome in tests}

    def failed(self) -> set[str]:
        return {nodeid for nodeid, outcome in self.outcomes().items() if outcome == "failed"}

    def before(self, nodeid: str) -> tuple[str, list[str]]:
        """The worker that ran ``nodeid``, and what that worker ran before it."""
        for worker, tests in self.workers.items():
            ids = [t for t, _ in tests]
            if nodeid in ids:
                return worker, ids[: ids.index(nodeid)]
        return "", []


@dataclass(frozen=True)
class Pytest:
    """How to start pytest in the project: where, on which paths, with which extra args."""

    root: Path
    paths: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    deadline: float = math.inf
    """``time.monotonic()`` by which the audit must stop: a run still going then is killed,
    and ``run`` raises ``TimeoutError``."""

    def command(self, spec: RunSpec, log: Path, order_file: Path | None) -> list[str]:
        # --rootdir: pytest would otherwise guess it from every existing path on the command
        # line, the order file's included, and the node ids would change.
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        command += [f"--rootdir={self.root}"]
        command += ["--audit-log", str(log), "--audit-data-seed", str(spec.data_seed)]
        # the suite's own pytest-randomly, if it has one, would shuffle and reseed over ours
        command += ["-p", "no:randomly"]
        if spec.order_seed is not None:
            command += [f"--audit-shuffle={spec.order_seed}"]
        command += ["-n", str(spec.workers)] if spec.workers else ["-p", "no:xdist"]
        if order_file is not None:
            command += ["--audit-order", str(order_file)]
            command += sorted({nodeid.split("::")[0] for nodeid in spec.sequence})
        else:
            command += list(self.paths)
        command += [f"--deselect={nodeid}" for nodeid in spec.deselect]
        return command + list(self.extra)

    def run(self, spec: RunSpec) -> RunResult:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        with tempfile.TemporaryDirectory(prefix="optikit-audit-") as scratch:
            log = Path(scratch) / "log.json"
            order_file = None
            if spec.sequence:
                order_file = Path(scratch) / "order.txt"
                order_file.write_text("\n".join(spec.sequence), encoding="utf-8")
            try:
                done = subprocess.run(
                    self.command(spec, log, order_file),
                    cwd=self.root,
                    capture_output=True,
                    text=True,
                    timeout=None if math.isinf(remaining) else remaining,
                )
            except subprocess.TimeoutExpired:
                raise TimeoutError from None
            if not log.exists():
                tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
                return RunResult(spec, crash=f"exit {done.returncode}: {' / '.join(tail)}")
            data = json.loads(log.read_text(encoding="utf-8"))
        workers = {w: [(t, o) for t, o in tests] for w, tests in data["workers"].items()}
        return RunResult(spec, workers, data.get("evidence", {}))
