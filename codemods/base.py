"""What every optikit codemod shares: counting edits, noting what it would not touch, and
recognising pytest's names however a file imported them."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst
import libcst.matchers as m
from libcst.codemod import CodemodContext, VisitorBasedCodemodCommand
from libcst.codemod.visitors import AddImportsVisitor
from libcst.metadata import PositionProvider, QualifiedNameProvider

FIXTURE_DECORATORS = frozenset(
    {
        "pytest.fixture",
        "pytest.yield_fixture",
        "fixtures_lib.cached_fixture",
        "fixtures_lib.cached_fixture.cached_fixture",
    }
)


@dataclass(frozen=True)
class Note:
    """Something a codemod left alone, and why: shown to the user with file and line."""

    line: int | None
    message: str


class OptikitCodemod(VisitorBasedCodemodCommand):
    """A libcst codemod command that also reports its edits and refusals."""

    METADATA_DEPENDENCIES = (PositionProvider, QualifiedNameProvider)

    def __init__(self, context: CodemodContext) -> None:
        super().__init__(context)
        self.edits = 0
        self.notes: list[Note] = []

    def note(self, node: cst.CSTNode | None, message: str) -> None:
        """``node`` must be an original node (metadata knows nothing of updated ones)."""
        line = self.get_metadata(PositionProvider, node).start.line if node is not None else None
        self.notes.append(Note(line, message))

    def qualified_names(self, node: cst.CSTNode) -> set[str]:
        return {q.name for q in self.get_metadata(QualifiedNameProvider, node, set())}

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

    def mark_expression(self, module: cst.Module, mark: str) -> cst.BaseExpression:
        return cst.parse_expression(f"{self.pytest_name(module, 'mark')}.{mark}")

    def pytest_name(self, module: cst.Module, attribute: str) -> str:
        """``pytest.<attribute>`` spelled the way this file imports pytest.

        Uses ``import pytest as pt`` or ``from pytest import mark`` when the file has them;
        only otherwise is ``import pytest`` added.
        """
        spelled = pytest_attribute(module, attribute)
        if spelled is None:
            AddImportsVisitor.add_needed_import(self.context, "pytest")
            spelled = f"pytest.{attribute}"
        return spelled


def pytest_attribute(module: cst.Module, attribute: str) -> str | None:
    """How this file's top-level imports let it name ``pytest.<attribute>``, if they do."""
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    if alias.evaluated_name == "pytest":
                        return f"{alias.evaluated_alias or 'pytest'}.{attribute}"
            if (
                isinstance(small, cst.ImportFrom)
                and isinstance(small.module, cst.Name)
                and small.module.value == "pytest"
                and not isinstance(small.names, cst.ImportStar)
            ):
                for alias in small.names:
                    if alias.evaluated_name == attribute:
                        return alias.evaluated_alias or attribute
    return None


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
