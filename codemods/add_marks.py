"""Add (or remove) one pytest mark on named tests: the engine of mark-slow and mark-serial.

A test already carrying the mark at function, class or module level (``pytestmark``) is
left alone; fixtures are never marked (an error since pytest 9). For a parametrized test
where only some cases are named, those cases alone are wrapped in
``pytest.param(..., marks=...)``, when the parameter list is a literal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst
from libcst.codemod import CodemodContext

from codemods.base import OptikitCodemod
from codemods.param_ids import Case, parametrize_cases

TestKey = tuple[tuple[str, ...], str]
"""Enclosing class names and function name: a test's place in its file."""


@dataclass(frozen=True)
class MarkPlan:
    """What to do in one file. ``add`` maps a test to the case ids to mark (``None``: all)."""

    mark: str
    add: dict[TestKey, frozenset[str] | None] = field(default_factory=dict)
    remove: frozenset[TestKey] = frozenset()
    # every case id each test had in the run (to tell "only with some fixture params")
    cases: dict[TestKey, frozenset[str]] = field(default_factory=dict)


def describe(key: TestKey) -> str:
    return "::".join((*key[0], key[1]))


class MarkTests(OptikitCodemod):
    def __init__(self, context: CodemodContext, plan: MarkPlan) -> None:
        super().__init__(context)
        self.plan = plan
        self.classes: list[tuple[str, bool]] = []
        self.module_marked = False
        self.found: set[TestKey] = set()

    def visit_Module(self, node: cst.Module) -> None:
        self.module_marked = self._pytestmark_has_mark(node.body)
        self.hierarchy = _Hierarchy(node)

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        """A class with no test of the plan is not entered: libcst rebuilds every node it
        visits, which on numpy's large test classes cost more than the parse."""
        marked = any(self.is_mark(d.decorator, self.plan.mark) for d in node.decorators)
        body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
        self.classes.append((node.name.value, marked or self._pytestmark_has_mark(body)))
        path = tuple(name for name, _ in self.classes)
        return any(key[0][: len(path)] == path for key in (*self.plan.add, *self.plan.remove))

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        self.classes.pop()
        return updated_node

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> bool:
        return False  # nothing to mark inside; not descending keeps large files cheap

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # the decorators are read directly; bodies and nested functions never matter

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        key: TestKey = (tuple(name for name, _ in self.classes), original_node.name.value)
        if not self.hierarchy.is_last(key, original_node):
            return updated_node  # redefined further down: pytest only collects the last one
        if key in self.plan.add:
            self.found.add(key)
            problem = self._inherited_by_others(key)
            if problem:
                self.note(original_node, problem)
                return updated_node
            return self._add(original_node, updated_node, key, self.plan.add[key])
        if key in self.plan.remove:
            return self._remove(original_node, updated_node, key)
        return updated_node

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        for key in sorted(self.plan.add.keys() - self.found):
            base = self.hierarchy.defining_class(key)
            if base is not None and (base, key[1]) in self.plan.add:
                continue  # marked where it is defined, with every class that inherits it
            if base is not None:
                self.note(
                    None,
                    f"{describe(key)} is inherited from {describe((base, key[1]))}, which is "
                    f"not {self.plan.mark} in every class: not marked (override it in "
                    f"{key[0][-1]} to mark it there)",
                )
                continue
            self.note(
                None,
                f"{describe(key)} not found in this file (renamed since the run, or generated?)",
            )
        return updated_node

    def _inherited_by_others(self, key: TestKey) -> str | None:
        """A mark on a method marks it in every subclass that inherits it: refused when
        one of those is not to be marked too."""
        classes, name = key
        if not classes:
            return None
        for subclass in self.hierarchy.inheriting(classes, name):
            if ((subclass,), name) not in self.plan.add:
                return (
                    f"{describe(key)} is {self.plan.mark}, but {describe(((subclass,), name))} "
                    "inherits it and is not: not marked (a mark here would mark both)"
                )
        return None

    def _pytestmark_has_mark(self, body: object) -> bool:
        for statement in body if isinstance(body, list | tuple) else ():
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                if isinstance(small, cst.Assign) and any(
                    isinstance(t.target, cst.Name) and t.target.value == "pytestmark"
                    for t in small.targets
                ):
                    value = small.value
                    items = (
                        [e.value for e in value.elements]
                        if isinstance(value, cst.List | cst.Tuple)
                        else [value]
                    )
                    if any(self.is_mark(item, self.plan.mark) for item in items):
                        return True
        return False

    def _already_marked(self, node: cst.FunctionDef) -> bool:
        return (
            self.module_marked
            or any(marked for _, marked in self.classes)
            or any(self.is_mark(d.decorator, self.plan.mark) for d in node.decorators)
        )

    def _add(
        self,
        original: cst.FunctionDef,
        updated: cst.FunctionDef,
        key: TestKey,
        cases: frozenset[str] | None,
    ) -> cst.FunctionDef:
        mark = self.plan.mark
        if self.fixture_decorator(original) is not None:
            self.note(
                original,
                f"{describe(key)} is a fixture; marks on fixtures are an error: not marked",
            )
            return updated
        if self._already_marked(original):
            return updated
        if cases is None:
            self.edits += 1
            decorator = cst.Decorator(self.mark_expression(mark))
            return updated.with_changes(decorators=[decorator, *updated.decorators])
        return self._mark_cases(original, updated, key, cases)

    def _mark_cases(
        self,
        original: cst.FunctionDef,
        updated: cst.FunctionDef,
        key: TestKey,
        wanted: frozenset[str],
    ) -> cst.FunctionDef:
        mark = self.plan.mark
        where = [
            i
            for i, d in enumerate(original.decorators)
            if isinstance(d.decorator, cst.Call) and self.is_mark(d.decorator, "parametrize")
        ]
        if len(where) != 1:
            why = (
                "it is parametrized by several decorators"
                if where
                else "it is parametrized outside its own decorators"
            )
            self.note(
                original, f"only some cases of {describe(key)} are {mark}, but {why}: not marked"
            )
            return updated
        call = original.decorators[where[0]].decorator
        assert isinstance(call, cst.Call)
        found = parametrize_cases(
            call, self.module, lambda e: "pytest.param" in self.qualified_names(e)
        )
        if found is None:
            self.note(
                original,
                f"only some cases of {describe(key)} are {mark}, "
                "but its parameter list is not a literal: not marked",
            )
            return updated
        chosen, left = _cases_to_mark(found.cases, wanted, self.plan.cases.get(key, wanted))
        if left:
            self.note(
                original,
                f"cases {', '.join(sorted(left))} of {describe(key)} are {mark} only with some "
                "of their other parameters (fixture params, other ids), or are not in its "
                "parameter list: not marked",
            )
        replaced: dict[int, cst.Element] = {}
        for case in found.cases:
            if case.id in chosen:
                new = self._marked_element(case)
                if new is not None:
                    replaced[id(case.element)] = new
        if not replaced:
            return updated
        self.edits += len(replaced)
        values = found.container
        new_values = values.with_changes(elements=[replaced.get(id(e), e) for e in values.elements])
        new_call = call.deep_replace(values, new_values)
        decorators = list(updated.decorators)
        decorators[where[0]] = decorators[where[0]].with_changes(decorator=new_call)
        return updated.with_changes(decorators=decorators)

    def _marked_element(self, case: Case) -> cst.Element | None:
        """The case with the mark added, or ``None`` when it already has it."""
        mark = self.mark_expression(self.plan.mark)
        element = case.element
        value = element.value
        if isinstance(value, cst.Call) and "pytest.param" in self.qualified_names(value.func):
            for position, arg in enumerate(value.args):
                if arg.keyword is None or arg.keyword.value != "marks":
                    continue
                existing = arg.value
                items = existing.elements if isinstance(existing, cst.List | cst.Tuple) else ()
                if any(self.is_mark(e.value, self.plan.mark) for e in items) or self.is_mark(
                    existing, self.plan.mark
                ):
                    return None
                if isinstance(existing, cst.List | cst.Tuple):
                    marks: cst.BaseExpression = existing.with_changes(
                        elements=[*items, cst.Element(mark)]
                    )
                else:
                    marks = cst.List([cst.Element(existing), cst.Element(mark)])
                args = list(value.args)
                args[position] = arg.with_changes(value=marks)
                return element.with_changes(value=value.with_changes(args=args))
            marks_arg = _keyword_arg("marks", mark)
            return element.with_changes(value=value.with_changes(args=[*value.args, marks_arg]))
        code = self.module.code_for_node
        parts = ", ".join(code(v) for v in case.values)
        param = self.pytest_name("param")
        call = cst.parse_expression(f"{param}({parts}, marks={code(mark)})")
        return element.with_changes(value=call)

    def _remove(
        self, original: cst.FunctionDef, updated: cst.FunctionDef, key: TestKey
    ) -> cst.FunctionDef:
        mark = self.plan.mark
        keep = [
            new
            for old, new in zip(original.decorators, updated.decorators, strict=True)
            if not self.is_mark(old.decorator, mark)
        ]
        if len(keep) == len(updated.decorators):
            if self._already_marked(original):
                self.note(
                    original, f"{describe(key)} is {mark} through its class or module: mark left"
                )
            return updated
        self.edits += len(updated.decorators) - len(keep)
        return updated.with_changes(decorators=keep)


def _cases_to_mark(
    cases: list[Case], wanted: frozenset[str], seen: frozenset[str]
) -> tuple[set[str], set[str]]:
    """The parametrize cases to mark, and the wanted run ids left unmarked.

    A run id is the case's id, or (with a parametrized fixture or more parametrization) the
    case's id joined by ``-`` with the others'. A case is marked when every run id it is
    part of is wanted: marking it marks all of them."""
    chosen: set[str] = set()
    covered: set[str] = set()
    for case in cases:
        runs = {run for run in seen | wanted if _part_of(case.id, run)}
        if runs and runs <= wanted:
            chosen.add(case.id)
            covered |= runs
    return chosen, set(wanted - covered)


def _part_of(case: str, run: str) -> bool:
    return (
        run == case
        or run.startswith(f"{case}-")
        or run.endswith(f"-{case}")
        or (f"-{case}-" in run)
    )


def _keyword_arg(name: str, value: cst.BaseExpression) -> cst.Arg:
    no_space = cst.SimpleWhitespace("")
    return cst.Arg(
        value=value,
        keyword=cst.Name(name),
        equal=cst.AssignEqual(whitespace_before=no_space, whitespace_after=no_space),
    )


class _Hierarchy:
    """The module's classes: which one defines a method a node id names, which inherit it,
    and which definition of a redefined test pytest collects (the last)."""

    def __init__(self, module: cst.Module) -> None:
        self.bases: dict[str, list[str]] = {}
        self.methods: dict[str, set[str]] = {}
        self.last: dict[TestKey, cst.FunctionDef] = {}
        self._walk(module.body, ())

    def _walk(self, body: Sequence[cst.CSTNode], classes: tuple[str, ...]) -> None:
        for statement in body:
            if isinstance(statement, cst.FunctionDef):
                self.last[(classes, statement.name.value)] = statement
            elif isinstance(statement, cst.ClassDef):
                name = statement.name.value
                inner = statement.body.body if isinstance(statement.body, cst.IndentedBlock) else ()
                if not classes:
                    self.bases[name] = [
                        b.value.value for b in statement.bases if isinstance(b.value, cst.Name)
                    ]
                    self.methods[name] = {
                        s.name.value for s in inner if isinstance(s, cst.FunctionDef)
                    }
                self._walk(inner, (*classes, name))

    def is_last(self, key: TestKey, node: cst.FunctionDef) -> bool:
        return self.last.get(key, node) is node

    def defining_class(self, key: TestKey) -> tuple[str, ...] | None:
        """For ``Sub::test_m`` where ``test_m`` comes from a base in this module: the base."""
        classes, name = key
        if len(classes) != 1 or name in self.methods.get(classes[0], {name}):
            return None
        seen, todo = set(), list(self.bases.get(classes[0], []))
        while todo:
            base = todo.pop(0)
            if base in seen or base not in self.methods:
                continue
            seen.add(base)
            if name in self.methods[base]:
                return (base,)
            todo += self.bases.get(base, [])
        return None

    def inheriting(self, classes: tuple[str, ...], name: str) -> list[str]:
        """Top-level classes that get ``name`` from ``classes[0]`` (not overriding it)."""
        if len(classes) != 1:
            return []
        return [
            sub
            for sub in self.bases
            if sub != classes[0] and self.defining_class(((sub,), name)) == classes
        ]


@dataclass
class Placement:
    """Per-file plans, and the tests no file can take (with the reason)."""

    plans: dict[Path, MarkPlan]
    unplaced: list[tuple[str, str]]
    refused: list[tuple[Path, str]] = field(default_factory=list)  # paths that leave the root


def place(
    root: Path,
    mark: str,
    add: dict[tuple[str, TestKey], frozenset[str] | None],
    remove: frozenset[tuple[str, TestKey]] = frozenset(),
    seen_cases: Mapping[tuple[str, TestKey], frozenset[str]] | None = None,
) -> Placement:
    """Group tests by the file that defines them (paths relative to the pytest root)."""
    plans: dict[Path, MarkPlan] = {}
    unplaced: list[tuple[str, str]] = []
    by_file: dict[str, tuple[dict[TestKey, frozenset[str] | None], set[TestKey]]] = {}
    for (path, key), cases in add.items():
        by_file.setdefault(path, ({}, set()))[0][key] = cases
    for path, key in remove:
        by_file.setdefault(path, ({}, set()))[1].add(key)
    inside = root.resolve()
    refused: list[tuple[Path, str]] = []
    for path, (adds, removes) in sorted(by_file.items()):
        full = (root / path).resolve()
        if not full.is_relative_to(inside) or full.suffix != ".py":
            refused.append((root / path, "not a Python file inside the project; never touched"))
            continue
        if not full.is_file():
            unplaced.extend(
                (f"{path}::{describe(k)}", "its file is not there") for k in sorted(adds)
            )
            continue
        seen = {key: ids for (p, key), ids in (seen_cases or {}).items() if p == path}
        plans[full] = MarkPlan(mark, adds, frozenset(removes), seen)
    return Placement(plans, unplaced, refused)
