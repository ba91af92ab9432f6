"""The one error type a user is meant to see.

Every command turns an ``OptikitError`` into a single line on stderr and exit code 2
(DESIGN.md, "Exit codes"); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class OptikitError(Exception):
    """Bad input the user can fix: the message names the file and the fix."""

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)
