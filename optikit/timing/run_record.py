"""The run record (DESIGN.md): one tracked pytest session, the contract between the parts.

The tracker and ``optikit import-junit`` write it; the history, the baseline, the gate, the
reports and the codemods read it. Reading validates just enough that every consumer can trust
the fields it uses, and a damaged file is one clear error naming the file and the fix.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TypedDict

from fixtures_lib.atomic import write_text_atomic
from optikit.errors import OptikitError

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # pragma: no cover - exercised on 3.10 only
    from typing_extensions import NotRequired

SCHEMA_VERSION = 1


class TestEntry(TypedDict):
    nodeid: str
    duration: float
    setup: float
    call: float
    teardown: float
    status: str
    markers: list[str]
    module: str
    worker: str
    line: NotRequired[int]
    reruns: NotRequired[int]
    memory_peak_mb: NotRequired[float]
    cpu_time: NotRequired[float]


class FixtureEntry(TypedDict):
    name: str
    scope: str
    baseid: str
    setups: int
    total: float
    max: float
    teardown_total: NotRequired[float]


class RunRecord(TypedDict):
    schema_version: int
    run_id: str
    started_at: str
    git: dict[str, Any]
    machine: dict[str, Any]
    tests: list[TestEntry]
    fixtures: list[FixtureEntry]
    summary: dict[str, Any]
    collection_time: NotRequired[float]
    wall_time: NotRequired[float]
    workers: NotRequired[dict[str, dict[str, float]]]
    # per cached fixture (fixtures_lib): hits, misses, saved_seconds, build_seconds, corrupt
    fixture_cache: NotRequired[dict[str, dict[str, float]]]


def summarise(tests: list[TestEntry], slow_threshold: float) -> dict[str, Any]:
    durations = [test["duration"] for test in tests]
    return {
        "total_tests": len(tests),
        "slow_tests": sum(d >= slow_threshold for d in durations),
        "total_duration": round(sum(durations), 6),
        "average_duration": round(sum(durations) / len(durations), 6) if durations else 0.0,
    }


def write_run_record(path: Path, record: RunRecord) -> str:
    """Write the record; return its tests as JSON, for the history to store as they are.

    The tests are encoded on their own and placed last in the object: one encoding serves
    both the file and the history.
    """
    tests = encode(record["tests"])
    rest = encode({key: value for key, value in record.items() if key != "tests"})
    # not flushed to disk: it is rewritten by every tracked run and the history keeps the runs
    write_text_atomic(path, f'{rest[:-1]},"tests":{tests}}}\n', durable=False)
    return tests


def encode(value: Any) -> str:
    """Compact JSON, as the run record and the history store it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def read_json(path: Path, what: str, fix: str) -> Any:
    """A JSON file optikit wrote, or one line saying what is wrong and how to fix it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OptikitError(f"{what} not found. {fix}", path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise OptikitError(f"{what} is corrupt ({exc}). {fix}", path) from None


_TEST_FIELDS: dict[str, type | tuple[type, ...]] = {
    "nodeid": str,
    "duration": (int, float),
    "setup": (int, float),
    "call": (int, float),
    "teardown": (int, float),
    "status": str,
    "markers": list,
    "module": str,
    "worker": str,
}


def read_run_record(path: Path) -> RunRecord:
    fix = "Run 'pytest --track-performance' (or 'make test-performance') to record one."
    data = read_json(path, "Run record", fix)
    problem = _record_problem(data)
    if problem:
        raise OptikitError(f"Run record is not valid: {problem}. {fix}", path)
    record: RunRecord = data
    return record


def _record_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "expected a JSON object"
    if data.get("schema_version") != SCHEMA_VERSION:
        return f"schema_version {data.get('schema_version')!r}, expected {SCHEMA_VERSION}"
    for key in ("run_id", "started_at", "tests", "fixtures", "summary"):
        if key not in data:
            return f"missing '{key}'"
    if not isinstance(data["tests"], list):
        return "'tests' must be a list"
    for index, test in enumerate(data["tests"]):
        for field, kind in _TEST_FIELDS.items():
            if not isinstance(test, dict) or not isinstance(test.get(field), kind):
                return f"tests[{index}] has no valid '{field}'"
    return None
