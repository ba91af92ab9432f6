"""The SQLite history of tracked runs: what baselines, noise estimates and trends come from.

WAL mode and a busy timeout let two sessions (say, two CI jobs on one runner) append at once
without losing either; each run is written in one transaction, so a killed process leaves
either the whole run or nothing.
"""

from __future__ import annotations

import json
import sqlite3
import time
import zlib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from typing_extensions import NotRequired, TypedDict

from optikit.errors import OptikitError
from optikit.timing.run_record import RunRecord, Seconds, encode, net_duration, validate

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT UNIQUE NOT NULL,
    started_at TEXT NOT NULL,
    git_commit TEXT,
    branch TEXT,
    dirty INTEGER,
    platform TEXT,
    python TEXT,
    cpu_count INTEGER,
    calibration REAL,
    cpu_wait_share REAL,
    total_duration REAL NOT NULL,
    wall_time REAL,
    tests INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS run_tests (
    run INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    tests BLOB NOT NULL
);
"""
# One zlib-compressed JSON array per run: the run record's own test entries, as the tracker
# already encoded them for the run record, rather than a row per test. Every reader wants
# whole runs, and this costs one compression on the critical path of each tracked session
# instead of 5,000 indexed rows (or a second encoding); 5,000 tests take about 75 KB.
SCHEMA_VERSION = 3
OLD_FIELDS = ("nodeid", "duration", "setup", "call", "teardown", "status")  # versions 1 and 2

FIX = "Move it aside (optikit starts a new history) or restore it from a backup."


class StoredTest(TypedDict):
    """What readers of the history use of each stored test entry (the schema they check)."""

    nodeid: str
    duration: Seconds
    status: str
    cpu_wait: NotRequired[Seconds]


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    started_at: str
    commit: str | None
    calibration: float | None
    total_duration: float
    tests: int
    cpu_wait_share: float | None = None


def _set_wal(connection: sqlite3.Connection) -> None:
    """Switch a new database to WAL once; the mode is persistent, so later opens skip it.

    Changing the journal mode takes an exclusive lock without consulting the busy handler,
    so two processes creating the history at once retry here instead of failing.
    """
    for attempt in range(50):
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 49:
                raise
            time.sleep(0.02 * (attempt + 1))


@contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    """An autocommit connection with the schema in place; callers open their own transaction.

    Writers use ``BEGIN IMMEDIATE``: a deferred transaction that reads before it writes gets
    SQLITE_BUSY at once in WAL mode when another writer got in first, busy timeout or not.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as connection:
            _set_wal(connection)
            connection.execute("PRAGMA foreign_keys=ON")
            # WAL with synchronous=NORMAL: a killed process still loses nothing committed
            connection.execute("PRAGMA synchronous=NORMAL")
            if connection.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                with _transaction(connection):
                    _create_or_migrate(connection)
            yield connection
    except sqlite3.DatabaseError as exc:
        raise OptikitError(f"history database is unreadable ({exc}). {FIX}", path) from None


def _create_or_migrate(connection: sqlite3.Connection) -> None:
    """Create the schema, or bring an older history's test timings to this version's form.

    Version 1 kept a row per test (table ``test_timings``); version 2 an uncompressed array
    of ``OLD_FIELDS`` lists per run.
    """
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    for statement in SCHEMA.split(";"):
        if statement.strip():
            connection.execute(statement)
    runs: dict[int, list[dict[str, object]]] = {}
    if connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'test_timings'"
    ).fetchone():
        for run, *fields in connection.execute(
            f"SELECT run, {', '.join(OLD_FIELDS)} FROM test_timings ORDER BY run"
        ):
            runs.setdefault(run, []).append(dict(zip(OLD_FIELDS, fields, strict=True)))
        connection.execute("DROP TABLE test_timings")
    elif version == 2:
        for run, text in connection.execute("SELECT run, tests FROM run_tests").fetchall():
            runs[run] = [dict(zip(OLD_FIELDS, row, strict=True)) for row in json.loads(text)]
    columns = {row[1] for row in connection.execute("PRAGMA table_info(runs)")}
    if "cpu_wait_share" not in columns:  # versions 1 and 2 did not measure it
        connection.execute("ALTER TABLE runs ADD COLUMN cpu_wait_share REAL")
    connection.executemany(
        "INSERT OR REPLACE INTO run_tests VALUES (?, ?)",
        [(run, _compress(encode(tests))) for run, tests in runs.items()],
    )
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _compress(tests_json: str) -> bytes:
    return zlib.compress(tests_json.encode("utf-8"), 1)  # level 1: a third of the time of 6


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def append_run(path: Path, record: RunRecord, tests_json: str | None = None) -> None:
    """Add one run and all its tests in a single transaction.

    ``tests_json`` is ``record["tests"]`` already encoded (``write_run_record`` returns it),
    so a tracked session encodes its tests once.
    """
    git, machine = record["git"], record["machine"]
    if tests_json is None:
        tests_json = encode(record["tests"])
    with _connect(path) as connection, _transaction(connection):
        cursor = connection.execute(
            "INSERT OR IGNORE INTO runs (run_id, started_at, git_commit, branch, dirty, platform,"
            " python, cpu_count, calibration, cpu_wait_share, total_duration, wall_time, tests)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record["run_id"],
                record["started_at"],
                git.get("commit"),
                git.get("branch"),
                git.get("dirty"),
                machine.get("platform"),
                machine.get("python"),
                machine.get("cpu_count"),
                machine.get("calibration"),
                machine.get("cpu_wait_share"),
                record["summary"]["total_duration"],
                record.get("wall_time"),
                len(record["tests"]),
            ),
        )
        if cursor.rowcount == 0:
            return  # this run is already in the history
        connection.execute(
            "INSERT INTO run_tests VALUES (?, ?)", (cursor.lastrowid, _compress(tests_json))
        )


def rename_tests(path: Path, renamed: dict[str, str]) -> int:
    """Give tests their new node ids in every stored run (``rescope --allow-renames``), in
    one transaction; the number of runs changed. A test's past stays its past."""
    changed = 0
    with _connect(path) as connection, _transaction(connection):
        for run, blob in connection.execute("SELECT run, tests FROM run_tests").fetchall():
            tests = _tests(blob, path)
            if not any(test.get("nodeid") in renamed for test in tests):
                continue
            for test in tests:
                test["nodeid"] = renamed.get(test["nodeid"], test["nodeid"])
            connection.execute(
                "UPDATE run_tests SET tests = ? WHERE run = ?", (_compress(encode(tests)), run)
            )
            changed += 1
    return changed


def _tests(blob: bytes, path: Path) -> list[dict[str, Any]]:
    try:
        tests = json.loads(zlib.decompress(blob))
    except (zlib.error, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise OptikitError(f"history database is unreadable ({exc}). {FIX}", path) from None
    validate(list[StoredTest], tests, path, "A run in the history database", FIX)
    return cast(list[dict[str, Any]], tests)


def _require(path: Path) -> None:
    if not path.exists():
        raise OptikitError(
            "history database not found. Run 'pytest --track-performance' at least once.", path
        )


def recent_runs(path: Path, limit: int) -> list[RunSummary]:
    """The newest ``limit`` runs, oldest first."""
    _require(path)
    with _connect(path) as connection:
        rows = connection.execute(
            "SELECT run_id, started_at, git_commit, calibration, total_duration, tests,"
            " cpu_wait_share"
            " FROM runs ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
    return [RunSummary(*row) for row in reversed(rows)]


def run_durations(path: Path, last_runs: int, passed_only: bool = True) -> list[dict[str, float]]:
    """Each of the newest ``last_runs`` runs (oldest first): its tests' durations, less the
    time they waited for a CPU (``net_duration``)."""
    _require(path)
    with _connect(path) as connection:
        blobs = connection.execute(
            "SELECT t.tests FROM run_tests t"
            " JOIN (SELECT id FROM runs ORDER BY id DESC LIMIT ?) r ON t.run = r.id"
            " ORDER BY t.run",
            (last_runs,),
        ).fetchall()
    runs = []
    for (blob,) in blobs:
        tests = _tests(blob, path)
        runs.append(
            {
                test["nodeid"]: net_duration(test)
                for test in tests
                if not passed_only or test["status"] == "passed"
            }
        )
    return runs


def durations(path: Path, last_runs: int, passed_only: bool = True) -> dict[str, list[float]]:
    """Each test's durations over the newest ``last_runs`` runs, oldest first."""
    found: dict[str, list[float]] = {}
    for run in run_durations(path, last_runs, passed_only):
        for nodeid, duration in run.items():
            found.setdefault(nodeid, []).append(duration)
    return found
