"""``optikit import-junit``: any runner's JUnit XML becomes a run record.

pytest's ``--junitxml``, cargo nextest, Jest, Go's gotestsum: they all write JUnit XML, so the
history, baseline and gate work for a suite in any language.
"""

from __future__ import annotations

import datetime
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

from optikit.errors import OptikitError
from optikit.timing.machine import git_facts
from optikit.timing.run_record import (
    SCHEMA_VERSION,
    RunRecord,
    TestEntry,
    check_record,
    summarise,
)

OUTCOME_TAGS = {"failure": "failed", "error": "error", "skipped": "skipped"}


def nodeid_for(classname: str, name: str, root: Path, file: str | None = None) -> str:
    """pytest's ``tests.test_x.TestY`` back to ``tests/test_x.py::TestY::name``, where the
    file exists; other runners' names are kept as ``classname::name``."""
    parts = classname.split(".") if classname else []
    if file:
        module = Path(file).as_posix()
        depth = len(Path(module).with_suffix("").parts)
        return "::".join([module, *parts[depth:], name])
    for cut in range(len(parts), 0, -1):
        candidate = "/".join(parts[:cut]) + ".py"
        if (root / candidate).is_file():
            return "::".join([candidate, *parts[cut:], name])
    return f"{classname}::{name}" if classname else name


def read_junit(path: Path, root: Path, slow_threshold: float = 30.0) -> RunRecord:
    try:
        tree = ET.parse(path)
    except FileNotFoundError:
        raise OptikitError("JUnit XML file not found; check the path", path) from None
    except ET.ParseError as exc:
        raise OptikitError(f"is not valid JUnit XML ({exc}); regenerate it", path) from None
    tests: list[TestEntry] = []
    for case in tree.getroot().iter("testcase"):
        nodeid = nodeid_for(case.get("classname", ""), case.get("name", ""), root, case.get("file"))
        status = next((OUTCOME_TAGS[c.tag] for c in case if c.tag in OUTCOME_TAGS), "passed")
        time_text = case.get("time") or "0"
        try:
            seconds = float(time_text.replace(",", ""))  # some runners write 1,234.5
        except ValueError:
            raise OptikitError(
                f"testcase {nodeid} has time={time_text!r}, not a number of seconds; "
                "regenerate the report",
                path,
            ) from None
        entry: TestEntry = {
            "nodeid": nodeid,
            "duration": seconds,
            "setup": 0.0,
            "call": seconds,
            "teardown": 0.0,
            "status": status,
            "markers": [],
            "module": nodeid.split("::", 1)[0],
            "worker": "main",
        }
        if case.get("line", "").isdigit():
            entry["line"] = int(case.get("line", "0")) + 1
        tests.append(entry)
    if not tests:
        raise OptikitError("has no <testcase> elements; is it a JUnit XML report?", path)
    suite = (
        tree.getroot() if tree.getroot().tag == "testsuite" else tree.getroot().find("testsuite")
    )
    stamp = suite.get("timestamp") if suite is not None else None
    started = stamp or datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    record: RunRecord = {
        "schema_version": SCHEMA_VERSION,
        "run_id": f"junit-{uuid.uuid4().hex[:12]}",
        "started_at": started,
        "git": git_facts(root),
        "machine": {
            "platform": f"imported from {path.name}",
            "python": None,
            "cpu_count": None,
            "calibration": None,
        },
        "tests": tests,
        "fixtures": [],
        "summary": summarise(tests, slow_threshold),
    }
    return check_record(record, path, "JUnit XML", "Regenerate it, or fix the field by hand.")
