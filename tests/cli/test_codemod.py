"""``optikit codemod`` through the real CLI: dry run, --apply, bad input, the example suite."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codemods.add_marks import MarkPlan, MarkTests
from codemods.replace_tmp import ReplaceTmp
from codemods.runner import ChangedOnDisk, apply_changes, run_codemod
from optikit.cli.app import app
from tests.conftest import RunSuite
from tests.test_markers import collect_without_optikit

runner = CliRunner()
TMP_TEST = 'def test_a():\n    open("/tmp/a.txt", "w").close()\n'


def project(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    for name, source in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(source)
    return tmp_path


def codemod(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["codemod", *args])
    return result.exit_code, result.stdout, result.stderr


def test_dry_run_shows_a_diff_and_exits_1_then_apply_writes(tmp_path: Path) -> None:
    root = project(tmp_path, {"tests/test_a.py": TMP_TEST})
    code, out, _ = codemod("replace-tmp", "--project", str(root))
    assert code == 1
    assert "+def test_a(tmp_path):" in out
    assert (root / "tests/test_a.py").read_text() == TMP_TEST
    code, out, _ = codemod("replace-tmp", "--project", str(root), "--apply")
    assert code == 0
    assert "Wrote 1 file(s)." in out
    assert 'open(f"{tmp_path}/a.txt", "w")' in (root / "tests/test_a.py").read_text()
    assert codemod("replace-tmp", "--project", str(root))[0] == 0


def test_a_file_that_does_not_parse_is_listed_untouched_and_exits_2(tmp_path: Path) -> None:
    root = project(
        tmp_path, {"test_bad.py": 'def test_a(:\n    "/tmp/x"\n', "test_ok.py": TMP_TEST}
    )
    code, _, err = codemod("replace-tmp", "--project", str(root), "--apply")
    assert code == 2
    assert "test_bad.py: does not parse (line 2); fix the syntax error" in " ".join(err.split())
    assert "Traceback" not in err
    assert (root / "test_bad.py").read_text() == 'def test_a(:\n    "/tmp/x"\n'
    assert "tmp_path" in (root / "test_ok.py").read_text()


def test_rescope_names_a_file_it_cannot_read_and_exits_2(tmp_path: Path) -> None:
    root = project(tmp_path, {"tests/test_bad.py": "def test_a(:\n", "tests/test_ok.py": ""})
    code, _, err = codemod("rescope", "--fixture", "anything", "--project", str(root))
    assert code == 2
    assert "test_bad.py: does not parse" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mark-slow"], "tests/.performance_data.json"),
        (["mark-serial"], ".optikit/audit.json"),
        (["rescope", "--verify"], "--verify needs --apply"),
    ],
)
def test_missing_input_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    root = project(tmp_path, {})
    code, _, err = codemod(*args, "--project", str(root))
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_corrupt_audit_report_names_the_file_and_the_fix(tmp_path: Path) -> None:
    root = project(tmp_path, {".optikit/audit.json": '{"runs": 3'})
    code, _, err = codemod("mark-serial", "--project", str(root))
    assert code == 2
    assert "audit.json" in err
    assert "optikit audit-parallel" in err
    (root / ".optikit/audit.json").write_text(
        json.dumps({"schema_version": 1, "runs": 1, "tests": {"t.py::test_a": {}}})
    )
    code, _, err = codemod("mark-serial", "--project", str(root))
    assert code == 2
    assert "'tests.t.py::test_a.classification' field required" in err


def test_mark_slow_from_the_run_record(tmp_path: Path) -> None:
    record = {
        "schema_version": 1,
        "run_id": "r",
        "started_at": "2026-01-01T00:00:00+00:00",
        "git": {},
        "machine": {},
        "tests": [
            {"nodeid": "tests/test_a.py::test_slow", "duration": 40.0, "setup": 0, "call": 40.0,
             "teardown": 0, "status": "passed", "markers": [], "module": "tests/test_a.py",
             "worker": ""},
        ],
        "fixtures": [],
        "summary": {},
    }  # fmt: skip
    root = project(
        tmp_path,
        {
            "tests/test_a.py": "def test_slow():\n    pass\n",
            "tests/.performance_data.json": json.dumps(record),
        },
    )
    code, out, err = codemod("mark-slow", "--project", str(root), "--apply")
    assert code == 0, err
    assert "@pytest.mark.slow\ndef test_slow" in (root / "tests/test_a.py").read_text()
    # registered where pytest reads it: a checkout without optikit still collects the test
    assert "Registered the slow marker in pyproject.toml." in out
    collected = collect_without_optikit(root)
    assert collected.returncode == 0, collected.stdout


def test_parallel_workers_give_the_same_result_as_one(tmp_path: Path) -> None:
    files = []
    for n in range(20):
        files.append(tmp_path / f"test_{n}.py")
        files[-1].write_text(TMP_TEST.replace("a.txt", f"{n}.txt"))
    one = run_codemod(files, ReplaceTmp, jobs=1)
    two = run_codemod(files, ReplaceTmp, jobs=2)
    assert [(r.path, r.new) for r in one] == [(r.path, r.new) for r in two]
    assert all(r.changed for r in two)


def test_apply_refuses_a_file_edited_since_the_dry_run(tmp_path: Path) -> None:
    path = tmp_path / "test_a.py"
    path.write_text("def test_a():\n    pass\n")
    plan = MarkPlan("slow", {((), "test_a"): None})
    [result] = run_codemod([path], partial(MarkTests, plan=plan), jobs=1)
    path.write_text("def test_a():\n    assert True\n")
    with pytest.raises(ChangedOnDisk):
        apply_changes([result])
    assert path.read_text() == "def test_a():\n    assert True\n"


@pytest.mark.serial
def test_all_codemods_on_a_copy_of_the_example_suite(
    example_copy: Path, run_example_suite: RunSuite
) -> None:
    """Measure, apply mark-slow, rescope and replace-tmp, and the suite still passes."""
    measured = run_example_suite(
        "--track-performance", "--no-fixture-cache", "-q", cwd=example_copy
    )
    assert measured.returncode == 0, measured.stdout[-2000:]
    optikit = [sys.executable, "-m", "optikit", "codemod"]
    for args in (
        ["mark-slow", "--threshold", "0.5"],
        ["rescope", "--fixture", "patients", "--fixture", "cohort_workbook"],
        ["replace-tmp"],
    ):
        done = subprocess.run(
            [*optikit, *args, "--apply"], cwd=example_copy, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
    conftest = (example_copy / "tests/conftest.py").read_text()
    assert '@cached_fixture(inputs=["clinic/data.py"], scope="module")' in conftest
    assert "tmp_path_factory" in conftest
    # its /tmp path is written by write_cohort_workbook and read back by read_summary
    assert "tmp_path" in (example_copy / "tests/test_excel_export.py").read_text()
    assert "@pytest.mark.slow" in (example_copy / "tests/test_statistics.py").read_text()
    after = run_example_suite("-q", "--no-fixture-cache", cwd=example_copy)
    assert after.returncode == 0, after.stdout[-2000:]


def test_verify_reverts_a_promotion_whose_tests_fail(tmp_path: Path) -> None:
    """The change goes through getattr, which static analysis does not follow; a run does.
    A test that failed before any change is reported, not blamed."""
    conftest = "import pytest\n\n\n@pytest.fixture\ndef seen():\n    return []\n"
    tests = (
        "def remember(items, item):\n    getattr(items, 'append')(item)\n\n\n"
        "def test_already_broken(seen):\n    assert seen is None\n\n\n"
        "def test_one(seen):\n    remember(seen, 1)\n    assert seen == [1]\n\n\n"
        "def test_two(seen):\n    remember(seen, 2)\n    assert seen == [2]\n"
    )
    root = project(tmp_path, {"tests/conftest.py": conftest, "tests/test_seen.py": tests})
    code, out, err = codemod(
        "rescope", "--fixture", "seen", "--project", str(root), "--apply", "--verify"
    )
    assert code == 0, err
    assert "1 test(s) already fail before any change" in out
    assert "tests/test_seen.py::test_already_broken" in out
    assert "reverted seen: at module scope, in own order, 1 test(s) fail that passed" in out
    assert (root / "tests/conftest.py").read_text() == conftest


def test_verify_keeps_a_promotion_whose_tests_pass(tmp_path: Path) -> None:
    conftest = "import pytest\n\n\n@pytest.fixture\ndef table():\n    return {'rows': 3}\n"
    tests = (
        "def test_one(table):\n    assert table['rows'] == 3\n\n\n"
        "def test_two(table):\n    assert table\n"
    )
    root = project(tmp_path, {"tests/conftest.py": conftest, "tests/test_table.py": tests})
    code, out, err = codemod(
        "rescope", "--fixture", "table", "--project", str(root), "--apply", "--verify"
    )
    assert code == 0, err
    assert "verified" in out
    assert '@pytest.fixture(scope="module")' in (root / "tests/conftest.py").read_text()


def test_rescope_candidates_from_timings_name_class_fixtures_and_skip_pytests_own(
    tmp_path: Path,
) -> None:
    """A fixture in a class (baseid ``file.py::Class``) is found and refused for being in a
    class, not "defined outside these files"; pytest's per-test builtins are no rows."""
    from tests.factories import record

    tests = (
        "import pytest\n\n\nclass TestA:\n    @pytest.fixture\n    def table(self):\n"
        "        return {}\n\n    def test_a(self, table, tmp_path):\n        assert table == {}\n"
    )
    run = record({"tests/test_a.py::TestA::test_a": 0.5})
    fixture = {"scope": "function", "setups": 5, "total": 2.0, "max": 0.5}
    run["fixtures"] = [
        {"name": "table", "baseid": "tests/test_a.py::TestA", **fixture},  # type: ignore[typeddict-item]
        {"name": "tmp_path", "baseid": "", **fixture},  # type: ignore[typeddict-item]
    ]
    root = project(
        tmp_path, {"tests/test_a.py": tests, "tests/.performance_data.json": json.dumps(run)}
    )
    code, out, err = codemod("rescope", "--project", str(root))
    assert code == 0, err
    unwrapped = "".join(c for c in out if c not in "│ \n")  # the table wraps at 80 columns
    assert "tests/test_a.py:6table" in unwrapped
    assert "definedinaclass" in unwrapped
    assert "tmp_path" not in out


def test_rescope_on_a_suite_without_fixtures_has_nothing_to_do(tmp_path: Path) -> None:
    """Not bad input: exit 0 and say so (it used to exit 2)."""
    from tests.factories import record

    run = record({"tests/test_a.py::test_a": 0.5})
    root = project(
        tmp_path,
        {
            "tests/test_a.py": "def test_a():\n    pass\n",
            "tests/.performance_data.json": json.dumps(run),
        },
    )
    code, out, err = codemod("rescope", "--project", str(root))
    assert code == 0, err
    unwrapped = "".join(c for c in out if c not in "│ \n")  # the table wraps at 80 columns
    assert "nofixturewassetupintherecordedrun:nothingtopromote" in unwrapped


RENAMING = (
    "import pytest\n\n\n@pytest.fixture(params=[1, 2])\ndef a(request):\n    return request.param"
    '\n\n\n@pytest.fixture(params=["p", "q"])\ndef heavy(request):\n    return request.param\n\n\n'
    "def test_a(a, heavy):\n    assert heavy in 'pq'\n"
)


def test_a_promotion_that_renames_node_ids_is_opt_in_and_moves_optikits_data(
    tmp_path: Path,
) -> None:
    """pytest puts a wider-scoped fixture's params first in the id (``test_a[1-p]`` becomes
    ``test_a[p-1]``): refused unless --allow-renames; then the ids collected before and after
    are paired, written, and the history, baseline and run record follow."""
    from optikit.config import PerformanceConfig
    from optikit.gate.baseline import build_baseline, read_baseline, write_baseline
    from optikit.timing import history
    from tests.factories import record

    root = project(tmp_path, {"tests/test_a.py": RENAMING})
    old = [f"tests/test_a.py::test_a[{n}-{p}]" for n in (1, 2) for p in "pq"]
    run = record(dict.fromkeys(old, 0.01))
    history.append_run(root / ".optikit/history.db", run)
    baseline = build_baseline(run, PerformanceConfig(), None)
    write_baseline(root / "tests/.performance_baseline.json", baseline)
    (root / "tests/.performance_data.json").write_text(json.dumps(run))

    code, out, _ = codemod("rescope", "--fixture", "heavy", "--project", str(root))
    assert code == 0
    assert "--allow-renames" in "".join(c for c in out if c not in "│ \n")

    code, out, _ = codemod("rescope", "-f", "heavy", "--allow-renames", "--project", str(root))
    assert code == 1
    assert "may rename node ids: heavy" in out

    code, out, err = codemod(
        "rescope", "-f", "heavy", "--allow-renames", "--apply", "--project", str(root)
    )
    assert code == 0, err
    new = [f"tests/test_a.py::test_a[{p}-{n}]" for n in (1, 2) for p in "pq"]
    pairs = dict(zip(old, new, strict=True))
    assert json.loads((root / ".optikit/renamed-nodeids.json").read_text()) == pairs
    assert "renamed 4 node id(s)" in out
    assert sorted(history.durations(root / ".optikit/history.db", 5)) == sorted(new)
    assert sorted(read_baseline(root / "tests/.performance_baseline.json")["tests"]) == sorted(new)
    stored = json.loads((root / "tests/.performance_data.json").read_text())
    assert sorted(t["nodeid"] for t in stored["tests"]) == sorted(new)
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(n for n in collected if "::" in n) == sorted(new)
