"""replace-tmp: hard-coded ``/tmp`` paths in tests and fixtures become pytest's tmp dirs.

A test or function-scoped fixture gets a ``tmp_path`` parameter; a wider-scoped fixture gets
``tmp_path_factory`` and one ``tmp_dir = tmp_path_factory.mktemp(...)`` at the top of its
body. ``Path("/tmp/x")`` becomes ``tmp_path / "x"``; a string, f-string or
``os.path.join("/tmp", ...)`` becomes ``str(tmp_path / ...)``, since the code used it as a
string. What cannot be rewritten safely (module constants, decorators, default arguments,
helpers, ``unittest.TestCase`` methods, a name already taken) is reported with its line.
Text that merely mentions /tmp (docstrings, assert messages, prose) is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst
import libcst.matchers as m
from libcst.codemod import CodemodContext

from codemods.base import OptikitCodemod, fixture_scope, insert_at_top

WIDE_SCOPES = frozenset({"class", "module", "package", "session"})
PATH_CLASSES = frozenset(
    {"pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath", "pathlib.PurePosixPath"}
)


def mentions_tmp(source: bytes) -> bool:
    """The cheap pre-filter: only files containing ``/tmp`` are parsed."""
    return b"/tmp" in source


@dataclass
class _Function:
    """The test or fixture whose body we are in, and what its strings may become."""

    node: cst.FunctionDef
    kind: str  # "test", "fixture", "wide-fixture" or the reason it cannot be rewritten
    name: str  # the expression a /tmp path becomes
    replaced: int = 0


def _tmp_rest(value: str) -> str | None:
    """What follows ``/tmp`` in a path literal; ``None`` if this is not one (or is prose)."""
    if value != "/tmp" and not value.startswith("/tmp/"):
        return None
    if any(c.isspace() for c in value):
        return None
    return value[len("/tmp/") :]


class ReplaceTmp(OptikitCodemod):
    def __init__(self, context: CodemodContext) -> None:
        super().__init__(context)
        self.functions: list[_Function] = []
        self.classes: list[cst.ClassDef] = []
        self.blocked: list[str] = []  # decorator / default argument we are inside
        self.leave_alone: set[int] = set()  # docstrings and assert messages
        self.handled: set[int] = set()  # strings rewritten with their Path(...) or join(...)
        self.constants: dict[str, cst.CSTNode] = {}  # module-level names bound to /tmp paths

    def visit_Module(self, node: cst.Module) -> None:
        for statement in node.body:
            if not m.matches(statement, m.SimpleStatementLine([m.Assign()])):
                continue
            assign = cst.ensure_type(
                cst.ensure_type(statement, cst.SimpleStatementLine).body[0], cst.Assign
            )
            if "/tmp" in node.code_for_node(assign.value):
                for target in assign.targets:
                    if isinstance(target.target, cst.Name):
                        self.constants[target.target.value] = statement

    # -- where are we -----------------------------------------------------------------

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.append(node)

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        self.classes.pop()
        return updated_node

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if self.functions:  # a nested function closes over the enclosing test's tmp_path
            return
        kind = self._kind(node)
        name = "tmp_dir" if kind == "wide-fixture" else "tmp_path"
        params = {p.name.value for p in (*node.params.params, *node.params.kwonly_params)}
        if kind in {"test", "fixture", "wide-fixture"} and name not in params:
            taken = m.findall(node.body, m.Name(name)) or (
                kind == "wide-fixture"
                and "tmp_path_factory" not in params
                and m.findall(node.body, m.Name("tmp_path_factory"))
            )
            if taken:
                kind = f"{node.name.value} already uses the name {name} for something else"
            for constant, statement in self.constants.items():
                if m.findall(node.body, m.Name(constant)):
                    line = self.line_of(statement)
                    kind = (
                        f"{node.name.value} also uses {constant}, a module-level /tmp path "
                        f"(line {line}); make that a fixture, then run this again"
                    )
        self.functions.append(_Function(node, kind, name))

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        if not self.functions or self.functions[-1].node is not original_node:
            return updated_node
        function = self.functions.pop()
        if not function.replaced:
            return updated_node
        if function.kind == "wide-fixture":
            return self._with_mktemp(updated_node)
        return _with_param(updated_node, "tmp_path")

    def _kind(self, node: cst.FunctionDef) -> str:
        decorator = self.fixture_decorator(node)
        if decorator is not None:
            scope = fixture_scope(decorator.decorator)
            if scope is None:
                return f"fixture {node.name.value} has a scope not known until run time"
            return "wide-fixture" if scope in WIDE_SCOPES else "fixture"
        if not node.name.value.startswith("test"):
            return f"{node.name.value} is not a test or fixture (pass it a path instead)"
        if self.classes and self._is_testcase(self.classes[-1]):
            return (
                f"{node.name.value} is a unittest.TestCase method, which cannot take tmp_path "
                "(use tempfile.TemporaryDirectory in setUp)"
            )
        return "test"

    def _is_testcase(self, node: cst.ClassDef) -> bool:
        for base in node.bases:
            names = self.qualified_names(base.value)
            if "unittest.TestCase" in names or any(n.endswith("TestCase") for n in names):
                return True
        return False

    def visit_Decorator(self, node: cst.Decorator) -> None:
        self.blocked.append("in a decorator")

    def leave_Decorator(
        self, original_node: cst.Decorator, updated_node: cst.Decorator
    ) -> cst.Decorator:
        self.blocked.pop()
        return updated_node

    def visit_Param(self, node: cst.Param) -> None:
        self.blocked.append("in a default argument")

    def leave_Param(self, original_node: cst.Param, updated_node: cst.Param) -> cst.Param:
        self.blocked.pop()
        return updated_node

    def visit_Expr(self, node: cst.Expr) -> None:
        self.leave_alone.add(id(node.value))  # a docstring, or a string used as a comment

    def visit_Assert(self, node: cst.Assert) -> None:
        if node.msg is not None:
            self.leave_alone.add(id(node.msg))

    # -- the rewrites -----------------------------------------------------------------

    def _target(self, node: cst.CSTNode) -> _Function | None:
        """The function whose tmp dir this path may use; notes why not when there is none."""
        if id(node) in self.leave_alone:
            return None
        if self.blocked:
            self.note(node, f"/tmp path {self.blocked[-1]}: not rewritten")
            return None
        if not self.functions:
            self.note(
                node,
                "/tmp path outside any test or fixture: not rewritten (move it into a fixture)",
            )
            return None
        function = self.functions[0]
        if function.kind not in {"test", "fixture", "wide-fixture"}:
            self.note(node, f"/tmp path not rewritten: {function.kind}")
            return None
        return function

    def _replace(
        self, node: cst.CSTNode, tail: list[cst.BaseExpression], as_string: bool
    ) -> cst.BaseExpression | None:
        function = self._target(node)
        if function is None:
            return None
        function.replaced += 1
        self.edits += 1
        expression: cst.BaseExpression = cst.Name(function.name)
        for part in tail:
            expression = cst.BinaryOperation(expression, cst.Divide(), part)
        if as_string:
            return cst.Call(cst.Name("str"), [cst.Arg(expression)])
        return expression

    def leave_SimpleString(
        self, original_node: cst.SimpleString, updated_node: cst.SimpleString
    ) -> cst.BaseExpression:
        return self._literal(original_node, updated_node)

    def leave_FormattedString(
        self, original_node: cst.FormattedString, updated_node: cst.FormattedString
    ) -> cst.BaseExpression:
        return self._literal(original_node, updated_node)

    def _literal(
        self, original: cst.BaseExpression, updated: cst.BaseExpression
    ) -> cst.BaseExpression:
        if id(original) in self.handled:
            return updated
        tail = _path_tail(original)
        if tail is None:
            return updated
        return self._replace(original, tail, as_string=True) or updated

    def visit_Call(self, node: cst.Call) -> None:
        if self._path_call(node) or self._join_call(node):
            self.handled.add(id(node.args[0].value))

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        as_path = self._path_call(original_node)
        if not as_path and not self._join_call(original_node):
            return updated_node
        head = _path_tail(original_node.args[0].value)
        if head is None:
            return updated_node
        rest = [a.value for a in updated_node.args[1:]]
        return self._replace(original_node, [*head, *rest], as_string=not as_path) or updated_node

    def _path_call(self, node: cst.Call) -> bool:
        return _tmp_first_arg(node) and bool(self.qualified_names(node.func) & PATH_CLASSES)

    def _join_call(self, node: cst.Call) -> bool:
        return _tmp_first_arg(node) and "os.path.join" in self.qualified_names(node.func)

    def _with_mktemp(self, node: cst.FunctionDef) -> cst.FunctionDef:
        statement = cst.parse_statement(f'tmp_dir = tmp_path_factory.mktemp("{node.name.value}")')
        return insert_at_top(_with_param(node, "tmp_path_factory"), statement)


def _tmp_first_arg(node: cst.Call) -> bool:
    if not node.args or node.args[0].keyword is not None or node.args[0].star:
        return False
    return _path_tail(node.args[0].value) is not None


def _path_tail(node: cst.BaseExpression) -> list[cst.BaseExpression] | None:
    """What follows ``/tmp`` in a string or f-string path literal, as path parts; ``None``
    when the node is not such a literal."""
    if isinstance(node, cst.SimpleString):
        return _string_tail(node)
    if isinstance(node, cst.FormattedString):
        return _fstring_tail(node)
    return None


def _string_tail(node: cst.SimpleString) -> list[cst.BaseExpression] | None:
    value = node.evaluated_value
    if not isinstance(value, str) or (rest := _tmp_rest(value)) is None:
        return None
    if not rest:
        return []
    opening = len(node.prefix) + len(node.quote)
    raw = node.value
    return [node.with_changes(value=raw[:opening] + raw[raw.index("/tmp") + 5 :].lstrip("/"))]


def _fstring_tail(node: cst.FormattedString) -> list[cst.BaseExpression] | None:
    if not node.parts or not isinstance(node.parts[0], cst.FormattedStringText):
        return None
    text = node.parts[0].value
    if text != "/tmp" and not text.startswith("/tmp/"):
        return None
    if text == "/tmp" and len(node.parts) > 1:
        return None  # f"/tmp{suffix}" names a sibling of /tmp, not a path inside it
    if any(
        isinstance(p, cst.FormattedStringText) and any(c.isspace() for c in p.value)
        for p in node.parts
    ):
        return None
    rest = text[len("/tmp/") :]
    parts = ([cst.FormattedStringText(rest)] if rest else []) + list(node.parts[1:])
    return [node.with_changes(parts=parts)] if parts else []


def _with_param(node: cst.FunctionDef, name: str) -> cst.FunctionDef:
    params = node.params
    if any(p.name.value == name for p in (*params.params, *params.kwonly_params)):
        return node
    positional = list(params.params)
    at = next((i for i, p in enumerate(positional) if p.default is not None), len(positional))
    positional.insert(at, cst.Param(cst.Name(name)))
    if at < len(positional) - 1 or (params.star_arg != cst.MaybeSentinel.DEFAULT):
        positional[at] = positional[at].with_changes(
            comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        )
    if at and positional[at - 1].comma == cst.MaybeSentinel.DEFAULT:
        positional[at - 1] = positional[at - 1].with_changes(
            comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        )
    return node.with_changes(params=params.with_changes(params=positional))
