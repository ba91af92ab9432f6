"""Atomic file writes: a reader, or a process killed mid-write, never sees half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_bytes_atomic(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write to a temporary sibling, flush it to disk, then rename it over ``path``.

    ``durable=False`` skips the flush to disk: the rename still means a killed process
    leaves the old file or the new one, never half of one; only a crash of the whole
    machine can lose the write. For files rewritten on every run, where the flush can cost
    more than everything else the write does.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        os.chmod(temporary, _mode_for(path))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str, *, durable: bool = True) -> None:
    write_bytes_atomic(path, text.encode("utf-8"), durable=durable)


def _mode_for(path: Path) -> int:
    """Keep an existing file's permissions; give a new one what ``open()`` would."""
    if path.exists():
        return path.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
