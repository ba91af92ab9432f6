"""Where each fixture is defined, what it depends on, and who receives and changes its value.

Read with the standard ``ast`` (several times faster than a full libcst parse; nothing
here is rewritten), over every ``conftest.py`` and test module under the given paths, in
parallel processes for a large tree. Each function keeps plain facts, not its syntax tree.
"""

from __future__ import annotations

import ast
import dataclasses
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from codemods.value_changes import changed_arguments, request_use

SCOPES = ("function", "class", "module", "package", "session")
FIXTURE_DECORATORS = frozenset({"fixture", "yield_fixture", "cached_fixture"})


@dataclass(frozen=True)
class Function:
    """A fixture or test: where it is, what it takes, and what it does with it."""

    name: str
    path: Path
    line: int
    params: tuple[str, ...]
    in_class: bool
    changes: tuple[tuple[str, str], ...] = ()  # (parameter, first code that changes it)
    request_use: str | None = None  # a per-test attribute of ``request`` it reads
    scope: str | None = None  # fixtures only; None when it is computed at run time
    autouse: bool = False
    fixture: bool = False

    @property
    def region(self) -> Path:
        """What the definition is visible to: a conftest's directory, or its own module."""
        return self.path.parent if self.path.name == "conftest.py" else self.path

    def where(self, root: Path) -> str:
        shown = self.path.relative_to(root) if self.path.is_relative_to(root) else self.path
        return f"{shown}:{self.line}"


@dataclass
class FixtureIndex:
    fixtures: list[Function]
    tests: list[Function]
    unparsable: list[tuple[Path, str]]

    def __post_init__(self) -> None:
        self._by_name: dict[str, list[Function]] = {}
        self._takers: dict[str, list[Function]] = {}

    def add(self, function: Function) -> None:
        (self.fixtures if function.fixture else self.tests).append(function)
        if function.fixture:
            self._by_name.setdefault(function.name, []).append(function)
        for param in function.params:
            self._takers.setdefault(param, []).append(function)

    def definitions(self, name: str) -> list[Function]:
        return self._by_name.get(name, [])

    def autouse(self) -> Iterator[Function]:
        return (f for f in self.fixtures if f.autouse)

    def receivers(self, name: str, region: Path) -> Iterator[Function]:
        """Tests and fixtures inside ``region`` that take ``name`` as an argument."""
        return (f for f in self._takers.get(name, []) if inside(f.path, region))


def visible(definition: Function, region: Path) -> bool:
    """Whether a test inside ``region`` may see ``definition``, or it overrides one there."""
    return inside(region, definition.region) or inside(definition.region, region)


def inside(path: Path, region: Path) -> bool:
    """``path.is_relative_to(region)``, on strings: called millions of times on a big tree."""
    p, r = str(path), str(region)
    return p == r or p.startswith(r.rstrip(os.sep) + os.sep)


PARALLEL_FROM = 64


def build_index(files: Iterable[Path], jobs: int = 1) -> FixtureIndex:
    files = list(files)
    index = FixtureIndex([], [], [])
    if jobs > 1 and len(files) >= PARALLEL_FROM:
        with ProcessPoolExecutor(jobs) as pool:
            found = list(pool.map(_index_file, files, chunksize=16))
    else:
        found = [_index_file(path) for path in files]
    for path, (functions, error) in zip(files, found, strict=True):
        if error is not None:
            index.unparsable.append((path, error))
        for function in functions:
            index.add(function)
    return index


def _index_file(path: Path) -> tuple[list[Function], str | None]:
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError) as exc:
        return [], str(exc).splitlines()[0]
    functions = [_function(path, node, in_class) for node, in_class in _functions(tree)]
    return [f for f in functions if f is not None], None


def _functions(tree: ast.Module) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef, bool]]:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node, False
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield item, True


def _function(
    path: Path, node: ast.FunctionDef | ast.AsyncFunctionDef, in_class: bool
) -> Function | None:
    arguments = node.args
    params = tuple(
        a.arg
        for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)
        if a.arg not in {"self", "cls"}
    )
    decorator = next(
        (d for d in node.decorator_list if _decorator_name(d) in FIXTURE_DECORATORS), None
    )
    if decorator is None and not node.name.startswith("test"):
        return None
    changes = tuple(changed_arguments(node, params).items())
    function = Function(node.name, path, node.lineno, params, in_class, changes)
    if decorator is None:
        return function
    scope, autouse = _fixture_options(decorator)
    used = request_use(node) if "request" in params else None
    return dataclasses.replace(
        function, request_use=used, scope=scope, autouse=autouse, fixture=True
    )


def _decorator_name(node: ast.expr) -> str | None:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else None


def _fixture_options(decorator: ast.expr) -> tuple[str | None, bool]:
    scope: str | None = "function"
    autouse = False
    if isinstance(decorator, ast.Call):
        for keyword in decorator.keywords:
            value = keyword.value
            if keyword.arg == "scope":
                literal = value.value if isinstance(value, ast.Constant) else None
                scope = literal if isinstance(literal, str) and literal in SCOPES else None
            elif keyword.arg == "autouse":
                autouse = not (isinstance(value, ast.Constant) and not value.value)
    return scope, autouse
