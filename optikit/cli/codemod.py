"""``optikit codemod``: rewrite test source with the libcst codemods, diff first.

Commands gather the input (timing data, the audit report, fixture timings), hand plain
values to ``codemods``, and render: a diff per file, what was left alone and why, and a
summary. Exit 0: nothing to change (or written with --apply); 1: a dry run found changes;
2: bad input, including a file that does not parse (it is listed and left untouched).
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from fixtures_lib.atomic import write_bytes_atomic, write_text_atomic
from optikit.cli.support import (
    MAX_COUNT,
    DataOption,
    ProjectOption,
    console,
    data_path,
    errors,
    positive_seconds,
    user_errors,
)
from optikit.config import OptikitConfig, load_config
from optikit.errors import OptikitError
from optikit.markers import register as register_markers

if TYPE_CHECKING:  # the codemods import libcst (about a second): only the command that runs one
    from codemods.add_marks import Placement
    from codemods.fix_pollution import PolluterFix
    from codemods.fixture_index import Function
    from codemods.rescope import Promotion
    from codemods.runner import CommandFactory, FileResult
    from optikit.audit.auditor import AuditReport

codemod_app = typer.Typer(
    help="Rewrite test code with libcst codemods. Dry run by default: shows a diff per file "
    "and exits 1 when something would change; --apply writes.",
    no_args_is_help=True,
)

PathsArgument = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Files or directories to rewrite (default: the whole project).", show_default=False
    ),
]
ApplyOption = Annotated[
    bool, typer.Option("--apply", help="Write the changes (atomically) instead of showing them.")
]
JobsOption = Annotated[
    int,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        max=256,
        help="Worker processes for many files (default: one per CPU).",
    ),
]
FromAuditOption = Annotated[
    Path, typer.Option("--from-audit", help="The report `optikit audit-parallel` wrote.")
]
CPUS = os.cpu_count() or 1
SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "build", "dist"})


@dataclass
class Outcome:
    """What a codemod run did, ready to render."""

    results: list[FileResult]
    left_alone: list[tuple[str, str]] = field(default_factory=list)  # (where, why)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # files read, not rewritten


def python_files(paths: Iterable[Path], root: Path) -> Iterator[Path]:
    """The Python files under ``paths``; a path outside the project is refused (exit 2)."""
    inside = root.resolve()
    for path in paths:
        if not path.resolve().is_relative_to(inside):
            raise OptikitError(f"is outside the project {inside}; codemods never touch it", path)
        if path.is_file():
            yield path.resolve()
            continue
        if not path.is_dir():
            raise OptikitError("no such file or directory; check the path", path)
        for found in sorted(path.rglob("*.py")):
            relative = found.relative_to(path).parts[:-1]
            skipped = any(part.startswith(".") or part in SKIP_DIRS for part in relative)
            if not skipped and found.is_file():  # a directory may be named like a module
                yield found.resolve()


def _within(paths: list[Path], files: Iterable[Path]) -> list[Path]:
    roots = [p.resolve() for p in paths]
    return [f for f in files if any(f == r or f.is_relative_to(r) for r in roots)]


def _run(files: list[Path], factory: CommandFactory, jobs: int) -> list[FileResult]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from codemods.runner import run_codemod

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True, disable=len(files) < 2) as progress:
        task = progress.add_task("rewriting", total=len(files))
        return run_codemod(files, factory, jobs=jobs, advance=lambda: progress.advance(task))


def _render(outcome: Outcome, root: Path, apply: bool) -> int:
    from codemods.runner import ChangedOnDisk, Interrupted, apply_changes

    results = outcome.results
    changed = [r for r in results if r.changed]
    if apply and changed:
        try:
            apply_changes(changed)
        except ChangedOnDisk as exc:
            raise OptikitError(
                "changed on disk since it was read; run the codemod again", str(exc)
            ) from None
        except Interrupted as exc:
            for path in exc.written:
                console.print(f"[green]rewrote[/] {escape(os.path.relpath(path, root))}")
            errors.print(
                f"Interrupted: wrote {len(exc.written)} of {len(changed)} file(s), each whole; "
                "run the codemod again for the rest."
            )
            raise typer.Exit(130) from None
    for result in changed:
        if apply:
            console.print(f"[green]rewrote[/] {escape(os.path.relpath(result.path, root))}")
        elif console.is_terminal:
            from rich.syntax import Syntax

            console.print(Syntax(result.diff(root), "diff", theme="ansi_dark", word_wrap=True))
        else:  # piped: a plain patch, which `git apply` takes
            console.file.write(result.diff(root))
    left = list(outcome.left_alone)
    for result in results:
        name = os.path.relpath(result.path, root)
        left += [(f"{name}:{n.line}" if n.line else name, n.message) for n in result.notes]
    if left:
        table = Table(title="Left alone", title_justify="left")
        table.add_column("where")
        table.add_column("why")
        for where, why in left:
            table.add_row(escape(where), escape(why))
        console.print(table)
    summary = Table(title="Summary", title_justify="left")
    for column in ("files visited", "changed", "edits", "skipped"):
        summary.add_column(column, justify="right")
    skipped = [(r.path, r.skipped or "") for r in results if r.skipped] + outcome.unreadable
    summary.add_row(
        *map(str, (len(results), len(changed), sum(r.edits for r in changed), len(skipped)))
    )
    console.print(summary)
    for path, why in skipped:
        errors.print(f"[bold red]error:[/] {escape(str(path))}: {escape(why)}", soft_wrap=True)
    if apply and changed:
        console.print(f"Wrote {len(changed)} file(s).")
    if skipped:
        return 2
    return 1 if changed and not apply else 0


def _render_marks(outcome: Outcome, root: Path, apply: bool, marker: str) -> int:
    """``_render``, then, when marks were written, the marker registered in the project's
    pytest configuration if it is not: a checkout without optikit must still collect."""
    code = _render(outcome, root, apply)
    if apply and any(r.changed for r in outcome.results):
        path, added = register_markers(root, [marker])
        if added:
            where = escape(os.path.relpath(path, root))
            console.print(f"Registered the {marker} marker in {where}.")
    return code


def _finish(code: int) -> None:
    if code:
        raise typer.Exit(code)


def _marks(
    placement: Placement, paths: list[Path] | None, config: OptikitConfig, jobs: int
) -> Outcome:
    from codemods.add_marks import MarkTests
    from codemods.runner import PerFile

    plans = placement.plans
    files = _within(paths or [config.root], plans)
    results = _run(files, PerFile(MarkTests, plans), jobs)
    return Outcome(results, list(placement.unplaced), list(placement.refused))


@codemod_app.command("mark-slow")
@user_errors
def mark_slow(
    paths: PathsArgument = None,
    apply: ApplyOption = False,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Seconds over which a test is slow (default: slow_test_threshold_seconds).",
            callback=positive_seconds,
        ),
    ] = None,
    from_history: Annotated[
        int | None,
        typer.Option(
            "--from-history",
            min=1,
            max=MAX_COUNT,
            help="Use each test's median over the last N runs of the history.",
        ),
    ] = None,
    unmark: Annotated[
        bool,
        typer.Option(
            "--unmark", help="Also remove the mark from tests now far under the threshold."
        ),
    ] = False,
    unmark_below: Annotated[
        float | None,
        typer.Option(
            help="With --unmark: seconds under which the mark goes "
            "(default: a quarter of the threshold).",
            callback=positive_seconds,
        ),
    ] = None,
    data: DataOption = None,
    jobs: JobsOption = CPUS,
    project: ProjectOption = Path("."),
) -> None:
    """Add @pytest.mark.slow to tests over the threshold (for parametrize: the slow cases).

    Examples:

      optikit codemod mark-slow

      optikit codemod mark-slow --from-history 5 --apply
    """
    from codemods.mark_slow import plan_mark_slow
    from optikit.timing import history
    from optikit.timing.run_record import read_run_record

    config = load_config(project)
    limit = threshold if threshold is not None else config.performance.slow_test_threshold_seconds
    if from_history:
        runs = history.durations(config.path(config.performance.history_db), from_history)
        durations = {nodeid: statistics.median(values) for nodeid, values in runs.items()}
    else:
        record = read_run_record(data_path(config, data))
        durations = {t["nodeid"]: t["duration"] for t in record["tests"]}
    below = (unmark_below if unmark_below is not None else limit / 4) if unmark else None
    placement = plan_mark_slow(durations, root=config.root, threshold=limit, unmark_below=below)
    _finish(_render_marks(_marks(placement, paths, config, jobs), config.root, apply, "slow"))


@codemod_app.command("mark-serial")
@user_errors
def mark_serial(
    paths: PathsArgument = None,
    apply: ApplyOption = False,
    from_audit: FromAuditOption = Path(".optikit/audit.json"),
    jobs: JobsOption = CPUS,
    project: ProjectOption = Path("."),
) -> None:
    """Add @pytest.mark.serial to an audit's unsafe tests and to the tests that pollute them.

    Examples:

      optikit codemod mark-serial --from-audit .optikit/audit.json --apply
    """
    from codemods.mark_serial import plan_mark_serial, serial_nodeids

    config = load_config(project)
    audit = _audit_report(from_audit, config)
    nodeids = serial_nodeids(audit)
    placement = plan_mark_serial(nodeids, root=config.root, audited=audit["tests"])
    _finish(_render_marks(_marks(placement, paths, config, jobs), config.root, apply, "serial"))


def _audit_report(from_audit: Path, config: OptikitConfig) -> AuditReport:
    from optikit.audit.auditor import AuditReport
    from optikit.timing.run_record import read_json, validate

    audit_path = from_audit if from_audit.is_absolute() else config.root / from_audit
    fix = "Run 'optikit audit-parallel' to write one."
    data = read_json(audit_path, "Audit report", fix)
    return validate(AuditReport, data, audit_path, "Audit report", fix)


@codemod_app.command("fix-pollution")
@user_errors
def fix_pollution(
    paths: PathsArgument = None,
    apply: ApplyOption = False,
    from_audit: FromAuditOption = Path(".optikit/audit.json"),
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="With --apply: run each victim after its polluter, then the affected files "
            "(own order, 3 random orders, -n 2 twice); fixes that do not hold, or break a "
            "test that passed, are reverted.",
        ),
    ] = False,
    jobs: JobsOption = CPUS,
    project: ProjectOption = Path("."),
) -> None:
    """Make each polluter an audit found put back what it leaves behind.

    A statement of the test's body becomes the monkeypatch call that undoes itself
    (setenv, setitem, setattr, chdir, delenv); other changes get a fixture that saves and
    restores the value, which the polluter requests. The victims are not touched.

    Examples:

      optikit codemod fix-pollution

      optikit codemod fix-pollution --apply --verify
    """
    from codemods.fix_pollution import describe, plan_fixes

    if verify and not apply:
        raise OptikitError("--verify needs --apply: it runs the tests against the rewritten files")
    config = load_config(project)
    audit = _audit_report(from_audit, config)
    plan = plan_fixes(audit, config.root)
    if paths:
        chosen = set(_within(paths, (f.path_in(config.root) for f in plan.fixes)))
        plan.left += [
            (f.nodeid, "not under the paths given")
            for f in plan.fixes
            if f.path_in(config.root) not in chosen
        ]
        plan.fixes = [f for f in plan.fixes if f.path_in(config.root) in chosen]
    hows = {f.nodeid: describe(f, config.root) for f in plan.fixes}
    before = (
        _failing_first(_pollution_targets(plan.fixes), config) if verify and plan.fixes else set()
    )
    outcome = Outcome(_pollution_results(plan.fixes, config.root, jobs))
    code = _render(outcome, config.root, apply)
    _report_fixes(plan.fixes, hows, outcome.results, config.root, apply and code == 0)
    shown = _reproducers(audit)
    for nodeid, why in plan.left:
        console.print(f"[yellow]left[/] {escape(nodeid)}: {escape(why)}", soft_wrap=True)
        if nodeid in shown:
            console.print(f"  see it: {shown[nodeid]}", soft_wrap=True, markup=False)
    if verify and plan.fixes and code == 0:
        _verify_fixes(plan.fixes, outcome.results, audit, config, before)
    _finish(code)


def _pollution_results(fixes: list[PolluterFix], root: Path, jobs: int) -> list[FileResult]:
    """The rewrites of the polluters' files, and each new ``conftest.py`` whole."""
    from codemods.fix_pollution import FixPollution, by_file, new_conftest
    from codemods.runner import FileResult, PerFile

    plans = by_file(fixes, root)
    existing = {path: plan for path, plan in plans.items() if path.exists()}
    results = _run(sorted(existing), PerFile(FixPollution, existing), jobs)
    for path, plan in plans.items():
        if path not in existing:
            content = new_conftest(plan.fixtures).encode()
            results.append(FileResult(path, b"", content, len(plan.fixtures), created=True))
    return sorted(results, key=lambda r: r.path)


def _reproducers(audit: AuditReport) -> dict[str, str]:
    """The audit's command that shows each finding, under its victim and its culprits."""
    found: dict[str, str] = {}
    for nodeid, test in sorted(audit["tests"].items()):
        command = test.get("reproduce")
        if command and test["classification"] == "order_dependent":
            for name in (nodeid, *test["polluters"], *test["state_setters"]):
                found.setdefault(name, command)
    return found


def _pollution_targets(fixes: Iterable[PolluterFix]) -> list[str]:
    """The files of the polluters and of their victims."""
    return sorted({n.partition("::")[0] for f in fixes for n in (f.nodeid, *f.victims)})


def _report_fixes(
    fixes: list[PolluterFix],
    hows: dict[str, str],
    results: list[FileResult],
    root: Path,
    written: bool,
) -> None:
    """Each polluter: what it now puts back and how, where; the victims it made fail."""
    from codemods.fix_pollution import definition_line

    sources = {r.path: r.new for r in results if not r.skipped}
    for fix in fixes:
        path = fix.path_in(root)
        if path not in sources:
            continue  # not rewritten: the error above says why
        line = definition_line(sources[path], fix.test.key)
        what = (
            f"gets {hows[fix.nodeid]}, which it needed another test to set"
            if fix.brittle
            else f"puts back {hows[fix.nodeid]}; after it failed: {', '.join(fix.victims)}"
        )
        console.print(
            f"[green]{'fixed' if written else 'would fix'}[/] {escape(fix.nodeid)} "
            f"({escape(fix.path)}:{line}): {escape(what)}",
            soft_wrap=True,
        )


@codemod_app.command("replace-tmp")
@user_errors
def replace_tmp(
    paths: PathsArgument = None,
    apply: ApplyOption = False,
    jobs: JobsOption = CPUS,
    project: ProjectOption = Path("."),
) -> None:
    """Replace hard-coded /tmp paths in tests and fixtures with pytest's tmp_path.

    Examples:

      optikit codemod replace-tmp tests

      optikit codemod replace-tmp tests --apply
    """
    from codemods.replace_tmp import ReplaceTmp, mentions_tmp

    config = load_config(project)
    files = [
        f for f in python_files(paths or [config.root], config.root) if mentions_tmp(f.read_bytes())
    ]
    _finish(_render(Outcome(_run(files, ReplaceTmp, jobs)), config.root, apply))


class Scope(str, Enum):
    module = "module"
    session = "session"


@codemod_app.command("rescope")
@user_errors
def rescope(
    paths: PathsArgument = None,
    apply: ApplyOption = False,
    fixture: Annotated[
        list[str] | None,
        typer.Option(
            "--fixture",
            "-f",
            help="A fixture to promote (repeatable); "
            "default: the expensive ones of the latest run.",
        ),
    ] = None,
    scope: Annotated[Scope, typer.Option(help="The scope to promote to.")] = Scope.module,
    min_setup: Annotated[
        float,
        typer.Option(
            help="Candidates: mean setup time at least this many seconds.",
            callback=positive_seconds,
        ),
    ] = 0.1,
    min_uses: Annotated[
        int,
        typer.Option(
            min=1, max=MAX_COUNT, help="Candidates: set up at least this many times in the run."
        ),
    ] = 3,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="With --apply: run the affected tests (own order, 3 random orders, -n 2 "
            "twice) and revert promotions whose tests fail that passed before.",
        ),
    ] = False,
    allow_renames: Annotated[
        bool,
        typer.Option(
            "--allow-renames",
            help="Also promote parametrized fixtures whose tests have other parameters: pytest "
            "may reorder those in the node ids. With --apply, the old -> new ids are written "
            "to renamed-nodeids.json beside the history, and the history, baseline and run "
            "record are renamed.",
        ),
    ] = False,
    data: DataOption = None,
    jobs: JobsOption = CPUS,
    project: ProjectOption = Path("."),
) -> None:
    """[UNSAFE] Promote expensive function-scoped fixtures to module or session scope.

    Refused (with the reason) unless what it needs is wide enough, nothing is per-test,
    and no test changes its value. Review the diff; --verify runs the tests after --apply.

    Examples:

      optikit codemod rescope

      optikit codemod rescope --fixture patients --apply --verify
    """
    from codemods.fixture_index import build_index
    from codemods.rescope import RescopeFixtures, by_file, plan_rescope
    from codemods.runner import PerFile

    if verify and not apply:
        raise OptikitError("--verify needs --apply: it runs the tests against the rewritten files")
    config = load_config(project)
    roots = paths or [config.root]
    index = build_index(python_files(roots, config.root), jobs)
    candidates, left = _rescope_candidates(
        index.fixtures, fixture, config, data_path(config, data), min_setup, min_uses
    )
    promotions, refusals = plan_rescope(index, candidates, scope.value, config.root, allow_renames)
    left += [(f"{r.where} {r.name}", r.reason) for r in refusals]
    plans = by_file(promotions)
    unreadable = [
        (path, f"does not parse ({why}); fix it, its fixtures were not considered")
        for path, why in index.unparsable
    ]
    outcome = Outcome(_run(sorted(plans), PerFile(RescopeFixtures, plans), jobs), left, unreadable)
    before = _failing_first(_targets(promotions), config) if verify and promotions else set()
    renaming = [p for p in promotions if p.renames]
    identities = _identities(renaming, config) if apply and renaming else {}
    code = _render(outcome, config.root, apply)
    if verify and promotions and code == 0:
        _verify(promotions, outcome.results, config, before)
    if renaming and code == 0 and apply:
        _rename(renaming, config, identities)
    elif renaming and code == 1:
        _will_rename(renaming)
    _finish(code)


PYTEST_PER_TEST = frozenset(
    {"tmp_path", "tmpdir", "monkeypatch", "capsys", "capsysbinary", "capfd", "capfdbinary"}
    | {"caplog", "recwarn", "request", "record_property", "record_xml_attribute", "subtests"}
)


def _rescope_candidates(
    fixtures: list[Function],
    named: list[str] | None,
    config: OptikitConfig,
    data: Path,
    min_setup: float,
    min_uses: int,
) -> tuple[list[Function], list[tuple[str, str]]]:
    if named:
        found = [f for f in fixtures if f.name in named]
        missing = sorted(set(named) - {f.name for f in found})
        return found, [(name, "no fixture of this name in these files") for name in missing]
    from optikit.timing.run_record import read_run_record

    record = read_run_record(data)
    chosen: list[Function] = []
    left: list[tuple[str, str]] = []
    for entry in record.get("fixtures", []):
        if (
            entry["scope"] != "function"
            or entry["setups"] < min_uses
            or entry["total"] / entry["setups"] < min_setup
        ):
            continue
        if _generated(entry["name"], entry["baseid"]):
            continue  # pytest's or a plugin's own: never a candidate, not worth a row
        baseid = entry["baseid"].split("::")[0]  # "file.py::Class" for a fixture in a class
        region = config.root / baseid if baseid else config.root
        matches = [
            f
            for f in fixtures
            if f.name == entry["name"] and (f.region == region or f.path == region)
        ]
        if not matches:
            left.append(
                (entry["name"], f"defined outside these files ({entry['baseid'] or 'a plugin'})")
            )
        chosen += matches
    if not record.get("fixtures"):
        left.append((data.name, "no fixture was set up in the recorded run: nothing to promote"))
    return chosen, left


def _generated(name: str, baseid: str) -> bool:
    """pytest's per-test builtins, its xunit ``setup_method`` wrappers and plugins' private
    fixtures (``_function_scoped_runner``): nothing in the suite's files to rewrite."""
    return name.startswith("_xunit_setup") or (
        not baseid and (name in PYTEST_PER_TEST or name.startswith("_"))
    )


def _targets(promotions: Iterable[Promotion]) -> list[str]:
    return sorted({str(p.region) for p in promotions})


def _identities(promotions: list[Promotion], config: OptikitConfig) -> dict[str, str]:
    from codemods.renamed_ids import collect

    console.print("collecting the node ids that the promotions may rename")
    return collect(_targets(promotions), config.root)


def _will_rename(promotions: list[Promotion]) -> None:
    for promotion in promotions:
        console.print(
            f"[yellow]may rename node ids:[/] {promotion.name}: {promotion.renames} has other "
            "parameters, which pytest may reorder in the ids at a wider scope. --apply writes "
            "the old -> new ids and renames them in optikit's history, baseline and run record.",
            soft_wrap=True,
        )


def _rename(promotions: list[Promotion], config: OptikitConfig, before: dict[str, str]) -> None:
    """Pair old and new ids by what each test is, write the pairs, and move optikit's own
    data to the new ids so the history and the gate still recognise every test."""
    from codemods.renamed_ids import collect, renamed
    from optikit.gate.baseline import read_baseline, rename_tests, write_baseline
    from optikit.timing import history
    from optikit.timing.run_record import read_run_record, write_run_record

    mapping = renamed(before, collect(_targets(promotions), config.root))
    if not mapping:
        console.print("node ids: none renamed")
        return
    history_path = config.path(config.performance.history_db)
    written = history_path.parent / "renamed-nodeids.json"
    write_text_atomic(written, json.dumps(mapping, indent=1, sort_keys=True) + "\n")
    updated = []
    if history_path.is_file():
        runs = history.rename_tests(history_path, mapping)
        updated.append(f"{runs} run(s) of the history")
    baseline_path = config.path(config.performance.baseline_file)
    if baseline_path.is_file():
        write_baseline(baseline_path, rename_tests(read_baseline(baseline_path), mapping))
        updated.append("the baseline")
    record_path = config.path(config.performance.data_file)
    if record_path.is_file():
        record = read_run_record(record_path)
        for test in record["tests"]:
            test["nodeid"] = mapping.get(test["nodeid"], test["nodeid"])
        write_run_record(record_path, record)
        updated.append("the run record")
    old, new = min(mapping.items())
    console.print(f"renamed {len(mapping)} node id(s), e.g.", soft_wrap=True)
    console.print(f"  {escape(old)} -> {escape(new)}", soft_wrap=True)
    console.print(
        f"updated {', '.join(updated) or 'nothing (no history, baseline or run record yet)'}; "
        f"every pair is in {escape(os.path.relpath(written, config.root))}: "
        "use it for --deselect lists and CI config",
        soft_wrap=True,
    )


def _failing_first(targets: list[str], config: OptikitConfig) -> set[str]:
    """What already fails in the suite's own order before any change: never blamed."""
    from codemods.verify import OWN_ORDER, failing

    console.print("verify: running the affected tests before the change (own order)")
    before = failing(targets, config.root, OWN_ORDER)
    if before:
        console.print(
            f"[yellow]{len(before)} test(s) already fail before any change[/] "
            "(not counted against the change):"
        )
        for nodeid in sorted(before):
            console.print(f"  {escape(nodeid)}", soft_wrap=True)
    return before


def _verify(
    promotions: list[Promotion],
    results: list[FileResult],
    config: OptikitConfig,
    before: set[str],
) -> None:
    """Keep the promotions whose tests pass (as before the change) in the suite's own order,
    three random orders and twice under two workers; try each alone when they do not."""
    from codemods.rescope import RescopeFixtures
    from codemods.runner import PerFile, apply_changes, run_codemod
    from codemods.verify import new_failures

    def progress(what: str) -> None:
        console.print(f"verify: {what}")

    broken = new_failures(_targets(promotions), config.root, before, progress)
    if broken is None:
        console.print(f"[green]verified:[/] the tests of {len(promotions)} promotion(s) pass")
        return
    console.print(
        f"[yellow]the promoted fixtures' tests fail ({broken[0]}: {len(broken[1])} new "
        "failures); trying each promotion alone[/]"
    )
    _undo(results)
    for promotion in promotions:
        [result] = run_codemod(
            [promotion.path], PerFile(RescopeFixtures, {promotion.path: (promotion,)}), jobs=1
        )
        apply_changes([result])
        broken = new_failures(_targets([promotion]), config.root, before, progress)
        if broken is None:
            console.print(f"[green]kept[/] {promotion.name} at {promotion.scope} scope")
            continue
        write_bytes_atomic(promotion.path, result.old)
        where, tests = broken
        console.print(
            f"[red]reverted[/] {promotion.name}: at {promotion.scope} scope, in {where}, "
            f"{len(tests)} test(s) fail that passed before, e.g.:"
        )
        console.print(f"  {escape(sorted(tests)[0])}", soft_wrap=True)


def _verify_fixes(
    fixes: list[PolluterFix],
    results: list[FileResult],
    audit: AuditReport,
    config: OptikitConfig,
    before: set[str],
) -> None:
    """Keep the fixes after which every victim passes after its polluters, and no test fails
    that passed before (the audit's other findings aside) in the suite's own order, three
    random orders and twice under two workers; try each alone when they do not."""
    from codemods.runner import apply_changes

    tests = audit["tests"]
    unsettled = {n for n, t in tests.items() if t["classification"] != "stable"}

    def progress(what: str) -> None:
        console.print(f"verify: {what}")

    def fails(chosen: list[PolluterFix]) -> str | None:
        """Why these fixes do not hold, or None."""
        from codemods.verify import OWN_ORDER, failing, new_failures

        fixed = {f.nodeid for f in chosen}
        cured = {v for f in chosen for v in f.victims if set(tests[v]["polluters"]) <= fixed}
        for victim in sorted({v for f in chosen for v in f.victims}):
            sequence = [p for p in tests[victim]["polluters"] if p in fixed]
            after = f"after {', '.join(sequence)}" if sequence else "alone"
            progress(f"{victim} {after}")
            if victim not in failing([*sequence, victim], config.root, OWN_ORDER):
                continue
            if sequence and victim in failing([victim], config.root, OWN_ORDER):
                progress(f"{victim} fails alone too now: not held against the fix")
                continue
            return f"{victim} still fails {after}"
        expected = before | (unsettled - cured)
        broken = new_failures(_pollution_targets(chosen), config.root, expected, progress)
        if broken is None:
            return None
        name, new = broken
        return f"in {name}, {len(new)} test(s) fail that passed before, e.g. {sorted(new)[0]}"

    why = fails(fixes)
    if why is None:
        console.print(f"[green]verified:[/] {len(fixes)} fix(es) hold", soft_wrap=True)
        return
    console.print(f"[yellow]the fixes together do not hold ({escape(why)}); trying each alone[/]")
    _undo(results)
    for fix in fixes:
        results = _pollution_results([fix], config.root, 1)
        apply_changes(results)
        why = fails([fix])
        if why is None:
            console.print(f"[green]kept[/] the fix of {escape(fix.nodeid)}", soft_wrap=True)
            continue
        _undo(results)
        console.print(
            f"[red]reverted[/] the fix of {escape(fix.nodeid)}: {escape(why)}", soft_wrap=True
        )
        for victim in fix.victims:
            console.print(
                f"  see it: {tests[victim].get('reproduce', '')}", soft_wrap=True, markup=False
            )


def _undo(results: list[FileResult]) -> None:
    """Each file back as it was read; a file the fix created, removed."""
    for result in results:
        if result.created:
            result.path.unlink(missing_ok=True)
        elif result.changed:
            write_bytes_atomic(result.path, result.old)
