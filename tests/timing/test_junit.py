"""JUnit XML from pytest and from other runners becomes a run record."""

from __future__ import annotations

from pathlib import Path

import pytest

from optikit.errors import OptikitError
from optikit.timing.junit import nodeid_for, read_junit


def test_pytest_junit_round_trips_to_node_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_mod="""
        import pytest

        class TestGroup:
            def test_in_class(self):
                pass

        def test_fails():
            assert False

        @pytest.mark.skip
        def test_skipped():
            pass
        """
    )
    pytester.runpytest("--junitxml=junit.xml", "-p", "no:randomly")
    record = read_junit(pytester.path / "junit.xml", pytester.path)
    status = {t["nodeid"]: t["status"] for t in record["tests"]}
    assert status == {
        "test_mod.py::TestGroup::test_in_class": "passed",
        "test_mod.py::test_fails": "failed",
        "test_mod.py::test_skipped": "skipped",
    }
    assert record["summary"]["total_tests"] == 3
    assert all(t["module"] == "test_mod.py" for t in record["tests"])


def test_other_runners_keep_their_names(tmp_path: Path) -> None:
    xml = tmp_path / "nextest.xml"
    xml.write_text(
        '<testsuites><testsuite name="crate" timestamp="2026-11-23T10:00:00">'
        '<testcase classname="crate::parser" name="parses_dates" time="0.25"/>'
        '<testcase classname="crate::parser" name="rejects_junk" time="0.5">'
        '<failure message="boom"/></testcase>'
        "</testsuite></testsuites>"
    )
    record = read_junit(xml, tmp_path)
    assert [(t["nodeid"], t["duration"], t["status"]) for t in record["tests"]] == [
        ("crate::parser::parses_dates", 0.25, "passed"),
        ("crate::parser::rejects_junk", 0.5, "failed"),
    ]
    assert record["started_at"] == "2026-11-23T10:00:00"


def test_file_attribute_wins(tmp_path: Path) -> None:
    assert nodeid_for("tests.test_x.TestY", "test_z", tmp_path, "tests/test_x.py") == (
        "tests/test_x.py::TestY::test_z"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "JUnit XML file not found"),
        ("<testsuite><oops", "is not valid JUnit XML"),
        ("<testsuite/>", "has no <testcase> elements"),
    ],
)
def test_bad_files(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "junit.xml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(OptikitError, match=message):
        read_junit(path, tmp_path)
