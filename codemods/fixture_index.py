"""Where each fixture is defined, what it depends on, and who receives its value.

Read with the standard ``ast`` (several times faster than a full libcst parse; nothing
here is rewritten), over every ``conftest.py`` and test module under the given paths.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

SCOPES = ("function", "class", "module", "package", "session")
FIXTURE_DECORATORS = frozenset({"fixture", "yield_fixture", "cached_fixture"})


@dataclass(frozen=True)
class Function:
    """A fixture or test: where it is, the names it takes, and its syntax tree."""

    name: str
    path: Path
    line: int
    params: tuple[str, ...]
    in_class: bool
    node: ast.FunctionDef | ast.AsyncFunctionDef
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

    def definitions(self, name: str) -> list[Function]:
        return [f for f in self.fixtures if f.name == name]

    def visible_in(self, region: Path) -> Iterator[Function]:
        """Fixtures a test inside ``region`` may see, or that override one there."""
        for fixture in self.fixtures:
            if _inside(region, fixture.region) or _inside(fixture.region, region):
                yield fixture

    def receivers(self, name: str, region: Path) -> Iterator[Function]:
        """Tests and fixtures inside ``region`` that take ``name`` as an argument."""
        for function in (*self.tests, *self.fixtures):
            if name in function.params and _inside(function.path, region):
                yield function


def _inside(path: Path, region: Path) -> bool:
    return path == region or path.is_relative_to(region)


def build_index(files: Iterable[Path]) -> FixtureIndex:
    index = FixtureIndex([], [], [])
    for path in files:
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError, OSError) as exc:
            index.unparsable.append((path, str(exc).splitlines()[0]))
            continue
        for node, in_class in _functions(tree):
            _add(index, path, node, in_class)
    return index


def _functions(tree: ast.Module) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef, bool]]:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node, False
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield item, True


def _add(
    index: FixtureIndex, path: Path, node: ast.FunctionDef | ast.AsyncFunctionDef, in_class: bool
) -> None:
    arguments = node.args
    params = tuple(
        a.arg
        for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)
        if a.arg not in {"self", "cls"}
    )
    decorator = next(
        (d for d in node.decorator_list if _decorator_name(d) in FIXTURE_DECORATORS), None
    )
    if decorator is not None:
        scope, autouse = _fixture_options(decorator)
        index.fixtures.append(
            Function(
                node.name, path, node.lineno, params, in_class, node, scope, autouse, fixture=True
            )
        )
    elif node.name.startswith("test"):
        index.tests.append(Function(node.name, path, node.lineno, params, in_class, node))


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
