"""rescope: which fixtures are safe to promote, each refusal's reason, and the rewrite."""

from __future__ import annotations

import textwrap
from functools import partial
from pathlib import Path

import pytest

from codemods.fixture_index import build_index
from codemods.rescope import Promotion, Refusal, RescopeFixtures, plan_rescope
from tests.codemods.cases import rewrite, text


def decide(
    tmp_path: Path,
    files: dict[str, str],
    *names: str,
    scope: str = "module",
    allow_renames: bool = False,
) -> tuple[list[Promotion], list[Refusal]]:
    for name, source in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(source))
    index = build_index(sorted(tmp_path.rglob("*.py")))
    candidates = [f for f in index.fixtures if f.name in names]
    return plan_rescope(index, candidates, scope, tmp_path, allow_renames)


CONFTEST = """\
import pytest

@pytest.fixture
def table():
    return {"rows": 1000}

@pytest.fixture
def counter():
    return []
"""


def test_promotes_a_fixture_nobody_changes(tmp_path: Path) -> None:
    promotions, refusals = decide(
        tmp_path,
        {
            "conftest.py": CONFTEST,
            "test_a.py": "def test_a(table):\n    assert table['rows'] == 1000\n",
        },
        "table",
    )
    assert [p.name for p in promotions] == ["table"]
    assert refusals == []


@pytest.mark.parametrize(
    ("test_body", "shown"),
    [
        ("table['rows'] = 2", "table['rows'] = 2"),
        ("table.update(rows=2)", "table.update(rows=2)"),
        ("rows = table\n    rows.clear()", "rows.clear()"),
        ("table.sort_values('a', inplace=True)", "table.sort_values('a', inplace=True)"),
        ("random.shuffle(table)", "random.shuffle(table)"),
        ("table += [1]", "table += [1]"),
        ("del table['rows']", "del table['rows']"),
    ],
    ids=["item", "method", "alias", "inplace", "in-place-function", "augmented", "delete"],
)
def test_refuses_when_a_test_changes_the_value(tmp_path: Path, test_body: str, shown: str) -> None:
    test = f"import random\n\ndef test_a(table):\n    {test_body}\n"
    promotions, [refusal] = decide(tmp_path, {"conftest.py": CONFTEST, "test_a.py": test}, "table")
    assert promotions == []
    assert refusal.reason == f"test_a (test_a.py:3) changes its value: {shown}"


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("def heavy(monkeypatch):\n    return 1", "uses monkeypatch, which is per-test"),
        (
            "def heavy(request):\n    return request.node.name",
            "uses request.node, which is per-test",
        ),
        (
            "def heavy(counter):\n    return counter",
            "needs counter (function-scoped, conftest.py:8)",
        ),
        (
            "def heavy(some_plugin_fixture):\n    return 1",
            "needs some_plugin_fixture, a fixture from outside",
        ),
    ],
    ids=["monkeypatch", "request-node", "narrow-dependency", "unknown-dependency"],
)
def test_refuses_fixtures_that_need_something_per_test(
    tmp_path: Path, fixture: str, reason: str
) -> None:
    module = f"import pytest\n\n@pytest.fixture\n{fixture}\n\ndef test_a(heavy):\n    pass\n"
    _, [refusal] = decide(tmp_path, {"conftest.py": CONFTEST, "test_a.py": module}, "heavy")
    assert reason in refusal.reason


@pytest.mark.parametrize(
    ("test_module", "reason"),
    [
        (
            "def add_item(items):\n    items.append(1)\n\n"
            "def test_a(table):\n    add_item(table)\n",
            "test_a (test_a.py:4) passes it to add_item() (line 1), which changes its value: "
            "items.append(1)",
        ),
        (
            "def test_a(table):\n    table.execute('INSERT INTO t VALUES (1)')\n",
            "calls table.execute('INSERT INTO t VALUES (1)'), which may change it",
        ),
        (
            "import numpy as np\n\ndef test_a(table):\n    np.add(1, 2, out=table)\n",
            "passes it as out= to np.add(1, 2, out=table), which writes into it",
        ),
        ("def test_a(table):\n    table.fill(0)\n", "changes its value: table.fill(0)"),
        ("def test_a(table):\n    next(table)\n", "passes it to next(), which may change it"),
        (
            "from helpers import load\n\ndef test_a(table):\n    load(table)\n",
            "passes it to load(), which may change it",
        ),
        (
            "def test_a(table):\n    with table:\n        pass\n",
            "uses it as a context manager: table",
        ),
        (
            "def test_a(table):\n    assert table.get('/catalogs').status_code == 200\n",
            "calls table.get('/catalogs'), which may change it",
        ),
    ],
    ids=["helper", "execute", "numpy-out", "numpy-fill", "next", "unseen-helper", "with", "get"],
)
def test_refuses_when_a_test_hands_the_value_to_code_that_may_change_it(
    tmp_path: Path, test_module: str, reason: str
) -> None:
    _, [refusal] = decide(tmp_path, {"conftest.py": CONFTEST, "test_a.py": test_module}, "table")
    assert reason in refusal.reason


def test_a_helper_in_the_project_that_only_reads_is_followed_and_allowed(tmp_path: Path) -> None:
    files = {
        "conftest.py": CONFTEST,
        "pkg/report.py": "def summarise(rows, by):\n    return sorted(rows[by])\n",
        "tests/test_a.py": "from pkg.report import summarise\n\n"
        "def test_a(table):\n    assert summarise(table, 'rows') == [1000]\n",
    }
    promotions, refusals = decide(tmp_path, files, "table")
    assert refusals == []
    assert [p.name for p in promotions] == ["table"]


@pytest.mark.parametrize(
    ("fixture", "test", "reason"),
    [
        (
            "@pytest.fixture(autouse=True)\ndef heavy():\n    yield\n    close_all()",
            "",
            "autouse: it runs around every test on purpose",
        ),
        ("@pytest.fixture\nasync def heavy():\n    return 1", "", "async"),
        (
            "@pytest.fixture\ndef heavy():\n    os.environ['MODE'] = 'x'\n    yield 1\n"
            "    del os.environ['MODE']",
            "",
            "changes state outside itself for every test: os.environ['MODE'] = 'x'",
        ),
        (
            "@pytest.fixture\ndef heavy():\n    yield 1\n    REGISTRY.clear()",
            "",
            "changes state outside itself after each test: REGISTRY.clear()",
        ),
        (
            "@pytest.fixture\ndef heavy():\n    return itertools.count()",
            "",
            "hands out an iterator (itertools.count())",
        ),
        (
            "@pytest.fixture(params=[pd.NA, 1])\ndef heavy(request):\n    return request.param",
            "",
            "its params ([pd.NA, 1]) are not plain literals",
        ),
        (
            "@pytest.fixture(params=[1, 2])\ndef heavy(request):\n    return request.param",
            "@pytest.mark.parametrize('n', [1, 2])\n",
            "a parametrized fixture, and test_a (test_a.py:9) has other parameters",
        ),
        (
            "@pytest.fixture\ndef heavy(tmp_path):\n    return tmp_path",
            "",
            "writes into it: open(heavy / 'out.txt', 'w')",
        ),
    ],
    ids=[
        "autouse",
        "async",
        "environment",
        "restores-registry",
        "iterator",
        "incomparable-params",
        "renames-node-ids",
        "tmp-dir-written",
    ],
)
def test_refuses_fixtures_that_only_make_sense_per_test(
    tmp_path: Path, fixture: str, test: str, reason: str
) -> None:
    body = "    open(heavy / 'out.txt', 'w')\n" if "tmp_path" in fixture else "    pass\n"
    module = (
        f"import itertools, os\nimport pytest\n\n{fixture}\n\n{test}"
        f"def test_a(heavy{', n' if test else ''}):\n{body}"
    )
    _, [refusal] = decide(tmp_path, {"test_a.py": module}, "heavy")
    assert reason in refusal.reason


def test_a_test_that_also_takes_tmp_path_keeps_the_fixture_per_test(tmp_path: Path) -> None:
    module = (
        "import pytest\n\n@pytest.fixture\ndef data_dir(tmp_path):\n    return tmp_path\n\n"
        "def test_a(data_dir, tmp_path):\n    assert data_dir == tmp_path\n"
    )
    _, [refusal] = decide(tmp_path, {"test_a.py": module}, "data_dir")
    assert "also takes tmp_path and may expect the same directory" in refusal.reason


def test_fixtures_reached_through_getfixturevalue_are_refused(tmp_path: Path) -> None:
    tests = "def test_a(request):\n    request.getfixturevalue('table')\n"
    _, [refusal] = decide(tmp_path, {"conftest.py": CONFTEST, "test_a.py": tests}, "table")
    assert refusal.reason.startswith("reached through request.getfixturevalue at test_a.py:2")
    chosen = (
        "import pytest\n\n@pytest.mark.parametrize('name', ['counter', 'table'])\n"
        "def test_a(request, name):\n    request.getfixturevalue(name)\n"
    )
    _, [refusal] = decide(tmp_path, {"conftest.py": CONFTEST, "test_a.py": chosen}, "table")
    assert refusal.reason.startswith("reached through request.getfixturevalue at test_a.py:5")
    [promotion], _ = decide(
        tmp_path,
        {"conftest.py": CONFTEST, "test_a.py": chosen.replace("'table'", "'other'")},
        "table",
    )
    assert promotion.name == "table"
    computed = "def test_a(request, name):\n    request.getfixturevalue(name)\n"
    _, [refusal] = decide(tmp_path, {"conftest.py": CONFTEST, "test_a.py": computed}, "table")
    assert "test_a.py calls request.getfixturevalue(<computed>)" in refusal.reason


def test_names_from_name_and_aliased_imports_resolve(tmp_path: Path) -> None:
    """``name=`` is what tests request (and change); ``fixture as pfx`` is still a fixture."""
    conftest = (
        "from pytest import fixture as pfx\n\n@pfx(name='data')\ndef make_data():\n    return {}\n"
    )
    changed = "def test_a(data):\n    data['x'] = 1\n"
    _, [refusal] = decide(tmp_path, {"conftest.py": conftest, "test_a.py": changed}, "data")
    assert "changes its value: data['x'] = 1" in refusal.reason
    read = "def test_a(data):\n    assert data == {}\n"
    [promotion], _ = decide(tmp_path, {"conftest.py": conftest, "test_a.py": read}, "data")
    result = rewrite(
        partial(RescopeFixtures, promotions=(promotion,)), conftest, tmp_path, "conftest.py"
    )
    assert "@pfx(name='data', scope=\"module\")\ndef make_data():" in text(result)


def test_a_multi_line_decorator_keeps_its_layout(tmp_path: Path) -> None:
    source = """\
    import pytest


    @pytest.fixture(
        autouse=False,
        name="plain",
    )
    def plain():
        return 1


    @pytest.fixture(
        name="other",
    )
    def other():
        return 2
    """
    promotions, _ = decide(tmp_path, {"conftest.py": source}, "plain", "other")
    result = rewrite(
        partial(RescopeFixtures, promotions=tuple(promotions)), source, tmp_path, "conftest.py"
    )
    assert text(result) == textwrap.dedent(source).replace(
        '    name="plain",\n', '    name="plain",\n    scope="module",\n'
    ).replace('    name="other",\n', '    name="other",\n    scope="module",\n')


def test_a_conftest_override_below_counts(tmp_path: Path) -> None:
    files = {
        "conftest.py": "import pytest\n\n"
        "@pytest.fixture(scope='session')\ndef db():\n    return 1\n\n"
        "@pytest.fixture\ndef heavy(db):\n    return db\n",
        "sub/conftest.py": "import pytest\n\n@pytest.fixture\ndef db():\n    return 2\n",
        "sub/test_a.py": "def test_a(heavy):\n    pass\n",
    }
    _, [refusal] = decide(tmp_path, files, "heavy")
    assert refusal.reason == "needs db (function-scoped, sub/conftest.py:4)"


def test_an_autouse_function_fixture_blocks_promotion(tmp_path: Path) -> None:
    conftest = CONFTEST + "\n@pytest.fixture(autouse=True)\ndef reset_env():\n    yield\n"
    _, [refusal] = decide(tmp_path, {"conftest.py": conftest}, "table")
    assert "autouse fixture reset_env (function-scoped, conftest.py:12)" in refusal.reason


def test_refuses_what_is_already_wide_dynamic_or_in_a_class(tmp_path: Path) -> None:
    module = """\
    import pytest

    @pytest.fixture(scope="session")
    def wide():
        return 1

    @pytest.fixture(scope=pick_scope)
    def dynamic():
        return 1

    class TestThing:
        @pytest.fixture
        def inside(self):
            return 1
    """
    _, refusals = decide(tmp_path, {"test_a.py": module}, "wide", "dynamic", "inside")
    reasons = {r.name: r.reason for r in refusals}
    assert reasons == {
        "wide": "already session-scoped",
        "dynamic": "its scope is computed at run time",
        "inside": "defined in a class; move it to the module or a conftest.py first",
    }


def test_a_fixture_becomes_promotable_once_the_one_it_needs_is_promoted(tmp_path: Path) -> None:
    conftest = CONFTEST + "\n@pytest.fixture\ndef summary(table):\n    return len(table)\n"
    promotions, refusals = decide(tmp_path, {"conftest.py": conftest}, "summary", "table")
    assert {p.name for p in promotions} == {"table", "summary"}
    assert refusals == []


def test_rewrite_sets_the_scope_and_swaps_tmp_path_for_its_factory(tmp_path: Path) -> None:
    source = """\
    from pathlib import Path

    import pytest


    @pytest.fixture
    def plain():
        return 1


    @pytest.fixture(autouse=False, scope="function")
    def keyed():
        return 2


    @pytest.fixture()
    def workbook(plain, tmp_path: Path) -> Path:
        \"\"\"Built once per module.\"\"\"
        return tmp_path / "book.xlsx"
    """
    promotions, refusals = decide(tmp_path, {"conftest.py": source}, "plain", "keyed", "workbook")
    assert refusals == []
    assert all(isinstance(p, Promotion) for p in promotions)
    result = rewrite(
        partial(RescopeFixtures, promotions=tuple(promotions)), source, tmp_path, "conftest.py"
    )
    assert text(result) == textwrap.dedent("""\
    from pathlib import Path

    import pytest


    @pytest.fixture(scope="module")
    def plain():
        return 1


    @pytest.fixture(autouse=False, scope="module")
    def keyed():
        return 2


    @pytest.fixture(scope="module")
    def workbook(plain, tmp_path_factory: pytest.TempPathFactory) -> Path:
        \"\"\"Built once per module.\"\"\"
        tmp_path = tmp_path_factory.mktemp("workbook")
        return tmp_path / "book.xlsx"
    """)


def test_unparsable_files_are_listed_not_indexed(tmp_path: Path) -> None:
    (tmp_path / "test_bad.py").write_text("def test_a(:\n")
    index = build_index([tmp_path / "test_bad.py"])
    assert index.fixtures == []
    assert index.unparsable[0][0] == tmp_path / "test_bad.py"


def test_refusal_is_a_plain_value() -> None:
    assert Refusal("f", "conftest.py:1", "why") == Refusal("f", "conftest.py:1", "why")


def test_renaming_promotions_are_made_only_when_allowed(tmp_path: Path) -> None:
    module = (
        "import pytest\n\n@pytest.fixture(params=[1, 2])\ndef heavy(request):\n"
        "    return request.param\n\n@pytest.mark.parametrize('n', [1, 2])\n"
        "def test_a(heavy, n):\n    pass\n"
    )
    _, [refusal] = decide(tmp_path, {"test_a.py": module}, "heavy")
    assert "--allow-renames" in refusal.reason
    [promotion], _ = decide(tmp_path, {"test_a.py": module}, "heavy", allow_renames=True)
    assert promotion.renames == "test_a (test_a.py:8)"
