"""Run a codemod over one source text the way the CLI does, and check it is idempotent."""

from __future__ import annotations

import textwrap
from pathlib import Path

from codemods.base import Note
from codemods.runner import CommandFactory, FileResult, transform_file


def rewrite(
    factory: CommandFactory, source: str, tmp_path: Path, name: str = "test_x.py"
) -> FileResult:
    """The first pass's result; a second pass over its output must change nothing."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    first = transform_file(path, factory)
    path.write_bytes(first.new)
    second = transform_file(path, factory)
    assert second.new == first.new, "a second run changed the file again"
    path.write_bytes(first.old)
    return first


def text(result: FileResult) -> str:
    return result.new.decode()


def messages(notes: list[Note]) -> str:
    return "\n".join(n.message for n in notes)
