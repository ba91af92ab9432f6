"""Hostile input, through the real CLI and the real pytest plugin (issue 19).

Every data file optikit reads, each corrupted every way that applies (a directory in its place,
missing, empty, truncated, valid JSON of the wrong shape, NaN, infinity, a negative or absurd
number, bytes that are not UTF-8): the command exits 2 with one line that names the file, and
no traceback. The tracker, whose own outputs cannot be written, warns and keeps the suite's
exit status. Codemods never touch a file outside the project.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from optikit.timing import history
from optikit.timing.run_record import write_run_record
from tests.factories import baseline, record

DATA = "tests/.performance_data.json"
BASELINE = "tests/.performance_baseline.json"
AUDIT = ".optikit/audit.json"
HISTORY = ".optikit/history.db"
NODEID = "tests/test_a.py::test_a"
TEST_SOURCE = "def test_a():\n    assert True\n"


def optikit(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "optikit", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"},
    )


def new_project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "tests").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (root / "tests/test_a.py").write_text(TEST_SOURCE)
    write_run_record(root / DATA, record({NODEID: 0.5}))
    (root / BASELINE).write_text(json.dumps(baseline({NODEID: 0.5})))
    return root


def assert_one_line_error(done: subprocess.CompletedProcess[str], names: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output, output
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, output
    assert names in lines[0], output


# -- every JSON data file x every corruption ---------------------------------------------------


def audit_report() -> dict[str, Any]:
    finding = {"classification": "order_dependent", "polluters": [], "state_setters": []}
    return {"schema_version": 1, "runs": 1, "tests": {NODEID: finding}}


def set_number(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        target: Any = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


# kind: (the file, a valid document, the path to one of its numbers, the command that reads it)
KINDS: dict[str, tuple[str, Callable[[], Any], list[Any], list[str]]] = {
    "run record": (DATA, lambda: record({NODEID: 0.5}), ["tests", 0, "duration"], ["baseline"]),
    "codemod --data": (
        "elsewhere/record.json",
        lambda: record({NODEID: 0.5}),
        ["tests", 0, "setup"],
        ["codemod", "mark-slow", "--data", "elsewhere/record.json"],
    ),
    "baseline": (
        BASELINE,
        lambda: baseline({NODEID: 0.5}),
        ["tests", NODEID, "noise"],
        ["regression"],
    ),
    "audit report": (
        AUDIT,
        audit_report,
        ["tests", NODEID, "polluters"],
        ["codemod", "mark-serial"],
    ),
}


def write_corrupt(path: Path, corruption: str, document: Any, number: list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    if corruption == "directory":
        path.mkdir()
    elif corruption == "empty":
        path.write_text("")
    elif corruption == "truncated":
        path.write_text(json.dumps(document)[:40])
    elif corruption == "wrong shape":
        path.write_text(json.dumps([document]))
    elif corruption == "not UTF-8":
        path.write_bytes(json.dumps(document).encode()[:30] + b"\xff\xfe" + b"}")
    elif corruption != "missing":
        value = {
            "NaN": float("nan"),
            "infinite": float("inf"),
            "negative": -1.0,
            "absurd": 10**400,
            "wrong type": "fast",
        }[corruption]
        set_number(
            number, [5] if corruption == "wrong type" and number[-1] == "polluters" else value
        )(document)
        path.write_text(json.dumps(document))


CORRUPTIONS = [
    "directory",
    "missing",
    "empty",
    "truncated",
    "wrong shape",
    "not UTF-8",
    "NaN",
    "infinite",
    "negative",
    "absurd",
    "wrong type",
]
CASES = [
    pytest.param(kind, corruption, id=f"{kind}-{corruption}")
    for kind in KINDS
    for corruption in CORRUPTIONS
    # a list of polluters holds no number: only its wrong-type case applies
    if not (kind == "audit report" and corruption in ("NaN", "infinite", "negative", "absurd"))
]


@pytest.mark.parametrize(("kind", "corruption"), CASES)
def test_a_corrupt_data_file_is_one_line_and_exit_2(
    tmp_path: Path, kind: str, corruption: str
) -> None:
    root = new_project(tmp_path)
    name, document, number, command = KINDS[kind]
    write_corrupt(root / name, corruption, document(), number)
    done = optikit(root, *command)
    assert_one_line_error(done, Path(name).name)


# -- the history, the JUnit import, the config -------------------------------------------------


def history_with_tests(root: Path, tests_json: str) -> None:
    db = root / HISTORY
    history.append_run(db, record({NODEID: 0.5}))
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE run_tests SET tests = ?", (zlib.compress(tests_json.encode()),))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda root: (root / HISTORY).mkdir(parents=True), id="directory"),
        pytest.param(lambda root: (root / HISTORY).write_bytes(b"not sqlite" * 100), id="garbage"),
        pytest.param(lambda root: history_with_tests(root, '[{"nodeid": 5}]'), id="wrong keys"),
        pytest.param(
            lambda root: history_with_tests(
                root, '[{"nodeid": "a::b", "duration": NaN, "status": "passed"}]'
            ),
            id="NaN",
        ),
    ],
)
def test_a_damaged_history_is_one_line_and_exit_2(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    root = new_project(tmp_path)
    (root / ".optikit").mkdir(exist_ok=True)
    damage(root)
    assert_one_line_error(optikit(root, "baseline", "--from-history", "3"), "history.db")


JUNIT = '<testsuite><testcase classname="tests.test_a" name="test_a" time="{}"/></testsuite>'


@pytest.mark.parametrize("time", ["abc", "nan", "-3", "inf", "1e400"])
def test_bad_junit_times_are_one_line_and_exit_2(tmp_path: Path, time: str) -> None:
    root = new_project(tmp_path)
    (root / "junit.xml").write_text(JUNIT.format(time))
    assert_one_line_error(optikit(root, "import-junit", "junit.xml"), "junit.xml")


def test_a_junit_directory_is_one_line_and_exit_2(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    (root / "junit.xml").mkdir()
    assert_one_line_error(optikit(root, "import-junit", "junit.xml"), "junit.xml")


def test_import_junit_leaves_the_tracked_record_and_the_history_alone(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    before = (root / DATA).read_bytes()
    (root / "junit.xml").write_text(JUNIT.format("0.25"))
    done = optikit(root, "import-junit", "junit.xml")
    assert done.returncode == 0, done.stderr
    assert (root / DATA).read_bytes() == before
    assert not (root / HISTORY).exists()
    imported = json.loads((root / ".optikit/junit-run.json").read_text())
    assert [t["duration"] for t in imported["tests"]] == [0.25]


@pytest.mark.parametrize(
    "pyproject",
    [
        b"[tool.optikit.cache]\nsize_limit_mb = nan\n",
        b"[tool.optikit.cache]\nsize_limit_mb = inf\n",
        b"[tool.optikit.performance]\nsuite_threshold = 1e400\n",
        b"[project]\nname = 'caf\xe9'\n",
    ],
    ids=["nan", "inf", "overflow", "not UTF-8"],
)
def test_a_bad_pyproject_is_one_line_and_exit_2(tmp_path: Path, pyproject: bytes) -> None:
    root = new_project(tmp_path)
    (root / "pyproject.toml").write_bytes(pyproject)
    assert_one_line_error(optikit(root, "config", "show"), "pyproject.toml")


# -- numbers on the command line ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["audit-parallel", "-n", "-3"],
        ["audit-parallel", "--runs", "0"],
        ["codemod", "mark-slow", "--threshold", "nan"],
        ["codemod", "mark-slow", "--threshold", "-1"],
        ["codemod", "mark-slow", "--unmark", "--unmark-below", "-5"],
        ["codemod", "mark-slow", "--from-history", "99999999999999999999"],
        ["codemod", "rescope", "--min-uses", "-1"],
        ["codemod", "rescope", "--min-setup", "inf"],
        ["baseline", "--from-history", "99999999999999999999"],
        ["report", "--threshold", "nan"],
        ["regression", "--confirm", "1000"],
        ["codemod", "replace-tmp", "--jobs", "0"],
        ["audit-parallel", "--seed", "-1"],
    ],
    ids=" ".join,
)
def test_bad_numbers_on_the_command_line_exit_2(tmp_path: Path, args: list[str]) -> None:
    root = new_project(tmp_path)
    done = optikit(root, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "Invalid value" in done.stderr


# -- codemods stay inside the project ----------------------------------------------------------


@pytest.mark.parametrize(
    "nodeid", ["../outside/test_victim.py::test_x", "../../../etc/passwd::test_x"]
)
def test_a_node_id_leaving_the_project_is_refused(tmp_path: Path, nodeid: str) -> None:
    root = new_project(tmp_path)
    outside = tmp_path / "outside" / "test_victim.py"
    outside.parent.mkdir()
    outside.write_text("def test_x():\n    pass\n")
    write_run_record(root / DATA, record({nodeid: 99.0}))
    done = optikit(root, "codemod", "mark-slow", "--threshold", "1", "--apply")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "not a Python file inside the project" in done.stderr
    assert outside.read_text() == "def test_x():\n    pass\n"


def test_a_path_argument_outside_the_project_is_refused(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    outside = tmp_path / "test_out.py"
    outside.write_text("def test_o():\n    open('/tmp/x', 'w')\n")
    done = optikit(root, "codemod", "replace-tmp", str(outside), "--apply")
    assert_one_line_error(done, "test_out.py")
    assert "outside the project" in done.stderr
    assert "/tmp/x" in outside.read_text()


def test_a_file_that_is_not_utf8_is_listed_and_left_alone(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    latin = root / "tests/test_latin.py"
    latin.write_bytes(b"def test_b():\n    open('/tmp/caf\xe9', 'w')\n")
    done = optikit(root, "codemod", "replace-tmp", "--apply")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "test_latin.py: is not UTF-8 text" in done.stderr
    assert latin.read_bytes() == b"def test_b():\n    open('/tmp/caf\xe9', 'w')\n"


# -- the fixture cache's commands --------------------------------------------------------------


@pytest.mark.parametrize("command", ["stats", "prune", "clear"])
def test_a_file_in_place_of_the_cache_directory_is_one_line(tmp_path: Path, command: str) -> None:
    root = new_project(tmp_path)
    (root / "tests/.test_cache").write_text("I am not a directory")  # the default cache dir
    done = optikit(root, "cache", command)
    assert_one_line_error(done, ".test_cache")
    assert (root / "tests/.test_cache").read_text() == "I am not a directory"


def test_a_ledger_entry_from_a_newer_optikit_is_read(tmp_path: Path) -> None:
    from fixtures_lib.cache.store import FixtureCounts

    newer = {"hits": 3, "misses": 1, "saved_seconds": 2.5, "evictions": 7}
    assert FixtureCounts.from_ledger(newer) == FixtureCounts(hits=3, misses=1, saved_seconds=2.5)
    assert FixtureCounts.from_ledger({"hits": float("nan")}) == FixtureCounts()
    assert FixtureCounts.from_ledger("damaged") == FixtureCounts()


# -- the tracker: its own outputs cannot be written --------------------------------------------


@pytest.mark.parametrize(
    "block",
    [
        pytest.param(lambda root: (root / DATA).unlink() or (root / DATA).mkdir(), id="data dir"),
        pytest.param(lambda root: (root / ".optikit").write_text("a file"), id="optikit file"),
    ],
)
def test_the_tracker_warns_and_keeps_the_suites_exit_status(
    tmp_path: Path, block: Callable[[Path], None]
) -> None:
    root = new_project(tmp_path)
    block(root)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "--track-performance", "-q"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "INTERNALERROR" not in done.stdout + done.stderr
    summary = [line for line in done.stdout.splitlines() if line.startswith("optikit: ")]
    assert len(summary) == 1, done.stdout
    assert "warning:" in summary[0]


# -- cassettes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"- a\n- b\n",
        b"interactions:\n- request: {}\n",
        b"interactions:\n- response: [1, 2]\n",
        b"!!python/object:os.system {}\n",
        b"interactions: [\xff\xfe\n",
        None,  # a directory named like a cassette
    ],
    ids=["empty", "a list", "no response", "response a list", "python tag", "not UTF-8", "dir"],
)
def test_an_unreadable_cassette_is_one_line_and_exit_2(
    tmp_path: Path, content: bytes | None
) -> None:
    root = new_project(tmp_path)
    cassette = root / "tests/cassettes/test_a.yaml"
    cassette.parent.mkdir(parents=True)
    if content is None:
        cassette.mkdir()
    else:
        cassette.write_bytes(content)
    assert_one_line_error(optikit(root, "cassettes", "list"), "test_a.yaml")


@pytest.mark.parametrize(
    "args",
    [
        ["audit-parallel", "--runs", "1", "-n", "0", "--output", "out"],
        ["report", "--output", "out"],
        ["report", "--update-docs", "out"],
        ["baseline", "--output", "out"],
    ],
    ids=" ".join,
)
def test_an_output_that_is_a_directory_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str]
) -> None:
    root = new_project(tmp_path)
    (root / "out").mkdir()
    done = optikit(root, *args)
    assert_one_line_error(done, "out")
    assert not (root / ".optikit/audit.json").exists()  # refused before any run


def test_a_directory_named_like_a_test_file_is_passed_over(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    (root / "tests/test_dir.py").mkdir()
    (root / "tests/test_tmp.py").write_text("def test_t():\n    open('/tmp/x', 'w').close()\n")
    done = optikit(root, "codemod", "replace-tmp", "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tmp_path" in (root / "tests/test_tmp.py").read_text()
