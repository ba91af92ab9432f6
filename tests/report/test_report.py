"""Reports: markdown, JSON, self-contained HTML, docs sections and Actions annotations."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from optikit.config import PerformanceConfig
from optikit.gate.verdict import compare
from optikit.report.build import build_report, hot_spots
from optikit.report.formats import render
from optikit.report.markdown import DOCS_END, DOCS_START, github_annotations, update_docs
from optikit.timing import history
from tests.factories import baseline, record


def sample() -> tuple[dict[str, float], dict[str, float]]:
    before = {f"tests/test_a.py::test_{i}": 1.0 for i in range(6)}
    after = {**before, "tests/test_a.py::test_2": 2.0, "tests/test_b.py::test_slow": 40.0}
    return before, after


def fixtures() -> list:  # type: ignore[type-arg]
    return [
        {
            "name": "patients",
            "scope": "function",
            "baseid": "tests",
            "setups": 10,
            "total": 5.0,
            "max": 0.6,
        },
        {"name": "db", "scope": "session", "baseid": "", "setups": 1, "total": 2.0, "max": 2.0},
        {
            "name": "cheap",
            "scope": "function",
            "baseid": "",
            "setups": 10,
            "total": 0.01,
            "max": 0.001,
        },
    ]


def test_hot_spots_estimate_the_saving_of_a_wider_scope() -> None:
    spots = hot_spots(fixtures(), min_saving=0.05)
    assert [(s.name, s.wider_scope, s.saving) for s in spots] == [("patients", "module", 4.5)]


def test_pytest_builtin_fixtures_are_never_proposed_for_a_wider_scope() -> None:
    """tmp_path set up 500 times costs seconds, but a shared one leaks between tests; a
    project's own fixture of the same name (its own baseid) is still a candidate."""
    builtin: dict[str, Any] = {"name": "tmp_path", "scope": "function", "baseid": "",
                               "setups": 500, "total": 5.0, "max": 0.02}  # fmt: skip
    own = {**builtin, "baseid": "tests"}
    spots = hot_spots([*fixtures(), builtin, own], min_saving=0.05)  # type: ignore[list-item]
    assert [(s.name, s.baseid) for s in spots] == [("tmp_path", "tests"), ("patients", "tests")]


def test_markdown_has_every_section(tmp_path: Path) -> None:
    before, after = sample()
    run = record(after)
    run["fixtures"] = fixtures()
    db = tmp_path / "h.db"
    history.append_run(db, record(before, run_id="old"))
    history.append_run(db, run)
    gate = compare(baseline(before), run, PerformanceConfig())
    text = render(build_report(run, 30.0, gate, db), "markdown")
    for heading in (
        "# Test performance report",
        "## Slowest tests",
        "## Slow tests without the `slow` mark (over 30 s)",
        "## Fixture hot spots",
        "## Against the baseline",
        "## Trend",
        "## Recommendations",
    ):
        assert heading in text
    assert "| `tests/test_b.py::test_slow` | 40.000 |" in text
    assert (
        "| `tests/test_a.py::test_2` | 1.000 | 2.000 | +100.0% | 20% | 2.000 | regression |" in text
    )
    assert "`patients` (tests) | function | 10 | 5.000 | module | 4.500" in text
    assert "Mark the 1 test(s) over 30 s with @pytest.mark.slow" in text


def test_json_is_structured() -> None:
    before, after = sample()
    run = record(after)
    gate = compare(baseline(before), run, PerformanceConfig())
    data = json.loads(render(build_report(run, 30.0, gate), "json"))
    assert data["gate"]["failed"] is True
    regressions = [t for t in data["gate"]["tests"] if t["verdict"] == "regression"]
    assert regressions[0]["nodeid"] == "tests/test_a.py::test_2"
    assert regressions[0]["change"] == 100.0
    assert data["unmarked_slow"][0]["nodeid"] == "tests/test_b.py::test_slow"


class _Page(HTMLParser):
    """What a browser would lay out: the sections in order, SVG points and their tooltips."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.points = 0
        self.titles = 0
        self.axis_labels: list[str] = []
        self._in_axis = False
        self._in_circle = False
        self.forbidden: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "section":
            self.sections.append(found.get("id") or "")
        self.points += tag == "circle"
        self.titles += tag == "title" and self._in_circle
        self._in_circle = tag == "circle" or (self._in_circle and tag == "title")
        self._in_axis = found.get("class") == "axis"
        if tag == "script" or {"src", "href"} & set(found):
            self.forbidden.append(tag)

    def handle_data(self, data: str) -> None:
        if self._in_axis:
            self.axis_labels.append(data)
            self._in_axis = False


def test_html_leads_with_the_headline_and_charts_label_axes_and_points(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    for index in range(3):
        history.append_run(db, record({"t.py::a": 1.0 + index}, run_id=str(index)))
    run = record({"t.py::a": 3.0, "t.py::b": 0.5})
    run["tests"][1]["status"] = "failed"
    run["wall_time"], run["collection_time"] = 4.0, 1.0
    gate = compare(baseline({"t.py::a": 1.0}), run, PerformanceConfig())
    page = render(build_report(run, 30.0, gate, db), "html")
    assert page.startswith("<!doctype html>")
    parsed = _Page()
    parsed.feed(page)
    assert parsed.sections[:3] == ["headline", "failing", "regressions"]
    assert parsed.sections.index("trends") > parsed.sections.index("regressions")
    assert "hot-spots" not in parsed.sections  # nothing to say: left out
    assert parsed.axis_labels.count("seconds") == 2
    assert parsed.axis_labels.count("run (date, commit)") == 2
    assert parsed.points == 3 + 3  # the suite's three runs, t.py::a's three
    assert parsed.titles == parsed.points  # a tooltip in every point
    assert parsed.forbidden == []  # one self-contained file: no script, no link, no source
    assert "gate</div>" in page
    assert "FAILED (3 regressions)" in page  # the test, its module, the suite
    assert "collection</div>" in page


def test_update_docs_rewrites_only_the_marked_section(tmp_path: Path) -> None:
    doc = tmp_path / "PERFORMANCE.md"
    doc.write_text(f"# Our notes\n\nhand written\n\n{DOCS_START}\nold\n{DOCS_END}\n\nfooter\n")
    update_docs(doc, "# new report\n")
    assert doc.read_text() == (
        f"# Our notes\n\nhand written\n\n{DOCS_START}\n# new report\n{DOCS_END}\n\nfooter\n"
    )
    fresh = tmp_path / "NEW.md"
    update_docs(fresh, "report\n")
    update_docs(fresh, "report 2\n")
    assert fresh.read_text() == f"{DOCS_START}\nreport 2\n{DOCS_END}\n"


def test_github_annotations_point_at_the_test_line() -> None:
    before, after = sample()
    gate = compare(baseline(before), record(after), PerformanceConfig())
    assert github_annotations(gate) == [
        "::warning file=tests/test_a.py,line=3::tests/test_a.py::test_2 is +100% slower "
        "(1.000s -> 2.000s, threshold 20%)"
    ]


def test_markdown_names_failing_tests_and_a_large_collection_share() -> None:
    run = record({"tests/test_a.py::test_ok": 0.1, "tests/test_a.py::test_broken": 0.2})
    run["tests"][1]["status"] = "failed"
    run["wall_time"], run["collection_time"] = 10.0, 4.0
    text = render(build_report(run, 30.0), "markdown")
    assert "- **1 failed**: `tests/test_a.py::test_broken`" in text
    assert "**collection took 40% of the wall time**" in text
    run["collection_time"] = 1.0
    quiet = render(build_report(run, 30.0), "markdown")
    assert "collection took" not in quiet
