"""One pytest process of an audit: how it is started, and what it reports back.

Every run is a real ``python -m pytest`` in the project, with optikit's recorder writing
each worker's sequence to a log file (``--audit-log``); a run that dies before writing it is
a crash, kept with its exit code and the tail of its output.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optikit.audit.classify import REST
from optikit.audit.running import still_running


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
    exitstatus: int | None = None

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

    def _pytest(self) -> list[str]:
        # --rootdir: pytest would otherwise guess it from every existing path on the command
        # line, the order file's included, and the node ids would change. The suite's own
        # pytest-randomly, if it has one, would shuffle and reseed over the audit.
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        return [*command, f"--rootdir={self.root}", "-p", "no:randomly"]

    def command(self, spec: RunSpec, log: Path, order_file: Path | None) -> list[str]:
        # Option values joined with "=": pytest takes a separate token that names an
        # existing file for a path when it looks for the config file, and with the order
        # file in /tmp it found none (aiohttp: its addopts, -m "not dev_mode", were lost).
        command = self._pytest()
        command += [f"--audit-log={log}", f"--audit-data-seed={spec.data_seed}"]
        if spec.order_seed is not None:
            command += [f"--audit-shuffle={spec.order_seed}"]
        command += ["-n", str(spec.workers)] if spec.workers else ["-p", "no:xdist"]
        if order_file is not None:
            command += [f"--audit-order={order_file}"]
        if order_file is not None and REST not in spec.sequence:
            command += sorted({nodeid.split("::")[0] for nodeid in spec.sequence})
        else:  # the whole suite, or these tests first (or last) and the rest of the suite
            command += list(self.paths)
        command += [f"--deselect={nodeid}" for nodeid in spec.deselect]
        return command + list(self.extra)

    def server_command(self, requests: int, replies: int) -> list[str]:
        """A probe server (``probe_server``) for this suite, on these two pipe ends."""
        command = [*self._pytest(), "-p", "no:xdist", f"--audit-serve={requests},{replies}"]
        return [*command, *self.paths, *self.extra]

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
            command = self.command(spec, log, order_file)
            try:
                code, output = run_bounded(command, self.root, remaining)
            except TimeoutError as stopped:
                stopped.args = (still_running(log),)
                raise
            return result(spec, log, code, output)

    def reproduce(self, command: str) -> dict[str, str]:
        """Run a printed reproducer exactly as printed (a shell command line, from the
        project root, with this Python's directory first on PATH as an activated virtual
        environment has it); optikit's recorder only watches, through PYTEST_ADDOPTS.
        The outcomes of the tests it ran."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        with tempfile.TemporaryDirectory(prefix="optikit-reproduce-") as scratch:
            log = Path(scratch) / "log.json"
            addopts = f"{os.environ.get('PYTEST_ADDOPTS', '')} --audit-log={shlex.quote(str(log))}"
            path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
            env = {**os.environ, "PYTEST_ADDOPTS": addopts.strip(), "PATH": path}
            run_bounded(["/bin/sh", "-c", command], self.root, remaining, env)
            if not log.exists():
                return {}
            data = json.loads(log.read_text(encoding="utf-8"))
        return {t: o for tests in data["workers"].values() for t, o in tests}


def result(spec: RunSpec, log: Path, code: int, output: str) -> RunResult:
    """What the run that wrote ``log`` and exited with ``code`` showed."""
    if not log.exists():
        return RunResult(spec, crash=f"exit {code}: {_tail(output)}")
    data = json.loads(log.read_text(encoding="utf-8"))
    workers = {w: [(t, o) for t, o in tests] for w, tests in data["workers"].items()}
    found = RunResult(spec, workers, data.get("evidence", {}), exitstatus=code)
    if code in BROKEN:  # pytest's own words: a collection error, a usage error, a crash
        found.crash = f"exit {code}: {_tail(output)}"
    return found


class ProbeServers:
    """Runs in one process without xdist (probes, and the targeted runs that put some tests
    first or last), forked from pytest processes that collected the suite once
    (``probe_server``): up to ``size`` such servers at once, started when first needed. A
    server that refuses or dies is not asked again: its runs start fresh processes."""

    def __init__(self, pytest: Pytest, size: int) -> None:
        self.pytest = pytest
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[_Server] = []
        self._lock = threading.Lock()
        self.refused = False
        self.forked = 0  # runs a server answered (the others started fresh processes)

    def run(self, spec: RunSpec) -> RunResult:
        if spec.workers or spec.deselect or not spec.sequence or self.refused:
            return self.pytest.run(spec)
        with self._slots:
            with self._lock:
                server = self._idle.pop() if self._idle else None
            server = server or _Server(self.pytest)
            try:
                done = server.run(spec)
            except BaseException:
                server.close()
                raise
            if done is None:
                self.refused = True
                server.close()
                return self.pytest.run(spec)
            with self._lock:
                self._idle.append(server)
                self.forked += 1
            return done

    def close(self) -> None:
        with self._lock:
            for server in self._idle:
                server.close()
            self._idle.clear()


class _Server:
    """One probe server process and its two pipes."""

    def __init__(self, pytest: Pytest) -> None:
        self.pytest = pytest
        theirs, self._requests = os.pipe()
        self._replies, their_replies = os.pipe()
        self.process = subprocess.Popen(
            pytest.server_command(theirs, their_replies),
            cwd=pytest.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(theirs, their_replies),
            start_new_session=True,  # its own process group: its probes die with it
        )
        os.close(theirs)
        os.close(their_replies)

    def run(self, spec: RunSpec) -> RunResult | None:
        """The probe's result; None when the server refused or died."""
        with tempfile.TemporaryDirectory(prefix="optikit-audit-") as scratch:
            log = Path(scratch) / "log.json"
            request = {
                "order": list(spec.sequence),
                "order_seed": spec.order_seed,
                "data_seed": spec.data_seed,
                "log": str(log),
            }
            try:
                with open(self._requests, "w", encoding="utf-8", closefd=False) as requests:
                    requests.write(json.dumps(request) + "\n")
                reply = self._reply()
            except BrokenPipeError:
                return None
            except TimeoutError as stopped:
                stopped.args = (still_running(log),)
                raise
            return None if reply is None else result(spec, log, reply, "")

    def _reply(self) -> int | None:
        data = b""
        while not data.endswith(b"\n"):
            remaining = self.pytest.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            wait = None if math.isinf(remaining) else remaining
            if not select.select([self._replies], [], [], wait)[0]:
                raise TimeoutError
            chunk = os.read(self._replies, 64)
            if not chunk:
                return None
            data += chunk
        return int(data)

    def close(self) -> None:
        for fd in (self._requests, self._replies):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


PYTHON = (
    "python" if (Path(sys.executable).parent / "python").exists() else Path(sys.executable).name
)
"""How reproducers name this interpreter: ``python`` in a virtual environment."""

BROKEN = frozenset({2, 3, 4})
"""pytest's exit codes for interrupted (collection errors), internal error, usage error."""


def _tail(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("E ", "ERROR", "INTERNALERROR"))]
    return " / ".join([*errors[:2], *lines[-2:]] if errors else lines[-3:])


def run_bounded(
    command: list[str], cwd: Path, seconds: float, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run ``command``; kill it and everything it started (xdist's workers too) when
    ``seconds`` run out (``TimeoutError``) or this process is interrupted."""
    with subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env=env,
        start_new_session=True,  # its own process group, so the workers die with it
    ) as process:
        try:
            output, _ = process.communicate(timeout=None if math.isinf(seconds) else seconds)
        except BaseException as stopped:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            if isinstance(stopped, subprocess.TimeoutExpired):
                raise TimeoutError from None
            raise
        return process.returncode, output
