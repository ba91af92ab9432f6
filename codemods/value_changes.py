"""What a function does to the values it is handed: the evidence rescope needs.

A fixture shared by a module is safe only if nothing that receives it can change it, and only
if it reads nothing per-test from ``request``. "Can change" is decided the way a reviewer
would without running the code: a mutation (assignment to an item or attribute, ``del``,
``+=``, a mutating method, ``inplace=True``, an in-place function) is a change; so is a call
the analysis cannot see into that is handed the value (a helper, ``conn.execute``, numpy's
``out=``, ``next``), unless it is a known read (``len``, ``df.groupby``, ``assert_*``...). A
helper defined in the same module or in the project is read in turn, three calls deep.
Everything is read from the standard ``ast`` when the tree is indexed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from types import UnionType
from typing import Protocol

PER_TEST_REQUEST = frozenset(
    {"node", "function", "instance", "cls", "getfixturevalue", "applymarker", "keywords"}
)
MUTATING_METHODS = frozenset(
    {
        "append", "extend", "insert", "remove", "pop", "popitem", "clear", "sort", "reverse",
        "update", "setdefault", "add", "discard", "difference_update", "intersection_update",
        "symmetric_difference_update", "__setitem__", "__delitem__", "write", "truncate",
        "seek", "close", "set", "put", "drop_in_place", "fill", "resize", "itemset",
        "sort_values", "write_text", "write_bytes", "mkdir", "touch", "unlink", "rmdir",
    }
)  # fmt: skip
IN_PLACE_FUNCTIONS = frozenset(
    {"shuffle", "heapify", "heappush", "heappop", "heapreplace", "heappushpop", "insort",
     "insort_left", "insort_right", "setattr", "delattr", "setitem", "delitem"}
)  # fmt: skip
# Methods that only read their object (str, containers, pandas/polars/numpy, pathlib). Not
# ``get``: on a web test client it sends a request and keeps its cookies (puppetboard's
# ``client`` fixture broke in random order at module scope).
READ_ONLY_METHODS = frozenset(
    {
        "keys", "values", "items", "copy", "count", "index", "find", "rfind",
        "startswith", "endswith", "split", "rsplit", "splitlines", "join", "strip", "lstrip",
        "rstrip", "lower", "upper", "title", "format", "encode", "decode", "isdigit",
        "isalpha", "issubset", "issuperset", "isdisjoint", "union", "intersection",
        "difference", "symmetric_difference", "head", "tail", "describe", "sum", "mean",
        "median", "min", "max", "std", "var", "quantile", "groupby", "group_by", "agg",
        "aggregate", "filter", "select", "with_columns", "query", "to_dict", "to_list",
        "tolist", "to_numpy", "to_pandas", "to_dicts", "to_series", "astype", "cast",
        "equals", "isna", "isnull", "notna", "is_null", "unique", "n_unique", "nunique",
        "value_counts", "merge", "pivot", "melt", "explode", "item", "rows", "row",
        "iter_rows", "iterrows", "itertuples", "sample", "drop", "rename", "reset_index",
        "set_index", "dropna", "fillna", "round", "abs", "cumsum", "cumprod", "diff",
        "pct_change", "shift", "rolling", "resample", "corr", "cov", "all", "any", "argmax",
        "argmin", "argsort", "reshape", "transpose", "flatten", "ravel", "dot", "clip",
        "nonzero", "searchsorted", "take", "sel", "isel", "loc", "iloc", "exists",
        "is_file", "is_dir", "read_text", "read_bytes", "iterdir", "glob", "rglob", "stat",
        "resolve", "relative_to", "with_name", "with_suffix", "joinpath", "as_posix",
        "as_uri", "is_relative_to", "model_dump", "model_dump_json", "json", "dict",
        "to_json", "to_csv", "to_string", "to_markdown", "hexdigest", "digest", "getvalue",
        "__len__", "__contains__", "__getitem__", "__eq__", "lazy", "collect", "columns",
        "schema", "slice", "limit", "sort_by", "top_k", "len", "height",
    }
)  # fmt: skip
# Functions (by their last dotted name) that only read what they are handed.
PURE_CALLS = frozenset(
    {
        "len", "str", "repr", "bool", "int", "float", "complex", "bytes", "list", "tuple",
        "set", "frozenset", "dict", "sorted", "sum", "min", "max", "any", "all", "abs",
        "round", "isinstance", "issubclass", "type", "id", "hash", "print", "enumerate",
        "zip", "map", "filter", "getattr", "hasattr", "format", "iter", "reversed", "copy",
        "deepcopy", "dumps", "approx", "array_equal", "allclose", "isclose", "isnan",
        "isfinite", "shape", "ndim", "asarray", "array", "exists", "isfile", "isdir",
        "getsize", "listdir", "basename", "dirname", "fspath", "Path", "PurePath", "open",
        "frame_equal", "equal", "Counter", "OrderedDict", "defaultdict", "mean", "median",
        "stdev", "sqrt", "log", "floor", "ceil", "fabs", "DataFrame", "Series", "concat",
        "read_text", "loads", "encode", "b64encode", "sha256", "md5", "fromkeys",
    }
)  # fmt: skip
# assert_frame_equal, check_output, read_csv, load_workbook: by convention they only read
READING_PREFIXES = ("assert", "check_", "read_", "load_", "is_", "has_", "get_")
WRITE_MODES = frozenset("wax+")
GLOBAL_CALLS = frozenset(
    {
        "os.chdir", "setattr", "delattr", "os.putenv", "os.unsetenv", "importlib.reload",
        "reload", "locale.setlocale", "random.seed", "np.random.seed", "numpy.random.seed",
        "signal.signal", "logging.disable", "warnings.simplefilter", "warnings.filterwarnings",
        "sys.setrecursionlimit", "socket.setdefaulttimeout", "time.tzset",
    }
)  # fmt: skip
PATH_BUILDERS = frozenset(
    {"os.path.join", "str", "Path", "pathlib.Path", "os.fspath", "os.path.abspath"}
)
ITERATOR_CALLS = frozenset({"iter", "count", "cycle", "repeat", "chain", "islice", "tee"})


class Finder(Protocol):
    """Finds a called name's definition (and the finder for names in *its* module)."""

    def __call__(
        self, name: str
    ) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, Finder] | None: ...


def find_nothing(name: str) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, Finder] | None:
    return None


def changed_arguments(
    function: ast.AST,
    params: tuple[str, ...],
    find: Finder = find_nothing,
    hands_on: bool = False,
    depth: int = 0,
) -> dict[str, str]:
    """Each parameter whose value the function changes or may change, with what does it:
    ``changes its value: <code>``, or ``calls/passes ..., which may change it``.

    Followed through plain aliases (``rows = table``, ``col = table["a"]``). ``hands_on``:
    the function is a fixture, and returning the value hands it to receivers unchecked.
    """
    if not params:
        return {}
    owner = _owners(function, params)
    found: dict[str, str] = {}

    def record(name: str | None, what: str) -> None:
        param = owner.get(name) if name is not None else None
        if param is not None and param not in found:
            found[param] = what

    for node in ast.walk(function):
        if isinstance(node, ast.Assign | ast.Delete | ast.AugAssign | ast.AnnAssign):
            for name in _assigned_into(node):
                record(name, f"changes its value: {_code(node)}")
        elif isinstance(node, ast.Call):
            for name, what in _call_effects(node, owner, find, depth):
                record(name, what)
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                record(_held(item.context_expr), f"uses it as a context manager: {_code(item)}")
        elif isinstance(node, ast.Return | ast.Yield) and hands_on and node.value is not None:
            record(_held(node.value), "hands it on to its own receivers, which are not checked")
    return found


def _owners(function: ast.AST, params: tuple[str, ...]) -> dict[str, str]:
    """Each local name that holds (part of) a parameter's value -> the parameter."""
    owner = {name: name for name in params}
    aliases = [
        node
        for node in ast.walk(function)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name | ast.Subscript)
    ]
    for _ in range(2):
        for assign in aliases:
            source = owner.get(_held(assign.value) or "")
            if source is not None:
                owner.update((t.id, source) for t in assign.targets if isinstance(t, ast.Name))
    return owner


def _call_effects(
    node: ast.Call, owner: dict[str, str], find: Finder, depth: int
) -> Iterator[tuple[str | None, str]]:
    func = node.func
    name = _dotted(func)
    last = name.rsplit(".", 1)[-1]
    if isinstance(func, ast.Attribute):
        base = _base(func.value)
        inplace = any(
            k.arg == "inplace" and not (isinstance(k.value, ast.Constant) and not k.value.value)
            for k in node.keywords
        )
        if func.attr in MUTATING_METHODS or inplace:
            yield base, f"changes its value: {_code(node)}"
        elif base in owner and func.attr == "open":
            if _writes(node, 0):
                yield base, f"writes into it: {_code(node)}"
        elif base in owner and func.attr not in READ_ONLY_METHODS and _held(func.value):
            yield base, f"calls {_code(node)}, which may change it"
    if last in IN_PLACE_FUNCTIONS:
        yield from ((_base(a), f"changes its value: {_code(node)}") for a in node.args)
        return
    if last in GLOBAL_CALLS:
        return
    handed = [(i, a) for i, a in enumerate(node.args)] + [
        (k.arg, k.value) for k in node.keywords if k.arg is not None
    ]
    for position, value in handed:
        held = _held(value.value if isinstance(value, ast.Starred) else value)
        if held not in owner:
            continue
        if last == "open" and not isinstance(func, ast.Attribute):
            if _writes(node, 1):
                yield held, f"writes into it: {_code(node)}"
            continue
        if position == "out":
            yield held, f"passes it as out= to {_code(node)}, which writes into it"
            continue
        if last in PURE_CALLS or last.startswith(READING_PREFIXES):
            continue
        effect = _through(name, position, find, depth)
        if effect:
            yield held, effect


def _through(name: str, position: int | str, find: Finder, depth: int) -> str | None:
    """What handing the value to ``name`` does (``None``: nothing): read the callee where
    it can be found, else assume the worst."""
    unknown = f"passes it to {name}(), which may change it"
    target = find(name) if depth < 3 else None
    if target is None:
        return unknown
    callee, callee_find = target
    arguments = callee.args
    positional = [a.arg for a in (*arguments.posonlyargs, *arguments.args)]
    if positional and positional[0] in ("self", "cls"):
        return unknown
    if isinstance(position, int):
        if position >= len(positional):
            return unknown
        param = positional[position]
    else:
        param = position
        if param not in positional and param not in {a.arg for a in arguments.kwonlyargs}:
            return unknown
    inner = changed_arguments(callee, (param,), callee_find, depth=depth + 1).get(param)
    if inner is None:
        return None
    return f"passes it to {name}() (line {callee.lineno}), which {inner}"


def _writes(call: ast.Call, position: int) -> bool:
    mode: ast.expr | None = None
    if len(call.args) > position:
        mode = call.args[position]
    for keyword in call.keywords:
        if keyword.arg == "mode":
            mode = keyword.value
    if mode is None:
        return False
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return bool(set(mode.value) & WRITE_MODES)
    return True


def _assigned_into(node: ast.AST) -> list[str | None]:
    is_list = isinstance(node, ast.Assign | ast.Delete)
    targets = node.targets if is_list else [node.target]  # type: ignore[attr-defined]
    names = [_base(t) for t in targets if isinstance(t, ast.Attribute | ast.Subscript)]
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        names.append(node.target.id)  # `rows += [...]` extends a list in place
    return names


def global_effect(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """The first thing a fixture does to state outside itself (a module attribute, the
    environment, the working directory, a global registry), or in its teardown: at a wider
    scope that would hold for a whole module, or be undone once instead of after each test."""
    local = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
    local |= {
        n.id for n in ast.walk(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    teardown = _after_yield(function)
    for node in ast.walk(function):
        effect = _effect(node, local)
        if effect:
            when = "after each test" if node in teardown else "for every test"
            return f"changes state outside itself {when}: {effect}"
    return None


def _effect(node: ast.AST, local: set[str]) -> str | None:
    if isinstance(node, ast.Global | ast.Nonlocal):
        return _code(node)
    if isinstance(node, ast.Assign | ast.Delete | ast.AugAssign | ast.AnnAssign):
        for name in _assigned_into(node):
            if name is not None and name not in local:
                return _code(node)
    if isinstance(node, ast.Call):
        name = _dotted(node.func)
        if name in GLOBAL_CALLS or name.startswith(("os.environ.", "sys.path.", "sys.modules.")):
            return _code(node)
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in MUTATING_METHODS - {"close", "write"}:
            base = _base(func.value)
            if base is not None and base not in local:
                return _code(node)
    return None


def _after_yield(function: ast.AST) -> set[ast.AST]:
    """The nodes of statements that follow the fixture's (first) top-level ``yield``."""
    body = getattr(function, "body", [])
    for index, statement in enumerate(body):
        if any(isinstance(n, ast.Yield | ast.YieldFrom) for n in ast.walk(statement)):
            return {n for later in body[index + 1 :] for n in ast.walk(later)} | (
                {n for n in ast.walk(statement)} if isinstance(statement, ast.Try) else set()
            )
    return set()


def hands_out_iterator(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """The value is an iterator: the first test to advance it changes it for the rest."""
    for node in ast.walk(function):
        if isinstance(node, ast.Return | ast.Yield) and node.value is not None:
            value = node.value
            if isinstance(value, ast.GeneratorExp):
                return _code(value)
            if isinstance(value, ast.Call) and _dotted(value.func).rsplit(".", 1)[-1] in (
                ITERATOR_CALLS
            ):
                return _code(value)
    return None


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


def _held(node: ast.expr) -> str | None:
    """The name whose value (or a part of it, by subscript, or a path inside it) this
    expression is."""
    return _root(node, ast.Subscript)


def _base(node: ast.expr) -> str | None:
    """The same, also through attributes: ``table.rows.append(...)`` changes ``table``."""
    return _root(node, ast.Attribute | ast.Subscript)


def _root(node: ast.expr, parts: type | UnionType) -> str | None:
    while True:
        if isinstance(node, parts):
            node = node.value  # type: ignore[attr-defined]
        elif (inner := _path_inside(node)) is not None:
            node = inner
        else:
            return node.id if isinstance(node, ast.Name) else None


def _path_inside(node: ast.expr) -> ast.expr | None:
    """``d / "x"``, ``os.path.join(d, "x")``, ``f"{d}/x"``, ``str(d)``: a path inside ``d``
    (writing there writes into a directory the fixture hands out)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div | ast.Add):
        return node.left
    if isinstance(node, ast.Call) and node.args and _dotted(node.func) in PATH_BUILDERS:
        return node.args[0]
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        return first.value if isinstance(first, ast.FormattedValue) else None
    return None


def _dotted(node: ast.expr) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif parts:
        parts.append("(...)")
    return ".".join(reversed(parts))


def _code(node: ast.AST) -> str:
    return ast.unparse(node).splitlines()[0][:60]
