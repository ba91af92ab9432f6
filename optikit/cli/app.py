"""The ``optikit`` command line (typer). Commands stay thin: they parse, call, and render."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from optikit import __version__
from optikit.cli import performance
from optikit.cli.audit import audit_parallel
from optikit.cli.cache import cache_app
from optikit.cli.cassettes import cassettes_app
from optikit.cli.codemod import codemod_app
from optikit.cli.init import init
from optikit.cli.support import ProjectOption, console, user_errors
from optikit.config import load_config, toml_value

app = typer.Typer(
    name="optikit",
    help="Make slow pytest suites fast and keep them fast.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect optikit's configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(cache_app, name="cache")
app.add_typer(cassettes_app, name="cassettes")
app.add_typer(codemod_app, name="codemod")
app.command("audit-parallel")(user_errors(audit_parallel))
app.command()(user_errors(init))
app.command()(user_errors(performance.baseline))
app.command()(user_errors(performance.regression))
app.command()(user_errors(performance.report))
app.command("import-junit")(user_errors(performance.import_junit))
app.command("export-durations")(user_errors(performance.export_durations_command))


def command_paths() -> list[list[str]]:
    """Every command's words after ``optikit`` (``["cache", "clear"]``), in the CLI's order:
    for the docs site's reference pages and the test that runs every help example."""
    found: list[list[str]] = []

    def walk(command: object, words: list[str]) -> None:
        subcommands = getattr(command, "commands", None)  # a group
        if subcommands is None:
            found.append(words)
        for name, sub in (subcommands or {}).items():
            walk(sub, [*words, name])

    walk(typer.main.get_command(app), [])
    return found


def _show_version(value: bool) -> None:
    if value:
        console.print(f"optikit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print optikit's version and exit.",
            callback=_show_version,
            is_eager=True,
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Show Python tracebacks instead of one-line errors."),
    ] = False,
) -> None:
    """Make slow pytest suites fast and keep them fast."""
    if debug:
        os.environ["OPTIKIT_DEBUG"] = "1"


@config_app.command("show")
@user_errors
def config_show(project: ProjectOption = Path(".")) -> None:
    r"""Print the effective \[tool.optikit] settings and where each value came from.

    Examples:

      optikit config show
    """
    config = load_config(project)
    source = config.pyproject or "no pyproject.toml found; all defaults"
    console.print(f"project root: [bold]{config.root}[/]\nconfig file:  [bold]{source}[/]")
    tables: dict[str, Table] = {}
    for setting in config.settings():
        if setting.section not in tables:
            tables[setting.section] = Table(
                "key",
                "value",
                "source",
                title=escape(f"[tool.optikit.{setting.section}]"),
                title_justify="left",
            )
        style = "bold" if setting.source != "default" else "dim"
        tables[setting.section].add_row(
            setting.key, escape(toml_value(setting.value)), f"[{style}]{setting.source}[/]"
        )
    for table in tables.values():
        table.columns[0].no_wrap = table.columns[2].no_wrap = True
        console.print(table)


INTERNAL_ERROR = 3


def main() -> None:
    """A bug in optikit exits 3, traceback kept: not 1, which a CI gate reads as "found a
    regression" (a ZeroDivisionError in the gate, beside a busy neighbour, did), nor 2, bad
    input the user can fix."""
    try:
        app()
    except Exception:
        traceback.print_exc()
        print(
            "optikit: internal error (a bug in optikit, not in your tests): "
            "please report it with the traceback above",
            file=sys.stderr,
        )
        sys.exit(INTERNAL_ERROR)
