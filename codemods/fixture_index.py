"""Where each fixture is defined, what it depends on, and who receives and changes its value.

Read with the standard ``ast`` (several times faster than a full libcst parse; nothing
here is rewritten), over every ``conftest.py`` and test module under the given paths, in
parallel processes for a large tree. Each function keeps plain facts, not its syntax tree.
"""

from __future__ import annotations

import ast
import dataclasses
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from codemods.value_changes import (
    Finder,
    changed_arguments,
    global_effect,
    hands_out_iterator,
    request_use,
)

SCOPES = ("function", "class", "module", "package", "session")
FIXTURE_DECORATORS = frozenset({"fixture", "yield_fixture", "cached_fixture"})


@dataclass(frozen=True)
class Function:
    """A fixture or test: where it is, what it takes, and what it does with it."""

    name: str
    path: Path
    line: int
    params: tuple[str, ...]
    in_class: bool
    changes: tuple[tuple[str, str], ...] = ()  # (parameter, first code that changes it)
    request_use: str | None = None  # a per-test attribute of ``request`` it reads
    scope: str | None = None  # fixtures only; None when it is computed at run time
    autouse: bool = False
    fixture: bool = False
    def_name: str = ""  # the function's own name, when ``name=`` gives the fixture another
    is_async: bool = False
    effect: str | None = None  # what it does to state outside itself (global_effect)
    iterator: str | None = None  # the iterator it hands out
    parametrized: bool = False  # a fixture with params=, a test with a parametrize mark
    params_problem: str | None = None  # params pytest cannot compare between tests

    @property
    def region(self) -> Path:
        """What the definition is visible to: a conftest's directory, or its own module."""
        return self.path.parent if self.path.name == "conftest.py" else self.path

    def where(self, root: Path) -> str:
        shown = self.path.relative_to(root) if self.path.is_relative_to(root) else self.path
        return f"{shown}:{self.line}"


@dataclass
class FixtureIndex:
    fixtures: list[Function]
    tests: list[Function]
    unparsable: list[tuple[Path, str]]

    def __post_init__(self) -> None:
        self._by_name: dict[str, list[Function]] = {}
        self._takers: dict[str, list[Function]] = {}
        # request.getfixturevalue("name") calls, and the files that compute the name
        self.requested: dict[str, list[str]] = {}
        self.computed_requests: list[Path] = []

    def add(self, function: Function) -> None:
        (self.fixtures if function.fixture else self.tests).append(function)
        if function.fixture:
            self._by_name.setdefault(function.name, []).append(function)
        for param in function.params:
            self._takers.setdefault(param, []).append(function)

    def definitions(self, name: str) -> list[Function]:
        return self._by_name.get(name, [])

    def autouse(self) -> Iterator[Function]:
        return (f for f in self.fixtures if f.autouse)

    def receivers(self, name: str, region: Path) -> Iterator[Function]:
        """Tests and fixtures inside ``region`` that take ``name`` as an argument."""
        return (f for f in self._takers.get(name, []) if inside(f.path, region))


def visible(definition: Function, region: Path) -> bool:
    """Whether a test inside ``region`` may see ``definition``, or it overrides one there."""
    return inside(region, definition.region) or inside(definition.region, region)


def inside(path: Path, region: Path) -> bool:
    """``path.is_relative_to(region)``, on strings: called millions of times on a big tree."""
    p, r = str(path), str(region)
    return p == r or p.startswith(r.rstrip(os.sep) + os.sep)


PARALLEL_FROM = 64


def build_index(files: Iterable[Path], jobs: int = 1) -> FixtureIndex:
    files = list(files)
    index = FixtureIndex([], [], [])
    if jobs > 1 and len(files) >= PARALLEL_FROM:
        with ProcessPoolExecutor(jobs) as pool:
            found = list(pool.map(_index_file, files, chunksize=16))
    else:
        found = [_index_file(path) for path in files]
    for path, (functions, requests, error) in zip(files, found, strict=True):
        if error is not None:
            index.unparsable.append((path, error))
        for function in functions:
            index.add(function)
        for name, line in requests:
            if name is None:
                index.computed_requests.append(path)
            else:
                index.requested.setdefault(name, []).append(f"{path}:{line}")
    return index


Requests = list[tuple[str | None, int]]  # getfixturevalue("name") (None: computed), line


def _index_file(path: Path) -> tuple[list[Function], Requests, str | None]:
    tree = _parse(path)
    if isinstance(tree, str):
        return [], [], tree
    aliases = _fixture_aliases(tree)
    find = _finder(path, tree)
    functions = [
        _function(path, node, in_class, aliases, find) for node, in_class in _functions(tree)
    ]
    return [f for f in functions if f is not None], _requests(tree), None


_PARSED: dict[tuple[Path, int, int], ast.Module | str] = {}  # helpers are read once


def _parse(path: Path) -> ast.Module | str:
    """The module's tree, or why it has none."""
    try:
        stat = path.stat()
        key = (path, stat.st_mtime_ns, stat.st_size)
        if key not in _PARSED:
            _PARSED[key] = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError) as exc:
        return str(exc).splitlines()[0] or type(exc).__name__
    return _PARSED[key]


def _finder(path: Path, tree: ast.Module) -> Finder:
    """Resolves a called name to its definition: a function of this module, or one
    imported from a module found beside it or in a parent directory (the project)."""
    local = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    imported: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                imported[alias.asname or alias.name] = (node.module, alias.name)

    def find(name: str) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, Finder] | None:
        if name in local:
            return local[name], find
        if name not in imported:
            return None
        module, attribute = imported[name]
        source = _module_file(path, module)
        if source is None or isinstance(tree := _parse(source), str):
            return None
        return _finder(source, tree)(attribute)

    return find


def _module_file(path: Path, module: str) -> Path | None:
    relative = Path(*module.split("."))
    for parent in list(path.parents)[:6]:
        for base in (parent, parent / "src"):
            for candidate in (base / relative.with_suffix(".py"), base / relative / "__init__.py"):
                if candidate.is_file() and "site-packages" not in candidate.parts:
                    return candidate
    return None


def _fixture_aliases(tree: ast.Module) -> set[str]:
    """Names this module binds to pytest's fixture decorator (``from pytest import fixture
    as pfx``), beside the plain ones."""
    names = set(FIXTURE_DECORATORS)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("pytest", "fixtures_lib"):
            names |= {a.asname for a in node.names if a.asname and a.name in FIXTURE_DECORATORS}
    return names


def _requests(tree: ast.Module) -> Requests:
    """Every ``request.getfixturevalue(...)``: the literal name, or the names a parameter of
    the enclosing test takes from a literal ``parametrize`` list; ``None`` when computed."""
    found: Requests = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        choices = _parametrized_strings(function)
        for node in ast.walk(function):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "getfixturevalue"
                and node.args
            ):
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append((arg.value, node.lineno))
            elif isinstance(arg, ast.Name) and arg.id in choices:
                found += [(name, node.lineno) for name in choices[arg.id]]
            else:
                found.append((None, node.lineno))
    return found


def _parametrized_strings(function: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, list[str]]:
    """``@pytest.mark.parametrize("name", ["a", "b"])``: name -> the strings it takes."""
    found: dict[str, list[str]] = {}
    for decorator in function.decorator_list:
        if not (isinstance(decorator, ast.Call) and _decorator_name(decorator) == "parametrize"):
            continue
        if len(decorator.args) < 2 or not isinstance(decorator.args[0], ast.Constant):
            continue
        names = [n.strip() for n in str(decorator.args[0].value).split(",")]
        try:
            values = ast.literal_eval(decorator.args[1])
        except (ValueError, SyntaxError, TypeError):
            continue
        for position, name in enumerate(names):
            try:
                column = [v[position] if len(names) > 1 else v for v in values]
            except (TypeError, IndexError, KeyError):
                continue
            if all(isinstance(v, str) for v in column):
                found[name] = column
    return found


def _functions(tree: ast.Module) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef, bool]]:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node, False
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield item, True


def _function(
    path: Path,
    node: ast.FunctionDef | ast.AsyncFunctionDef,
    in_class: bool,
    aliases: set[str],
    find: Finder,
) -> Function | None:
    arguments = node.args
    params = tuple(
        a.arg
        for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)
        if a.arg not in {"self", "cls"}
    )
    decorator = next((d for d in node.decorator_list if _decorator_name(d) in aliases), None)
    if decorator is None and not node.name.startswith("test"):
        return None
    fixture = decorator is not None
    changes = tuple(changed_arguments(node, params, find, hands_on=fixture).items())
    function = Function(
        node.name,
        path,
        node.lineno,
        params,
        in_class,
        changes,
        def_name=node.name,
        is_async=isinstance(node, ast.AsyncFunctionDef),
        parametrized=any(_decorator_name(d) == "parametrize" for d in node.decorator_list),
    )
    if decorator is None:
        return function
    options = _fixture_options(decorator)
    return dataclasses.replace(
        function,
        name=options.name or node.name,
        request_use=request_use(node) if "request" in params else None,
        scope=options.scope,
        autouse=options.autouse,
        fixture=True,
        effect=global_effect(node),
        iterator=hands_out_iterator(node),
        parametrized=options.params is not None,
        params_problem=_params_problem(options.params),
    )


def _decorator_name(node: ast.expr) -> str | None:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else None


@dataclass(frozen=True)
class _Options:
    scope: str | None = "function"
    autouse: bool = False
    name: str | None = None
    params: ast.expr | None = None


def _fixture_options(decorator: ast.expr) -> _Options:
    options = _Options()
    if not isinstance(decorator, ast.Call):
        return options
    for keyword in decorator.keywords:
        value = keyword.value
        literal = value.value if isinstance(value, ast.Constant) else None
        if keyword.arg == "scope":
            scope = literal if isinstance(literal, str) and literal in SCOPES else None
            options = dataclasses.replace(options, scope=scope)
        elif keyword.arg == "autouse":
            autouse = not (isinstance(value, ast.Constant) and not value.value)
            options = dataclasses.replace(options, autouse=autouse)
        elif keyword.arg == "name" and isinstance(literal, str):
            options = dataclasses.replace(options, name=literal)
        elif keyword.arg == "params":
            options = dataclasses.replace(options, params=value)
    return options


def _params_problem(params: ast.expr | None) -> str | None:
    """pytest compares a wider-scoped fixture's cached param with the next test's (``==``):
    only plain literals are sure to compare (``pd.NA`` raises, an object may not)."""
    if params is None:
        return None
    if not isinstance(params, ast.List | ast.Tuple) or not all(_plain(e) for e in params.elts):
        return f"its params ({ast.unparse(params)[:40]}) are not plain literals pytest can compare"
    return None


def _plain(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Tuple):
        return all(_plain(e) for e in node.elts)
    return isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant)
