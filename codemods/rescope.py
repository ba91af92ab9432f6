"""rescope: promote expensive function-scoped fixtures to module or session scope, when safe.

Safe means: every fixture it needs is at least the target scope (pytest then guarantees the
same for the rest of the closure) or has a wider equivalent (``tmp_path`` becomes
``tmp_path_factory.mktemp``); no autouse fixture narrower than the target could set state
it reads; it uses nothing per-test (``request.node``, ``monkeypatch``, ``capsys``, ...);
and no test or fixture that receives its value changes that value (``value_changes``).
Static analysis is not perfect, so the CLI's ``--verify`` runs the affected tests and
reverts what fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import libcst as cst
from libcst.codemod import CodemodContext

from codemods.base import OptikitCodemod, fixture_scope, insert_at_top
from codemods.fixture_index import SCOPES, FixtureIndex, Function, inside, visible

BUILTIN_SCOPES = {
    "tmp_path_factory": "session",
    "tmpdir_factory": "session",
    "pytestconfig": "session",
    "worker_id": "session",
    "testrun_uid": "session",
    "record_testsuite_property": "session",
    "doctest_namespace": "session",
}
PER_TEST = frozenset(
    {
        "monkeypatch", "capsys", "capsysbinary", "capfd", "capfdbinary", "caplog", "recwarn",
        "record_property", "record_xml_attribute", "subtests", "cache",
    }
)  # fmt: skip
WIDER_EQUIVALENT = {"tmp_path": "tmp_path_factory", "tmpdir": "tmpdir_factory"}


@dataclass(frozen=True)
class Promotion:
    name: str
    path: Path
    line: int
    scope: str
    swaps: tuple[tuple[str, str], ...]  # (per-test fixture, its factory)
    region: Path
    def_name: str = ""  # the function to rewrite (``name=`` may give the fixture another)
    renames: str = ""  # a test whose node ids pytest may reorder (opted in with allow_renames)


@dataclass(frozen=True)
class Refusal:
    name: str
    where: str
    reason: str


def _rank(scope: str | None) -> int:
    return SCOPES.index(scope) if scope in SCOPES else -1


ScopeOf = Callable[[Function], "str | None"]
"""A fixture's scope as the plan stands (a candidate promoted earlier counts as promoted)."""


def decide(
    index: FixtureIndex,
    fixture: Function,
    target: str,
    root: Path,
    scope_of: ScopeOf = lambda f: f.scope,
    allow_renames: bool = False,
) -> Promotion | Refusal:
    def refuse(reason: str) -> Refusal:
        return Refusal(fixture.name, fixture.where(root), reason)

    if fixture.in_class:
        return refuse("defined in a class; move it to the module or a conftest.py first")
    if fixture.scope is None:
        return refuse("its scope is computed at run time")
    if _rank(fixture.scope) >= _rank(target):
        return refuse(f"already {fixture.scope}-scoped")
    if problem := _own_problem(fixture):
        return refuse(problem)
    if problem := _reach_problem(index, fixture, root):
        return refuse(problem)
    swaps: list[tuple[str, str]] = []
    renames = ""
    for name in fixture.params:
        if name == "request":
            if fixture.request_use:
                return refuse(f"uses request.{fixture.request_use}, which is per-test")
        elif name in PER_TEST:
            return refuse(f"uses {name}, which is per-test")
        elif name in WIDER_EQUIVALENT:
            swaps.append((name, WIDER_EQUIVALENT[name]))
        elif problem := _dependency_problem(index, fixture, name, target, root, scope_of):
            return refuse(problem)
    for other in index.autouse():
        scope = scope_of(other)
        if other is not fixture and visible(other, fixture.region) and _rank(scope) < _rank(target):
            return refuse(
                f"autouse fixture {other.name} "
                f"({scope or 'dynamic'}-scoped, {other.where(root)}) "
                "runs around every test and may set state it reads"
            )
    for receiver in index.receivers(fixture.name, fixture.region):
        if receiver is fixture:
            continue
        where = f"{receiver.name} ({receiver.where(root)})"
        change = dict(receiver.changes).get(fixture.name)
        if change is not None:
            return refuse(f"{where} {change}")
        if swaps and set(receiver.params) & {per_test for per_test, _ in swaps}:
            return refuse(f"{where} also takes {swaps[0][0]} and may expect the same directory")
        if fixture.parametrized and _other_params(index, receiver, fixture) and not renames:
            if not allow_renames:
                return refuse(
                    f"a parametrized fixture, and {where} has other parameters: at a wider "
                    "scope pytest may reorder them in the node ids, which breaks --deselect "
                    "lists and CI config (opt in with --allow-renames: optikit renames them in "
                    "its history and baseline and writes the mapping)"
                )
            renames = where
    return Promotion(
        fixture.name,
        fixture.path,
        fixture.line,
        target,
        tuple(swaps),
        fixture.region,
        fixture.def_name or fixture.name,
        renames,
    )


def _own_problem(fixture: Function) -> str | None:
    """What the fixture itself does that only makes sense once per test."""
    if fixture.autouse:
        return "autouse: it runs around every test on purpose (a per-test setup or cleanup)"
    if fixture.is_async:
        return "async: its event loop is the test's (pytest-asyncio)"
    if fixture.effect:
        return fixture.effect
    if fixture.iterator:
        return (
            f"hands out an iterator ({fixture.iterator}): the first test to advance it "
            "changes it for the rest"
        )
    return fixture.params_problem


def _reach_problem(index: FixtureIndex, fixture: Function, root: Path) -> str | None:
    """Tests that reach the fixture through ``request.getfixturevalue`` cannot be checked."""
    for where in index.requested.get(fixture.name, []):
        shown = where.removeprefix(f"{root}/")
        return f"reached through request.getfixturevalue at {shown}, whose use is not checked"
    for path in index.computed_requests:
        if visible_path(path, fixture.region):
            caller = path.relative_to(root) if path.is_relative_to(root) else path
            return f"{caller} calls request.getfixturevalue(<computed>), which may reach it"
    return None


def visible_path(path: Path, region: Path) -> bool:
    """A test module at ``path`` may see a fixture defined for ``region``."""
    return inside(path, region) or inside(region, path.parent)


def _other_params(index: FixtureIndex, receiver: Function, fixture: Function) -> bool:
    if receiver.parametrized and not receiver.fixture:
        return True
    return any(
        d.parametrized
        for name in receiver.params
        if name != fixture.name
        for d in index.definitions(name)
        if visible(d, receiver.region)
    )


def _dependency_problem(
    index: FixtureIndex, fixture: Function, name: str, target: str, root: Path, scope_of: ScopeOf
) -> str | None:
    definitions = [
        d for d in index.definitions(name) if d is not fixture and visible(d, fixture.region)
    ]
    if definitions:
        narrowest = min(definitions, key=lambda d: _rank(scope_of(d)))
        scope = scope_of(narrowest)
        if _rank(scope) < _rank(target):
            return f"needs {name} ({scope or 'dynamic'}-scoped, {narrowest.where(root)})"
        return None
    if name in BUILTIN_SCOPES:
        return None if _rank(BUILTIN_SCOPES[name]) >= _rank(target) else f"needs {name}"
    return f"needs {name}, a fixture from outside these files whose scope is unknown"


def plan_rescope(
    index: FixtureIndex,
    candidates: Iterable[Function],
    target: str,
    root: Path,
    allow_renames: bool = False,
) -> tuple[list[Promotion], list[Refusal]]:
    """Decide each candidate; a refusal caused by another candidate's narrow scope is
    reconsidered once that candidate is promoted (a fixture and the one it needs)."""
    promoted: set[int] = set()

    def scope_of(function: Function) -> str | None:
        return target if id(function) in promoted else function.scope

    pending = list(candidates)
    promotions: list[Promotion] = []
    while True:
        refusals: list[Refusal] = []
        still: list[Function] = []
        for fixture in pending:
            decision = decide(index, fixture, target, root, scope_of, allow_renames)
            if isinstance(decision, Promotion):
                promotions.append(decision)
                promoted.add(id(fixture))
            else:
                refusals.append(decision)
                still.append(fixture)
        if len(still) == len(pending):
            return promotions, refusals
        pending = still


def by_file(promotions: Iterable[Promotion]) -> dict[Path, tuple[Promotion, ...]]:
    """The promotions each file gets: the plans ``RescopeFixtures`` takes, one per file."""
    plans: dict[Path, tuple[Promotion, ...]] = {}
    for promotion in promotions:
        plans[promotion.path] = (*plans.get(promotion.path, ()), promotion)
    return plans


class RescopeFixtures(OptikitCodemod):
    """Rewrites the named top-level fixtures of one file to their new scope."""

    def __init__(self, context: CodemodContext, promotions: tuple[Promotion, ...]) -> None:
        super().__init__(context)
        self.promotions = {p.def_name or p.name: p for p in promotions}

    def on_visit(self, node: cst.CSTNode) -> bool:
        """Only the module's own statements matter (fixtures in classes are refused), so
        nothing below them is visited; ``leave_FunctionDef`` still sees each function."""
        super().on_visit(node)
        return isinstance(node, cst.Module)

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        promotion = self.promotions.get(original_node.name.value)
        decorator = self.fixture_decorator(original_node)
        if (
            promotion is None
            or decorator is None
            or fixture_scope(decorator.decorator) == promotion.scope
        ):
            return updated_node
        self.edits += 1
        decorators = [
            _with_scope(d, promotion.scope) if d is decorator else d
            for d in updated_node.decorators
        ]
        node = updated_node.with_changes(decorators=decorators)
        for per_test, factory in promotion.swaps:
            node = _swap(node, per_test, factory, self._factory_type(per_test))
        return node

    def _factory_type(self, per_test: str) -> cst.Annotation:
        kind = "TempPathFactory" if per_test == "tmp_path" else "TempdirFactory"
        return cst.Annotation(cst.parse_expression(self.pytest_name(kind)))


def _with_scope(decorator: cst.Decorator, scope: str) -> cst.Decorator:
    expression = decorator.decorator
    value = cst.SimpleString(f'"{scope}"')
    if not isinstance(expression, cst.Call):
        expression = cst.Call(expression)
    args = list(expression.args)
    for position, arg in enumerate(args):
        if arg.keyword is not None and arg.keyword.value == "scope":
            args[position] = arg.with_changes(value=value)
            break
    else:
        no_space = cst.SimpleWhitespace("")
        equal = cst.AssignEqual(whitespace_before=no_space, whitespace_after=no_space)
        added = cst.Arg(value, keyword=cst.Name("scope"), equal=equal)
        if args and isinstance(args[-1].comma, cst.Comma):
            # One argument per line with a trailing comma: the new one goes on its own line,
            # indented like the others, and keeps the trailing comma.
            between = args[-2].comma if len(args) > 1 else None
            indent = (
                between.whitespace_after
                if isinstance(between, cst.Comma)
                else expression.whitespace_before_args
            )
            added = added.with_changes(comma=args[-1].comma)
            args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=indent))
        args.append(added)
    return decorator.with_changes(decorator=expression.with_changes(args=args))


def _swap(
    node: cst.FunctionDef, per_test: str, factory: str, kind: cst.Annotation
) -> cst.FunctionDef:
    """``tmp_path`` becomes ``factory`` in the signature and one ``mktemp`` at the top."""
    params = node.params
    has_factory = any(p.name.value == factory for p in params.params)
    new_params = [
        p.with_changes(name=cst.Name(factory), annotation=p.annotation and kind)
        if p.name.value == per_test
        else p
        for p in params.params
        if not (has_factory and p.name.value == per_test)
    ]
    if new_params and has_factory:
        new_params[-1] = new_params[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    statement = cst.parse_statement(f'{per_test} = {factory}.mktemp("{node.name.value}")')
    return insert_at_top(
        node.with_changes(params=params.with_changes(params=new_params)), statement
    )
