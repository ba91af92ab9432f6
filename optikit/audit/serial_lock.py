"""Tests marked ``serial`` never run at the same time, even under ``pytest -n``: each one
holds a lock that all xdist workers of the session share while it runs.

xdist's own answer, ``xdist_group`` with ``--dist loadgroup``, works by renaming node ids,
which pytest 9 no longer lets it do (xdist 3.8 sets ``item._nodeid``; pytest 9 derives node
ids from ``_id``): the groups silently stop grouping. A lock does not depend on that, and a
worker waiting for it is the only cost.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from filelock import FileLock


class SerialLock:
    def __init__(self) -> None:
        self._lock: FileLock | None = None

    def _shared_lock(self, config: pytest.Config) -> FileLock:
        if self._lock is None:
            from filelock import FileLock  # only when a serial test runs: lean sessions

            factory = config._tmp_path_factory  # type: ignore[attr-defined]  # pytest's tmp source
            # Each worker's basetemp is <session basetemp>/popen-gwN: the parent is shared.
            path = Path(factory.getbasetemp()).parent / "optikit-serial.lock"
            self._lock = FileLock(path)
        return self._lock

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        if item.get_closest_marker("serial") is None:
            return (yield)
        with self._shared_lock(item.config):
            return (yield)


def register(config: pytest.Config) -> None:
    """Only xdist workers need it: a single process never runs two tests at once."""
    if hasattr(config, "workerinput"):
        config.pluginmanager.register(SerialLock(), "optikit-serial-lock")
