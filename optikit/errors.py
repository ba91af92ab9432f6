"""The one error type a user is meant to see, and the rule that turns bad input into it.

Every command turns bad input into a single line on stderr and exit code 2 (DESIGN.md, "Exit
codes"): an ``OptikitError``, an ``OSError`` on a path the user gave (missing, a directory,
permission denied, read-only, disk full) or text that is not UTF-8. Anything else is a bug and
keeps its traceback; ``OPTIKIT_DEBUG=1`` (or ``optikit --debug``) keeps every traceback.
"""

from __future__ import annotations

import errno
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydantic is imported by the readers that validate, not by every command
    from pydantic import ValidationError


class OptikitError(Exception):
    """Bad input the user can fix: the message names the file and the fix."""

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


_OS_FIXES = {
    errno.ENOENT: "not found; check the path",
    errno.EISDIR: "is a directory; give the path of a file",
    errno.ENOTDIR: "a part of the path is a file, not a directory; check the path",
    errno.EACCES: "permission denied; check the permissions or choose another path",
    errno.EPERM: "operation not permitted; check the permissions or choose another path",
    errno.EROFS: "read-only file system; choose a writable path",
    errno.ENOSPC: "no space left on the device; free some space and run again",
    errno.EEXIST: "already exists and is in the way; move it aside",
    errno.ENAMETOOLONG: "the file name is too long; choose a shorter one",
}


def debugging() -> bool:
    """Tracebacks wanted: ``OPTIKIT_DEBUG=1`` (what ``optikit --debug`` sets)."""
    return os.environ.get("OPTIKIT_DEBUG", "") not in ("", "0")


def user_message(exc: BaseException) -> str | None:
    """The one line a user sees for bad input, or ``None`` when ``exc`` is a bug."""
    if isinstance(exc, OptikitError):
        return str(exc)
    if isinstance(exc, OSError) and (exc.filename is not None or exc.errno in _OS_FIXES):
        what = _OS_FIXES.get(exc.errno or 0, f"{exc.strerror or exc}; check the path")
        return f"{exc.filename}: {what}" if exc.filename is not None else what
    if isinstance(exc, UnicodeDecodeError):
        return (
            f"a file is not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "save it as UTF-8 and run again"
        )
    return None


def invalid(exc: ValidationError, path: Path, what: str, fix: str) -> OptikitError:
    """A validation failure as one line: the file, the first bad field and the fix."""
    first = exc.errors(include_url=False)[0]
    value = first.get("input")
    if isinstance(value, float) and not math.isfinite(value):
        first["msg"] = f"{value} is not a finite number"
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > 1e300:
        first["msg"] = "the number is too large"
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"])
    more = exc.error_count() - 1
    also = f" (and {more} more)" if more else ""
    field = f"'{where.lstrip('.')}' " if where else ""
    return OptikitError(f"{what} is not valid: {field}{first['msg'].lower()}{also}. {fix}", path)
