"""``optikit cache``: look into, prune and clear the fixture cache of ``fixtures_lib``."""

from __future__ import annotations

import datetime
import re
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from optikit.cli.support import ProjectOption, console, user_errors
from optikit.config import OptikitConfig, load_config
from optikit.errors import OptikitError

if TYPE_CHECKING:  # diskcache behind it: imported by the command that opens the cache
    from fixtures_lib.cache.store import FixtureStore

cache_app = typer.Typer(
    help="Inspect and trim the disk cache behind @cached_fixture and cached datasets.",
    no_args_is_help=True,
)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """``90m``, ``12h``, ``7d``, ``2w`` in seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not match:
        raise OptikitError(
            f"--older-than {text!r} is not an age; write a number and a unit: 90m, 12h, 7d, 2w"
        )
    return float(match[1]) * _UNITS[match[2]]


class DamagedCache(OptikitError):
    """The cache directory is there but diskcache cannot open it: ``clear`` may remove it."""


@contextmanager
def _store(config: OptikitConfig) -> Iterator[FixtureStore | None]:
    from fixtures_lib.cache.store import FixtureStore

    directory = config.path(config.cache.dir)
    if not directory.exists():
        yield None
        return
    if not directory.is_dir():
        raise OptikitError(
            "is a file where the fixture cache directory should be; move it aside, "
            "or set [tool.optikit.cache] dir to another path",
            directory,
        )
    try:
        store = FixtureStore(directory, config.cache.size_limit_mb)
        try:
            yield store
        finally:
            store.close()
    except sqlite3.OperationalError as exc:
        if "readonly" in str(exc) or "unable to open" in str(exc):
            raise OptikitError(
                f"the fixture cache cannot be opened for writing ({exc}), which diskcache "
                "needs even to read it; check the directory's permissions",
                directory,
            ) from None
        raise DamagedCache(_damaged(exc), directory) from None
    except sqlite3.DatabaseError as exc:
        raise DamagedCache(_damaged(exc), directory) from None


def _damaged(exc: Exception) -> str:
    return f"the fixture cache is damaged ({exc}); delete it with `optikit cache clear`"


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return "-"
    moment = datetime.datetime.fromtimestamp(timestamp)
    return moment.strftime("%Y-%m-%d %H:%M")


@cache_app.command("stats")
@user_errors
def stats(project: ProjectOption = Path(".")) -> None:
    """Entries, size against the limit, and per-fixture hits, misses and last use.

    Examples:

      optikit cache stats
    """
    from fixtures_lib.cache.store import MB

    config = load_config(project)
    with _store(config) as store:
        if store is None:
            console.print(f"No fixture cache in {escape(str(config.path(config.cache.dir)))} yet.")
            return
        figures = store.stats()
    console.print(
        f"{figures.entries} entries, {figures.size_bytes / MB:.1f} MB "
        f"of {figures.size_limit_bytes / MB:.0f} MB in {escape(str(store.directory))}"
    )
    table = Table("fixture", "entries", "hits", "misses", "saved", "rebuilt", "last used")
    for column in table.columns[1:6]:
        column.justify = "right"
    table.columns[0].no_wrap = table.columns[6].no_wrap = True
    names = sorted(set(figures.fixtures) | set(figures.entries_per_fixture))
    for name in names:
        counts = figures.fixtures.get(name)
        table.add_row(
            escape(name),
            str(figures.entries_per_fixture.get(name, 0)),
            str(counts.hits if counts else 0),
            str(counts.misses if counts else 0),
            f"{counts.saved_seconds:.1f} s" if counts else "-",
            str(counts.corrupt if counts else 0),
            _when(counts.last_used if counts else None),
        )
    if names:
        console.print(table)


@cache_app.command("prune")
@user_errors
def prune(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="Remove entries no run has used for this long: 90m, 12h, 7d, 2w.",
        ),
    ] = "7d",
    project: ProjectOption = Path("."),
) -> None:
    """Remove entries that no run has used recently; the size limit handles the rest.

    Examples:

      optikit cache prune --older-than 2w
    """
    config = load_config(project)
    age = parse_age(older_than)
    with _store(config) as store:
        removed = store.prune(age) if store is not None else []
    for entry in removed:
        console.print(f"removed {escape(entry.fixture)} (last used {_when(entry.last_used)})")
    console.print(f"Pruned {len(removed)} entr{'y' if len(removed) == 1 else 'ies'}.")


@cache_app.command("clear")
@user_errors
def clear(project: ProjectOption = Path(".")) -> None:
    """Delete every cached fixture value and the usage figures.

    Examples:

      optikit cache clear
    """
    config = load_config(project)
    directory = config.path(config.cache.dir)
    try:
        with _store(config) as store:
            count = store.clear() if store is not None else 0
    except DamagedCache:
        shutil.rmtree(directory)  # too damaged to open: the directory itself is the cache
        console.print(f"Removed the damaged cache {escape(str(directory))}.")
        return
    console.print(
        f"Cleared {count} entr{'y' if count == 1 else 'ies'} from {escape(str(directory))}."
    )
