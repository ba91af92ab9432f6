"""Run one codemod over many files: in parallel processes, with diffs, and atomic writes.

A file that does not parse, or whose rewrite would not parse, is listed and never touched.
"""

from __future__ import annotations

import ast
import difflib
import glob
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libcst as cst
from libcst.codemod import CodemodContext

from codemods.base import Note, OptikitCodemod
from fixtures_lib.atomic import write_bytes_atomic

CommandFactory = Callable[[CodemodContext], OptikitCodemod]
"""Builds the codemod for one file; must pickle (a class, or ``functools.partial`` of one)."""


@dataclass(frozen=True)
class PerFile:
    """A factory that hands each file its own plan: ``command(context, plans[path])``.

    A class rather than a closure, so that it pickles into worker processes.
    """

    command: Callable[[CodemodContext, Any], OptikitCodemod]
    plans: Mapping[Path, Any]

    def __call__(self, context: CodemodContext) -> OptikitCodemod:
        return self.command(context, self.plans[Path(context.filename or "")])


PARALLEL_FROM = 16
"""Below this many files, starting worker processes costs more than it saves."""


@dataclass
class FileResult:
    path: Path
    old: bytes
    new: bytes
    edits: int = 0
    notes: list[Note] = field(default_factory=list)
    skipped: str | None = None
    created: bool = False  # a new file (``old`` is empty)

    @property
    def changed(self) -> bool:
        return self.new != self.old or self.created

    def diff(self, relative_to: Path) -> str:
        name = os.path.relpath(self.path, relative_to)
        return "".join(
            difflib.unified_diff(
                _text(self.old).splitlines(keepends=True),
                _text(self.new).splitlines(keepends=True),
                "/dev/null" if self.created else f"a/{name}",
                f"b/{name}",
            )
        )


def transform_file(path: Path, factory: CommandFactory) -> FileResult:
    """Never raises for a bad file or a codemod bug: the file is skipped with the reason."""
    try:
        old = path.read_bytes()
    except OSError as exc:
        return FileResult(path, b"", b"", skipped=f"unreadable ({exc.strerror})")
    try:
        module = cst.parse_module(old)
    except cst.ParserSyntaxError as exc:
        reason = f"does not parse (line {exc.raw_line}); fix the syntax error and run again"
        return FileResult(path, old, old, skipped=reason)
    except (SyntaxError, UnicodeDecodeError) as exc:  # libcst: bytes it cannot decode
        why = exc.msg if isinstance(exc, SyntaxError) else f"{exc.reason} at byte {exc.start}"
        reason = f"is not UTF-8 text ({why}); save it as UTF-8 or add a coding line"
        return FileResult(path, old, old, skipped=reason)
    command = factory(CodemodContext(filename=str(path)))
    try:
        new = command.transform_module(module).bytes
    except Exception as exc:  # one file's surprise must not stop the others
        return FileResult(path, old, old, skipped=f"codemod error ({type(exc).__name__}: {exc})")
    if new != old and (problem := _unparsable(new, path)):
        return FileResult(path, old, old, skipped=f"the rewrite would not parse ({problem})")
    return FileResult(path, old, new, command.edits, command.notes)


def _unparsable(code: bytes, path: Path) -> str | None:
    """CPython's own parser, the one that will run the file, checks the rewrite."""
    try:
        compile(code, str(path), "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        return str(exc).splitlines()[0]
    return None


def run_codemod(
    files: Iterable[Path],
    factory: CommandFactory,
    *,
    jobs: int,
    advance: Callable[[], None] = lambda: None,
) -> list[FileResult]:
    """Results in path order; ``advance`` is called once per finished file (a progress bar)."""
    files = list(files)
    results: list[FileResult] = []
    if jobs <= 1 or len(files) < PARALLEL_FROM:
        for path in files:
            results.append(transform_file(path, factory))
            advance()
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(transform_file, path, factory) for path in files]
            for future in as_completed(futures):
                results.append(future.result())
                advance()
    return sorted(results, key=lambda r: r.path)


class ChangedOnDisk(Exception):
    """A file was edited between the dry run and the write; writing would lose that edit."""


class Interrupted(Exception):
    """Ctrl-C during ``apply_changes``: the file in hand was finished, the rest left alone."""

    def __init__(self, written: list[Path]) -> None:
        super().__init__(f"interrupted after writing {len(written)} file(s)")
        self.written = written


def apply_changes(results: Iterable[FileResult]) -> list[Path]:
    """Write each changed file atomically. Ctrl-C finishes the file being written, then
    stops with ``Interrupted`` naming what was written, so no file is ever half-done."""
    written: list[Path] = []
    with _deferred_interrupt() as interrupted:
        for result in results:
            if interrupted:
                raise Interrupted(written)
            if not result.changed:
                continue
            if _on_disk(result.path, result.created) != result.old:
                raise ChangedOnDisk(str(result.path))
            # what a killed earlier write of this file left (write_bytes_atomic's naming)
            for stale in result.path.parent.glob(f".{glob.escape(result.path.name)}.*.tmp"):
                stale.unlink(missing_ok=True)
            write_bytes_atomic(result.path, result.new)
            written.append(result.path)
        if interrupted:
            raise Interrupted(written)
    return written


def _on_disk(path: Path, created: bool) -> bytes | None:
    """The file's bytes; for a file to create, empty while it still does not exist."""
    if created:
        return None if path.exists() else b""
    return path.read_bytes()


@contextmanager
def _deferred_interrupt() -> Iterator[list[int]]:
    """SIGINT is noted (the yielded list gains an item) instead of raised, in the main thread."""
    noted: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield noted
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    try:
        yield noted
    finally:
        signal.signal(signal.SIGINT, previous)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")
