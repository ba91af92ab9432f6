"""Writing codemod results: Ctrl-C finishes the file in hand, a killed write's leftovers go."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from codemods import runner
from codemods.runner import FileResult, Interrupted, apply_changes
from fixtures_lib.atomic import write_bytes_atomic


def results(tmp_path: Path, count: int) -> list[FileResult]:
    made = []
    for index in range(count):
        path = tmp_path / f"test_{index}.py"
        path.write_bytes(b"old\n")
        made.append(FileResult(path, b"old\n", b"new\n", edits=1))
    return made


def test_ctrl_c_finishes_the_file_in_hand_and_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[Path] = []

    def write_then_interrupt(path: Path, data: bytes) -> None:
        if not written:
            signal.raise_signal(signal.SIGINT)  # arrives while the first file is being written
        write_bytes_atomic(path, data)
        written.append(path)

    monkeypatch.setattr(runner, "write_bytes_atomic", write_then_interrupt)
    files = results(tmp_path, 3)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(Interrupted) as caught:
        apply_changes(files)
    assert caught.value.written == [files[0].path]
    assert [f.path.read_bytes() for f in files] == [b"new\n", b"old\n", b"old\n"]
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back


def test_a_killed_writes_leftover_is_removed_on_the_next_write(tmp_path: Path) -> None:
    (result,) = results(tmp_path, 1)
    leftover = tmp_path / ".test_0.py.k1ll3d.tmp"  # write_bytes_atomic's temporary name
    leftover.write_bytes(b"half")
    other = tmp_path / ".test_1.py.k1ll3d.tmp"  # another file's: not ours to remove
    other.write_bytes(b"half")
    assert apply_changes([result]) == [result.path]
    assert not leftover.exists()
    assert other.exists()
    assert result.path.read_bytes() == b"new\n"


def test_note_lines_agree_with_libcsts_position_provider() -> None:
    """Notes get their lines from a cheap pass over libcst's code generation (a private
    hook, ``CodegenState``): it must put them where ``PositionProvider`` does."""
    import libcst as cst
    import libcst.matchers as m
    from libcst.metadata import MetadataWrapper, PositionProvider

    from codemods.base import _LineFinder

    source = (
        '"""Doc."""\n\nimport pytest\n\n\n# a comment\n@pytest.fixture(\n    scope="module",\n)\n'
        'def f():\n    x = ("/tmp/a"\n         "b")\n    return f"{x}/c"\n\n\n'
        "class TestA:\n    @pytest.mark.slow\n    def test_m(self):\n        assert call(\n"
        '            1, "two"\n        )\n'
    )
    module = cst.parse_module(source)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    expected = wrapper.resolve(PositionProvider)
    kinds = m.FunctionDef() | m.ClassDef() | m.SimpleString() | m.Call() | m.FormattedString()
    nodes = set(m.findall(wrapper.module, kinds | m.SimpleStatementLine() | m.Decorator()))
    found = _LineFinder.lines(wrapper.module, set(nodes))
    assert {n: found[n] for n in nodes} == {n: expected[n].start.line for n in nodes}
    assert len(nodes) > 15


def test_verify_reads_failing_node_ids_not_captured_log_lines() -> None:
    from codemods.verify import SUMMARY_LINE

    lines = {
        "FAILED tests/x.py::test_a - AssertionError: boom": "tests/x.py::test_a",
        "FAILED tests/x.py::test_b[a b-1]": "tests/x.py::test_b[a b-1]",
        "ERROR tests/test_c.py - ImportError": "tests/test_c.py",
        "ERROR    app.core:app.py:1891 Exception on /catalogs/json [GET]": None,
    }
    for line, nodeid in lines.items():
        found = SUMMARY_LINE.match(line)
        assert (found.group(1) if found else None) == nodeid
