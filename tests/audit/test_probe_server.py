"""Forked probes (``--audit-serve``) against fresh processes, in real pytest runs: the same
outcomes, order and evidence; one collection for many probes; and a fresh process whenever
forking is not safe."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from optikit.audit.classify import REST
from optikit.audit.runs import ProbeServers, Pytest, RunSpec

SUITE = """\
import os
import random
from pathlib import Path

Path(__file__).with_name("imports.txt").open("a").write("imported\\n")
STATE = {"mode": "fresh"}


def test_leaks():
    STATE["mode"] = "dirty"
    os.environ["OPTIKIT_PROBE_TEST"] = "1"


def test_fails():
    assert STATE["mode"] == "fresh"


def test_draws():
    assert random.random() < 0.5
"""
M = "test_m.py::"
SPECS = [
    RunSpec(None, 1, 0, (M + "test_leaks", M + "test_fails")),
    RunSpec(None, 1, 0, (M + "test_fails",)),
    RunSpec(None, 3, 0, (REST, M + "test_leaks")),
    RunSpec(7, 2, 0, (M + "test_draws", REST)),
]


def project(tmp_path: Path, conftest: str = "") -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (root / "test_m.py").write_text(SUITE)
    (root / "conftest.py").write_text(conftest)
    return root


def imports(root: Path) -> int:
    return len((root / "imports.txt").read_text().splitlines())


def test_forked_probes_show_what_fresh_processes_show_from_one_collection(
    tmp_path: Path,
) -> None:
    root = project(tmp_path)
    pytest_ = Pytest(root)
    fresh = [pytest_.run(spec) for spec in SPECS]
    assert imports(root) == len(SPECS)
    servers = ProbeServers(pytest_, size=1)
    try:
        forked = [servers.run(spec) for spec in SPECS]
    finally:
        servers.close()
    assert not servers.refused
    assert servers.forked == len(SPECS)
    assert imports(root) == len(SPECS) + 1  # the server's collection, and no other
    for one, other in zip(fresh, forked, strict=True):
        assert list(one.outcomes().items()) == list(other.outcomes().items())
        assert one.evidence == other.evidence
        assert one.exitstatus == other.exitstatus
    # each probe starts clean: the leak of the first does not reach the second
    assert forked[0].outcomes()[M + "test_fails"] == "failed"
    assert forked[1].outcomes()[M + "test_fails"] == "passed"
    assert "env" in forked[2].evidence[M + "test_leaks"]


def test_a_suite_running_threads_gets_fresh_processes(tmp_path: Path) -> None:
    """Forking a process with other threads can deadlock the child: the server refuses."""
    conftest = (
        "import threading\nthreading.Thread(target=threading.Event().wait, daemon=True).start()\n"
    )
    root = project(tmp_path, conftest)
    servers = ProbeServers(Pytest(root), size=1)
    try:
        outcomes = [servers.run(spec).outcomes() for spec in SPECS[:2]]
    finally:
        servers.close()
    assert servers.refused
    assert servers.forked == 0
    assert outcomes == [
        {M + "test_leaks": "passed", M + "test_fails": "failed"},
        {M + "test_fails": "passed"},
    ]


def test_a_module_that_fails_to_collect_leaves_probes_to_fresh_processes(tmp_path: Path) -> None:
    """A fresh probe collects only its tests' files; a server that collected an error
    would differ from it, so it refuses."""
    root = project(tmp_path)
    (root / "test_broken.py").write_text("import no_such_module_here\n")
    servers = ProbeServers(Pytest(root), size=1)
    try:
        result = servers.run(SPECS[1])
    finally:
        servers.close()
    assert servers.refused
    assert result.outcomes() == {M + "test_fails": "passed"}


def test_a_hung_probe_stops_at_the_deadline_naming_the_test(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "test_hangs.py").write_text("import time\n\ndef test_hangs():\n    time.sleep(600)\n")
    servers = ProbeServers(Pytest(root, deadline=time.monotonic() + 10), size=1)
    with pytest.raises(TimeoutError) as stopped:
        servers.run(RunSpec(None, 1, 0, (M + "test_fails", "test_hangs.py::test_hangs")))
    servers.close()
    assert stopped.value.args == (["test_hangs.py::test_hangs"],)
