"""How cached values become bytes and come back.

DataFrames go through Parquet (compact, fast, and readable by a newer library version, which a
pickle of a DataFrame is not); a fixture that returns a file gets its bytes stored and is
handed a fresh copy; anything else is pickled. Users put their own serializers in front with
``register_serializer``. A ``load`` that fails means a corrupt or outdated entry: the cache
drops it and rebuilds.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Serializer:
    """``load`` gets the stored bytes (a memoryview, sparing a copy) and a function that
    makes a fresh scratch directory, for values that are files."""

    name: str
    handles: Callable[[Any], bool]
    dump: Callable[[Any], bytes]
    load: Callable[[memoryview, Callable[[], Path]], Any]


def _is_type(value: Any, module: str, name: str) -> bool:
    kind = type(value)
    return kind.__name__ == name and kind.__module__.split(".")[0] == module


def _dump_polars(frame: Any) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def _load_polars(data: memoryview, _scratch: Callable[[], Path]) -> Any:
    """One chunk per column, as a freshly built frame has: Parquet row groups come back as
    many chunks, and on those ``sample()`` ran 4x slower in the demo, so a warm cache made
    a test slower than building the frame (pandas comes back the same as built)."""
    import polars as pl

    return pl.read_parquet(io.BytesIO(data)).rechunk()


def _dump_pandas(frame: Any) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def _load_pandas(data: memoryview, _scratch: Callable[[], Path]) -> Any:
    import pandas as pd

    return pd.read_parquet(io.BytesIO(data))


def _is_file(value: Any) -> bool:
    if not isinstance(value, Path):
        return False
    if value.is_dir():
        raise TypeError(
            f"a cached fixture returned the directory {value}; return a file, "
            "or register a serializer for directories (fixtures_lib.register_serializer)"
        )
    return value.is_file()


def _dump_file(path: Path) -> bytes:
    name = path.name.encode()
    return len(name).to_bytes(2, "little") + name + path.read_bytes()


def _load_file(data: memoryview, scratch: Callable[[], Path]) -> Path:
    size = int.from_bytes(data[:2], "little")
    name = bytes(data[2 : 2 + size]).decode()
    if not name or "/" in name or name in {".", ".."}:
        raise ValueError(f"stored file name {name!r} is not a plain file name")
    path = scratch() / name
    path.write_bytes(data[2 + size :])
    return path


def _unpickle(data: memoryview, _scratch: Callable[[], Path]) -> Any:
    return pickle.loads(data)


BUILTIN = (
    Serializer(
        "polars-parquet", lambda v: _is_type(v, "polars", "DataFrame"), _dump_polars, _load_polars
    ),
    Serializer(
        "pandas-parquet", lambda v: _is_type(v, "pandas", "DataFrame"), _dump_pandas, _load_pandas
    ),
    Serializer("file", _is_file, _dump_file, _load_file),
    Serializer(
        "pickle",
        lambda _v: True,
        lambda v: pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL),
        _unpickle,
    ),
)

_registered: list[Serializer] = []


def register_serializer(serializer: Serializer) -> None:
    """Put a serializer ahead of the built-in ones (a later registration wins over an earlier)."""
    if any(s.name == serializer.name for s in (*_registered, *BUILTIN)):
        raise ValueError(f"a serializer named {serializer.name!r} is already registered")
    _registered.insert(0, serializer)


def unregister_serializer(name: str) -> None:
    _registered[:] = [s for s in _registered if s.name != name]


def for_value(value: Any) -> Serializer:
    return next(s for s in (*_registered, *BUILTIN) if s.handles(value))


def by_name(name: str) -> Serializer | None:
    return next((s for s in (*_registered, *BUILTIN) if s.name == name), None)
