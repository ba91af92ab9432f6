"""``optikit init``: wire optikit into a project without disturbing what is already there.

Each file is only ever appended to, and only with what is missing, so the user's formatting
and comments survive byte for byte and a second run changes nothing. A project that has no
Makefile (it uses tox, nox or uv) gets none unless it asks (``--makefile``): the targets are
printed instead, to copy into whatever runs its tasks.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from fixtures_lib.atomic import write_text_atomic
from optikit.cli.github_actions import WORKFLOW_PATH, workflow
from optikit.cli.support import console
from optikit.config import (
    BUDGETS,
    PYPROJECT,
    SECTIONS,
    OptikitConfig,
    parse_config,
    read_toml,
    toml_value,
)
from optikit.gate.budgets import seed_budgets_text
from optikit.markers import MARKERS, addopts_marks
from optikit.markers import register as register_markers


def make_targets(project_marks: str | None = None) -> dict[str, tuple[str, str]]:
    """optikit's Makefile targets: name -> (description, command). ``project_marks`` is the
    ``-m`` expression of the project's own ``addopts``; a target's ``-m`` would replace it
    (pytest keeps the last ``-m``), so it is and-ed into each one instead."""

    def select(own: str) -> str:
        expression = f"({project_marks}) and {own}" if project_marks else own
        return (
            f'-m "{expression}"'
            if not set('"$`\\') & set(expression)
            else f"-m {shlex.quote(expression)}"
        )

    return {
        "test-fast": (
            "everything but slow, serial and real-LLM tests, in parallel",
            f"pytest -n auto {select('not slow and not serial and not real_llm')}",
        ),
        # pytest exits 5 when nothing is selected: no serial (or real-LLM) test yet is a success
        "test-serial": (
            "the tests marked serial, one at a time",
            f"pytest -p no:xdist {select('serial and not real_llm')} || [ $? -eq 5 ]",
        ),
        "test-integration-llm": (
            "the tests that talk to a real LLM (never replayed)",
            f"pytest {select('real_llm')} || [ $? -eq 5 ]",
        ),
        **FIXED_TARGETS,
    }


FIXED_TARGETS: dict[str, tuple[str, str]] = {
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


def init_project(
    root: Path, makefile: bool = False, github_actions: bool = False, budgets: bool = False
) -> list[Change]:
    """Add optikit's config section, its markers to the project's pytest configuration,
    Makefile targets (to an existing Makefile, or a new one with ``makefile``), ignore
    entries, (``github_actions``) a CI workflow and (``budgets``) time budgets to ``root``."""
    pyproject = root / PYPROJECT
    change, config = _add_config_section(pyproject)
    changes = [change, _add_markers(root), _add_ignores(root / ".gitignore", config)]
    if budgets:
        changes.insert(1, _add_budgets(pyproject))
    if makefile or (root / "Makefile").exists():
        targets = make_targets(addopts_marks(root))
        changes.insert(2, _add_make_targets(root / "Makefile", targets))
    if github_actions:
        changes.append(_add_workflow(root, config))
    return changes


def _add_markers(root: Path) -> Change:
    """So that a checkout without optikit still collects the tests optikit marks."""
    path, added = register_markers(root, list(MARKERS))
    return Change(path, tuple(f"marker {name}" for name in added))


def _add_workflow(root: Path, config: OptikitConfig) -> Change:
    path = root / WORKFLOW_PATH
    if path.exists():
        return Change(path, ())
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, workflow(config.performance.history_db))
    return Change(path, ("the optikit workflow",))


def config_section_text() -> str:
    """A ``[tool.optikit]`` table that sets nothing: every default applies until changed, and
    ``optikit config show`` says which values are defaults. The settings are listed, commented."""
    lines = [
        "# optikit: every setting has a default; set here only what differs.",
        "# `optikit config show` lists each value and where it came from. The settings:",
    ]
    for name, cls in SECTIONS.items():
        defaults = cls()
        for spec in fields(cls):
            value = toml_value(getattr(defaults, spec.name))
            lines.append(
                f"#   [tool.optikit.{name}] {spec.name} = {value}  ({spec.metadata['help']})"
            )
    lines.append("[tool.optikit]")
    return "\n".join(lines)


def make_targets_text(targets: dict[str, tuple[str, str]], names: Iterable[str]) -> list[str]:
    """Makefile lines for the targets ``names`` (``$`` doubled, as make needs)."""
    lines = []
    for name in names:
        description, command = targets[name]
        lines += [f"{name}:  ## {description}", f"\t{command.replace('$', '$$')}", ""]
    return lines


def _add_config_section(pyproject: Path) -> tuple[Change, OptikitConfig]:
    text = pyproject.read_text(encoding="utf-8") if pyproject.exists() else ""
    document = read_toml(pyproject) if pyproject.exists() else {}
    if "optikit" in document.get("tool", {}):
        return Change(pyproject, ()), parse_config(document, pyproject)
    write_text_atomic(pyproject, _append(text, [config_section_text()]))
    return Change(pyproject, ("[tool.optikit]",)), parse_config(read_toml(pyproject), pyproject)


def _add_budgets(pyproject: Path) -> Change:
    """The plan's budgets, unless the project has a budgets table already."""
    if BUDGETS in read_toml(pyproject).get("tool", {}).get("optikit", {}):
        return Change(pyproject, ())
    text = pyproject.read_text(encoding="utf-8")
    write_text_atomic(pyproject, _append(text, [seed_budgets_text()]))
    parse_config(read_toml(pyproject), pyproject)  # what was written reads back
    return Change(pyproject, ("[tool.optikit.budgets]",))


def _defined_targets(makefile_text: str) -> set[str]:
    targets: set[str] = set()
    for match in re.finditer(r"^([^\s:#=][^:#=]*?)\s*::?(?!=)", makefile_text, re.MULTILINE):
        targets.update(match.group(1).split())
    return targets


def _add_make_targets(makefile: Path, targets: dict[str, tuple[str, str]]) -> Change:
    text = makefile.read_text(encoding="utf-8") if makefile.exists() else ""
    missing = [name for name in targets if name not in _defined_targets(text)]
    if not missing:
        return Change(makefile, ())
    block = ["# optikit targets (added by `optikit init`)", f".PHONY: {' '.join(missing)}"]
    write_text_atomic(makefile, _append(text, block + make_targets_text(targets, missing)))
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
    makefile: Annotated[
        bool,
        typer.Option(
            "--makefile", help="Create a Makefile for optikit's targets when there is none."
        ),
    ] = False,
    github_actions: Annotated[
        bool,
        typer.Option(
            "--github-actions",
            help=f"Also write {WORKFLOW_PATH}: tracked runs gated on the baseline, a nightly "
            "flake audit (never overwrites one that is there).",
        ),
    ] = False,
    budgets: Annotated[
        bool,
        typer.Option(
            "--budgets",
            help="Also write [tool.optikit.budgets]: 1 s a test (default), 5 s integration, "
            "10 s e2e, 300 s the suite; optikit regression fails on a breach.",
        ),
    ] = False,
) -> None:
    r"""Add \[tool.optikit] to pyproject.toml, optikit's markers to the pytest configuration,
    Makefile targets and .gitignore entries.

    Only what is missing is added: existing text is kept as it was, and running it again
    changes nothing. The markers (slow, serial, real_llm) go where pytest reads its
    configuration, so a checkout without optikit still collects the tests optikit marks.

    Examples:

      optikit init

      optikit init --makefile --github-actions

      optikit init --budgets
    """
    changes = init_project(project, makefile, github_actions, budgets)
    table = Table("file", "result")
    for change in changes:
        result = (
            escape(f"added {', '.join(change.added)}") if change.changed else "[dim]up to date[/]"
        )
        table.add_row(str(change.path), result)
    console.print(table)
    if not (project / "Makefile").exists():
        console.print(
            "No Makefile here, so none was written (`optikit init --makefile` creates one). "
            "The commands, for tox, nox, uv or a Makefile of your own:"
        )
        for name, (description, command) in make_targets(addopts_marks(project)).items():
            console.print(
                f"  {name}: {escape(command)}  [dim]# {escape(description)}[/]", soft_wrap=True
            )
