"""The run record (DESIGN.md): one tracked pytest session, the contract between the parts.

The tracker and ``optikit import-junit`` write it; the history, the baseline, the gate, the
reports and the codemods read it. Reading validates just enough that every consumer can trust
the fields it uses, and a damaged file is one clear error naming the file and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, TypeVar

from annotated_types import Ge, Le
from typing_extensions import NotRequired, TypedDict  # pydantic needs its TypedDict before 3.12

from fixtures_lib.atomic import write_text_atomic
from optikit.errors import OptikitError, invalid

if TYPE_CHECKING:
    from pydantic import TypeAdapter

SCHEMA_VERSION: Final = 1
MAX_SECONDS = 7 * 24 * 3600.0  # a week: anything longer is a damaged number, not a test

T = TypeVar("T")

Seconds = Annotated[float, Ge(0), Le(MAX_SECONDS)]
"""A duration as every data file stores it: finite, not negative, not absurd."""


class TestEntry(TypedDict):
    nodeid: str
    duration: Seconds
    setup: Seconds
    call: Seconds
    teardown: Seconds
    status: str
    markers: list[str]
    module: str
    worker: str
    line: NotRequired[Annotated[int, Ge(0)]]
    reruns: NotRequired[Annotated[int, Ge(0)]]
    memory_peak_mb: NotRequired[Annotated[float, Ge(0)]]
    cpu_time: NotRequired[Seconds]
    cpu_wait: NotRequired[Seconds]  # waited for a CPU (a busy machine); absent under 1 ms


def net_duration(test: Mapping[str, Any]) -> float:
    """What the gate judges: the test's time less what it spent waiting for a CPU, which a
    busy neighbour adds and the test's code does not."""
    return round(float(test["duration"]) - float(test.get("cpu_wait", 0.0)), 6)


class FixtureEntry(TypedDict):
    name: str
    scope: str
    baseid: str
    setups: Annotated[int, Ge(0)]
    total: Seconds
    max: Seconds
    teardown_total: NotRequired[Seconds]


class RunRecord(TypedDict):
    """The schema: what ``read_run_record`` validates and the tracker writes."""

    schema_version: Literal[1]
    run_id: str
    started_at: str
    git: dict[str, Any]
    machine: dict[str, Any]
    tests: list[TestEntry]
    fixtures: list[FixtureEntry]
    summary: dict[str, Any]
    collection_time: NotRequired[Seconds]
    wall_time: NotRequired[Seconds]
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


def read_run_record(path: Path) -> RunRecord:
    fix = "Run 'pytest --track-performance' (or 'make test-performance') to record one."
    return check_record(read_json(path, "Run record", fix), path, "Run record", fix)


def check_record(data: Any, path: Path, what: str, fix: str) -> RunRecord:
    """``data`` as a valid run record, or one line naming ``path``, the field and the fix."""
    return validate(RunRecord, data, path, what, fix)


def validate(schema: type[T], data: Any, path: Path, what: str, fix: str) -> T:
    """``data`` checked against a format's schema (NaN, infinities and wrong types refused;
    keys a newer optikit added ignored), or one line naming the file, the field and the fix."""
    from pydantic import ValidationError

    try:
        valid: T = _adapter(schema).validate_python(data)
    except ValidationError as exc:
        raise invalid(exc, path, what, fix) from None
    return valid


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(schema: Any) -> TypeAdapter[Any]:
    """pydantic's validator for ``schema``, built once per process (building costs ms)."""
    if schema not in _ADAPTERS:
        from pydantic import TypeAdapter

        _ADAPTERS[schema] = TypeAdapter(schema)
    return _ADAPTERS[schema]
