"""``optikit audit-parallel``: the flake auditor's command line (progress, tables, report)."""

from __future__ import annotations

import json
import os
import re
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from fixtures_lib.atomic import write_text_atomic
from optikit.audit.auditor import AuditState, report, run_audit
from optikit.audit.runs import Pytest
from optikit.cli.support import MAX_COUNT, ProjectOption, console, worker_count
from optikit.config import load_config
from optikit.errors import OptikitError


class Format(str, Enum):
    table = "table"
    markdown = "markdown"


CLASSES = ("failing", "order_dependent", "parallel_unsafe", "flaky", "unclassified")
FLAKES = frozenset({"flaky", "order_dependent", "parallel_unsafe", "unclassified"})


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``1h``, ``1h30m`` or plain seconds."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?", text.strip())
    if not text.strip() or match is None:
        raise OptikitError(f"--max-time {text!r} is not a duration; write e.g. 30m, 90s or 1h")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def split_arguments(arguments: list[str]) -> tuple[list[str], list[str]]:
    """Paths come first; from the first option on (after ``--``) it is pytest's."""
    for position, argument in enumerate(arguments):
        if argument.startswith("-"):
            return arguments[:position], arguments[position:]
    return arguments, []


def audit_parallel(
    arguments: Annotated[
        list[str] | None,
        typer.Argument(
            help="Test paths, then `--` and extra pytest arguments (e.g. `tests -- -k db`).",
            show_default=False,
        ),
    ] = None,
    runs: Annotated[
        int | None,
        typer.Option(
            min=1, max=MAX_COUNT, help=r"Suite runs (default: \[tool.optikit.audit] runs)."
        ),
    ] = None,
    workers: Annotated[
        str | None,
        typer.Option(
            "-n",
            "--workers",
            help="xdist workers per run, or auto (default: config).",
            callback=worker_count,
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option(
            min=0,
            max=2**31,  # numpy takes seeds below 2**32; run i uses seed + i
            help="First order/data seed; run i uses seed + i (run 0: suite order).",
        ),
    ] = 1,
    max_time: Annotated[
        str, typer.Option(help="Stop cleanly after this long (e.g. 30m) with what is known.")
    ] = "30m",
    fail_on_flaky: Annotated[
        bool,
        typer.Option(
            "--fail-on-flaky", help="Exit 1 if any flaky, order-dependent or unsafe test is found."
        ),
    ] = False,
    output: Annotated[
        Path, typer.Option(help="Where the JSON report goes (relative to the project).")
    ] = Path(".optikit/audit.json"),
    output_format: Annotated[
        Format,
        typer.Option("--format", help="table (rich tables) or markdown (for CI job summaries)."),
    ] = Format.table,
    project: ProjectOption = Path("."),
) -> None:
    """Run the suite many times in random orders and in parallel; explain every failure."""
    config = load_config(project)
    paths, extra = split_arguments(arguments or [])
    budget = parse_duration(max_time)
    total = runs or config.audit.runs
    chosen_workers: str | int = workers or config.audit.workers
    pytest = Pytest(config.root, tuple(paths), tuple(extra), time.monotonic() + budget)
    destination = output if output.is_absolute() else config.root / output
    _writable(destination)

    def save(state: AuditState) -> None:
        write_text_atomic(destination, json.dumps(report(state), indent=2) + "\n")

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("audit runs", total=total, status="")

        def progress(event: str, state: AuditState) -> None:
            failed = {t for r in state.results for t in r.failed()}
            crashes = sum(r.crash is not None for r in state.results)
            status = f"{len(failed)} tests failed so far, {crashes} crashed runs"
            if event == "run":
                bar.update(task, description="audit runs", completed=len(state.results))
                bar.update(task, status=status)
            else:
                bar.update(
                    task, description="explaining", status=f"{len(state.findings)} explained"
                )

        state = run_audit(
            pytest,
            runs=total,
            workers=chosen_workers,
            seed=seed,
            progress=progress,
            save=save,
        )
    data = report(state)
    if state.results and all(r.crash for r in state.results):
        raise OptikitError(
            f"pytest could not run the suite ({state.results[0].crash}); "
            "fix that, then audit again",
            config.root,
        )
    (render_markdown if output_format is Format.markdown else render_tables)(data)
    console.print(f"Report: {escape(str(destination))}")
    if state.stopped:
        console.print(f"[yellow]Partial report: {escape(state.stopped)}.[/]")
    found = [t for t in data["tests"].values() if t["classification"] in FLAKES]
    if fail_on_flaky and found:
        raise typer.Exit(1)


def render_tables(data: dict[str, Any]) -> None:
    suite = data["suite"]
    console.print(
        f"{data['runs']} runs, {data['workers']} workers: {suite['runs_with_a_failure']} with a "
        f"failure ({suite['fraction']:.0%})."
    )
    for crash in data["crashes"]:
        console.print(
            f"[yellow]1 crashed run[/] (order seed {crash['seed']}): {escape(crash['why'])}",
            highlight=False,
        )
    for name in CLASSES:
        rows = {k: v for k, v in data["tests"].items() if v["classification"] == name}
        if not rows:
            continue
        table = Table(title=name.replace("_", " "), title_justify="left", show_lines=True)
        for column in ("test", "failed", "why / evidence", "reproduce"):
            table.add_column(column, overflow="fold")
        for nodeid, test in rows.items():
            low, high = test["failure_rate_95"]
            why = "; ".join([test["why"], *test["evidence"]]).strip("; ")
            table.add_row(
                escape(nodeid),
                f"{test['failures']}/{test['runs']} ({low:.0%}-{high:.0%})",
                escape(why),
                escape(test["reproduce"]),
            )
        console.print(table)
    if not any(t["failures"] or t["classification"] != "stable" for t in data["tests"].values()):
        bound = suite["clean_run_bound_95"]
        clean = data["runs"] - len(data["crashes"])
        console.print(
            f"No failures: {clean} clean runs put the per-run flake rate below {bound:.1%} "
            "(95% confidence)."
        )


def render_markdown(data: dict[str, Any]) -> None:
    suite = data["suite"]
    lines = [
        "## optikit audit-parallel",
        "",
        f"{data['runs']} runs, {data['workers']} workers; runs with a failure: "
        f"{suite['runs_with_a_failure']} ({suite['fraction']:.0%}).",
        "",
        "| test | class | failed | why | reproduce |",
        "|---|---|---|---|---|",
    ]
    for nodeid, test in data["tests"].items():
        if test["classification"] == "stable":
            continue
        why = "; ".join([test["why"], *test["evidence"]]).strip("; ").replace("|", "\\|")
        lines.append(
            f"| `{nodeid}` | {test['classification']} | {test['failures']}/{test['runs']} | "
            f"{why} | `{test['reproduce']}` |"
        )
    print("\n".join(lines))


def _writable(destination: Path) -> None:
    """Refuse an --output the report cannot be written to now, not after the whole audit."""
    if destination.is_dir():
        raise OptikitError("is a directory; --output takes the path of a file", destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(destination.parent, os.W_OK):
        raise OptikitError(
            "cannot be written here (permission denied); choose another --output", destination
        )
