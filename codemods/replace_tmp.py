"""replace-tmp: hard-coded ``/tmp`` paths that a test writes become pytest's tmp dirs.

A ``/tmp`` literal is rewritten only when the test (or fixture) itself creates or writes that
path, or hands it to code and then reads it back: followed through one local name
(``path = "/tmp/x"``), into ``open(..., "w")``, ``Path.write_*``, ``mkdir``, ``os.makedirs``,
``shutil.*``, ``df.to_csv`` and the like. Everything else that names ``/tmp`` is left as it
is, and said why: an expected value in an assert, a name only passed on (a socket or mock
name that never touches the disk), a file only read (something else puts it there), a path
inside a command string, bytes, a ``file://`` URL, ``tempfile.gettempdir()``. A path that is
also named in another test, a fixture, a class attribute or a command string moves together
with those or not at all, so it is left too.

Where it rewrites, a test or function-scoped fixture gets a ``tmp_path`` parameter (a
wider-scoped fixture ``tmp_path_factory`` and one ``tmp_dir = tmp_path_factory.mktemp(...)``),
and the literal keeps its exact text after ``/tmp``: ``"/tmp/dir/"`` becomes
``f"{tmp_path}/dir/"``, ``Path("/tmp/x")`` becomes ``tmp_path / "x"`` (in parentheses where
an attribute follows). Never for a method of a ``unittest.TestCase`` (or of a class whose
bases cannot be seen), a hypothesis ``@given`` test (its examples would share one
directory), a module that defines its own ``tmp_path``, or a name already taken.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import cast

import libcst as cst
import libcst.matchers as m
from libcst.codemod import CodemodContext
from libcst.helpers import get_full_name_for_node

from codemods.base import (
    OptikitCodemod,
    all_params,
    fixture_scope,
    insert_at_top,
    with_param,
)

WIDE_SCOPES = frozenset({"class", "module", "package", "session"})
PATH_CLASSES = frozenset({"pathlib.Path", "pathlib.PosixPath"})
PURE_PATH_CLASSES = frozenset({"pathlib.PurePath", "pathlib.PurePosixPath"})
# Calls a path passes through and is still the same path (its first argument).
WRAPPERS = frozenset(
    {"str", "os.fspath", "os.path.join", "os.path.abspath", "os.path.normpath", "os.path.realpath"}
)
WRITERS = frozenset(
    {
        "os.makedirs", "os.mkdir", "os.remove", "os.unlink", "os.rmdir", "os.removedirs",
        "os.rename", "os.renames", "os.replace", "os.symlink", "os.link", "os.chmod",
        "os.mkfifo", "shutil.copy", "shutil.copy2", "shutil.copyfile", "shutil.copytree",
        "shutil.copyfileobj", "shutil.move", "shutil.rmtree", "shutil.make_archive",
        "shutil.unpack_archive", "sqlite3.connect", "numpy.save", "numpy.savez",
        "numpy.savez_compressed", "numpy.savetxt", "np.save", "np.savez", "np.savetxt",
        "np.savez_compressed",
    }
)  # fmt: skip
WRITING_METHODS = frozenset(
    {
        "write_text", "write_bytes", "mkdir", "touch", "unlink", "rmdir", "rename", "replace",
        "symlink_to", "hardlink_to", "to_csv", "to_excel", "to_parquet", "to_json",
        "to_pickle", "to_feather", "to_hdf", "to_stata", "to_html", "to_markdown", "to_xml",
        "savefig", "save", "write_csv", "write_parquet", "write_excel",
    }
)  # fmt: skip
READERS = frozenset(
    {
        "os.path.exists", "os.path.isfile", "os.path.isdir", "os.path.getsize",
        "os.path.getmtime", "os.path.lexists", "os.listdir", "os.stat", "os.scandir",
        "os.walk", "glob.glob", "filecmp.cmp", "numpy.load", "numpy.loadtxt", "np.load",
        "np.loadtxt",
    }
)  # fmt: skip
READING_METHODS = frozenset(
    {
        "read_text", "read_bytes", "exists", "is_file", "is_dir", "stat", "iterdir", "glob",
        "rglob", "lstat", "samefile",
    }
)  # fmt: skip
SOCKET_METHODS = frozenset({"bind", "connect", "connect_ex", "create_unix_server"})
SOCKET_CALLS = frozenset({"asyncio.open_unix_connection", "asyncio.start_unix_server"})
OPENERS = frozenset({"open", "io.open", "gzip.open", "bz2.open", "lzma.open", "codecs.open"})
MENTION = re.compile(r"(?<![\w./-])/tmp(?:/([^\s/'\"]+))?")


def mentions_tmp(source: bytes) -> bool:
    """The cheap pre-filter: only files naming ``/tmp`` or ``gettempdir`` are parsed."""
    return b"/tmp" in source or b"gettempdir" in source


def _tmp_rest(value: str) -> str | None:
    """What follows ``/tmp`` in a path literal; ``None`` if this is not one (or is prose)."""
    if value != "/tmp" and not value.startswith("/tmp/"):
        return None
    if any(c.isspace() for c in value):
        return None
    return value[len("/tmp/") :]


def _key(rest: str) -> str:
    """What two mentions of /tmp share when they name the same thing: the first segment."""
    return rest.split("/", 1)[0]


@dataclass
class _Function:
    """The top-level test or fixture we are in, and what its literals become."""

    node: cst.FunctionDef
    kind: str  # "test", "fixture", "wide-fixture" or the reason it cannot be rewritten
    name: str  # the expression a /tmp path becomes
    rewrite: set[int] = field(default_factory=set)  # ids of the literals to rewrite
    replaced: int = 0


@dataclass(frozen=True)
class _Candidate:
    piece: cst.SimpleString | cst.FormattedString  # the literal text that starts with /tmp
    unit: cst.BaseExpression  # the whole string (an implicit concatenation, or the piece)
    key: str


class ReplaceTmp(OptikitCodemod):
    def __init__(self, context: CodemodContext) -> None:
        super().__init__(context)
        self.functions: list[_Function] = []
        self.module_classes: dict[str, cst.ClassDef] = {}
        self.constants: dict[str, cst.CSTNode] = {}  # module-level names bound to /tmp paths
        self.mentions: dict[str, list[tuple[cst.FunctionDef | None, cst.CSTNode]]] = {}
        self.own_tmp_path: cst.CSTNode | None = None  # a tmp_path this module defines
        self.made: set[int] = set()  # the (tmp_path / "x") nodes this codemod made
        self.plans: dict[int, _Function] = {}  # id of each test and fixture -> what to do

    def visit_Module(self, node: cst.Module) -> None:
        for statement in node.body:
            if isinstance(statement, cst.ClassDef):
                self.module_classes[statement.name.value] = statement
            elif isinstance(statement, cst.FunctionDef) and statement.name.value == "tmp_path":
                self.own_tmp_path = statement
            if not m.matches(statement, m.SimpleStatementLine([m.Assign()])):
                continue
            assign = cst.ensure_type(
                cst.ensure_type(statement, cst.SimpleStatementLine).body[0], cst.Assign
            )
            if "/tmp" in node.code_for_node(assign.value):
                for target in assign.targets:
                    if isinstance(target.target, cst.Name):
                        self.constants[target.target.value] = statement
        prose = _prose(node)
        for owner, string in _strings(node, None):
            if id(string) in prose:
                continue
            for key in _mentioned_keys(string):
                self.mentions.setdefault(key, []).append((owner, string))
            if owner is None and _tmp_rest_of(string) is not None:
                self.note(
                    string,
                    "/tmp path outside any test or fixture: not rewritten (move it into a fixture)",
                )
        self._plan(node)

    # -- where are we -----------------------------------------------------------------

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if not self.functions:  # a nested function closes over the enclosing test's tmp_path
            self.functions.append(self.plans.get(id(node)) or _Function(node, "-", "tmp_path"))

    def _plan(self, module: cst.Module) -> None:
        """Decide every literal of every test and fixture before rewriting any: whether a
        path moves depends on the other functions that name it."""
        groups: dict[int, dict[str, list[_Candidate]]] = {}
        reasons: dict[tuple[int, str], str | None] = {}
        for node, classes in _top_functions(module, ()):
            kind = self._kind(node, classes)
            name = "tmp_dir" if kind == "wide-fixture" else "tmp_path"
            function = self.plans[id(node)] = _Function(node, kind, name)
            for where, part in (
                ("a decorator", node.decorators),
                ("a default argument", node.params),
            ):
                for found in _candidates(part):
                    self.note(found.unit, f"/tmp path in {where}: not rewritten")
            candidates = list(_candidates(node.body))
            if candidates and kind in {"test", "fixture", "wide-fixture"}:
                function.kind = self._name_problem(node, name) or kind
            if function.kind not in {"test", "fixture", "wide-fixture"}:
                for candidate in candidates:
                    self.note(candidate.unit, f"/tmp path not rewritten: {function.kind}")
                continue
            flow = _Flow(self, node)
            mine = groups[id(node)] = {}
            for number, candidate in enumerate(candidates):  # one path, one decision
                mine.setdefault(candidate.key or f"/tmp#{number}", []).append(candidate)
            for key, group in mine.items():
                uses = {use for candidate in group for use in flow.uses(candidate.unit)}
                reasons[id(node), key] = _reason_to_leave(uses)
        for node_id, mine in groups.items():
            function = self.plans[node_id]
            for key, group in mine.items():
                reason = reasons[node_id, key] or self._shared(group, function, reasons)
                for candidate in group:
                    if reason:
                        self.note(candidate.unit, f"/tmp path left alone: {reason}")
                    else:
                        function.rewrite.add(id(candidate.piece))
        for function in self.plans.values():
            for mention in _other_mentions(function.node, self):
                self.note(mention, f"left alone: {_other_reason(mention)}")

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
        return with_param(updated_node, "tmp_path")

    def _kind(self, node: cst.FunctionDef, classes: tuple[cst.ClassDef, ...]) -> str:
        name = node.name.value
        decorator = self.fixture_decorator(node)
        if decorator is not None:
            scope = fixture_scope(decorator.decorator)
            if scope is None:
                return f"fixture {name} has a scope not known until run time"
            return "wide-fixture" if scope in WIDE_SCOPES else "fixture"
        if not name.startswith("test"):
            return f"{name} is not a test or fixture (pass it a path instead)"
        if any("hypothesis.given" in self.called_or_named(d.decorator) for d in node.decorators):
            return (
                f"{name} is a hypothesis test: its examples would share one tmp_path "
                "(use tmp_path_factory.mktemp() inside it)"
            )
        for cls in classes:
            problem = self._base_problem(cls, set())
            if problem:
                return f"{name} is a method of {cls.name.value}, {problem}"
        return "test"

    def _base_problem(self, node: cst.ClassDef, seen: set[str]) -> str | None:
        """Why a method of this class cannot take a fixture: a ``unittest.TestCase``
        descendant (resolved through the module's classes), or a base defined elsewhere."""
        seen.add(node.name.value)
        for base in node.bases:
            if base.keyword is not None:
                continue
            names = self.qualified_names(base.value)
            if "unittest.TestCase" in names or any(n.endswith("TestCase") for n in names):
                return (
                    "a unittest.TestCase, whose methods cannot take tmp_path "
                    "(use tempfile.TemporaryDirectory in setUp)"
                )
            local = self.module_classes.get(get_name(base.value))
            if local is not None and local.name.value not in seen:
                problem = self._base_problem(local, seen)
                if problem:
                    return problem
            elif local is None and names != {"object"}:
                return (
                    f"which derives from {get_name(base.value)} (defined elsewhere; "
                    "if that is a unittest.TestCase its methods cannot take tmp_path)"
                )
        return None

    def _name_problem(self, node: cst.FunctionDef, name: str) -> str | None:
        if self.own_tmp_path is not None:
            return f"this module defines its own tmp_path (line {self.line_of(self.own_tmp_path)})"
        params = {p.name.value for p in all_params(node)}
        if name in params and name != "tmp_path":
            return f"{node.name.value} already takes a parameter named {name}"
        if name not in params and m.findall(node.body, m.Name(name)):
            return f"{node.name.value} already uses the name {name} for something else"
        factory = m.findall(node.body, m.Name("tmp_path_factory"))
        if name == "tmp_dir" and "tmp_path_factory" not in params and factory:
            return f"{node.name.value} already uses the name tmp_path_factory"
        for constant, statement in self.constants.items():
            if m.findall(node.body, m.Name(constant)):
                return (
                    f"{node.name.value} also uses {constant}, a module-level /tmp path "
                    f"(line {self.line_of(statement)}); make that a fixture, then run this again"
                )
        return None

    def _shared(
        self,
        group: list[_Candidate],
        function: _Function,
        reasons: dict[tuple[int, str], str | None],
    ) -> str | None:
        """A path also named elsewhere moves with those or not at all: left alone when a
        fixture, a class attribute, a module constant, a command string, or a test that
        will not be rewritten names it too. Two tests that each write it both move."""
        key = group[0].key
        if not key:
            return None
        strings = m.SimpleString() | m.FormattedString()
        ours = {id(n) for c in group for n in m.findall(c.unit, strings)}
        for owner, string in self.mentions.get(key, []):
            if id(string) in ours:
                continue
            other = self.plans.get(id(owner)) if owner is not None else None
            if (
                owner is None
                or owner is function.node
                or other is None
                or other.kind != "test"
                or reasons.get((id(owner), key), "-") is not None
            ):
                where = "outside any function" if owner is None else f"in {owner.name.value}"
                return (
                    f"/tmp/{key} is also named on line {self.line_of(string)} "
                    f"({where}): rewrite those together by hand"
                )
        return None

    def _with_mktemp(self, node: cst.FunctionDef) -> cst.FunctionDef:
        statement = cst.parse_statement(f'tmp_dir = tmp_path_factory.mktemp("{node.name.value}")')
        return insert_at_top(with_param(node, "tmp_path_factory"), statement)

    # -- the rewrites -----------------------------------------------------------------

    def _approved(self, node: cst.CSTNode) -> _Function | None:
        if self.functions and id(node) in self.functions[0].rewrite:
            return self.functions[0]
        return None

    def leave_SimpleString(
        self, original_node: cst.SimpleString, updated_node: cst.SimpleString
    ) -> cst.BaseExpression:
        function = self._approved(original_node)
        if function is None:
            return updated_node
        self._count(function)
        if original_node.evaluated_value == "/tmp":
            return cst.Call(cst.Name("str"), [cst.Arg(cst.Name(function.name))])
        prefix = original_node.prefix.lower().replace("u", "")
        quote = original_node.quote
        raw_rest = original_node.raw_value[len("/tmp") :]
        escaped = raw_rest.replace("{", "{{").replace("}", "}}")
        return cst.parse_expression(f"{prefix}f{quote}{{{function.name}}}{escaped}{quote}")

    def leave_FormattedString(
        self, original_node: cst.FormattedString, updated_node: cst.FormattedString
    ) -> cst.BaseExpression:
        function = self._approved(original_node)
        if function is None:
            return updated_node
        self._count(function)
        first = cst.ensure_type(updated_node.parts[0], cst.FormattedStringText)
        head = cst.FormattedStringExpression(cst.Name(function.name))
        after = first.value[len("/tmp") :]
        parts = [head, *([first.with_changes(value=after)] if after else [])]
        return updated_node.with_changes(parts=[*parts, *updated_node.parts[1:]])

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        """``Path(f"{tmp_path}/x")`` (as the string rewrite left it) reads as ``tmp_path / "x"``."""
        if not self.functions or not self.functions[0].replaced or len(updated_node.args) != 1:
            return updated_node
        if not self.qualified_names(original_node.func) & PATH_CLASSES:
            return updated_node
        arg = updated_node.args[0].value
        name = self.functions[0].name
        if m.matches(arg, m.Call(func=m.Name("str"), args=[m.Arg(m.Name(name))])):
            return cst.Name(name)
        if not (
            isinstance(arg, cst.FormattedString)
            and not arg.prefix.lower().count("r")
            and len(arg.parts) == 2
            and m.matches(arg.parts[0], m.FormattedStringExpression(m.Name(name)))
            and isinstance(arg.parts[1], cst.FormattedStringText)
            and arg.parts[1].value.startswith("/")
            and not arg.parts[1].value.endswith("/")
            and "\\" not in arg.parts[1].value
        ):
            return updated_node
        text = cst.ensure_type(arg.parts[1], cst.FormattedStringText).value[1:]
        text = text.replace("{{", "{").replace("}}", "}")
        quote = arg.quote
        made = cst.BinaryOperation(
            cst.Name(name),
            cst.Divide(),
            cst.SimpleString(f"{quote}{text}{quote}"),
            lpar=[cst.LeftParen()],
            rpar=[cst.RightParen()],
        )
        self.made.add(id(made))
        return made

    def leave_BinaryOperation(
        self, original_node: cst.BinaryOperation, updated_node: cst.BinaryOperation
    ) -> cst.BaseExpression:
        if isinstance(updated_node.operator, cst.Divide) and id(updated_node.left) in self.made:
            return updated_node.with_changes(left=updated_node.left.with_changes(lpar=[], rpar=[]))
        return updated_node

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg:
        return updated_node.with_changes(value=self._unwrap(updated_node.value))

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        return updated_node.with_changes(value=self._unwrap(updated_node.value))

    def leave_Return(self, original_node: cst.Return, updated_node: cst.Return) -> cst.Return:
        if updated_node.value is None:
            return updated_node
        return updated_node.with_changes(value=self._unwrap(updated_node.value))

    def _unwrap(self, node: cst.BaseExpression) -> cst.BaseExpression:
        """Drop the parentheses ``leave_Call`` put around ``tmp_path / "x"`` where nothing
        binds tighter: as an argument, an assigned or returned value."""
        return node.with_changes(lpar=[], rpar=[]) if id(node) in self.made else node

    def _count(self, function: _Function) -> None:
        function.replaced += 1
        self.edits += 1


def get_name(node: cst.BaseExpression) -> str:
    return get_full_name_for_node(node) or "?"


class _Flow:
    """Where each /tmp path of one function goes: written, read, compared, passed on."""

    def __init__(self, codemod: ReplaceTmp, function: cst.FunctionDef) -> None:
        self.codemod = codemod
        self.function = function
        self.parents: dict[int, cst.CSTNode] = {}
        stack: list[cst.CSTNode] = [function]
        while stack:
            node = stack.pop()
            for child in node.children:
                self.parents[id(child)] = node
                stack.append(child)

    def uses(self, unit: cst.BaseExpression, depth: int = 0) -> set[tuple[str, str]]:
        """How the path is used: ("write"|"read"|"passed"|"expected"|..., what), followed
        through local names it is assigned to (three deep)."""
        path = self._climb(unit)
        parent = self.parents.get(id(path))
        alias = _assigned_name(parent, path)
        if alias is None:
            if isinstance(parent, cst.Assign):
                return {("stored", "")}
            return {self._use(path, direct=depth == 0)}
        if depth == 3:
            return {("other", "")}
        found: set[tuple[str, str]] = set()
        for use in self._uses(alias, parent):
            found |= self.uses(use, depth + 1)
        return found

    def _climb(self, node: cst.BaseExpression) -> cst.BaseExpression:
        """Up through what keeps it the same path: Path(...), str(...), os.path.join(...),
        ``+``/``/`` on its right, ``.joinpath(...)``, an implicit concatenation."""
        while True:
            parent = self.parents.get(id(node))
            if isinstance(parent, cst.Arg):
                call = self.parents.get(id(parent))
                if not (
                    isinstance(call, cst.Call)
                    and call.args
                    and call.args[0] is parent
                    and self.codemod.qualified_names(call.func)
                    & (WRAPPERS | PATH_CLASSES | PURE_PATH_CLASSES)
                ):
                    return node
                node = call
            elif isinstance(parent, cst.BinaryOperation) and parent.left is node:
                if not isinstance(parent.operator, cst.Add | cst.Divide):
                    return node
                node = parent
            elif (
                isinstance(parent, cst.Attribute)
                and parent.attr.value == "joinpath"
                and isinstance(call := self.parents.get(id(parent)), cst.Call)
            ):
                node = call
            elif isinstance(parent, cst.ConcatenatedString):
                node = parent
            else:
                return node

    def _uses(self, name: str, assignment: cst.CSTNode | None) -> Iterator[cst.Name]:
        for found in m.findall(self.function.body, m.Name(name)):
            node = cst.ensure_type(found, cst.Name)
            parent = self.parents.get(id(node))
            if isinstance(parent, cst.AssignTarget) or parent is assignment:
                continue
            yield node

    def _use(self, path: cst.BaseExpression, direct: bool) -> tuple[str, str]:
        parent = self.parents.get(id(path))
        if isinstance(parent, cst.Attribute) and parent.value is path:
            call = self.parents.get(id(parent))
            method = parent.attr.value
            if isinstance(call, cst.Call) and call.func is parent:
                if method == "open":
                    return (_open_mode(call, 0), method)
                if method in WRITING_METHODS:
                    return ("write", method)
                if method in READING_METHODS:
                    return ("read", method)
            return ("other", method)
        if isinstance(parent, cst.Arg):
            call = self.parents.get(id(parent))
            if isinstance(call, cst.Call):
                return self._argument_use(call, parent)
        if isinstance(parent, cst.Return | cst.Yield) and self.codemod.fixture_decorator(
            self.function
        ):
            return ("handed out", "")
        if direct and self._compared_in_assert(path):
            return ("expected", "")
        if isinstance(parent, cst.Comparison | cst.ComparisonTarget):
            return ("expected", "")
        return ("other", "")

    def _argument_use(self, call: cst.Call, arg: cst.Arg) -> tuple[str, str]:
        names = self.codemod.qualified_names(call.func)
        method = call.func.attr.value if isinstance(call.func, cst.Attribute) else ""
        first = bool(call.args) and call.args[0] is arg
        if method in SOCKET_METHODS or names & SOCKET_CALLS:
            return ("socket", method or get_name(call.func))
        if names & OPENERS or (method == "open" and first):
            return (_open_mode(call, 1) if first else "other", "open")
        if names & WRITERS or (first and method in WRITING_METHODS):
            return ("write", method)
        if names & READERS or (method.startswith("read_") and first):
            return ("read", method)
        if any(n.startswith(("zipfile.ZipFile", "tarfile.open")) for n in names):
            return (_open_mode(call, 1), "archive")
        return ("passed", f"{get_name(call.func)}()")

    def _compared_in_assert(self, node: cst.CSTNode) -> bool:
        parent = self.parents.get(id(node))
        while parent is not None and not isinstance(parent, cst.BaseStatement):
            if isinstance(parent, cst.Comparison | cst.ComparisonTarget):
                return True
            parent = self.parents.get(id(parent))
        return False


def _reason_to_leave(uses: set[tuple[str, str]]) -> str | None:
    """``None`` when the test writes the path (or hands it to code and reads it back)."""
    kinds = {how for how, _ in uses}
    if "expected" in kinds:
        return "compared in an assert: an expected value, not a place the test writes"
    if "socket" in kinds:
        return (
            "a socket address: a UNIX socket path must fit in 108 bytes, "
            "which a tmp_path may not (use a short tempfile.mkdtemp() dir)"
        )
    if "stored" in kinds:
        return "stored on an object: other code may use it"
    if kinds & {"write", "handed out"} or {"passed", "read"} <= kinds:
        return None
    if "read" in kinds:
        return "only read here: something outside the test puts it there"
    passed = sorted({what for how, what in uses if how == "passed"})
    if passed:
        return (
            f"only passed to {', '.join(passed)}: nothing shows it touches the disk "
            "(a socket or mock name?)"
        )
    return "not written or read as a file here"


def _open_mode(call: cst.Call, position: int) -> str:
    """ "write" or "read" from an ``open``-like call's mode (positional or ``mode=``)."""
    mode: cst.BaseExpression | None = None
    for index, arg in enumerate(call.args):
        if (arg.keyword is None and index == position and not arg.star) or (
            arg.keyword is not None and arg.keyword.value == "mode"
        ):
            mode = arg.value
    if mode is None:
        return "read"
    if isinstance(mode, cst.SimpleString) and isinstance(mode.evaluated_value, str):
        return "write" if set(mode.evaluated_value) & set("wax+") else "read"
    return "write"  # a computed mode: assume it may write


def _assigned_name(parent: cst.CSTNode | None, value: cst.CSTNode) -> str | None:
    if isinstance(parent, cst.Assign) and parent.value is value and len(parent.targets) == 1:
        target = parent.targets[0].target
        if isinstance(target, cst.Name):
            return target.value
    if isinstance(parent, cst.AnnAssign) and parent.value is value:
        return parent.target.value if isinstance(parent.target, cst.Name) else None
    return None


def _first_piece(node: cst.BaseExpression) -> cst.BaseExpression:
    while isinstance(node, cst.ConcatenatedString):
        node = node.left
    return node


def _prose(node: cst.CSTNode) -> set[int]:
    """Docstrings and strings used as comments, assert messages: prose, never paths."""
    skipped: set[int] = set()
    for found in m.findall(node, m.Expr() | m.Assert()):
        if isinstance(found, cst.Expr):
            skipped.add(id(found.value))
        elif isinstance(found, cst.Assert) and found.msg is not None:
            skipped.add(id(found.msg))
    return skipped


def _candidates(node: cst.CSTNode | Sequence[cst.CSTNode]) -> Iterator[_Candidate]:
    """The /tmp path literals under ``node``: whole strings, an implicit concatenation
    as one (its first piece is what gets rewritten)."""
    nodes = [node] if isinstance(node, cst.CSTNode) else list(node)
    for root in nodes:
        prose = _prose(root)
        strings = m.SimpleString() | m.FormattedString() | m.ConcatenatedString()
        inner: set[int] = set()
        for found in m.findall(root, m.ConcatenatedString()):
            inner |= {id(n) for n in m.findall(found, strings) if n is not found}
        for found in m.findall(root, strings):
            unit = cast(cst.BaseExpression, found)
            if id(unit) in prose or id(unit) in inner:
                continue
            piece = _first_piece(unit)
            rest = _tmp_rest_of(piece)
            if rest is None or not isinstance(piece, cst.SimpleString | cst.FormattedString):
                continue
            if isinstance(piece, cst.SimpleString) and not piece.raw_value.startswith("/tmp"):
                continue  # spelled with escapes: leave it to a person
            yield _Candidate(piece, unit, _key(rest))


def _tmp_rest_of(node: cst.CSTNode) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return _tmp_rest(value) if isinstance(value, str) else None
    if isinstance(node, cst.FormattedString):
        if not node.parts or not isinstance(node.parts[0], cst.FormattedStringText):
            return None
        text = node.parts[0].value
        if text == "/tmp" and len(node.parts) > 1:
            return None  # f"/tmp{suffix}" names a sibling of /tmp, not a path inside it
        texts = [p.value for p in node.parts if isinstance(p, cst.FormattedStringText)]
        if any(c.isspace() for t in texts for c in t):
            return None
        return _tmp_rest(text)
    if isinstance(node, cst.ConcatenatedString):
        return _tmp_rest_of(_first_piece(node))
    return None


def _text_of(node: cst.CSTNode) -> str:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else value.decode("latin-1")
    if isinstance(node, cst.FormattedString):
        return "".join(p.value for p in node.parts if isinstance(p, cst.FormattedStringText))
    return ""


def _mentioned_keys(node: cst.CSTNode) -> set[str]:
    return {match.group(1) or "" for match in MENTION.finditer(_text_of(node))}


def _strings(
    node: cst.CSTNode, owner: cst.FunctionDef | None
) -> Iterator[tuple[cst.FunctionDef | None, cst.CSTNode]]:
    """Every string of the module with the top-level test or fixture it is in."""
    for child in node.children:
        if isinstance(child, cst.FunctionDef) and owner is None:
            yield from _strings(child, child)
        elif isinstance(child, cst.SimpleString | cst.FormattedString):
            yield owner, child
        else:
            yield from _strings(child, owner)


def _top_functions(
    node: cst.CSTNode, classes: tuple[cst.ClassDef, ...]
) -> Iterator[tuple[cst.FunctionDef, tuple[cst.ClassDef, ...]]]:
    """Module-level functions and methods (not functions nested in them), with their
    enclosing classes."""
    for child in node.children:
        if isinstance(child, cst.FunctionDef):
            yield child, classes
        elif isinstance(child, cst.ClassDef):
            yield from _top_functions(child, (*classes, child))
        else:
            yield from _top_functions(child, classes)


def _other_mentions(function: cst.FunctionDef, codemod: ReplaceTmp) -> Iterator[cst.CSTNode]:
    """What names /tmp in a way no rewrite can follow: bytes, ``file://`` URLs,
    ``tempfile.gettempdir()``."""
    skipped = _prose(function)
    for found in m.findall(function.body, m.SimpleString() | m.Call()):
        if isinstance(found, cst.Call):
            if "tempfile.gettempdir" in codemod.qualified_names(found.func):
                yield found
        elif id(found) not in skipped and isinstance(found, cst.SimpleString):
            value = found.evaluated_value
            text = value.decode("latin-1") if isinstance(value, bytes) else ""
            if _tmp_rest(text) is not None or str(value).startswith("file:///tmp"):
                yield found


def _other_reason(node: cst.CSTNode) -> str:
    if isinstance(node, cst.Call):
        return "tempfile.gettempdir() is the shared temp dir (use tmp_path)"
    if isinstance(node, cst.SimpleString) and isinstance(node.evaluated_value, bytes):
        return "a /tmp path in bytes (rewrite it by hand as bytes(tmp_path / ...))"
    return "a file:///tmp URL (use tmp_path.as_uri())"
