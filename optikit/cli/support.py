"""What every ``optikit`` command shares: the consoles, the --project option, the error rule."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from optikit.errors import OptikitError

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
errors = Console(stderr=True)

ProjectOption = Annotated[
    Path,
    typer.Option(
        "--project",
        "-p",
        help="Any directory inside the project; its nearest pyproject.toml is used.",
        file_okay=False,
    ),
]


def user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Bad input is one line on stderr and exit code 2, never a traceback (DESIGN.md)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except OptikitError as exc:
            errors.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper
