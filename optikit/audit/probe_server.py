"""``--audit-serve R,W`` (used by optikit audit-parallel): collect the suite once, then run
each probe in a process forked from this one.

A probe is one exact sequence of tests in a fresh process. Most of a fresh process's time is
pytest starting and collecting (0.9 s on a 100-test suite here, for tests that take 0.03 s),
and an audit runs dozens of probes. A child forked after collection starts where a fresh
process stands after collecting: the suite's modules imported, no test run yet, nothing
left by any test. It runs only the requested sequence, writes the usual ``--audit-log``
file and exits, so a probe costs what its tests cost.

Requests are JSON lines on fd R (``order``, ``order_seed``, ``data_seed``, ``log``); each
reply is the child's exit code, a line on fd W. The server refuses, by closing W unanswered,
when it cannot fork safely (no ``os.fork``, other threads running) or collection failed;
optikit then starts a fresh process per probe. The reproducers optikit prints are always run
as fresh processes, so no finding rests on forked probes alone.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from optikit.audit.recorder import EvidenceCollector, SequenceLog, in_order
from optikit.audit.shuffle import shuffled_items


class ProbeServer:
    def __init__(self, fds: str, collector: EvidenceCollector) -> None:
        requests, replies = fds.split(",")
        self.requests, self.replies = int(requests), int(replies)
        self.collector = collector

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        with (
            open(self.requests, encoding="utf-8") as requests,
            open(self.replies, "w", encoding="utf-8", buffering=1) as replies,
        ):
            if session.testsfailed or not hasattr(os, "fork") or threading.active_count() > 1:
                return True  # run nothing; the closed pipe tells optikit to start processes
            for line in requests:
                request = json.loads(line)
                child = os.fork()
                if child == 0:
                    self._become_probe(session, request)
                    return None  # pytest's own loop runs the chosen tests, in the child
                _, status = os.waitpid(child, 0)
                replies.write(f"{os.waitstatus_to_exitcode(status)}\n")
        return True

    def _become_probe(self, session: pytest.Session, request: dict[str, Any]) -> None:
        items = session.items
        if request["order_seed"] is not None:
            items = shuffled_items(items, request["order_seed"])
        session.items = in_order(request["order"], items)
        self.collector.data_seed = request["data_seed"]
        log = SequenceLog(Path(request["log"]), loadgroup=False)
        session.config.pluginmanager.register(log, "optikit-audit-log")
