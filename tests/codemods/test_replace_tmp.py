"""replace-tmp on source text: what becomes tmp_path, and what is only reported."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

from codemods.replace_tmp import ReplaceTmp
from codemods.runner import FileResult
from tests.codemods.cases import messages, rewrite, text


def fix(source: str, tmp_path: Path) -> FileResult:
    return rewrite(ReplaceTmp, source, tmp_path)


def test_strings_fstrings_paths_and_joins_in_a_test(tmp_path: Path) -> None:
    source = """\
    import os
    from pathlib import Path


    def test_write(n=3):
        \"\"\"Writes /tmp/report.csv.\"\"\"
        path = "/tmp/report.csv"
        run = f"/tmp/run_{n}.csv"
        joined = os.path.join("/tmp", "a", str(n))
        base = Path("/tmp") / "x"
        nested = Path("/tmp/out/file.txt")
        whole = "/tmp"
        assert path, "/tmp/report.csv was not written"
        print("/tmp/ is mentioned here in prose")
    """
    result = fix(source, tmp_path)
    assert text(result) == textwrap.dedent("""\
    import os
    from pathlib import Path


    def test_write(tmp_path, n=3):
        \"\"\"Writes /tmp/report.csv.\"\"\"
        path = str(tmp_path / "report.csv")
        run = str(tmp_path / f"run_{n}.csv")
        joined = str(tmp_path / "a" / str(n))
        base = tmp_path / "x"
        nested = tmp_path / "out/file.txt"
        whole = str(tmp_path)
        assert path, "/tmp/report.csv was not written"
        print("/tmp/ is mentioned here in prose")
    """)
    assert result.edits == 6


def test_function_fixture_gets_tmp_path_and_wide_fixture_gets_mktemp(tmp_path: Path) -> None:
    source = """\
    import pytest


    @pytest.fixture
    def out_file(request):
        return "/tmp/out.txt"


    @pytest.fixture(scope="module")
    def shared():
        \"\"\"Docstring stays first.\"\"\"
        return "/tmp/shared/data.json"
    """
    result = fix(source, tmp_path)
    assert 'def out_file(request, tmp_path):\n    return str(tmp_path / "out.txt")' in text(result)
    assert textwrap.dedent("""\
    def shared(tmp_path_factory):
        \"\"\"Docstring stays first.\"\"\"
        tmp_dir = tmp_path_factory.mktemp("shared")
        return str(tmp_dir / "shared/data.json")
    """) in text(result)


def test_reuses_an_existing_tmp_path_and_closes_over_it_in_nested_functions(tmp_path: Path) -> None:
    source = """\
    def test_a(tmp_path):
        def inner():
            return "/tmp/inner.txt"
        return inner()
    """
    assert (
        'def test_a(tmp_path):\n    def inner():\n        return str(tmp_path / "inner.txt")'
        in text(fix(source, tmp_path))
    )


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ('OUT = "/tmp/x.csv"\n', "outside any test or fixture"),
        ('def helper():\n    return "/tmp/x"\n', "helper is not a test or fixture"),
        (
            'import pytest\n\n@pytest.mark.parametrize("p", ["/tmp/x"])\n'
            "def test_a(p):\n    pass\n",
            "in a decorator",
        ),
        ('def test_a(p="/tmp/x"):\n    pass\n', "in a default argument"),
        (
            'def test_a():\n    tmp_path = 1\n    return "/tmp/x"\n',
            "already uses the name tmp_path",
        ),
        (
            "import unittest\n\nclass T(unittest.TestCase):\n"
            '    def test_a(self):\n        self.p = "/tmp/x"\n',
            "unittest.TestCase method",
        ),
        (
            'import pytest\n\n@pytest.fixture(scope=pick)\ndef f():\n    return "/tmp/x"\n',
            "scope not known until run time",
        ),
        (
            'REPORT = "/tmp/r.csv"\n\n'
            'def test_a():\n    open("/tmp/r.lock", "w")\n    return REPORT\n',
            "also uses REPORT, a module-level /tmp path (line 1)",
        ),
    ],
    ids=[
        "module",
        "helper",
        "decorator",
        "default",
        "clash",
        "unittest",
        "dynamic-scope",
        "constant",
    ],
)
def test_reports_what_it_will_not_rewrite(tmp_path: Path, source: str, reason: str) -> None:
    result = fix(source, tmp_path)
    assert not result.changed
    assert reason in messages(result.notes)
    assert all(note.line for note in result.notes)


def test_a_file_without_tmp_is_not_rewritten_or_reported(tmp_path: Path) -> None:
    result = fix('def test_a():\n    return "/var/x"\n', tmp_path)
    assert not result.changed
    assert not result.notes


def test_rewritten_tests_really_use_their_own_tmp_dirs(pytester: pytest.Pytester) -> None:
    shared = Path(f"/tmp/optikit-codemod-{uuid.uuid4().hex}")
    source = textwrap.dedent(f"""\
        import os

        def test_one():
            os.makedirs("{shared}", exist_ok=True)
            with open("{shared}/f.txt", "w") as f:
                f.write("1")
            assert open(os.path.join("{shared}", "f.txt")).read() == "1"
        """)
    path = pytester.makepyfile(test_one=source)
    result = rewrite(ReplaceTmp, source, path.parent, "test_one.py")
    path.write_bytes(result.new)
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=1)
    assert not shared.exists()
