"""Node ids a promotion renames: what ``rescope --allow-renames`` collects before and after.

pytest builds a parametrized test's id from its parameters in the order of their fixtures'
scopes, so widening one parametrized fixture can turn ``test_a[1-p]`` into ``test_a[p-1]``.
What a test *is* does not change: its function and the index of each parameter it got.
Collecting that identity (with this module as a pytest plugin) before and after the change
pairs each old id with its new one, whatever pytest did, instead of predicting pytest's rule.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

OPTION = "--optikit-test-identities"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(OPTION, help="write each collected test's identity to this JSON file")


def pytest_collection_finish(session: pytest.Session) -> None:
    target = session.config.getoption(OPTION)
    if target:
        identities = {_identity(item): item.nodeid for item in session.items}
        Path(target).write_text(json.dumps(identities), encoding="utf-8")


def _identity(item: pytest.Item) -> str:
    """The test's function and each parameter's index: what no scope change alters."""
    callspec = getattr(item, "callspec", None)
    indices = sorted(callspec.indices.items()) if callspec is not None else []
    return json.dumps([item.nodeid.partition("[")[0], indices])


def collect(targets: Sequence[str], root: Path) -> dict[str, str]:
    """Identity -> node id of every test pytest collects from ``targets`` in ``root``."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "identities.json"
        command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", __name__]
        options = [f"{OPTION}={out}", "-p", "no:randomly", "-p", "no:cacheprovider"]
        subprocess.run([*command, *options, *targets], cwd=root, capture_output=True, check=False)
        if not out.exists():
            return {}
        identities: dict[str, str] = json.loads(out.read_text(encoding="utf-8"))
        return identities


def renamed(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """Old node id -> new node id, for the tests whose id changed."""
    return {
        old: after[identity]
        for identity, old in before.items()
        if identity in after and after[identity] != old
    }
