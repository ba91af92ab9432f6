"""The ids pytest gives the cases of a literal ``@pytest.mark.parametrize`` list.

Follows ``_pytest.python.IdMaker``: an explicit ``pytest.param(id=...)`` or ``ids=[...]``
entry wins; str, bytes, numbers, bool and None give their own text; anything else is the
argument name plus the case's index; duplicates get a counter suffix. Where a list is not
literal enough to know the ids, the answer is ``None`` and the codemod says so.
"""

from __future__ import annotations

import ast
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import libcst as cst


@dataclass(frozen=True)
class Case:
    element: cst.Element
    id: str
    values: list[cst.BaseExpression]
    """One expression per argument name, as pytest hands them to the test."""


@dataclass(frozen=True)
class CaseList:
    container: cst.List | cst.Tuple
    cases: list[Case]


IsParam = Callable[[cst.BaseExpression], bool]
"""Whether an expression names ``pytest.param`` (resolved through the file's imports)."""


def parametrize_cases(call: cst.Call, module: cst.Module, is_param: IsParam) -> CaseList | None:
    names = _argnames(_argument(call, 0, "argnames"))
    values = _argument(call, 1, "argvalues")
    if names is None or not isinstance(values, cst.List | cst.Tuple):
        return None
    explicit = _explicit_ids(_argument(call, None, "ids"))
    if explicit is False:
        return None
    ids: list[str] = []
    parts: list[list[cst.BaseExpression]] = []
    for index, element in enumerate(values.elements):
        if not isinstance(element, cst.Element):
            return None
        split = _split(element.value, names, is_param)
        if split is None:
            return None
        given = explicit[index] if explicit and index < len(explicit) else None
        case_id = (
            given
            if given is not None
            else _case_id(element.value, split, names, index, module, is_param)
        )
        if case_id is None:
            return None
        ids.append(case_id)
        parts.append(split)
    elements = [e for e in values.elements if isinstance(e, cst.Element)]
    cases = [Case(e, i, p) for e, i, p in zip(elements, _unique(ids), parts, strict=True)]
    return CaseList(values, cases)


def _argument(call: cst.Call, position: int | None, keyword: str) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == keyword:
            return arg.value
    positional = [a for a in call.args if a.keyword is None and not a.star]
    if position is not None and position < len(positional):
        return positional[position].value
    return None


def _literal(node: cst.BaseExpression | None, module: cst.Module) -> object:
    if node is None:
        raise ValueError("missing")
    return ast.literal_eval(module.code_for_node(node).strip())


def _argnames(node: cst.BaseExpression | None) -> list[str] | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        if isinstance(value, str):
            return [n.strip() for n in value.split(",") if n.strip()]
    if isinstance(node, cst.List | cst.Tuple):
        names = [
            e.value.evaluated_value for e in node.elements if isinstance(e.value, cst.SimpleString)
        ]
        if len(names) == len(node.elements) and all(isinstance(n, str) for n in names):
            return [str(n) for n in names]
    return None


def _explicit_ids(
    node: cst.BaseExpression | None,
) -> list[str | None] | Literal[False] | None:
    """The ``ids=`` list; ``None`` when absent; ``False`` when it is not a literal list."""
    if node is None:
        return None
    if not isinstance(node, cst.List | cst.Tuple):
        return False
    ids: list[str | None] = []
    for element in node.elements:
        value = element.value
        if isinstance(value, cst.Name) and value.value == "None":
            ids.append(None)
        elif isinstance(value, cst.SimpleString) and isinstance(value.evaluated_value, str):
            ids.append(value.evaluated_value)
        else:
            return False
    return ids


def _split(
    value: cst.BaseExpression, names: list[str], is_param: IsParam
) -> list[cst.BaseExpression] | None:
    """The case's value for each argument name, or ``None`` when that is not literal."""
    if isinstance(value, cst.Call) and is_param(value.func):
        parts = [a.value for a in value.args if a.keyword is None and not a.star]
    elif len(names) == 1:
        parts = [value]
    elif isinstance(value, cst.Tuple | cst.List) and not any(
        isinstance(e, cst.StarredElement) for e in value.elements
    ):
        parts = [e.value for e in value.elements]
    else:
        return None
    return parts if len(parts) == len(names) else None


def _case_id(
    value: cst.BaseExpression,
    parts: list[cst.BaseExpression],
    names: list[str],
    index: int,
    module: cst.Module,
    is_param: IsParam,
) -> str | None:
    if isinstance(value, cst.Call) and is_param(value.func):
        given = _argument(value, None, "id")
        if isinstance(given, cst.SimpleString) and isinstance(given.evaluated_value, str):
            return given.evaluated_value
        if given is not None and not (isinstance(given, cst.Name) and given.value == "None"):
            return None
    return "-".join(_value_id(p, name, index, module) for p, name in zip(parts, names, strict=True))


def _value_id(node: cst.BaseExpression, name: str, index: int, module: cst.Module) -> str:
    try:
        value = _literal(node, module)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return f"{name}{index}"
    if isinstance(value, str):
        return _ascii_escaped(value)
    if isinstance(value, bytes):
        return value.decode("ascii", "backslashreplace")
    if value is None or isinstance(value, int | float | complex):
        return str(value)
    return f"{name}{index}"


def _ascii_escaped(value: str) -> str:
    """pytest's ``ascii_escaped`` for str: unicode escapes, then non-printables as ``\\xNN``."""
    escaped = value.encode("unicode_escape").decode("ascii")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in escaped)


def _unique(ids: list[str]) -> list[str]:
    counts = Counter(ids)
    if len(counts) == len(ids):
        return ids
    suffixes: dict[str, int] = defaultdict(int)
    result = list(ids)
    for position, case_id in enumerate(ids):
        if counts[case_id] > 1:
            separator = "_" if case_id and case_id[-1].isdigit() else ""
            new_id = f"{case_id}{separator}{suffixes[case_id]}"
            while new_id in set(result):
                suffixes[case_id] += 1
                new_id = f"{case_id}{separator}{suffixes[case_id]}"
            result[position] = new_id
            suffixes[case_id] += 1
    return result
