"""mark-serial: ``@pytest.mark.serial`` on the tests an audit found unsafe to run in parallel.

Marked are the parallel-unsafe and order-dependent tests of the audit report (DESIGN.md),
with the polluters and state-setters named for them: moving only the victim to the serial
phase would leave its polluter racing with everything else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from codemods.add_marks import Placement, TestKey, place
from codemods.nodeids import parse_nodeid

UNSAFE = frozenset({"parallel_unsafe", "order_dependent"})


def serial_nodeids(audit: Mapping[str, Any]) -> set[str]:
    """The unsafe tests of a validated audit report, with the culprits named for them."""
    chosen: set[str] = set()
    for nodeid, finding in audit["tests"].items():
        if finding["classification"] in UNSAFE:
            chosen.add(nodeid)
            chosen.update(finding["polluters"])
            chosen.update(finding["state_setters"])
    return chosen


def plan_mark_serial(nodeids: set[str], *, root: Path, audited: Iterable[str] = ()) -> Placement:
    """Like mark-slow, single cases: a parametrized test is marked whole only when every
    case the audit ran (``audited``) is unsafe."""
    cases = _cases({*audited, *nodeids})
    add: dict[tuple[str, TestKey], frozenset[str] | None] = {}
    for function, unsafe in _cases(nodeids).items():
        whole = None in unsafe or unsafe >= cases[function]
        add[function] = None if whole else frozenset(c for c in unsafe if c is not None)
    seen = {f: frozenset(c for c in ids if c is not None) for f, ids in cases.items()}
    return place(root, "serial", add, seen_cases=seen)


def _cases(nodeids: Iterable[str]) -> dict[tuple[str, TestKey], set[str | None]]:
    """Each test function's case ids (``None`` for an unparametrized test)."""
    found: dict[tuple[str, TestKey], set[str | None]] = {}
    for nodeid in nodeids:
        test = parse_nodeid(nodeid)
        if test is not None:
            found.setdefault((test.path, test.key), set()).add(test.case)
    return found
