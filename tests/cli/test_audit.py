"""``optikit audit-parallel`` end to end: real pytest runs of planted suites through the CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from optikit.audit.runs import PYTHON

PLANTED = Path(__file__).parent.parent / "planted_suite"


def audit(project: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "optikit", "audit-parallel", "--project", str(project), *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = project / ".optikit" / "audit.json"
    return done, json.loads(report.read_text()) if report.exists() else {}


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    project = tmp_path / "planted"
    shutil.copytree(PLANTED, project)
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    return project


def test_every_planted_case_is_classified_with_its_culprit(planted: Path) -> None:
    done, report = audit(planted, "--runs", "3", "-n", "2", "--seed", "1", "--fail-on-flaky")
    assert done.returncode == 1, done.stdout + done.stderr
    found = {
        nodeid.split("::")[1]: (t["classification"], t["polluters"], t["state_setters"])
        for nodeid, t in report["tests"].items()
    }
    pollution = "test_pollution.py::"
    assert found["test_price_in_usd"] == ("order_dependent", [pollution + "test_set_currency"], [])
    assert found["test_cache_starts_empty"][0] == "order_dependent"
    assert sorted(found["test_cache_starts_empty"][1]) == [
        pollution + "test_cache_a",
        pollution + "test_cache_b",
    ]
    assert found["test_chain_victim"] == (
        "order_dependent",
        [pollution + "test_chain_first", pollution + "test_chain_second"],
        [],
    )
    assert found["test_needs_registry"] == (
        "order_dependent",
        [],
        [pollution + "test_setup_registry"],
    )
    assert found["test_every_other_run"][0] == "flaky"
    assert found["test_sampled_discount"][0] == "flaky"  # random data, not the order
    race = "test_race.py::"
    assert found["test_race_writer_a"] == ("parallel_unsafe", [race + "test_race_writer_b"], [])
    assert found["test_race_writer_b"] == ("parallel_unsafe", [race + "test_race_writer_a"], [])
    culprits = (
        "set_currency",
        "cache_a",
        "cache_b",
        "chain_first",
        "chain_second",
        "setup_registry",
    )
    assert all(found[f"test_{name}"][0] == "stable" for name in culprits)  # no false findings
    victim = report["tests"][pollution + "test_price_in_usd"]
    assert victim["reproduce"] == (
        f"{PYTHON} -m pytest -p no:randomly -p no:xdist "
        f"{pollution}test_set_currency {pollution}test_price_in_usd"
    )
    assert any("SETTINGS" in item for item in victim["evidence"])
    assert report["runs"] == 3
    assert report["seeds"] == [None, 2, 3]
    assert done.stdout.startswith("FOUND: 4 order-dependent, 2 parallel-unsafe, 2 flaky")
    # every reproducer was run by the audit as printed, and fails as often as it says
    reproduced = {
        t["reproduce"]: t["reproduced"] for t in report["tests"].values() if t["reproduce"]
    }
    assert reproduced[victim["reproduce"]] == "3/3"
    assert all(rate.split("/")[0] != "0" for rate in reproduced.values()), reproduced
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert f"reproduce (failed 3/3): {victim['reproduce']}" in lines  # whole, on one line


def shell(command: str, project: Path) -> subprocess.CompletedProcess[str]:
    """A printed command, pasted into a shell in the project, as a user with optikit's
    virtual environment activated would."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        command,
        shell=True,
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
    )


def test_a_chdir_into_a_deleted_directory_is_evidence_not_a_crash(planted: Path) -> None:
    """The polluter leaves the process in a removed directory; the recorder must keep going,
    name it with its victims, and print reproducers that reproduce when pasted."""
    (planted / "test_zz_cwd.py").write_text(
        "import os\nimport tempfile\n\n\n"
        "def test_chdir_into_temp():\n"
        "    path = tempfile.mkdtemp()\n    os.chdir(path)\n    os.rmdir(path)\n\n\n"
        "def test_reads_cwd():\n    assert os.getcwd()\n"
    )
    victim = "test_zz_cwd.py::test_reads_cwd"
    done, report = audit(planted, "test_zz_cwd.py", "--runs", "1", "-n", "0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert report["crashes"] == []
    found = report["tests"][victim]
    assert found["classification"] == "order_dependent"
    assert found["polluters"] == ["test_zz_cwd.py::test_chdir_into_temp"]
    assert any("working directory at <deleted /" in item for item in found["evidence"])
    pasted = shell(found["reproduce"], planted)
    assert pasted.returncode == 1, pasted.stdout
    assert "1 failed, 1 passed" in pasted.stdout
    assert shell(f"{PYTHON} -m pytest -p no:randomly -p no:xdist {victim}", planted).returncode == 0


def test_victim_finds_the_polluter_of_one_known_failing_test(planted: Path) -> None:
    pollution = "test_pollution.py::"
    done, report = audit(planted, "--victim", pollution + "test_price_in_usd", "--runs", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    victim = report["tests"][pollution + "test_price_in_usd"]
    assert (victim["classification"], victim["polluters"]) == (
        "order_dependent",
        [pollution + "test_set_currency"],
    )
    assert victim["reproduced"] == "3/3"
    others = [t for t, v in report["tests"].items() if v["classification"] != "stable"]
    assert others == [pollution + "test_price_in_usd"]  # only the victim is explained
    done, _ = audit(planted, "--victim", "test_pollution.py::test_nothing_like_it")
    assert done.returncode == 2
    assert "not a test pytest collects here" in done.stderr


def test_a_hung_test_is_named_and_the_audit_is_partial(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "test_hang.py").write_text(
        "import threading\n\n\ndef test_fine():\n    pass\n\n\n"
        "def test_hangs():\n    threading.Event().wait()\n"
    )
    done, report = audit(tmp_path, "--runs", "2", "-n", "0", "--max-time", "6s", "--fail-on-flaky")
    assert done.returncode == 1, done.stdout + done.stderr
    assert report["partial"] is True
    assert "still running then: test_hang.py::test_hangs" in report["stopped"]
    assert report["tests"]["test_hang.py::test_hangs"]["classification"] == "unclassified"
    assert "test_hang.py::test_hangs" in done.stdout
    assert not done.stdout.startswith("CLEAN")


def test_sigterm_stops_cleanly_with_a_partial_report(planted: Path) -> None:
    command = [sys.executable, "-m", "optikit", "audit-parallel", "-n", "0", "--runs", "50"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    with subprocess.Popen(command, cwd=planted, **pipes) as process:  # type: ignore[call-overload]
        first = process.stderr.readline()  # piped: one plain line per run as it ends
        assert first.startswith("run 1/50 done"), first
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate()
    assert process.returncode == 0, rest
    report = json.loads((planted / ".optikit" / "audit.json").read_text())
    assert report["partial"] is True
    assert report["stopped"].startswith("terminated (SIGTERM)")
    assert "[partial: terminated (SIGTERM)" in rest


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({"test_a.py": "import a_module_that_is_not_there\n"}, [], "pytest could not run"),
        ({"test_a.py": "def test_a():\n    pass\n"}, ["tests/missing"], "pytest could not run"),
        ({"test_a.py": "def helper():\n    pass\n"}, [], "collected no tests"),
        ({"test_a.py": "def test_a():\n    pass\n"}, ["--", "-k", "nothing"], "collected no"),
    ],
    ids=["import-error", "missing-path", "no-tests", "all-deselected"],
)
def test_a_broken_suite_is_not_called_clean(
    tmp_path: Path, files: dict[str, str], args: list[str], message: str
) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    done, _ = audit(tmp_path, "--runs", "2", "-n", "0", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_max_time_writes_a_partial_report_and_says_so(planted: Path) -> None:
    done, report = audit(planted, "--runs", "50", "-n", "2", "--max-time", "1s")
    assert done.returncode == 0, done.stderr
    assert report["partial"] is True
    assert "--max-time" in report["stopped"]
    assert "[partial: --max-time reached" in done.stdout.splitlines()[0]


def test_a_suite_pytest_cannot_run_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "conftest.py").write_text("import a_module_that_is_not_there\n")
    (tmp_path / "test_a.py").write_text("def test_a():\n    pass\n")
    done, report = audit(tmp_path, "--runs", "2", "-n", "0")
    assert done.returncode == 2
    assert "pytest could not run the suite" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(report["crashes"]) == 1  # the first run says it all: no second one


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--max-time", "soon"], "not a duration"), (["--runs", "0"], "--runs")],
)
def test_bad_arguments_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    done, _ = audit(tmp_path, *args)
    assert done.returncode == 2
    assert message in done.stderr


def test_a_clean_suite_reports_the_bound_its_runs_support(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "test_fine.py").write_text("def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    done, report = audit(tmp_path, "--runs", "3", "-n", "2", "--format", "markdown")
    assert done.returncode == 0, done.stderr
    assert report["tests"] == {}  # a clean test that left nothing behind is only counted
    assert (report["suite"]["tests"], report["suite"]["stable"]) == (2, 2)
    assert report["suite"]["clean_run_bound_95"] == pytest.approx(0.6316, abs=1e-3)
    assert "## optikit audit-parallel" in done.stdout
    assert "**CLEAN: no test failed (3 runs, -n 2" in done.stdout


def test_a_victim_failing_in_every_default_order_run_is_order_dependent(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "test_order.py").write_text(
        "CONFIG = {}\n\n"
        "def test_configure():\n    CONFIG['debug'] = True\n\n"
        "def test_defaults():\n    assert CONFIG == {}\n"
    )
    done, report = audit(tmp_path, "--runs", "1", "-n", "0")
    assert done.returncode == 0, done.stderr
    victim = report["tests"]["test_order.py::test_defaults"]
    assert (victim["failures"], victim["runs"]) == (1, 1)
    assert victim["classification"] == "order_dependent"
    assert victim["polluters"] == ["test_order.py::test_configure"]


def test_a_crashed_run_is_listed_and_the_others_still_count(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "conftest.py").write_text(
        "def pytest_configure(config):\n"
        "    if config.getoption('audit_shuffle', None) == 3:\n"
        "        raise SystemExit('pytest died in run 2')\n"
    )
    (tmp_path / "test_a.py").write_text("def test_a():\n    pass\n")
    done, report = audit(tmp_path, "--runs", "3", "-n", "0")
    assert done.returncode == 0, done.stderr
    assert [crash["seed"] for crash in report["crashes"]] == [3]
    assert "pytest died in run 2" in report["crashes"][0]["why"]
    assert report["suite"]["clean_run_bound_95"] == pytest.approx(0.7764, abs=1e-3)  # 2 runs
    assert "crashed run (order seed 3)" in done.stdout
