"""The SQLite history: appends, queries, concurrent writers and damaged files."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from optikit.errors import OptikitError
from optikit.timing import history
from tests.factories import record


def append_many(db: Path, prefix: str, count: int) -> None:
    for index in range(count):
        history.append_run(
            db, record({"t.py::a": 1.0 + index, "t.py::b": 2.0}, run_id=f"{prefix}-{index}")
        )


def test_runs_and_durations_oldest_first(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    append_many(db, "run", 3)
    assert [r.run_id for r in history.recent_runs(db, 2)] == ["run-1", "run-2"]
    assert history.durations(db, 10)["t.py::a"] == [1.0, 2.0, 3.0]
    assert history.durations(db, 2)["t.py::a"] == [2.0, 3.0]


def test_the_same_run_is_stored_once(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    same = record({"t.py::a": 1.0}, run_id="once")
    history.append_run(db, same)
    history.append_run(db, same)
    assert len(history.recent_runs(db, 10)) == 1
    assert history.durations(db, 10) == {"t.py::a": [1.0]}


def test_failed_tests_are_left_out_of_durations_by_default(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    run = record({"t.py::a": 1.0, "t.py::b": 5.0})
    run["tests"][1]["status"] = "failed"
    history.append_run(db, run)
    assert history.durations(db, 10) == {"t.py::a": [1.0]}
    assert history.durations(db, 10, passed_only=False)["t.py::b"] == [5.0]


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with ProcessPoolExecutor(2) as pool:
        jobs = [pool.submit(append_many, db, name, 25) for name in ("left", "right")]
        for job in jobs:
            job.result()
    runs = history.recent_runs(db, 100)
    assert len(runs) == 50
    assert len(history.durations(db, 100)["t.py::b"]) == 50


def test_damaged_database_is_one_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(OptikitError, match=r"h.db: history database is unreadable .*Move it aside"):
        history.recent_runs(db, 1)


def test_missing_database_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(OptikitError, match="Run 'pytest --track-performance' at least once"):
        history.durations(tmp_path / "none.db", 5)


OLD_RUNS_TABLE = """
CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT UNIQUE NOT NULL,
    started_at TEXT NOT NULL, git_commit TEXT, branch TEXT, dirty INTEGER,
    platform TEXT, python TEXT, cpu_count INTEGER, calibration REAL,
    total_duration REAL NOT NULL, wall_time REAL, tests INTEGER NOT NULL);
INSERT INTO runs (run_id, started_at, total_duration, tests) VALUES ('old', 'x', 3, 2);
"""
OLD_TEST_TIMINGS = {
    "version-1": """
        CREATE TABLE test_timings (run INTEGER NOT NULL, nodeid TEXT NOT NULL,
            duration REAL NOT NULL, setup REAL NOT NULL, call REAL NOT NULL,
            teardown REAL NOT NULL, status TEXT NOT NULL, PRIMARY KEY (run, nodeid));
        INSERT INTO test_timings VALUES (1, 't.py::a', 1.0, 0, 1.0, 0, 'passed');
        INSERT INTO test_timings VALUES (1, 't.py::b', 2.0, 0, 2.0, 0, 'failed');
    """,
    "version-2": """
        CREATE TABLE run_tests (run INTEGER PRIMARY KEY REFERENCES runs(id), tests TEXT);
        INSERT INTO run_tests VALUES
            (1, '[["t.py::a",1.0,0,1.0,0,"passed"],["t.py::b",2.0,0,2.0,0,"failed"]]');
        PRAGMA user_version = 2;
    """,
}


@pytest.mark.parametrize("timings", OLD_TEST_TIMINGS.values(), ids=OLD_TEST_TIMINGS.keys())
def test_an_older_history_is_migrated_on_first_open(tmp_path: Path, timings: str) -> None:
    import sqlite3

    db = tmp_path / "h.db"
    with sqlite3.connect(db) as connection:
        connection.executescript(OLD_RUNS_TABLE + timings)
    connection.close()
    append_many(db, "new", 1)
    assert history.durations(db, 10) == {"t.py::a": [1.0, 1.0], "t.py::b": [2.0]}
    assert history.durations(db, 10, passed_only=False)["t.py::b"] == [2.0, 2.0]


def test_a_damaged_run_names_the_database_and_the_fix(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "h.db"
    append_many(db, "run", 1)
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE run_tests SET tests = x'00ff00'")
    connection.close()
    with pytest.raises(OptikitError, match=r"h.db: history database is unreadable .*Move it aside"):
        history.durations(db, 10)


def test_machine_load_is_kept_per_run(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    run = record({"t.py::a": 1.0})
    run["machine"]["cpu_wait_share"] = 0.125
    history.append_run(db, run)
    (summary,) = history.recent_runs(db, 1)
    assert (summary.calibration, summary.cpu_wait_share) == (0.02, 0.125)


def test_renamed_tests_keep_their_past(tmp_path: Path) -> None:
    """``rescope --allow-renames``: every stored run moves to the new ids, the rest stays."""
    db = tmp_path / "h.db"
    append_many(db, "run", 2)
    history.append_run(db, record({"t.py::c": 1.0}, run_id="other"))
    assert history.rename_tests(db, {"t.py::a": "t.py::a2"}) == 2
    found = history.durations(db, 10)
    assert found["t.py::a2"] == [1.0, 2.0]
    assert "t.py::a" not in found
    assert found["t.py::b"] == [2.0, 2.0]
    assert found["t.py::c"] == [1.0]
