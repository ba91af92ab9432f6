"""fix-pollution: the polluters an audit found put back what they leave behind.

For each order-dependent victim, each polluter's evidence in the audit report (``leaves``)
says what it changed and did not restore: module values, environment variables, the
working directory. The smallest fix that restores it, where a reviewer looks for it:

- the change is a statement of the test's own body: the ``monkeypatch`` call that undoes
  itself after the test (``os.environ[k] = v`` -> ``monkeypatch.setenv(k, v)``,
  ``os.chdir(p)`` -> ``monkeypatch.chdir(p)``, ``NAME[k] = v`` -> ``monkeypatch.setitem``,
  ``module.NAME = v`` -> ``monkeypatch.setattr``, ``del os.environ[k]`` ->
  ``monkeypatch.delenv``);
- otherwise (a helper made the change, or ``NAME.append(x)``): a fixture that saves the
  value before the test and puts it back after, which the polluter requests with
  ``@pytest.mark.usefixtures``. It is defined in the test's own module for that module's
  globals, else in the ``conftest.py`` of the test's directory, where the other tests that
  change the same value can request it too.

Only the polluter changes, never the victim: the victim was right to expect a clean state.
What cannot be put back by value (a file outside tmp dirs, the logging configuration, a
polluter the audit saw leave nothing) is left, with why.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import libcst as cst
import libcst.matchers as m
from libcst.codemod import CodemodContext
from libcst.helpers import get_full_name_for_node

from codemods.base import OptikitCodemod, with_param
from codemods.nodeids import TestId, parse_nodeid

IN_PLACE = {"dict": "dict", "OrderedDict": "dict", "defaultdict": "dict", "Counter": "dict"}
IN_PLACE |= {"list": "list", "set": "set"}
"""Types put back in place, so every reference to the object sees the restored contents."""

CONFTEST = "conftest.py"


@dataclass(frozen=True)
class Leak:
    """One thing a polluter leaves changed: a module value, an environment variable or the
    working directory (``kind`` "state", "env", "cwd")."""

    kind: str
    name: str = ""  # "clinic.units.UNIT_ALIASES", "APP_MODE"; "" for the working directory
    module: str = ""
    file: str = ""  # the module's file, relative to the project root
    type: str = ""
    provide: str | None = None  # Python source of the value a brittle test needs first
    aliases: tuple[str, ...] = ()  # other names of the same object (``core.APP.config``)

    @property
    def names(self) -> frozenset[str]:
        return frozenset((self.name, *self.aliases))

    @property
    def attribute(self) -> str:
        return self.name.rpartition(".")[2]

    @property
    def local(self) -> str:
        """Its name inside its module: ``SETTINGS``, ``app.config``."""
        return self.name.removeprefix(f"{self.module}.")

    @property
    def local_root(self) -> str:
        return self.local.partition(".")[0]

    def describe(self) -> str:
        if self.kind == "env":
            return f"environment variable {self.name}"
        return "the working directory" if self.kind == "cwd" else self.name

    def fixture_name(self) -> str:
        verb = "restore" if self.provide is None else "provide"
        if self.kind == "cwd":
            return f"{verb}_working_directory"
        if self.kind == "env":
            return _identifier(f"{verb}_env_{self.name}")
        module = self.module.rpartition(".")[2]
        return _identifier(f"{verb}_{module}_{self.local}")


@dataclass(frozen=True)
class PolluterFix:
    """What one polluter leaves, and the victims that fail after it; or (``leaks`` that
    ``provide`` values) what a brittle test needs set first, which it then gets from fixtures:
    it is then its own victim."""

    nodeid: str
    test: TestId
    leaks: tuple[Leak, ...]
    victims: tuple[str, ...]

    @property
    def brittle(self) -> bool:
        return any(leak.provide is not None for leak in self.leaks)

    @property
    def path(self) -> str:
        return self.test.path

    def path_in(self, root: Path) -> Path:
        return (root / self.path).resolve()


@dataclass
class PollutionPlan:
    fixes: list[PolluterFix] = field(default_factory=list)
    left: list[tuple[str, str]] = field(default_factory=list)  # (node id, why)


def plan_fixes(audit: Mapping[str, Any], root: Path) -> PollutionPlan:
    """Each polluter of an order-dependent victim, with what it leaves that can be put back
    by value; the rest is left with why."""
    tests: Mapping[str, Any] = audit["tests"]
    victims: dict[str, list[str]] = {}
    plan = PollutionPlan()
    for nodeid, finding in sorted(tests.items()):
        if finding["classification"] != "order_dependent":
            continue
        for polluter in finding["polluters"]:
            victims.setdefault(polluter, []).append(nodeid)
        if finding["state_setters"] and not finding["polluters"]:
            _brittle(nodeid, finding["state_setters"], tests, root, plan)
    for polluter, hurt in sorted(victims.items()):
        test = parse_nodeid(polluter)
        leaves = tests.get(polluter, {}).get("leaves") or {}
        leaks, why = _leaks(leaves)
        if test is None:
            plan.left.append((polluter, "not a test function in a file; fix it by hand"))
        elif not (root / test.path).resolve().is_relative_to(root.resolve()):
            plan.left.append((polluter, "is outside the project; codemods never touch it"))
        elif not leaks:
            plan.left.append((polluter, why or _NOTHING_SEEN))
        else:
            plan.fixes.append(PolluterFix(polluter, test, tuple(leaks), tuple(hurt)))
            if why:
                plan.left.append((polluter, why))
    return plan


def _brittle(
    nodeid: str, setters: list[str], tests: Mapping[str, Any], root: Path, plan: PollutionPlan
) -> None:
    """A test that fails alone and passes after ``setters``: the module values and
    environment variables they leave, as the audit saw them, given to it by fixtures. Only
    values the audit wrote out whole as Python literals; anything else is left."""
    provided: list[Leak] = []
    for setter in setters:
        leaves = tests.get(setter, {}).get("leaves") or {}
        for leak in _leaks(leaves)[0]:
            value = _value(leak, leaves)
            if value is not None:
                provided.append(replace(leak, provide=value))
    test = parse_nodeid(nodeid)
    inside = test is not None and (root / test.path).resolve().is_relative_to(root.resolve())
    if test is None or not inside or not provided:
        why = "its state-setters leave no module value or variable the audit wrote out whole"
        plan.left.append((nodeid, f"fails alone and passes after {', '.join(setters)}; {why}"))
        return
    plan.fixes.append(PolluterFix(nodeid, test, tuple(provided), (nodeid,)))


def _value(leak: Leak, leaves: Mapping[str, Any]) -> str | None:
    """Python source for the value a setter left, when the audit's text of it is whole."""
    if leak.kind == "env":
        value = leaves["env"][leak.name]
        return None if value is None else json.dumps(value)
    if leak.kind != "state" or leak.type == "deleted":
        return None
    text = leaves["state"][leak.name]["value"]
    try:
        ast.literal_eval(text)  # "<dict of 300>" or "{...}..." (cut) are not
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return str(text)


_NOTHING_SEEN = (
    "the audit saw nothing it leaves behind that can be put back by value (a reloaded "
    "module, a library's cache, a class attribute); restore it in a fixture by hand"
)


def _leaks(leaves: Mapping[str, Any]) -> tuple[list[Leak], str]:
    leaks: list[Leak] = []
    unfixable: list[str] = []
    for name, where in sorted(leaves.get("state", {}).items()):
        if where.get("type") in ("logging", "") or not where.get("file"):
            unfixable.append(f"changes {name}, which is not a module value it can put back")
            continue
        aliases = tuple(where.get("aliases", ()))
        leaks.append(
            Leak("state", name, where["module"], where["file"], where["type"], None, aliases)
        )
    leaks += [Leak("env", name) for name in sorted(leaves.get("env", {}))]
    if "cwd" in leaves:
        leaks.append(Leak("cwd"))
    for path in leaves.get("files", []):
        hint = (
            " (optikit codemod replace-tmp rewrites /tmp paths)" if path.startswith("/tmp") else ""
        )
        unfixable.append(f"writes {path} outside tmp dirs{hint}")
    return leaks, "; ".join(unfixable)


def _identifier(text: str) -> str:
    return re.sub(r"\W", "_", text).lower()


# -- What the codemod does in each file ----------------------------------------------------


@dataclass(frozen=True)
class FilePlan:
    """In one file: the polluters to fix, and the fixtures to define there (leak, for whom)."""

    fixes: tuple[PolluterFix, ...] = ()
    fixtures: tuple[Leak, ...] = ()


def by_file(fixes: Sequence[PolluterFix], root: Path) -> dict[Path, FilePlan]:
    """Each polluter's file, and for values of other modules (or the environment, or the
    working directory) the ``conftest.py`` beside it, which defines the restoring fixture
    unless the body's own statements can undo the change."""
    plans: dict[Path, FilePlan] = {}
    for fix in fixes:
        path = fix.path_in(root)
        plan = plans.get(path, FilePlan())
        plans[path] = FilePlan((*plan.fixes, fix), plan.fixtures)
        undone = undone_in_body(path, fix)
        for leak in fix.leaks:
            if leak in undone:
                continue
            home = _home(leak, fix, path)
            other = plans.get(home, FilePlan())
            # one fixture per name: polluters may see one value differently (set to None by
            # one, deleted by another), and put it back the first one's way
            if leak.fixture_name() not in {f.fixture_name() for f in other.fixtures}:
                plans[home] = FilePlan(other.fixes, (*other.fixtures, leak))
    return plans


def _home(leak: Leak, fix: PolluterFix, path: Path) -> Path:
    """Where the fixture restoring ``leak`` is defined."""
    return path if leak.kind == "state" and _own(leak, fix) else path.parent / CONFTEST


def describe(fix: PolluterFix, root: Path) -> str:
    """How the polluter will put back each thing it leaves, in words (before the rewrite)."""
    path = fix.path_in(root)
    undone = undone_in_body(path, fix)
    ways = []
    for leak in fix.leaks:
        if leak in undone:
            ways.append(f"{leak.describe()} with monkeypatch")
        else:
            home = _home(leak, fix, path).relative_to(root.resolve()).as_posix()
            ways.append(f"{leak.describe()} with fixture {leak.fixture_name()} ({home})")
    return "; ".join(ways)


def _own(leak: Leak, fix: PolluterFix) -> bool:
    """A global of the polluter's own test module (which no other file can import)."""
    return leak.file == fix.path


def undone_in_body(path: Path, fix: PolluterFix) -> frozenset[Leak]:
    """The leaks that statements of the polluter's own body make, every one of which becomes
    a ``monkeypatch`` call; the others need a restoring fixture."""
    try:
        source = path.read_bytes()
    except OSError:
        return frozenset()  # the runner reports the file
    return _undone(path, source, fix)


@functools.lru_cache(maxsize=256)
def _undone(path: Path, source: bytes, fix: PolluterFix) -> frozenset[Leak]:
    """Keyed by the file's bytes: the plan and the report ask for the same polluter of the
    same file, and parse it once; a file rewritten since is asked anew."""
    try:
        module = cst.parse_module(source)
    except (cst.ParserSyntaxError, SyntaxError, UnicodeDecodeError):
        return frozenset()
    command = FixPollution(CodemodContext(filename=str(path)), FilePlan((fix,)))
    command.transform_module(module)
    return frozenset(command.undone.get(fix.nodeid, ()))


class FixPollution(OptikitCodemod):
    """Rewrites one file by its ``FilePlan``."""

    def __init__(self, context: CodemodContext, plan: FilePlan) -> None:
        super().__init__(context)
        self.plan = plan
        self.classes: list[cst.ClassDef] = []
        self.fix: PolluterFix | None = None  # the polluter being rewritten
        self.no_arguments = False
        self.rewritten: dict[Leak, int] = {}  # statements rewritten, per leak
        self.undone: dict[str, set[Leak]] = {}  # per polluter: leaks its body's rewrites undo
        self.defined: set[str] = set()

    def visit_Module(self, node: cst.Module) -> None:
        self.defined = {
            s.name.value for s in node.body if isinstance(s, cst.FunctionDef | cst.ClassDef)
        }

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.append(node)

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        self.classes.pop()
        return updated_node

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        if self.fix is not None:
            return False  # a nested function's statements are not the test's
        key = (tuple(c.name.value for c in self.classes), node.name.value)
        self.fix = next((f for f in self.plan.fixes if f.test.key == key), None)
        self.rewritten = {}
        # a unittest method takes no fixture argument; hypothesis refuses a function-scoped
        # one (monkeypatch would outlive each example): both get the restoring fixture
        self.no_arguments = (
            any(self._is_unittest(c) for c in self.classes)
            or any("hypothesis.given" in self.called_or_named(d.decorator) for d in node.decorators)
            or (self.fix is not None and self.fix.brittle)
        )
        return self.fix is not None

    def _is_unittest(self, node: cst.ClassDef) -> bool:
        return any(
            n.endswith("TestCase") for b in node.bases for n in self.qualified_names(b.value)
        )

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        fix = self.fix
        key = (tuple(c.name.value for c in self.classes), original_node.name.value)
        if fix is None or fix.test.key != key:
            return updated_node
        self.fix = None
        changing, already = _changes(original_node.body, fix, self.qualified_names)
        undone = {
            leak
            for leak in fix.leaks
            if self.rewritten.get(leak, 0) + already[leak]
            and changing[leak] == self.rewritten.get(leak, 0)
        }
        self.undone[fix.nodeid] = undone
        if any(self.rewritten.values()):
            updated_node = with_param(updated_node, "monkeypatch")
        return self._request(updated_node, [k.fixture_name() for k in fix.leaks if k not in undone])

    def _request(self, node: cst.FunctionDef, fixtures: list[str]) -> cst.FunctionDef:
        """``@pytest.mark.usefixtures(...)`` on the test, for the fixtures it lacks."""
        requested = {
            _literal(a.value)
            for d in node.decorators
            if isinstance(d.decorator, cst.Call) and self.is_mark(d.decorator, "usefixtures")
            for a in d.decorator.args
        }
        wanted = [f for f in fixtures if f not in requested]
        if not wanted:
            return node
        names = ", ".join(json.dumps(f) for f in wanted)
        mark = cst.parse_expression(f"{self.pytest_name('mark')}.usefixtures({names})")
        self.edits += 1
        return node.with_changes(decorators=[*node.decorators, cst.Decorator(mark)])

    # -- statements of the polluter's body --------------------------------------------

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine:
        if self.fix is None or self.no_arguments:
            return updated_node
        body = []
        for statement in updated_node.body:
            rewrite = undo_call(statement, self.fix, self.qualified_names)
            if rewrite is None:
                body.append(statement)
                continue
            call, leak = rewrite
            self.rewritten[leak] = self.rewritten.get(leak, 0) + 1
            self.edits += 1
            body.append(cst.Expr(call, semicolon=statement.semicolon))
        return updated_node.with_changes(body=body)

    # -- the fixtures this file defines -------------------------------------------------

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        wanted = [f for f in self.plan.fixtures if f.fixture_name() not in self.defined]
        if not wanted:
            return updated_node
        fixture = self.pytest_name("fixture")
        own = Path(self.context.filename or "").name != CONFTEST
        code = "\n\n".join(fixture_source(leak, fixture, own) for leak in wanted)
        spaced = [cst.EmptyLine(), cst.EmptyLine()]
        defined = [s.with_changes(leading_lines=spaced) for s in cst.parse_module(code).body]
        self.edits += len(wanted)
        body = list(updated_node.body)
        at = _before_tests(body) if own else len(body)
        if at == 0:
            defined[0] = defined[0].with_changes(leading_lines=[])
        return updated_node.with_changes(body=[*body[:at], *defined, *body[at:]])


def _before_tests(body: Sequence[cst.CSTNode]) -> int:
    """Before the module's first function or class: after its imports and globals, where
    the values it restores are defined."""
    for at, statement in enumerate(body):
        if isinstance(statement, cst.FunctionDef | cst.ClassDef):
            return at
    return len(body)


Qualify = Callable[[cst.BaseExpression], set[str]]


def undo_call(
    statement: cst.BaseSmallStatement, fix: PolluterFix, qualified: Qualify
) -> tuple[cst.Call, Leak] | None:
    """The ``monkeypatch`` call that does what ``statement`` does and undoes it after the
    test, when it makes one of the polluter's leaks; else None."""
    for leak in fix.leaks:
        call = _undoing(statement, leak, fix, qualified)
        if call is not None:
            return call, leak
    return None


def _undoing(
    statement: cst.BaseSmallStatement, leak: Leak, fix: PolluterFix, qualified: Qualify
) -> cst.Call | None:
    def monkeypatch(method: str, *args: cst.BaseExpression | str) -> cst.Call:
        values = [cst.SimpleString(json.dumps(a)) if isinstance(a, str) else a for a in args]
        return cst.Call(
            cst.Attribute(cst.Name("monkeypatch"), cst.Name(method)), [cst.Arg(v) for v in values]
        )

    def environ_key(node: cst.BaseExpression, index: cst.BaseExpression | None) -> bool:
        return (
            _is(node, "os.environ", qualified)
            and index is not None
            and _literal(index) == leak.name
        )

    if isinstance(statement, cst.Assign) and len(statement.targets) == 1:
        target, value = statement.targets[0].target, statement.value
        if isinstance(target, cst.Subscript):
            index = _index(target)
            if leak.kind == "env" and environ_key(target.value, index):
                return monkeypatch("setenv", index, value)  # type: ignore[arg-type]
            if (
                leak.kind == "state"
                and index is not None
                and _names(target.value, leak, fix, qualified)
            ):
                return monkeypatch("setitem", target.value, index, value)
        if isinstance(target, cst.Attribute) and _attribute_is(target, leak, qualified):
            return monkeypatch("setattr", target.value, target.attr.value, value)
    elif isinstance(statement, cst.Del) and isinstance(statement.target, cst.Attribute):
        target = statement.target
        if _attribute_is(target, leak, qualified):
            return monkeypatch("delattr", target.value, target.attr.value)
    elif isinstance(statement, cst.Del) and isinstance(statement.target, cst.Subscript):
        target = statement.target
        index = _index(target)
        if leak.kind == "env" and environ_key(target.value, index):
            return monkeypatch("delenv", index)  # type: ignore[arg-type]
        if (
            leak.kind == "state"
            and index is not None
            and _names(target.value, leak, fix, qualified)
        ):
            return monkeypatch("delitem", target.value, index)
    elif isinstance(statement, cst.Expr) and isinstance(statement.value, cst.Call):
        call = statement.value
        first = call.args[0].value if call.args else None
        if leak.kind == "cwd" and _is(call.func, "os.chdir", qualified) and len(call.args) == 1:
            return monkeypatch("chdir", call.args[0].value)
        pops = leak.kind == "env" and _is(call.func, "os.environ.pop", qualified)
        if pops and first is not None and _literal(first) == leak.name:
            undo = monkeypatch("delenv", first)
            tight = cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))
            raising = cst.Arg(cst.Name("False"), cst.Name("raising"), equal=tight)
            return undo.with_changes(args=[*undo.args, raising])
    return None


UNDOING = frozenset({"setenv", "delenv", "chdir", "setitem", "delitem", "setattr", "delattr"})


def _monkeypatched(
    statement: cst.BaseSmallStatement, fix: PolluterFix, qualified: Qualify
) -> list[Leak]:
    """The leaks a ``monkeypatch`` call already changes and undoes (a second run's view of
    the first run's rewrite, or the test's own)."""
    call = statement.value if isinstance(statement, cst.Expr) else None
    if not (
        isinstance(call, cst.Call)
        and isinstance(call.func, cst.Attribute)
        and _name_is(call.func.value, "monkeypatch")
        and call.func.attr.value in UNDOING
        and call.args
    ):
        return []
    method, first = call.func.attr.value, call.args[0].value
    found = []
    for leak in fix.leaks:
        if leak.kind == "cwd":
            hit = method == "chdir"
        elif leak.kind == "env":
            hit = method in ("setenv", "delenv") and _literal(first) == leak.name
        elif method in ("setattr", "delattr") and len(call.args) > 1:
            attribute = _literal(call.args[1].value)
            hit = bool({f"{q}.{attribute}" for q in qualified(first)} & leak.names)
        else:
            hit = method in ("setitem", "delitem") and _names(first, leak, fix, qualified)
        if hit:
            found.append(leak)
    return found


def _attribute_is(target: cst.Attribute, leak: Leak, qualified: Qualify) -> bool:
    """``target`` (``module.NAME``, ``app.app.config``) is the leaked value, by any name."""
    names = {f"{q}.{target.attr.value}" for q in qualified(target.value)}
    return leak.kind == "state" and bool(names & leak.names)


def _index(target: cst.Subscript) -> cst.BaseExpression | None:
    if len(target.slice) == 1 and isinstance(target.slice[0].slice, cst.Index):
        return target.slice[0].slice.value
    return None


def _literal(node: cst.BaseExpression) -> object:
    return node.evaluated_value if isinstance(node, cst.SimpleString) else None


def _is(node: cst.BaseExpression, name: str, qualified: Qualify) -> bool:
    return name in qualified(node)


def _names(node: cst.BaseExpression, leak: Leak, fix: PolluterFix, qualified: Qualify) -> bool:
    """``node`` is the leaked value: a bare name for the test module's own global, else the
    module's attribute as imported."""
    own = _own(leak, fix) and get_full_name_for_node(node) == leak.local
    return own or bool(qualified(node) & leak.names)


def _changes(
    body: cst.CSTNode, fix: PolluterFix, qualified: Qualify
) -> tuple[Counter[Leak], Counter[Leak]]:
    """Per leak: the statements of the body that may change it, and the ``monkeypatch``
    calls that already change it and undo it. A leak is undone in the body when every one of
    the former was rewritten into one of the latter."""
    changing: Counter[Leak] = Counter()
    already: Counter[Leak] = Counter()
    for statement in _small_statements(body):
        undoing = _monkeypatched(statement, fix, qualified)
        already.update(undoing)
        changing.update(
            leak
            for leak in fix.leaks
            if leak not in undoing and _may_change(statement, leak, fix, qualified)
        )
    return changing, already


def _small_statements(node: cst.CSTNode) -> Iterator[cst.BaseSmallStatement]:
    for line in m.findall(node, m.SimpleStatementLine()):
        yield from line.body  # type: ignore[attr-defined]


READS = frozenset({"get", "copy", "keys", "values", "items", "count", "index", "getcwd"})
"""Methods that only read: ``os.environ.get("X")`` in an assert changes nothing."""


def _may_change(
    statement: cst.BaseSmallStatement, leak: Leak, fix: PolluterFix, qualified: Qualify
) -> bool:
    """An assignment or ``del`` whose target names the leak, or a call that is handed it or
    is one of its methods (a helper may change what it is given); plain reads are not."""
    targets: list[cst.CSTNode] = []
    if isinstance(statement, cst.Assign):
        targets = [t.target for t in statement.targets]
    elif isinstance(statement, cst.AugAssign | cst.AnnAssign | cst.Del):
        targets = [statement.target]
    if any(_names_leak(t, leak, fix, qualified) for t in targets):
        return True
    for call in m.findall(statement, m.Call()):
        assert isinstance(call, cst.Call)
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value in READS:
            continue
        if _names_leak(call, leak, fix, qualified):
            return True
    return False


def _names_leak(node: cst.CSTNode, leak: Leak, fix: PolluterFix, qualified: Qualify) -> bool:
    for found in m.findall(node, m.Attribute() | m.Name()):
        assert isinstance(found, cst.Attribute | cst.Name)
        names = qualified(found)
        if leak.kind == "cwd" and "os.chdir" in names:
            return True
        if leak.kind == "env" and names & {"os.environ", "os.putenv", "os.unsetenv"}:
            # another variable's literal key is not this one; a computed key may be
            keys = {_literal(k) for k in m.findall(node, m.SimpleString())}  # type: ignore[arg-type]
            return not keys or leak.name in keys
        own = _own(leak, fix) and _name_is(found, leak.local_root)  # a global, by its name
        if leak.kind == "state" and (names & leak.names or own):
            return True
    return False


def _name_is(node: cst.CSTNode, name: str) -> bool:
    return isinstance(node, cst.Name) and node.value == name


# -- The restoring fixtures ----------------------------------------------------------------


def fixture_source(leak: Leak, fixture: str, own: bool) -> str:
    """A fixture that saves what ``leak`` names before the test and puts it back after.

    ``own``: the value is a global of this very module (used by its bare name)."""
    name = leak.fixture_name()
    doc = (
        f'    """Puts {leak.describe()} back after the test (optikit codemod '
        'fix-pollution:\n    a test that changes it made another test fail)."""\n'
    )
    if leak.provide is not None:
        doc = (
            f'    """Sets {leak.describe()} as the test needs it, and puts it back after\n'
            '    (optikit codemod fix-pollution: the test failed unless another test set it)."""\n'
        )
    head = f"@{fixture}\ndef {name}():\n{doc}"
    if leak.kind == "cwd":
        return head + "    import os\n\n    saved = os.getcwd()\n    yield\n    os.chdir(saved)\n"
    if leak.kind == "env":
        key = json.dumps(leak.name)
        given = "" if leak.provide is None else f"    os.environ[{key}] = {leak.provide}\n"
        return (
            f"{head}    import os\n\n    saved = os.environ.get({key})\n{given}    yield\n"
            f"    if saved is None:\n        os.environ.pop({key}, None)\n"
            f"    else:\n        os.environ[{key}] = saved\n"
        )
    value = leak.local if own else leak.name
    imports = "    import copy\n" + ("" if own else f"    import {leak.module}\n")
    kind = IN_PLACE.get(leak.type)
    if own and kind is None and "." not in value:
        imports = f"    global {value}\n" + imports

    def put(source: str) -> str:
        """Statements that make the value ``source``: in place for a container."""
        if kind == "list":
            return f"    {value}[:] = {source}\n"
        if kind in ("dict", "set"):
            return f"    {value}.clear()\n    {value}.update({source})\n"
        return f"    {value} = {source}\n"

    given = "" if leak.provide is None else put(leak.provide)
    return f"{head}{imports}\n    saved = copy.deepcopy({value})\n{given}    yield\n{put('saved')}"


def new_conftest(leaks: Sequence[Leak]) -> str:
    """A ``conftest.py`` where there was none, holding just the restoring fixtures."""
    body = "\n\n".join(fixture_source(leak, "pytest.fixture", own=False) for leak in leaks)
    return f'"""Fixtures written by optikit codemod fix-pollution."""\n\nimport pytest\n\n\n{body}'


def definition_line(source: bytes, key: tuple[tuple[str, ...], str]) -> int | None:
    """The line of the test's ``def`` in ``source`` (after the rewrite), for the report."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    body: list[ast.stmt] = tree.body
    for name in key[0]:
        found = [c for c in body if isinstance(c, ast.ClassDef) and c.name == name]
        if not found:
            return None
        body = found[-1].body
    defs = [f for f in body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)]
    lines = [f.lineno for f in defs if f.name == key[1]]
    return lines[-1] if lines else None
