"""What every ``optikit`` command shares: the consoles, the --project option, the error rule."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from optikit.config import OptikitConfig, PerformanceConfig
from optikit.errors import OptikitError, debugging, user_message

P = ParamSpec("P")
R = TypeVar("R")

UNWRAPPED = 10_000


def _console(stderr: bool = False) -> Console:
    """Rich's own width in a terminal. Piped (a CI log) rich would wrap at 80 columns and
    break node ids over several lines of a table; there every line is printed whole, so a
    node id can be grepped, unless COLUMNS asks for a width."""
    made = Console(stderr=stderr)
    if made.is_terminal or "COLUMNS" in os.environ:
        return made
    return Console(stderr=stderr, width=UNWRAPPED)


console = _console()
errors = _console(stderr=True)

DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help=f"The run record to read (default: {PerformanceConfig().data_file}, or data_file "
        r"in \[tool.optikit.performance]).",
    ),
]


def data_path(config: OptikitConfig, given: Path | None) -> Path:
    """The run record ``--data`` names, else the configured one."""
    return given if given is not None else config.path(config.performance.data_file)


ProjectOption = Annotated[
    Path,
    typer.Option(
        "--project",
        "-p",
        help="Any directory inside the project; its nearest pyproject.toml is used.",
        file_okay=False,
    ),
]


MAX_COUNT = 1_000_000  # runs, history windows: far beyond use, well inside SQLite's integers


def positive_seconds(value: float | None) -> float | None:
    """A time limit from the command line, checked as the config checks its own (typer callback)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"{value} is not a number of seconds above 0")
    return value


def worker_count(value: str | None) -> str | None:
    """``-n``: ``auto`` or a number of workers, as pytest-xdist takes it (0: no workers)."""
    if value is not None and value != "auto" and not (value.isdigit() and int(value) <= 1024):
        raise typer.BadParameter(f"{value!r} is not 'auto' or a number of workers from 0 to 1024")
    return value


def user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Bad input is one line on stderr and exit code 2, never a traceback (DESIGN.md)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (OptikitError, OSError, UnicodeDecodeError) as exc:
            message = user_message(exc)
            if message is None or debugging():
                raise
            errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper
