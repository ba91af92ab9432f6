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


def test_paths_the_test_writes_keep_their_exact_text(tmp_path: Path) -> None:
    """Separators, trailing slashes, precedence, implicit concatenation and f-strings."""
    source = """\
    import os
    from pathlib import Path, PurePosixPath


    def test_write(n=3):
        \"\"\"Writes /tmp/report.csv.\"\"\"
        path = "/tmp/report.csv"
        with open(path, "w") as f:
            f.write("x")
        run = f"/tmp/run_{n}.csv"
        Path(run).write_text("1")
        os.makedirs(os.path.join("/tmp", "a", str(n)), exist_ok=True)
        Path("/tmp/out/file.txt").write_text("x")
        assert Path("/tmp/out/file.txt").read_text() == "x"
        base = "/tmp/dir/"
        open(base + "f.txt", "w").close()
        glued = "/tmp/" + "g.txt"
        open(glued, "w").close()
        open(("/tmp/ab" "c.txt"), "w").close()
        pure = PurePosixPath("/tmp/pure/p.txt")
        Path(pure).write_text("x")
        assert path, "/tmp/report.csv was not written"
    """
    result = fix(source, tmp_path)
    assert text(result) == textwrap.dedent("""\
    import os
    from pathlib import Path, PurePosixPath


    def test_write(tmp_path, n=3):
        \"\"\"Writes /tmp/report.csv.\"\"\"
        path = f"{tmp_path}/report.csv"
        with open(path, "w") as f:
            f.write("x")
        run = f"{tmp_path}/run_{n}.csv"
        Path(run).write_text("1")
        os.makedirs(os.path.join(str(tmp_path), "a", str(n)), exist_ok=True)
        (tmp_path / "out/file.txt").write_text("x")
        assert (tmp_path / "out/file.txt").read_text() == "x"
        base = f"{tmp_path}/dir/"
        open(base + "f.txt", "w").close()
        glued = f"{tmp_path}/" + "g.txt"
        open(glued, "w").close()
        open((f"{tmp_path}/ab" "c.txt"), "w").close()
        pure = PurePosixPath(f"{tmp_path}/pure/p.txt")
        Path(pure).write_text("x")
        assert path, "/tmp/report.csv was not written"
    """)
    assert result.edits == 9


def test_function_fixture_gets_tmp_path_and_wide_fixture_gets_mktemp(tmp_path: Path) -> None:
    source = """\
    from pathlib import Path

    import pytest


    @pytest.fixture
    def out_file(request):
        return "/tmp/out.txt"


    @pytest.fixture(scope="module")
    def shared():
        \"\"\"Docstring stays first.\"\"\"
        return Path("/tmp/shared/data.json")
    """
    result = fix(source, tmp_path)
    assert 'def out_file(tmp_path, request):\n    return f"{tmp_path}/out.txt"' in text(result)
    assert textwrap.dedent("""\
    def shared(tmp_path_factory):
        \"\"\"Docstring stays first.\"\"\"
        tmp_dir = tmp_path_factory.mktemp("shared")
        return tmp_dir / "shared/data.json"
    """) in text(result)


def test_reuses_an_existing_tmp_path_and_closes_over_it_in_nested_functions(tmp_path: Path) -> None:
    source = """\
    def test_a(tmp_path):
        def inner():
            open("/tmp/inner.txt", "w").close()
        inner()
    """
    assert (
        'def test_a(tmp_path):\n    def inner():\n        open(f"{tmp_path}/inner.txt", "w")'
        in (text(fix(source, tmp_path)))
    )


def test_code_under_test_writes_and_the_test_reads_back(tmp_path: Path) -> None:
    source = """\
    def test_export(exporter):
        target = "/tmp/export.csv"
        exporter.export(target)
        assert open(target).read()
    """
    assert 'target = f"{tmp_path}/export.csv"' in text(fix(source, tmp_path))


def test_tests_that_each_write_a_path_both_move_and_a_reader_keeps_them_both(
    tmp_path: Path,
) -> None:
    """Two tests writing /tmp/out.txt each get their own directory; a test that only reads
    what another wrote (an order dependency) keeps the writer where the reader looks."""
    writer = '    open("/tmp/out.txt", "w")\n'
    writers = f"def test_a():\n{writer}\ndef test_b():\n{writer}"
    assert text(fix(writers, tmp_path)).count('f"{tmp_path}/out.txt"') == 2
    reader = writers + '\ndef test_c():\n    assert open("/tmp/out.txt").read() == ""\n'
    result = fix(reader, tmp_path)
    assert not result.changed
    assert "/tmp/out.txt is also named on line 8 (in test_c)" in messages(result.notes)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ('OUT = "/tmp/x.csv"\n', "outside any test or fixture"),
        ('def helper():\n    open("/tmp/x", "w")\n', "helper is not a test or fixture"),
        (
            'import pytest\n\n@pytest.mark.parametrize("p", ["/tmp/x"])\n'
            "def test_a(p):\n    pass\n",
            "in a decorator",
        ),
        ('def test_a(p="/tmp/x"):\n    pass\n', "in a default argument"),
        (
            'def test_a():\n    tmp_path = 1\n    open("/tmp/x", "w")\n',
            "already uses the name tmp_path",
        ),
        (
            "import unittest\n\nclass T(unittest.TestCase):\n"
            '    def test_a(self):\n        open("/tmp/x", "w")\n',
            "unittest.TestCase",
        ),
        (
            "import unittest\n\nclass Base(unittest.TestCase):\n    pass\n\n"
            'class Tests(Base):\n    def test_a(self):\n        open("/tmp/x", "w")\n',
            "method of Tests, a unittest.TestCase",
        ),
        (
            "from helpers import Base\n\n"
            'class TestX(Base):\n    def test_a(self):\n        open("/tmp/x", "w")\n',
            "derives from Base (defined elsewhere",
        ),
        (
            "from hypothesis import given, strategies as st\n\n@given(st.integers())\n"
            'def test_a(n):\n    open("/tmp/x", "w")\n',
            "hypothesis test",
        ),
        (
            'import pytest\n\n@pytest.fixture(scope="module")\n'
            'def f(tmp_dir):\n    open("/tmp/x", "w")\n',
            "already takes a parameter named tmp_dir",
        ),
        (
            'import pytest\n\n@pytest.fixture\ndef tmp_path():\n    return "/var/x"\n\n'
            'def test_a(tmp_path):\n    open("/tmp/x", "w")\n',
            "this module defines its own tmp_path (line 4)",
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
        (
            'def test_a(exporter):\n    assert exporter.resolve() == "/tmp/app-exports"\n',
            "compared in an assert: an expected value",
        ),
        (
            'def test_a(exporter):\n    d = "/tmp/app-exports"\n    assert exporter.dir() == d\n'
            "    open(d, 'w')\n",
            "compared in an assert: an expected value",
        ),
        (
            'def test_a():\n    c = ControlClient("/tmp/test.sock")\n    assert c.ok\n',
            "only passed to ControlClient(): nothing shows it touches the disk",
        ),
        ('def test_a():\n    assert open("/tmp/in.txt").read()\n', "only read here"),
        (
            "import os, socket\n\ndef test_a():\n    path = '/tmp/test.sock'\n"
            "    socket.socket(socket.AF_UNIX).bind(path)\n    assert os.path.exists(path)\n",
            "a socket address: a UNIX socket path must fit in 108 bytes",
        ),
        (
            "import subprocess\n\ndef test_a():\n"
            '    open("/tmp/x.txt", "w").write("1")\n'
            '    subprocess.run("cat /tmp/x.txt", shell=True)\n',
            "/tmp/x.txt is also named on line 5 (in test_a)",
        ),
        (
            "import subprocess\n\ndef test_a():\n"
            '    open("/tmp/in.csv", "w").write("1")\n'
            '    subprocess.run(["tool", "--input=/tmp/in.csv"])\n',
            "/tmp/in.csv is also named on line 5",
        ),
        (
            'class TestA:\n    OUT = "/tmp/out.txt"\n\n'
            '    def test_a(self):\n        open("/tmp/out.txt", "w")\n',
            "/tmp/out.txt is also named on line 2 (outside any function)",
        ),
        (
            'import pytest\n\n@pytest.fixture(scope="session")\ndef data():\n'
            '    open("/tmp/shared.db", "w").close()\n    return "/tmp/shared.db"\n\n'
            'def test_a(data):\n    assert open("/tmp/shared.db").read() == ""\n',
            "/tmp/shared.db is also named on line 9 (in test_a)",
        ),
        (
            'def test_a(obj):\n    obj.path = "/tmp/x"\n    open(obj.path, "w")\n',
            "stored on an object",
        ),
        ('def test_a():\n    open(b"/tmp/x", "wb")\n', "a /tmp path in bytes"),
        ('def test_a():\n    fetch("file:///tmp/x")\n', "a file:///tmp URL"),
        (
            "import tempfile\n\ndef test_a():\n    d = tempfile.gettempdir()\n",
            "tempfile.gettempdir() is the shared temp dir",
        ),
    ],
    ids=[
        "module",
        "helper",
        "decorator",
        "default",
        "clash",
        "unittest",
        "unittest-indirect",
        "base-elsewhere",
        "hypothesis",
        "tmp-dir-param",
        "own-tmp-path",
        "dynamic-scope",
        "constant",
        "expected-value",
        "expected-through-a-name",
        "mock-socket-name",
        "only-read",
        "unix-socket",
        "shell-command",
        "option-string",
        "class-attribute",
        "fixture-and-test-share",
        "stored-on-object",
        "bytes",
        "file-url",
        "gettempdir",
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
    """The rewritten file runs: paths written and read back, separators and precedence kept,
    twice in a row (the second run would see the first's files in a shared /tmp)."""
    shared = f"/tmp/optikit-codemod-{uuid.uuid4().hex}"
    source = textwrap.dedent(f"""\
        import os
        import unittest
        from pathlib import Path

        def test_one():
            os.makedirs("{shared}", exist_ok=False)
            with open("{shared}/f.txt", "w") as f:
                f.write("1")
            assert open(os.path.join("{shared}", "f.txt")).read() == "1"

        def test_two():
            base = "{shared}/"
            Path(base).mkdir()
            Path("{shared}/g.txt").write_text("2")
            assert Path("{shared}/g.txt").read_text() == "2"
            assert open(base + "g.txt").read() == "2"
            assert os.path.exists(("{shared}" "/g.txt"))

        class Base(unittest.TestCase):
            pass

        class TestCase(Base):
            def test_three(self):
                assert not os.path.exists("/tmp/optikit-never-{uuid.uuid4().hex}")
        """)
    path = pytester.makepyfile(test_one=source)
    result = rewrite(ReplaceTmp, source, path.parent, "test_one.py")
    assert result.edits == 7
    path.write_bytes(result.new)
    for _ in range(2):
        pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)
    assert not Path(shared).exists()
