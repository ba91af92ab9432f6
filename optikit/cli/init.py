"""``optikit init``: wire optikit into a project without disturbing what is already there.

Each of the three files is only ever appended to, and only with what is missing, so the
user's formatting and comments survive byte for byte and a second run changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from fixtures_lib.atomic import write_text_atomic
from optikit.cli.support import console
from optikit.config import (
    PYPROJECT,
    SECTIONS,
    OptikitConfig,
    parse_config,
    read_toml,
    toml_value,
)

MAKEFILE_TARGETS: dict[str, tuple[str, str]] = {
    "test-fast": (
        "everything but slow, serial and real-LLM tests, in parallel",
        'pytest -n auto -m "not slow and not serial and not real_llm"',
    ),
    "test-serial": (
        "the tests marked serial, one at a time",
        'pytest -p no:xdist -m "serial and not real_llm"',
    ),
    "test-integration-llm": (
        "the tests that talk to a real LLM (never replayed)",
        "pytest -m real_llm",
    ),
    "test-performance": (
        "run the suite and record its timings to the run record and the history",
        "pytest --track-performance",
    ),
    "performance-report": (
        "markdown report: slowest tests, fixture hot spots, trends",
        "optikit report",
    ),
    "performance-update-docs": (
        "refresh the generated section of PERFORMANCE.md",
        "optikit report --update-docs PERFORMANCE.md",
    ),
    "performance-baseline": (
        "commit-ready baseline from the medians of the last 5 tracked runs",
        "optikit baseline --from-history 5",
    ),
    "performance-regression": (
        "fail on real slowdowns against the baseline (confirmed by 3 re-runs)",
        "optikit regression --confirm 3",
    ),
}


@dataclass(frozen=True)
class Change:
    path: Path
    added: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.added)


def init_project(root: Path) -> list[Change]:
    """Add optikit's config section, Makefile targets and ignore entries to ``root``."""
    pyproject = root / PYPROJECT
    change, config = _add_config_section(pyproject)
    return [change, _add_make_targets(root / "Makefile"), _add_ignores(root / ".gitignore", config)]


def config_section_text() -> str:
    """The ``[tool.optikit]`` tables with every default spelled out and explained."""
    lines = ["# optikit: every value below is the default; see `optikit config show`."]
    for name, cls in SECTIONS.items():
        lines.append(f"[tool.optikit.{name}]")
        defaults = cls()
        for spec in fields(cls):
            value = toml_value(getattr(defaults, spec.name))
            lines.append(f"{spec.name} = {value}  # {spec.metadata['help']}")
        lines.append("")
    return "\n".join(lines)


def _add_config_section(pyproject: Path) -> tuple[Change, OptikitConfig]:
    text = pyproject.read_text(encoding="utf-8") if pyproject.exists() else ""
    document = read_toml(pyproject) if pyproject.exists() else {}
    if "optikit" in document.get("tool", {}):
        return Change(pyproject, ()), parse_config(document, pyproject)
    write_text_atomic(pyproject, _append(text, [config_section_text()]))
    sections = tuple(f"[tool.optikit.{name}]" for name in SECTIONS)
    return Change(pyproject, sections), parse_config(read_toml(pyproject), pyproject)


def _defined_targets(makefile_text: str) -> set[str]:
    targets: set[str] = set()
    for match in re.finditer(r"^([^\s:#=][^:#=]*?)\s*::?(?!=)", makefile_text, re.MULTILINE):
        targets.update(match.group(1).split())
    return targets


def _add_make_targets(makefile: Path) -> Change:
    text = makefile.read_text(encoding="utf-8") if makefile.exists() else ""
    missing = [name for name in MAKEFILE_TARGETS if name not in _defined_targets(text)]
    if not missing:
        return Change(makefile, ())
    block = ["# optikit targets (added by `optikit init`)", f".PHONY: {' '.join(missing)}"]
    for name in missing:
        description, command = MAKEFILE_TARGETS[name]
        block += [f"{name}:  ## {description}", f"\t{command}", ""]
    write_text_atomic(makefile, _append(text, block))
    return Change(makefile, tuple(missing))


def _ignored_paths(config: OptikitConfig) -> list[str]:
    """Generated data: the latest run, the history and audit directory, the fixture cache.

    The baseline is left out on purpose: it is meant to be committed.
    """
    performance = config.performance
    history = Path(performance.history_db)
    history_entry = history.name if history.parent == Path(".") else f"{history.parent.as_posix()}/"
    return [performance.data_file, f"{config.cache.dir.rstrip('/')}/", history_entry]


def _add_ignores(gitignore: Path, config: OptikitConfig) -> Change:
    text = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
    present = {line.strip() for line in text.splitlines()}
    missing = [
        entry
        for entry in _ignored_paths(config)
        if entry not in present and f"/{entry}" not in present
    ]
    if not missing:
        return Change(gitignore, ())
    write_text_atomic(gitignore, _append(text, ["# optikit data and caches", *missing]))
    return Change(gitignore, tuple(missing))


def _append(text: str, lines: Iterable[str]) -> str:
    separator = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
    return text + separator + "\n".join(lines).rstrip("\n") + "\n"


def init(
    project: Annotated[
        Path,
        typer.Option(
            "--project",
            "-p",
            help="The project's root directory (where pyproject.toml is or will be).",
            file_okay=False,
            exists=True,
        ),
    ] = Path("."),
) -> None:
    r"""Add \[tool.optikit] to pyproject.toml, optikit's Makefile targets and .gitignore entries.

    Only what is missing is appended: existing text is kept byte for byte.
    Running it again changes nothing.
    """
    changes = init_project(project)
    table = Table("file", "result")
    for change in changes:
        result = (
            escape(f"added {', '.join(change.added)}") if change.changed else "[dim]up to date[/]"
        )
        table.add_row(str(change.path), result)
    console.print(table)
