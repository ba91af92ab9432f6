"""The SQLite history of tracked runs: what baselines, noise estimates and trends come from.

WAL mode and a busy timeout let two sessions (say, two CI jobs on one runner) append at once
without losing either; each run is written in one transaction, so a killed process leaves
either the whole run or nothing.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from optikit.errors import OptikitError
from optikit.run_record import RunRecord

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
    total_duration REAL NOT NULL,
    wall_time REAL,
    tests INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS run_tests (
    run INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    tests TEXT NOT NULL
);
"""
# One JSON array per run, [[nodeid, duration, setup, call, teardown, status], ...], rather than
# a row per test: every reader wants whole runs, and appending a run of 5,000 tests this way
# costs a third of what 5,000 indexed rows do, on the critical path of every tracked session.
TEST_FIELDS = ("nodeid", "duration", "setup", "call", "teardown", "status")
SCHEMA_VERSION = 2

FIX = "Move it aside (optikit starts a new history) or restore it from a backup."


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    started_at: str
    commit: str | None
    calibration: float | None
    total_duration: float
    tests: int


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
    """Create the schema; a version-1 history (a row per test) is folded into run blobs."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            connection.execute(statement)
    old = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'test_timings'"
    ).fetchone()
    if old:
        runs: dict[int, list[list[object]]] = {}
        for run, *fields in connection.execute(
            f"SELECT run, {', '.join(TEST_FIELDS)} FROM test_timings ORDER BY run"
        ):
            runs.setdefault(run, []).append(fields)
        connection.executemany(
            "INSERT OR IGNORE INTO run_tests VALUES (?, ?)",
            [(run, _encode(rows)) for run, rows in runs.items()],
        )
        connection.execute("DROP TABLE test_timings")
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _encode(rows: list[list[object]]) -> str:
    return json.dumps(rows, separators=(",", ":"))


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def append_run(path: Path, record: RunRecord) -> None:
    """Add one run and all its tests in a single transaction."""
    git, machine = record["git"], record["machine"]
    with _connect(path) as connection, _transaction(connection):
        cursor = connection.execute(
            "INSERT OR IGNORE INTO runs (run_id, started_at, git_commit, branch, dirty, platform,"
            " python, cpu_count, calibration, total_duration, wall_time, tests)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                record["summary"]["total_duration"],
                record.get("wall_time"),
                len(record["tests"]),
            ),
        )
        if cursor.rowcount == 0:
            return  # this run is already in the history
        rows: list[list[object]] = [
            [t["nodeid"], t["duration"], t["setup"], t["call"], t["teardown"], t["status"]]
            for t in record["tests"]
        ]
        connection.execute("INSERT INTO run_tests VALUES (?, ?)", (cursor.lastrowid, _encode(rows)))


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
            "SELECT run_id, started_at, git_commit, calibration, total_duration, tests"
            " FROM runs ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
    return [RunSummary(*row) for row in reversed(rows)]


def durations(path: Path, last_runs: int, passed_only: bool = True) -> dict[str, list[float]]:
    """Each test's durations over the newest ``last_runs`` runs, oldest first."""
    _require(path)
    with _connect(path) as connection:
        blobs = connection.execute(
            "SELECT t.tests FROM run_tests t"
            " JOIN (SELECT id FROM runs ORDER BY id DESC LIMIT ?) r ON t.run = r.id"
            " ORDER BY t.run",
            (last_runs,),
        ).fetchall()
    found: dict[str, list[float]] = {}
    for (blob,) in blobs:
        try:
            rows = json.loads(blob)
        except json.JSONDecodeError as exc:
            raise OptikitError(f"history database is unreadable ({exc}). {FIX}", path) from None
        for nodeid, duration, _setup, _call, _teardown, status in rows:
            if not passed_only or status == "passed":
                found.setdefault(nodeid, []).append(duration)
    return found
