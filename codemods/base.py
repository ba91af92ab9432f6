"""What every optikit codemod shares: counting edits, noting what it would not touch, and
recognising pytest's names however a file imported them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

import libcst as cst
import libcst.matchers as m
from libcst.codemod import CodemodContext, VisitorBasedCodemodCommand
from libcst.codemod.visitors import AddImportsVisitor
from libcst.helpers import get_full_name_for_node
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

FIXTURE_DECORATORS = frozenset(
    {
        "pytest.fixture",
        "pytest.yield_fixture",
        "fixtures_lib.cached_fixture",
        "fixtures_lib.cache.decorator.cached_fixture",
    }
)


@dataclass(frozen=True)
class Note:
    """Something a codemod left alone, and why: shown to the user with file and line."""

    line: int | None
    message: str


class OptikitCodemod(VisitorBasedCodemodCommand):
    """A libcst codemod command that also reports its edits and refusals.

    Names are resolved through the file's imports (``import pytest as pt``, ``from pytest
    import mark``) rather than libcst's ``QualifiedNameProvider``: the scope analysis behind
    that provider costs several times a parse on a large file, and pytest's names are only
    ever reached through imports. Line numbers are computed only when there is a note.
    """

    METADATA_DEPENDENCIES = ()

    def __init__(self, context: CodemodContext) -> None:
        super().__init__(context)
        self.edits = 0
        self.notes: list[Note] = []
        self.imported: dict[str, str] = {}  # local name -> what it was imported as
        self.top_level: dict[str, str] = {}  # the same, for the module's own imports only
        self._positions: Mapping[cst.CSTNode, CodeRange] | None = None

    def transform_module(self, tree: cst.Module) -> cst.Module:
        """libcst's own entry point, minus the defensive deep copy of a tree parsed just
        for this call (a third of the cost on a large file)."""
        wrapper = MetadataWrapper(tree, unsafe_skip_copy=True)
        self.top_level = imported_names(tree)
        self.imported = dict(self.top_level)
        with self.resolve(wrapper):
            self.context = replace(self.context, wrapper=wrapper)
            tree = self.transform_module_impl(wrapper.module)
        if AddImportsVisitor.CONTEXT_KEY in self.context.scratch:  # as CodemodCommand does
            tree = AddImportsVisitor(self.context).transform_module(tree)
        return tree

    def visit_Import(self, node: cst.Import) -> None:
        self.imported.update(_from_import(node))

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        self.imported.update(_from_import(node))

    def line_of(self, node: cst.CSTNode) -> int | None:
        """``node`` must be an original node (positions know nothing of updated ones)."""
        if self.context.wrapper is None:
            return None
        if self._positions is None:
            self._positions = self.context.wrapper.resolve(PositionProvider)
        return self._positions[node].start.line

    def note(self, node: cst.CSTNode | None, message: str) -> None:
        self.notes.append(Note(self.line_of(node) if node is not None else None, message))

    def qualified_names(self, node: cst.CSTNode) -> set[str]:
        dotted = get_full_name_for_node(node)
        if dotted is None:
            return set()
        head, _, rest = dotted.partition(".")
        if head in self.imported:
            return {f"{self.imported[head]}.{rest}" if rest else self.imported[head]}
        return {dotted}

    def called_or_named(self, expression: cst.BaseExpression) -> set[str]:
        """``@pytest.fixture(scope=...)`` and ``@pytest.fixture`` both name ``pytest.fixture``."""
        target = expression.func if isinstance(expression, cst.Call) else expression
        return self.qualified_names(target)

    def is_mark(self, expression: cst.BaseExpression, mark: str) -> bool:
        return f"pytest.mark.{mark}" in self.called_or_named(expression)

    def fixture_decorator(self, function: cst.FunctionDef) -> cst.Decorator | None:
        for decorator in function.decorators:
            if self.called_or_named(decorator.decorator) & FIXTURE_DECORATORS:
                return decorator
        return None

    def mark_expression(self, mark: str) -> cst.BaseExpression:
        return cst.parse_expression(f"{self.pytest_name('mark')}.{mark}")

    def pytest_name(self, attribute: str) -> str:
        """``pytest.<attribute>`` spelled the way this file imports pytest.

        Uses ``import pytest as pt`` or ``from pytest import mark`` when the file has them;
        only otherwise is ``import pytest`` added.
        """
        for local, name in self.top_level.items():
            if name == "pytest":
                return f"{local}.{attribute}"
        for local, name in self.top_level.items():
            if name == f"pytest.{attribute}":
                return local
        AddImportsVisitor.add_needed_import(self.context, "pytest")
        return f"pytest.{attribute}"


def insert_at_top(function: cst.FunctionDef, statement: cst.BaseStatement) -> cst.FunctionDef:
    """``statement`` becomes the first of the body (after the docstring, if any)."""
    body = function.body
    if isinstance(body, cst.SimpleStatementSuite):  # def f(): return x
        body = cst.IndentedBlock([cst.SimpleStatementLine([s]) for s in body.body])
    assert isinstance(body, cst.IndentedBlock)
    lines = list(body.body)
    at = (
        1 if lines and m.matches(lines[0], m.SimpleStatementLine([m.Expr(m.SimpleString())])) else 0
    )
    lines.insert(at, statement)
    return function.with_changes(body=body.with_changes(body=lines))


def fixture_scope(decorator: cst.BaseExpression) -> str | None:
    """The ``scope=`` of a fixture decorator: "function" when absent, ``None`` when computed."""
    for arg in decorator.args if isinstance(decorator, cst.Call) else ():
        if arg.keyword is not None and arg.keyword.value == "scope":
            value = arg.value
            if isinstance(value, cst.SimpleString) and isinstance(value.evaluated_value, str):
                return value.evaluated_value
            return None
    return "function"


def imported_names(module: cst.Module) -> dict[str, str]:
    """What each name bound by the module's top-level imports (also inside top-level
    ``if``/``try`` blocks) stands for: ``pt`` -> ``pytest``, ``mark`` -> ``pytest.mark``."""
    names: dict[str, str] = {}
    for node in _top_level_imports(module.body):
        names.update(_from_import(node))
    return names


def _top_level_imports(body: object) -> Iterator[cst.Import | cst.ImportFrom]:
    for statement in body if isinstance(body, list | tuple) else ():
        if isinstance(statement, cst.SimpleStatementLine):
            yield from (s for s in statement.body if isinstance(s, cst.Import | cst.ImportFrom))
        elif isinstance(statement, cst.If | cst.Try):
            yield from _top_level_imports(statement.body.body)
            if isinstance(statement, cst.Try):
                for handler in statement.handlers:
                    yield from _top_level_imports(handler.body.body)


def _from_import(node: cst.Import | cst.ImportFrom) -> dict[str, str]:
    found: dict[str, str] = {}
    if isinstance(node, cst.Import):
        for alias in node.names:
            name = alias.evaluated_name
            if alias.evaluated_alias:
                found[alias.evaluated_alias] = name
            else:
                head = name.split(".")[0]
                found[head] = head
        return found
    if node.relative or node.module is None or isinstance(node.names, cst.ImportStar):
        return found
    module = get_full_name_for_node(node.module)
    for alias in node.names:
        found[alias.evaluated_alias or alias.evaluated_name] = f"{module}.{alias.evaluated_name}"
    return found
