"""Baselines from the latest run or the history, and reading them back safely."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optikit.config import PerformanceConfig
from optikit.errors import OptikitError
from optikit.gate.baseline import (
    build_baseline,
    mad,
    read_baseline,
    rename_tests,
    write_baseline,
)
from optikit.gate.verdict import compare
from optikit.timing import history
from tests.factories import record

SETTINGS = PerformanceConfig()


def test_mad_ignores_one_outlier() -> None:
    assert mad([1.0, 1.1, 0.9, 1.0, 9.0]) == pytest.approx(0.1)
    assert mad([1.0, 2.0]) == 0.0  # too few runs to say


def test_below_five_runs_the_spread_is_half_the_range() -> None:
    """Three runs cannot tell an outlier from a second mode: a test that ran at two speeds
    is not called quiet because two of three runs agreed."""
    assert mad([0.214, 0.221, 0.407]) == pytest.approx(0.0965)
    assert mad([0.214, 0.221, 0.407, 0.215, 0.216]) == pytest.approx(0.002)


def test_from_latest_run(tmp_path: Path) -> None:
    latest = record({"t.py::a": 1.0, "u.py::b": 2.0})
    latest["tests"][1]["markers"] = ["slow"]
    built = build_baseline(latest, SETTINGS, tmp_path / "missing.db")
    assert built["tests"]["t.py::a"] == {"duration": 1.0, "threshold": 20.0, "noise": 0.0}
    assert built["suite_metrics"]["suite"] == {"total_duration": 3.0, "threshold": 15.0}
    assert built["groups"]["marker:slow"] == ["u.py::b"]
    assert built["groups"]["module:t.py"] == ["t.py::a"]
    assert built["runs"] == 1


def test_from_history_medians_with_noise(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    for index, seconds in enumerate([1.0, 1.2, 0.8, 1.1, 5.0]):
        run = record({"t.py::a": seconds, "t.py::b": 2.0}, run_id=str(index))
        run["machine"]["cpu_wait_share"] = index / 10
        history.append_run(db, run)
    latest = record({"t.py::a": 5.0, "t.py::b": 2.0})
    built = build_baseline(latest, SETTINGS, db, from_history=5)
    assert built["tests"]["t.py::a"]["duration"] == 1.1
    assert built["tests"]["t.py::a"]["noise"] == pytest.approx(0.1)
    assert built["tests"]["t.py::b"]["noise"] == 0.0
    assert built["runs"] == 5
    assert built["cpu_wait_share"] == 0.2  # the history's median, like the calibration
    # the group's own spread: totals 3.0, 3.2, 2.8, 3.1, 7.0 -> MAD 0.1 (not the sum of MADs)
    assert built["suite_metrics"]["module:t.py"]["noise"] == pytest.approx(0.1)


def test_a_group_spread_comes_from_the_runs_that_ran_all_its_tests(tmp_path: Path) -> None:
    """Totals 2.0, 2.6, 1.4, 2.2, 1.8 -> MAD 0.2; the run without t.py::b is left out (with
    it, its 9.0 would make the MAD 0.4)."""
    db = tmp_path / "h.db"
    for index, shift in enumerate([0.0, 0.3, -0.3, 0.1, -0.1]):
        run = record({"t.py::a": 1.0 + shift, "t.py::b": 1.0 + shift}, run_id=str(index))
        history.append_run(db, run)
    history.append_run(db, record({"t.py::a": 9.0}, run_id="partial"))
    built = build_baseline(record({"t.py::a": 1.0, "t.py::b": 1.0}), SETTINGS, db, from_history=6)
    assert built["suite_metrics"]["module:t.py"]["noise"] == pytest.approx(0.2)


def test_failed_tests_are_not_in_the_baseline(tmp_path: Path) -> None:
    latest = record({"t.py::a": 1.0, "t.py::b": 2.0})
    latest["tests"][1]["status"] = "failed"
    assert list(build_baseline(latest, SETTINGS, None)["tests"]) == ["t.py::a"]


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    built = build_baseline(record({"t.py::a": 1.0}), SETTINGS, None)
    write_baseline(path, built)
    assert read_baseline(path) == built


def test_the_file_has_one_line_per_test_with_only_what_differs(tmp_path: Path) -> None:
    """Tests under their file as ``name: [duration, noise]``; thresholds once at the top and
    markers, own thresholds and odd modules listed apart; groups rebuilt on reading; a
    baseline in the old layout still reads the same."""
    latest = record({"t.py::a": 1.0, "t.py::C::b[x]": 2.0, "u.py::c": 0.5, "README.rst": 0.25})
    latest["tests"][1]["markers"] = ["slow"]
    latest["tests"][2]["module"] = "u/other.py"
    built = build_baseline(latest, SETTINGS, None)
    built["tests"]["t.py::a"]["noise"] = 0.1
    built["tests"]["u.py::c"]["threshold"] = 50.0
    path = tmp_path / "baseline.json"
    write_baseline(path, built)
    text = path.read_text()
    lines = text.splitlines()
    assert '  "t.py": {' in lines
    assert '   "C::b[x]": [2.0],' in lines
    assert '   "a": [1.0, 0.1]' in lines
    assert '   "": [0.25]' in lines  # README.rst: a node id without "::"
    assert ' "test_threshold": 20.0,' in lines
    assert '  "u.py::c": 50.0' in lines  # under "thresholds"
    assert '  "slow": ["t.py::C::b[x]"]' in lines
    assert '  "u.py::c": "u/other.py"' in lines
    assert text.count('"threshold"') == 0
    assert read_baseline(path) == built
    old_layout = tmp_path / "old.json"
    old_layout.write_text(json.dumps(built, indent=1))
    assert read_baseline(old_layout) == built


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "Baseline not found. Run 'make performance-baseline'"),
        ("{not json", "Baseline is corrupt"),
        ('{"schema_version": 99}', "Baseline is not valid: 'schema_version' input should be 1"),
        ('{"schema_version": 1, "tests": {}, "suite_metrics": {}}', "field required"),
        (
            json.dumps(
                {
                    "schema_version": 1,
                    "baseline_date": "2026-12-01T00:00:00+00:00",
                    "commit": None,
                    "calibration": None,
                    "runs": 1,
                    "tests": {"a": {"duration": "x", "threshold": 20.0, "noise": 0.0}},
                    "suite_metrics": {},
                    "groups": {},
                }
            ),
            "'tests.a.duration' input should be a valid number",
        ),
    ],
)
def test_bad_baselines_are_one_line_errors(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "baseline.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(OptikitError) as caught:
        read_baseline(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_renamed_tests_keep_their_entries_and_groups(tmp_path: Path) -> None:
    latest = record({"t.py::a[1-p]": 1.0, "t.py::b": 2.0})
    latest["tests"][0]["markers"] = ["slow"]
    built = build_baseline(latest, SETTINGS, None)
    path = tmp_path / "baseline.json"
    write_baseline(path, rename_tests(built, {"t.py::a[1-p]": "t.py::a[p-1]"}))
    renamed = read_baseline(path)
    assert renamed["tests"]["t.py::a[p-1]"] == built["tests"]["t.py::a[1-p]"]
    assert "t.py::a[1-p]" not in renamed["tests"]
    assert renamed["groups"]["marker:slow"] == ["t.py::a[p-1]"]
    assert sorted(renamed["groups"]["module:t.py"]) == ["t.py::a[p-1]", "t.py::b"]


def test_time_waited_for_a_cpu_is_not_part_of_the_baseline(tmp_path: Path) -> None:
    """From the latest run and from the history alike: a busy moment is not "normal"."""
    db = tmp_path / "h.db"
    for index, waited in enumerate([0.0, 0.5, 0.0]):
        run = record({"t.py::a": 1.0 + waited}, run_id=str(index))
        run["tests"][0]["cpu_wait"] = waited
        history.append_run(db, run)
    latest = record({"t.py::a": 1.4})
    latest["tests"][0]["cpu_wait"] = 0.4
    assert build_baseline(latest, SETTINGS, None)["tests"]["t.py::a"]["duration"] == 1.0
    built = build_baseline(latest, SETTINGS, db, from_history=3)
    assert built["tests"]["t.py::a"] == {"duration": 1.0, "threshold": 20.0, "noise": 0.0}


def test_a_hypothesis_test_is_never_taken_as_steadier_than_its_drawn_examples_allow(
    tmp_path: Path,
) -> None:
    """Three unchanged runs of a @given test can agree closely by chance (attrs' did, then
    moved by 15%): its spread is at least 15% of its time, so one run's +50% is noisy, not a
    regression; a plain test's spread is what its runs showed."""
    db = tmp_path / "h.db"
    for index in range(3):
        run = record({"t.py::drawn": 1.0, "t.py::plain": 1.0}, run_id=str(index))
        run["tests"][0]["markers"] = ["hypothesis"]
        history.append_run(db, run)
    latest = record({"t.py::drawn": 1.0, "t.py::plain": 1.0})
    latest["tests"][0]["markers"] = ["hypothesis"]
    built = build_baseline(latest, SETTINGS, db, from_history=3)
    assert built["tests"]["t.py::drawn"]["noise"] == 0.15
    assert built["tests"]["t.py::plain"]["noise"] == 0.0
    slower = compare(built, record({"t.py::drawn": 1.5, "t.py::plain": 1.5}), SETTINGS)
    assert {t.nodeid: t.verdict for t in slower.tests} == {
        "t.py::drawn": "noisy",
        "t.py::plain": "regression",
    }
