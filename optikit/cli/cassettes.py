"""``optikit cassettes``: what is recorded, which recordings lost their test, and secrets."""

from __future__ import annotations

import datetime
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from optikit.cli.support import ProjectOption, console, errors, user_errors
from optikit.config import OptikitConfig, load_config
from optikit.errors import OptikitError

cassettes_app = typer.Typer(
    help="List, prune and check the LLM cassettes that `pytest --record-llm` writes.",
    no_args_is_help=True,
)


@dataclass(frozen=True)
class CassetteInfo:
    path: Path
    test: str | None
    calls: int
    models: tuple[str, ...]
    latency: float
    tokens: int
    recorded: datetime.datetime


def cassette_files(config: OptikitConfig) -> list[Path]:
    return sorted(config.path(config.llm.cassette_dir).rglob("*.yaml"))


def read_cassette(path: Path) -> CassetteInfo:
    import yaml

    from fixtures_lib.cassettes import format as cassette_format

    try:
        data: dict[str, Any] = cassette_format.deserialize(path.read_text(encoding="utf-8"))
        interactions = data["interactions"]
        calls = [i["response"].get("optikit") or {} for i in interactions]
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError, ValueError) as exc:
        why = str(exc) if type(exc) is ValueError else type(exc).__name__
        raise OptikitError(
            f"cassette is unreadable ({why}); delete it and record it again "
            "with pytest --record-llm-mode=all",
            path,
        ) from None
    return CassetteInfo(
        path=path,
        test=(data.get("metadata") or {}).get("test"),
        calls=len(interactions),
        models=tuple(sorted({c["model"] for c in calls if c.get("model")})),
        latency=sum(c.get("latency_seconds") or 0.0 for c in calls),
        tokens=sum(sum((c.get("usage") or {}).values()) for c in calls),
        recorded=datetime.datetime.fromtimestamp(path.stat().st_mtime),
    )


def _age(moment: datetime.datetime) -> str:
    days = (datetime.datetime.now() - moment).days
    return "today" if days == 0 else f"{days} d"


@cassettes_app.command("list")
@user_errors
def list_cassettes(project: ProjectOption = Path(".")) -> None:
    """Each cassette's test, calls, models, recorded latency, tokens and age.

    Examples:

      optikit cassettes list
    """
    config = load_config(project)
    files = cassette_files(config)
    if not files:
        console.print(f"No cassettes in {escape(str(config.path(config.llm.cassette_dir)))}.")
        return
    table = Table("test", "calls", "models", "latency s", "tokens", "age")
    for column in table.columns[1:]:
        column.justify = "right"
    table.columns[0].overflow = "fold"
    infos = [read_cassette(path) for path in files]
    for info in infos:
        table.add_row(
            escape(info.test or info.path.name),
            str(info.calls),
            escape(", ".join(info.models)),
            f"{info.latency:.2f}",
            f"{info.tokens:,}",
            _age(info.recorded),
        )
    console.print(table)
    total = sum(info.latency for info in infos)
    console.print(
        f"{len(infos)} cassettes, {sum(i.calls for i in infos)} calls: "
        f"{total:.1f} s of model latency that replay does not wait for."
    )


def collected_tests(root: Path) -> set[str]:
    """The suite's test ids, as ``pytest --collect-only`` sees them from the project root."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if result.returncode not in (0, 5):
        tail = (result.stdout + result.stderr).strip().splitlines()[-1:] or ["no output"]
        raise OptikitError(f"pytest could not collect the suite ({tail[0]}); fix that first", root)
    return {line.strip() for line in result.stdout.splitlines() if "::" in line}


def orphans(config: OptikitConfig) -> Iterator[CassetteInfo]:
    tests = collected_tests(config.root)
    for path in cassette_files(config):
        info = read_cassette(path)
        if info.test is not None and info.test not in tests:
            yield info


@cassettes_app.command("prune")
@user_errors
def prune(
    apply: Annotated[
        bool, typer.Option("--apply", help="Delete them; without it, only list them.")
    ] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Cassettes whose test no longer exists (found by collecting the suite).

    Examples:

      optikit cassettes prune

      optikit cassettes prune --apply
    """
    config = load_config(project)
    found = list(orphans(config))
    for info in found:
        verb = "deleted" if apply else "would delete"
        console.print(f"{verb} {escape(str(info.path))} ({escape(info.test or '?')})")
        if apply:
            info.path.unlink()
    if not found:
        console.print("Every cassette belongs to a collected test.")
    elif not apply:
        console.print("Run again with --apply to delete them.")


@cassettes_app.command("check")
@user_errors
def check(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Cassette files or directories; default: the cassette directory."),
    ] = None,
    project: ProjectOption = Path("."),
) -> None:
    """Scan cassettes for credentials: exit 1 naming file, line and kind of each find, 0 when
    clean, 2 when a file cannot be read. Use it as a pre-commit hook.

    Examples:

      optikit cassettes check

      optikit cassettes check tests/cassettes/test_summary.yaml
    """
    from fixtures_lib.cassettes.scan import UnreadableCassette, scan_file, yaml_files
    from fixtures_lib.cassettes.secrets import Scrubber

    config = load_config(project)
    default = config.path(config.llm.cassette_dir)
    if not paths and not default.exists():
        console.print(f"No cassette directory ({escape(str(default))}): nothing to check.")
        return
    missing = [p for p in paths or () if not p.exists()]
    if missing:
        raise OptikitError("no such cassette; pass existing files or directories", missing[0])
    files = yaml_files(paths or [default])
    scrubber = Scrubber()
    findings, unreadable = [], []
    for path in files:
        try:
            findings.extend(scan_file(path, scrubber))
        except UnreadableCassette as exc:
            unreadable.append(f"{path}: cannot be read ({exc}); fix or delete it")
    for line in [*map(str, findings), *unreadable]:
        errors.print(escape(line), highlight=False, soft_wrap=True)
    if unreadable:
        raise typer.Exit(2)
    if findings:
        errors.print(f"{len(findings)} possible secret(s) in cassettes; re-record or redact them.")
        raise typer.Exit(1)
    console.print(f"{len(files)} cassettes checked: no secrets found.")
