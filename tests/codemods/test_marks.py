"""mark-slow and mark-serial on source text: before/after pairs, each run twice."""

from __future__ import annotations

import textwrap
from functools import partial
from pathlib import Path

import pytest

from codemods.add_marks import MarkPlan, MarkTests
from codemods.mark_serial import plan_mark_serial, serial_nodeids
from codemods.mark_slow import plan_mark_slow
from codemods.runner import FileResult
from tests.codemods.cases import messages, rewrite, text


def mark(
    source: str, tmp_path: Path, tests: dict[str, float], threshold: float = 1.0, **options: float
) -> FileResult:
    """mark-slow over ``source`` saved as test_x.py, with these durations."""
    path = tmp_path / "test_x.py"
    path.write_text(textwrap.dedent(source))
    durations = {f"test_x.py::{name}": seconds for name, seconds in tests.items()}
    placement = plan_mark_slow(durations, root=tmp_path, threshold=threshold, **options)
    plan = placement.plans.get(path, MarkPlan("slow"))
    return rewrite(partial(MarkTests, plan=plan), source, tmp_path)


def test_marks_a_slow_function_and_adds_the_import(tmp_path: Path) -> None:
    source = """\
    # a comment that stays
    def test_a():  # so does this
        pass


    def test_fast():
        pass
    """
    result = mark(source, tmp_path, {"test_a": 2.0, "test_fast": 0.1})
    assert text(result) == textwrap.dedent("""\
    # a comment that stays
    import pytest

    @pytest.mark.slow
    def test_a():  # so does this
        pass


    def test_fast():
        pass
    """)
    assert result.edits == 1


@pytest.mark.parametrize(
    ("imports", "spelled"),
    [
        ("import pytest as pt", "@pt.mark.slow"),
        ("from pytest import mark", "@mark.slow"),
        ("from pytest import mark as m", "@m.slow"),
    ],
)
def test_uses_the_files_own_spelling_of_pytest(tmp_path: Path, imports: str, spelled: str) -> None:
    result = mark(f"{imports}\n\ndef test_a():\n    pass\n", tmp_path, {"test_a": 5.0})
    assert f"{spelled}\ndef test_a" in text(result)
    assert "import pytest\n" not in text(result)


@pytest.mark.parametrize(
    "source",
    [
        "import pytest\n\n@pytest.mark.slow\ndef test_a():\n    pass\n",
        "from pytest import mark as m\n\n@m.slow\ndef test_a():\n    pass\n",
        "import pytest\n\npytestmark = [pytest.mark.slow]\n\ndef test_a():\n    pass\n",
    ],
    ids=["function", "alias", "module"],
)
def test_leaves_tests_already_marked_at_any_level(tmp_path: Path, source: str) -> None:
    assert not mark(source, tmp_path, {"test_a": 5.0}).changed


def test_methods_classes_and_testcases(tmp_path: Path) -> None:
    source = """\
    import unittest
    import pytest


    @pytest.mark.slow
    class TestMarked:
        def test_in_marked_class(self):
            pass


    class TestPlain:
        def test_method(self):
            pass


    class Legacy(unittest.TestCase):
        def test_case(self):
            pass
    """
    result = mark(
        source,
        tmp_path,
        {
            "TestMarked::test_in_marked_class": 3,
            "TestPlain::test_method": 3,
            "Legacy::test_case": 3,
        },
    )
    assert text(result).count("@pytest.mark.slow") == 3
    assert "    @pytest.mark.slow\n    def test_method" in text(result)
    assert "    @pytest.mark.slow\n    def test_case" in text(result)


def test_never_marks_a_fixture(tmp_path: Path) -> None:
    source = "import pytest\n\n@pytest.fixture\ndef test_data():\n    return 1\n"
    result = mark(source, tmp_path, {"test_data": 5.0})
    assert not result.changed
    assert "is a fixture" in messages(result.notes)


def test_marks_only_the_slow_cases_of_a_literal_parametrize(tmp_path: Path) -> None:
    source = """\
    import pytest


    @pytest.mark.parametrize(
        "n",
        [
            1,
            2,  # the slow one
            pytest.param(3, id="three"),
            pytest.param(4, marks=pytest.mark.xfail),
        ],
    )
    def test_p(n):
        pass
    """
    durations = {"test_p[1]": 0.1, "test_p[2]": 5.0, "test_p[three]": 5.0, "test_p[4]": 5.0}
    result = mark(source, tmp_path, durations)
    assert text(result) == textwrap.dedent("""\
    import pytest


    @pytest.mark.parametrize(
        "n",
        [
            1,
            pytest.param(2, marks=pytest.mark.slow),  # the slow one
            pytest.param(3, id="three", marks=pytest.mark.slow),
            pytest.param(4, marks=[pytest.mark.xfail, pytest.mark.slow]),
        ],
    )
    def test_p(n):
        pass
    """)
    assert result.edits == 3


def test_case_ids_follow_pytest_for_tuples_strings_and_duplicates(tmp_path: Path) -> None:
    source = """\
    import pytest

    @pytest.mark.parametrize("a, b", [(1, "x y"), (1, "x y"), (None, object())])
    def test_p(a, b):
        pass
    """
    durations = {"test_p[1-x y0]": 0.1, "test_p[1-x y1]": 5.0, "test_p[None-b2]": 5.0}
    result = mark(source, tmp_path, durations)
    assert 'pytest.param(1, "x y", marks=pytest.mark.slow), (None, object())' not in text(result)
    assert '(1, "x y"), pytest.param(1, "x y", marks=pytest.mark.slow)' in text(result)
    assert "pytest.param(None, object(), marks=pytest.mark.slow)" in text(result)


def test_explains_cases_it_cannot_mark(tmp_path: Path) -> None:
    source = """\
    import pytest

    CASES = [1, 2]

    @pytest.mark.parametrize("n", CASES)
    def test_p(n):
        pass

    @pytest.mark.parametrize("a", [1, 2])
    @pytest.mark.parametrize("b", [3, 4])
    def test_stacked(a, b):
        pass
    """
    durations = {
        "test_p[1]": 5.0,
        "test_p[2]": 0.1,
        "test_stacked[3-1]": 5.0,
        "test_stacked[4-2]": 0.1,
    }
    result = mark(source, tmp_path, durations)
    assert not result.changed
    assert "parameter list is not a literal" in messages(result.notes)
    assert "parametrized by several decorators" in messages(result.notes)


def test_unmark_removes_only_function_level_marks_of_fast_tests(tmp_path: Path) -> None:
    source = """\
    import pytest

    @pytest.mark.slow
    @pytest.mark.timeout(5)
    def test_now_fast():
        pass

    @pytest.mark.slow
    def test_still_slow():
        pass
    """
    result = mark(
        source, tmp_path, {"test_now_fast": 0.01, "test_still_slow": 9.0}, unmark_below=0.25
    )
    assert "@pytest.mark.slow\n@pytest.mark.timeout(5)\ndef test_now_fast" not in text(result)
    assert "@pytest.mark.timeout(5)\ndef test_now_fast" in text(result)
    assert "@pytest.mark.slow\ndef test_still_slow" in text(result)


def test_reports_tests_it_cannot_find(tmp_path: Path) -> None:
    result = mark("def test_a():\n    pass\n", tmp_path, {"test_renamed": 5.0})
    assert "test_renamed not found" in messages(result.notes)
    placement = plan_mark_slow({"gone.py::test_a": 5.0}, root=tmp_path, threshold=1.0)
    assert placement.unplaced == [("gone.py::test_a", "its file is not there")]


def test_mark_serial_takes_victims_polluters_and_state_setters(tmp_path: Path) -> None:
    audit = {
        "tests": {
            "test_x.py::test_victim": finding("order_dependent", ["test_x.py::test_polluter"]),
            "test_x.py::test_brittle": finding(
                "order_dependent", setters=["test_x.py::TestSetup::test_setter"]
            ),
            "test_x.py::test_race[1]": finding("parallel_unsafe"),
            "test_x.py::test_race[2]": finding("stable"),
            "test_x.py::test_flaky": finding("flaky"),
            "test_x.py::test_ok": finding("stable"),
        }
    }
    chosen = serial_nodeids(audit)
    assert chosen == {
        "test_x.py::test_victim",
        "test_x.py::test_polluter",
        "test_x.py::test_brittle",
        "test_x.py::TestSetup::test_setter",
        "test_x.py::test_race[1]",
    }
    source = """\
    import pytest

    def test_victim(): pass
    def test_polluter(): pass
    def test_brittle(): pass
    class TestSetup:
        def test_setter(self): pass
    @pytest.mark.parametrize("n", [1, 2])
    def test_race(n): pass
    def test_flaky(): pass
    """
    (tmp_path / "test_x.py").write_text(textwrap.dedent(source))
    audited = audit["tests"]
    plan = plan_mark_serial(chosen, root=tmp_path, audited=audited).plans[tmp_path / "test_x.py"]
    result = rewrite(partial(MarkTests, plan=plan), source, tmp_path)
    assert text(result).count("@pytest.mark.serial") == 4
    assert "[pytest.param(1, marks=pytest.mark.serial), 2]" in text(result)  # one case, as slow
    assert "@pytest.mark.serial\ndef test_flaky" not in text(result)
    assert "#" not in text(result)


def finding(
    classification: str, polluters: list[str] | None = None, setters: list[str] | None = None
) -> dict[str, object]:
    """A test's entry as audit.json stores it (the shape its schema asks for)."""
    return {
        "classification": classification,
        "polluters": polluters or [],
        "state_setters": setters or [],
    }


INHERITED = """\
class TestBase:
    def test_m(self):
        pass


class TestSub(TestBase):
    pass
"""


@pytest.mark.parametrize(
    ("slow", "marked", "note"),
    [
        (["TestBase::test_m"], False, "TestSub::test_m inherits it and is not: not marked"),
        (["TestBase::test_m", "TestSub::test_m"], True, ""),
        (["TestSub::test_m"], False, "TestSub::test_m is inherited from TestBase::test_m"),
    ],
    ids=["base-only", "both", "subclass-only"],
)
def test_a_mark_on_an_inherited_method_lands_only_where_every_class_is_slow(
    tmp_path: Path, slow: list[str], marked: bool, note: str
) -> None:
    tests = dict.fromkeys(["TestBase::test_m", "TestSub::test_m"], 0.1) | dict.fromkeys(slow, 2.0)
    result = mark(INHERITED, tmp_path, tests)
    assert ("@pytest.mark.slow\n    def test_m" in text(result)) is marked
    assert note in messages(result.notes)


def test_a_redefined_test_is_marked_once_where_pytest_collects_it(tmp_path: Path) -> None:
    source = "def test_a():\n    pass\n\n\ndef test_a():\n    assert True\n"
    result = mark(source, tmp_path, {"test_a": 2.0})
    assert result.edits == 1
    assert text(result).endswith("@pytest.mark.slow\ndef test_a():\n    assert True\n")


def test_cases_combined_with_fixture_params_are_matched_as_pytest_builds_their_ids(
    tmp_path: Path,
) -> None:
    """``test_p[1-a]``: the parametrize case ``1`` with a fixture's param ``a``. Case 1 is
    marked when all its runs are slow; case 2, slow with ``a`` only, is reported."""
    source = """\
    import pytest

    @pytest.mark.parametrize("n", [1, 2])
    def test_p(n, backend):
        pass
    """
    runs = {"test_p[1-a]": 2.0, "test_p[1-b]": 2.0, "test_p[2-a]": 2.0, "test_p[2-b]": 0.1}
    result = mark(source, tmp_path, runs)
    assert '@pytest.mark.parametrize("n", [pytest.param(1, marks=pytest.mark.slow), 2])' in (
        text(result)
    )
    assert "cases 2-a of test_p are slow only with some of their other parameters" in messages(
        result.notes
    )


def test_the_pytest_import_goes_after_the_docstring_and_the_imports(tmp_path: Path) -> None:
    source = (
        '"""Tests."""\n\nfrom __future__ import annotations\n\nimport os\n\n\n'
        "def test_a():\n    pass\n"
    )
    result = mark(source, tmp_path, {"test_a": 2.0})
    assert text(result) == (
        '"""Tests."""\n\nfrom __future__ import annotations\n\nimport os\nimport pytest\n\n\n'
        "@pytest.mark.slow\ndef test_a():\n    pass\n"
    )
    bare = '"""Tests."""\ndef test_a():\n    pass\n'
    assert text(mark(bare, tmp_path, {"test_a": 2.0})).startswith(
        '"""Tests."""\nimport pytest\n\n@pytest.mark.slow\ndef test_a():'
    )
