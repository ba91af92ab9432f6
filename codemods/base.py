"""What every optikit codemod shares: counting edits, noting what it would not touch, and
recognising pytest's names however a file imported them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import libcst as cst
import libcst.matchers as m
from libcst._nodes.internal import CodegenState
from libcst.codemod import CodemodContext, VisitorBasedCodemodCommand
from libcst.helpers import get_full_name_for_node
from libcst.metadata import MetadataWrapper

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
    ever reached through imports. Line numbers are computed only for the nodes that get a
    note, all at once when the file is done (``_LineFinder``), not with ``PositionProvider``.
    """

    METADATA_DEPENDENCIES = ()

    def __init__(self, context: CodemodContext) -> None:
        super().__init__(context)
        self.edits = 0
        self.notes: list[Note] = []
        self.imported: dict[str, str] = {}  # local name -> what it was imported as
        self.top_level: dict[str, str] = {}  # the same, for the module's own imports only
        self._lines: dict[cst.CSTNode, int] = {}
        self._pending: list[tuple[cst.CSTNode, str]] = []  # notes whose line is not known yet
        self._needs_pytest = False

    def transform_module(self, tree: cst.Module) -> cst.Module:
        """libcst's own entry point, minus the defensive deep copy of a tree parsed just
        for this call (a third of the cost on a large file)."""
        wrapper = MetadataWrapper(tree, unsafe_skip_copy=True)
        self.top_level = imported_names(tree)
        self.imported = dict(self.top_level)
        with self.resolve(wrapper):
            self.context = replace(self.context, wrapper=wrapper)
            tree = self.transform_module_impl(wrapper.module)
        if self._pending:
            self._find_lines([node for node, _ in self._pending])
            self.notes += [Note(self._lines.get(node), message) for node, message in self._pending]
            self._pending = []
        if self._needs_pytest:
            tree = with_import_pytest(tree)
        return tree

    def visit_Import(self, node: cst.Import) -> None:
        self.imported.update(_from_import(node))

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        self.imported.update(_from_import(node))

    def line_of(self, node: cst.CSTNode) -> int | None:
        """``node`` must be an original node (the updated tree has other lines)."""
        if node not in self._lines:
            self._find_lines([node, *(n for n, _ in self._pending)])
        return self._lines.get(node)

    def note(self, node: cst.CSTNode | None, message: str) -> None:
        """Its line is found with the others' when the file is done: one pass for all."""
        if node is None:
            self.notes.append(Note(None, message))
        elif node in self._lines:
            self.notes.append(Note(self._lines[node], message))
        else:
            self._pending.append((node, message))

    def _find_lines(self, nodes: list[cst.CSTNode]) -> None:
        if self.context.wrapper is not None:
            self._lines |= _LineFinder.lines(self.context.wrapper.module, set(nodes))

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
        self._needs_pytest = True
        return f"pytest.{attribute}"


class _LineFinder(CodegenState):
    """libcst's code generation, counting lines and noting them for a few nodes only.

    ``PositionProvider`` records a range for every node of the file (several times a parse);
    this records a start line for the wanted ones, where ``PositionProvider`` would put it
    (the syntactic start: a function's ``def`` line, not its decorators')."""

    def __init__(self, wanted: set[cst.CSTNode], module: cst.Module) -> None:
        super().__init__(
            default_indent=module.default_indent, default_newline=module.default_newline
        )
        self.line = 1
        self.wanted = wanted
        self.found: dict[cst.CSTNode, int] = {}

    @classmethod
    def lines(cls, module: cst.Module, wanted: set[cst.CSTNode]) -> dict[cst.CSTNode, int]:
        state = cls(wanted, module)
        module._codegen(state)
        return state.found

    def add_token(self, value: str) -> None:
        self.tokens.append(value)
        self.line += value.count("\n")

    def pop_trailing_newline(self) -> None:
        if self.tokens:
            self.line -= self.tokens.pop().count("\n")

    def before_codegen(self, node: cst.CSTNode) -> None:
        if node in self.wanted:
            self.found[node] = self.line

    @contextmanager
    def record_syntactic_position(
        self,
        node: cst.CSTNode,
        *,
        start_node: cst.CSTNode | None = None,
        end_node: cst.CSTNode | None = None,
    ) -> Iterator[None]:
        wanted = node in self.wanted
        if wanted:
            self.found[node] = self.line
            if start_node is not None:
                self.wanted.add(start_node)
        yield
        if wanted and start_node is not None and start_node in self.found:
            self.found[node] = self.found[start_node]


def with_import_pytest(module: cst.Module) -> cst.Module:
    """``import pytest`` after the imports at the top of the module (after its docstring and
    ``from __future__`` imports when it has no others), where libcst's ``AddImportsVisitor``
    puts it, without that visitor's metadata passes (most of a large file's cost)."""
    body = list(module.body)
    at = 0
    if body and m.matches(body[0], m.SimpleStatementLine([m.Expr(m.SimpleString())])):
        at = 1
    while at < len(body) and m.matches(
        body[at], m.SimpleStatementLine([m.Import() | m.ImportFrom()])
    ):
        at += 1
    statement = cst.SimpleStatementLine([cst.Import([cst.ImportAlias(cst.Name("pytest"))])])
    if at < len(body) and not body[at].leading_lines:
        body[at] = body[at].with_changes(leading_lines=[cst.EmptyLine()])
    body.insert(at, statement)
    return module.with_changes(body=body)


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


def all_params(node: cst.FunctionDef) -> list[cst.Param]:
    params = node.params
    return [*params.posonly_params, *params.params, *params.kwonly_params]


def with_param(node: cst.FunctionDef, name: str) -> cst.FunctionDef:
    """``name`` as the first parameter (after ``self``/``cls``): pytest does not mind the
    order, and a hypothesis strategy or a default never shifts onto it."""
    params = node.params
    if any(p.name.value == name for p in all_params(node)):
        return node
    positional = list(params.params)
    at = 1 if positional and positional[0].name.value in ("self", "cls") else 0
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    has_more = len(positional) > at or params.star_arg != cst.MaybeSentinel.DEFAULT
    has_more = has_more or bool(params.kwonly_params)
    added = cst.Param(cst.Name(name), comma=comma if has_more else cst.MaybeSentinel.DEFAULT)
    if at and positional[0].comma == cst.MaybeSentinel.DEFAULT:
        positional[0] = positional[0].with_changes(comma=comma)
    positional.insert(at, added)
    return node.with_changes(params=params.with_changes(params=positional))
