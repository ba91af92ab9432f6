"""Content hashes for the fixture cache: a key changes whenever what a value depends on changes.

A cached value is only as trustworthy as its key, so everything that can change the value goes
in: the fixture's code, a format
version, the user's ``version=``, the parameter, the content of its inputs and of declared input
files. Values with no stable content (clients, servers, paths to temporary directories) are
left out rather than hashed by identity, which would change every run and never hit.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import hashlib
import inspect
import os
import textwrap
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

# Bump when the stored layout or the key recipe changes: every old entry then misses.
FORMAT_VERSION = 1


def digest(*parts: bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(len(part).to_bytes(8, "little"))
        hasher.update(part)
    return hasher.hexdigest()


@cache
def source_digest(function: Callable[..., Any], *, decorators: bool = False) -> str:
    """The function's code, normalised through ``ast`` so comments and layout do not count.

    Decorators are left out unless asked for: a new entry in ``params`` should build that
    parameter's value, not throw away every other one.
    """
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        code = function.__code__
        return digest(code.co_code, repr(code.co_consts).encode())
    node = tree.body[0]
    if not decorators and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        node.decorator_list = []
    return digest(ast.unparse(node).encode())


def token(value: Any) -> bytes | None:
    """Canonical bytes for a value-like value, or None when it has no stable content.

    Unlike ``pickle`` or ``hash``, equal values give equal bytes in every process: sets and
    dicts are ordered by their members' tokens, floats by ``repr``.
    """
    if value is None or isinstance(value, (bool, int, float, complex)):
        return f"{type(value).__name__}:{value!r}".encode()
    if isinstance(value, str):
        return b"str:" + value.encode()
    if isinstance(value, (bytes, bytearray)):
        return b"bytes:" + bytes(value)
    if isinstance(value, enum.Enum):
        return f"enum:{type(value).__qualname__}.{value.name}".encode()
    if isinstance(value, (tuple, list)):
        return _join(f"{type(value).__name__}", (token(item) for item in value), ordered=True)
    if isinstance(value, (set, frozenset)):
        return _join("set", (token(item) for item in value), ordered=False)
    if isinstance(value, dict):
        pairs = (_join("pair", (token(k), token(v)), ordered=True) for k, v in value.items())
        return _join("dict", pairs, ordered=False)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        inner = token(fields)
        return None if inner is None else type(value).__qualname__.encode() + inner
    return _dataframe_token(value)


def _join(kind: str, tokens: Iterable[bytes | None], *, ordered: bool) -> bytes | None:
    items = list(tokens)
    if any(item is None for item in items):
        return None
    present: list[bytes] = [item for item in items if item is not None]
    if not ordered:
        present.sort()
    return f"{kind}[{len(present)}]:".encode() + digest(*present).encode()


def _dataframe_token(value: Any) -> bytes | None:
    """DataFrames are inputs often enough to hash by content (a few ms per 100k rows)."""
    module = type(value).__module__
    if module.startswith("polars") and type(value).__name__ == "DataFrame":
        import polars as pl

        # Arrow IPC is the frame's memory written out: equal frames, equal bytes; no numpy needed
        ipc = value.write_ipc(None, compression="uncompressed").getvalue()
        return b"polars:" + digest(pl.__version__.encode(), ipc).encode()
    if module.startswith("pandas") and type(value).__name__ == "DataFrame":
        import pandas as pd

        rows = pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes()
        columns = repr(list(zip(value.columns, value.dtypes, strict=True))).encode()
        return b"pandas:" + digest(pd.__version__.encode(), columns, rows).encode()
    return None


class InputFiles:
    """Hashes of declared input files, read once per (path, size, mtime) in a process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._seen: dict[tuple[str, int, int], str] = {}

    def digest(self, patterns: Iterable[str]) -> str:
        parts: list[bytes] = []
        for pattern in patterns:
            matches = sorted(p for p in self.root.glob(pattern) if p.is_file())
            parts.append(f"pattern:{pattern}:{len(matches)}".encode())
            for path in matches:
                parts.append(path.relative_to(self.root).as_posix().encode())
                parts.append(self._file_digest(path).encode())
        return digest(*parts)

    def _file_digest(self, path: Path) -> str:
        stat = path.stat()
        marker = (os.fspath(path), stat.st_size, stat.st_mtime_ns)
        known = self._seen.get(marker)
        if known is None:
            hasher = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    hasher.update(block)
            known = self._seen[marker] = hasher.hexdigest()
        return known
