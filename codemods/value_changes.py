"""What a function does to the values it is handed: the evidence rescope needs.

A fixture shared by a module is safe only if no test that receives it changes it, and only
if it reads nothing per-test from ``request``. Both are read from the standard ``ast`` in
one walk per function, when the tree is indexed.
"""

from __future__ import annotations

import ast

PER_TEST_REQUEST = frozenset(
    {"node", "function", "instance", "cls", "getfixturevalue", "applymarker", "keywords"}
)
MUTATING_METHODS = frozenset(
    {
        "append", "extend", "insert", "remove", "pop", "popitem", "clear", "sort", "reverse",
        "update", "setdefault", "add", "discard", "difference_update", "intersection_update",
        "symmetric_difference_update", "__setitem__", "__delitem__", "write", "truncate",
        "seek", "close", "set", "put", "drop_in_place",
    }
)  # fmt: skip
IN_PLACE_FUNCTIONS = frozenset(
    {"shuffle", "heapify", "heappush", "heappop", "heapreplace", "heappushpop", "insort",
     "insort_left", "insort_right", "setattr", "delattr", "setitem", "delitem"}
)  # fmt: skip


def changed_arguments(function: ast.AST, params: tuple[str, ...]) -> dict[str, str]:
    """Each parameter whose value the function changes, with the first code that does.

    Counts assignment to an attribute or item, ``del``, augmented assignment, mutating
    methods, ``inplace=True`` and in-place functions, also through a plain alias
    (``rows = table``).
    """
    if not params:
        return {}
    statements: list[ast.AST] = []
    aliases: list[ast.Assign] = []
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name):
            aliases.append(node)
        if isinstance(node, ast.Assign | ast.Delete | ast.AugAssign | ast.AnnAssign | ast.Call):
            statements.append(node)
    owner = {name: name for name in params}
    for _ in range(2):
        for assign in aliases:
            source = owner.get(assign.value.id)  # type: ignore[attr-defined]
            if source is not None:
                owner.update((t.id, source) for t in assign.targets if isinstance(t, ast.Name))
    found: dict[str, str] = {}
    for node in statements:
        for name in _changed_names(node):
            param = owner.get(name) if name is not None else None
            if param is not None and param not in found:
                found[param] = ast.unparse(node).splitlines()[0][:60]
    return found


def _changed_names(node: ast.AST) -> list[str | None]:
    if isinstance(node, ast.Call):
        func = node.func
        names: list[str | None] = []
        if isinstance(func, ast.Attribute):
            inplace = any(
                k.arg == "inplace" and not (isinstance(k.value, ast.Constant) and not k.value.value)
                for k in node.keywords
            )
            if func.attr in MUTATING_METHODS or inplace:
                names.append(_base(func.value))
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if called in IN_PLACE_FUNCTIONS:
            names += [_base(a) for a in node.args]
        return names
    targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]  # type: ignore[attr-defined]
    names = [_base(t) for t in targets if isinstance(t, ast.Attribute | ast.Subscript)]
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        names.append(node.target.id)  # `rows += [...]` extends a list in place
    return names


def request_use(function: ast.AST) -> str | None:
    """The first per-test attribute of ``request`` the function reads, if any."""
    for child in ast.walk(function):
        if (
            isinstance(child, ast.Attribute)
            and isinstance(child.value, ast.Name)
            and child.value.id == "request"
            and child.attr in PER_TEST_REQUEST
        ):
            return child.attr
    return None


def _base(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None
