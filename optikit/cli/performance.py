"""The timing chain's commands: ``baseline``, ``regression``, ``report``, ``import-junit``,
``export-durations``. Each reads the config, calls the capability, and renders its result.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text

from fixtures_lib.atomic import write_text_atomic
from optikit.cli.support import (
    MAX_COUNT,
    DataOption,
    ProjectOption,
    console,
    data_path,
    errors,
    positive_seconds,
)
from optikit.config import OptikitConfig, PerformanceConfig, load_config
from optikit.errors import OptikitError

if TYPE_CHECKING:
    from optikit.gate.budgets import Breach
    from optikit.gate.verdict import GateResult

# The gate, report and timing modules (and pydantic behind them) are imported by the command
# that uses them: `optikit --help` and every other command start without them.

DEFAULTS = PerformanceConfig()
BaselineOption = Annotated[
    Path | None,
    typer.Option(
        "--baseline",
        help=f"Baseline file (default: {DEFAULTS.baseline_file}, or baseline_file in "
        r"\[tool.optikit.performance]).",
    ),
]


def _baseline_path(config: OptikitConfig, baseline: Path | None) -> Path:
    return baseline if baseline is not None else config.path(config.performance.baseline_file)


def baseline(
    from_history: Annotated[
        int | None,
        typer.Option(
            "--from-history",
            min=1,
            max=MAX_COUNT,
            help="Use each test's median over the last N runs in the history (recommended) "
            "instead of the latest run alone.",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write the baseline.")
    ] = None,
    data: DataOption = None,
    project: ProjectOption = Path("."),
) -> None:
    """Write the committed baseline from the latest run or the history, with each test's noise.

    Examples:

      optikit baseline --from-history 5
    """
    from optikit.gate.baseline import build_baseline, write_baseline
    from optikit.timing.run_record import read_run_record

    config = load_config(project)
    record = read_run_record(data_path(config, data))
    built = build_baseline(
        record, config.performance, config.path(config.performance.history_db), from_history
    )
    path = _baseline_path(config, output)
    write_baseline(path, built)
    source = f"medians of the last {built['runs']} runs" if from_history else "the latest run"
    console.print(
        f"Baseline of [bold]{len(built['tests'])}[/] tests from {source} "
        f"written to {escape(str(path))}."
    )


def regression(
    confirm_runs: Annotated[
        int,
        typer.Option(
            "--confirm",
            min=0,
            max=100,
            metavar="K",
            help="Re-run what regressed (the tests, and the tests of groups that did) K times "
            "in fresh pytest processes, beside a few stable reference tests that tell each "
            "re-run's speed, and judge it on the median: one noisy run never fails CI. "
            "Confirming only removes failures.",
        ),
    ] = 0,
    show_all: Annotated[
        bool, typer.Option("--all", help="List every test, not only changes.")
    ] = False,
    no_budgets: Annotated[
        bool,
        typer.Option(
            "--no-budgets", help="Do not fail on [tool.optikit.budgets] breaches (still listed)."
        ),
    ] = False,
    fmt: Annotated[
        GateFormat,
        typer.Option(
            "--format",
            help="text for a terminal or CI log; json or markdown (a job summary, a PR "
            "comment) for tools. The exit code is the same in every format.",
        ),
    ] = "text",  # type: ignore[assignment]  # typer converts the default to the enum
    data: DataOption = None,
    baseline_file: BaselineOption = None,
    project: ProjectOption = Path("."),
) -> None:
    """Compare the latest run with the baseline and the time budgets: exit 0 fine, 1
    regressions or tests over budget, 2 bad input.

    Examples:

      optikit regression --confirm 3

      optikit regression --format json
    """
    from optikit.gate.baseline import read_baseline
    from optikit.gate.budgets import breaches
    from optikit.gate.confirm import confirm_suspects
    from optikit.gate.verdict import compare
    from optikit.report.markdown import github_annotations
    from optikit.timing.run_record import read_run_record

    config = load_config(project)
    expected = read_baseline(_baseline_path(config, baseline_file))
    record = read_run_record(data_path(config, data))
    result = compare(expected, record, config.performance)
    over = breaches(record, config.budgets)
    if confirm_runs and result.failed:
        from rich.progress import Progress

        what = f"Re-running {len(result.suspects)} suspects beside reference tests"
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(what, total=confirm_runs)
            started = time.monotonic()

            def advance(done: int) -> None:
                progress.update(task, completed=done)
                if not console.is_terminal:  # a CI log: a plain line per re-run
                    elapsed = time.monotonic() - started
                    errors.print(f"{what}: {done}/{confirm_runs} done ({elapsed:.0f} s)")

            result = confirm_suspects(
                result, expected, config.performance, confirm_runs, config.root, advance
            )
    enforced = not no_budgets
    if fmt is GateFormat.json:
        print(gate_json(result, over, enforced, show_all))
    elif fmt is GateFormat.markdown:
        print(gate_markdown(result, over, enforced), end="")
    else:
        show_gate(result, show_all, over, enforced)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for line in github_annotations(result):
            print(line)
    if result.failed or (over and not no_budgets):
        raise typer.Exit(1)


VERDICT_STYLES = {
    "regression": "bold red",
    "noisy": "yellow",
    "faster": "green",
    "unconfirmed": "cyan",
}


def _verdict_lines(title: str, rows: list[list[str]]) -> None:
    """One line per row, the name last, so a node id is never cut or folded by a table (a
    terminal may still wrap a long line; rich does not break it)."""
    console.print(f"{title} (judged = raw / runner speed factor):", soft_wrap=True)
    for name, base, judged, change, threshold, raw, verdict in rows:
        line = Text(f"  {verdict:<11}", style=VERDICT_STYLES.get(verdict, ""))
        line.append(
            f" {change:>8}  {base} -> {judged} s (raw {raw} s, threshold {threshold})  "
            f"{name.strip('`')}"
        )
        console.print(line, soft_wrap=True)


def verdict_line(result: GateResult, over: list[Breach], enforced: bool = True) -> str:
    """The verdict first, naming what failed: ``Gate FAILED: 2 regressions (tests/x.py::test_a
    +38%, module tests/y.py +22%), 1 over budget (...); tests: 705 ok, ...``."""
    failing = [f"{t.nodeid} {t.change:+.0f}%" for t in result.regressions]
    failing += [
        f"{g.group.replace(':', ' ', 1)} {g.change:+.0f}%" for g in result.suite_regressions
    ]
    counts = ", ".join(
        f"{n} {v}" for v, n in sorted(Counter(t.verdict for t in result.tests).items())
    )
    parts = []
    if failing:
        parts.append(f"{len(failing)} regression{'s' * (len(failing) != 1)} ({', '.join(failing)})")
    if over:
        named = ", ".join(f"{b.what} {b.seconds:.2f} s > {b.budget:g} s" for b in over[:5])
        more = f", +{len(over) - 5} more" if len(over) > 5 else ""
        parts.append(f"{len(over)} over budget ({named}{more})")
    if failing or (over and enforced):
        return f"Gate FAILED: {', '.join(parts)}; tests: {counts}"
    ignored = f" ({parts[0]}, not enforced: --no-budgets)" if over else ""
    return f"Gate passed: {counts}{ignored}"


def show_gate(
    result: GateResult, show_all: bool, over: list[Breach] | None = None, enforced: bool = True
) -> None:
    from optikit.report.markdown import gate_rows, suite_rows

    over = over or []
    failed = result.failed or (bool(over) and enforced)
    console.print(
        Text(verdict_line(result, over, enforced), style="bold red" if failed else "bold green"),
        soft_wrap=True,
    )
    rows = gate_rows(result, everything=show_all)
    if rows:
        _verdict_lines("Tests against the baseline", rows)
    groups = [row for row in suite_rows(result) if show_all or row[-1] != "ok"]
    if groups:
        _verdict_lines("Suite totals, adjusted for a slower or busier runner", groups)
    if over:
        console.print(escape("Over their time budget ([tool.optikit.budgets]):"), soft_wrap=True)
        for breach in over:
            line = Text("  over budget", style="bold red" if enforced else "yellow")
            line.append(f"  {breach}")
            console.print(line, soft_wrap=True)
    for note in result.notes:
        console.print(f"[dim]note: {escape(note)}[/]", soft_wrap=True)  # commands stay whole
    console.print(
        f"Runner speed factor {result.speed_factor:.2f} (test times are divided by it), "
        f"CPU calibration ratio {result.calibration_ratio:.2f}, "
        f"CPU contention ratio {result.contention_ratio:.2f}, "
        f"suite totals divided by {result.suite_divisor:.2f}.",
        soft_wrap=True,
    )


class GateFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


def gate_json(result: GateResult, over: list[Breach], enforced: bool, show_all: bool) -> str:
    """The verdict, the rows that are not ok (all with ``--all``), the breaches and the
    runner figures, for tools."""
    import json
    from dataclasses import asdict

    def rows(items: list[Any]) -> list[dict[str, Any]]:
        return [
            {**asdict(item), "change": round(item.change, 3)}
            for item in items
            if show_all or item.verdict not in ("ok", "new", "missing")
        ]

    data = {
        "failed": result.failed or (bool(over) and enforced),
        "verdict": verdict_line(result, over, enforced),
        "tests": rows(result.tests),
        "groups": rows(result.suites),
        "over_budget": [asdict(b) for b in over],
        "budgets_enforced": enforced,
        "speed_factor": result.speed_factor,
        "suite_divisor": result.suite_divisor,
        "calibration_ratio": result.calibration_ratio,
        "contention_ratio": result.contention_ratio,
        "notes": result.notes,
    }
    return json.dumps(data, indent=1)


def gate_markdown(result: GateResult, over: list[Breach], enforced: bool) -> str:
    from optikit.report.markdown import markdown_gate

    lines = [f"**{verdict_line(result, over, enforced)}**", "", *markdown_gate(result)]
    if over:
        lines += ["## Over their time budget", ""]
        lines += [f"- {breach.seconds:.2f} s > {breach.budget:g} s ({breach.source}): "
                  f"`{breach.what}`" for breach in over]  # fmt: skip
    return "\n".join(lines).rstrip() + "\n"


class ReportFormat(str, Enum):
    markdown = "markdown"
    json = "json"
    html = "html"


def report(
    fmt: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="markdown (default), json or html.")
    ] = ReportFormat.markdown,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of to stdout.")
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            callback=positive_seconds,
            help="Seconds above which a test counts as slow (default: "
            f"{DEFAULTS.slow_test_threshold_seconds:g}, or slow_test_threshold_seconds in "
            r"\[tool.optikit.performance]).",
        ),
    ] = None,
    compare_baseline: Annotated[
        bool,
        typer.Option("--compare-baseline", help="Add the regression table against the baseline."),
    ] = False,
    update_docs_file: Annotated[
        Path | None,
        typer.Option(
            "--update-docs",
            metavar="FILE",
            help="Rewrite the generated section of FILE (e.g. PERFORMANCE.md) between optikit's "
            "markers, leaving the rest alone.",
        ),
    ] = None,
    data: DataOption = None,
    baseline_file: BaselineOption = None,
    project: ProjectOption = Path("."),
) -> None:
    """Summary, slowest tests, unmarked slow tests, fixture hot spots, trends and advice.

    Examples:

      optikit report --compare-baseline

      optikit report --format html --output report.html
    """
    from optikit.gate.baseline import read_baseline
    from optikit.gate.verdict import compare
    from optikit.report.build import build_report
    from optikit.report.formats import render
    from optikit.report.markdown import update_docs
    from optikit.timing.run_record import read_run_record

    config = load_config(project)
    record = read_run_record(data_path(config, data))
    gate = None
    if compare_baseline:
        expected = read_baseline(_baseline_path(config, baseline_file))
        gate = compare(expected, record, config.performance)
    built = build_report(
        record,
        threshold if threshold is not None else config.performance.slow_test_threshold_seconds,
        gate,
        config.path(config.performance.history_db),
        min_saving=config.performance.noise_floor_seconds,
        budgets=config.budgets,
    )
    text = render(built, fmt.value)
    markdown = text if fmt is ReportFormat.markdown else render(built, "markdown")
    if update_docs_file is not None:
        update_docs(update_docs_file, markdown)
        console.print(f"Updated the optikit section of {escape(str(update_docs_file))}.")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(markdown)
    if output is not None:
        write_text_atomic(output, text)
        console.print(f"Report written to {escape(str(output))}.")
    elif update_docs_file is None:
        print(text, end="")


JUNIT_RECORD = Path(".optikit/junit-run.json")


def import_junit(
    junit: Annotated[Path, typer.Argument(help="JUnit XML from pytest --junitxml or any runner.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help=f"Run record to write (default: {JUNIT_RECORD}; pass it to the other "
            "commands with --data).",
        ),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Write the tracked run record (data_file) instead, replacing it."
        ),
    ] = False,
    keep_history: Annotated[
        bool,
        typer.Option(
            "--history",
            help="Also append the run to the history (keep imported and tracked runs apart: "
            "a serial JUnit run judged against an -n 2 baseline is a false alarm).",
        ),
    ] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Turn JUnit XML into a run record, so the gate works for any language's suite.

    Examples:

      optikit import-junit junit.xml
    """
    from optikit.timing import history
    from optikit.timing.junit import read_junit
    from optikit.timing.run_record import write_run_record

    if output is not None and replace:
        raise OptikitError("--output and --replace name two destinations; give one")
    config = load_config(project)
    record = read_junit(junit, config.root, config.performance.slow_test_threshold_seconds)
    path = data_path(config, None) if replace else (output or config.root / JUNIT_RECORD)
    write_run_record(path, record)
    if keep_history:
        history.append_run(config.path(config.performance.history_db), record)
    console.print(f"Imported {len(record['tests'])} tests into {escape(str(path))}.")


def export_durations_command(
    runs: Annotated[
        int, typer.Option("--runs", min=1, max=MAX_COUNT, help="Median over this many recent runs.")
    ] = 10,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="pytest-split durations file to write.")
    ] = Path(".test_durations"),
    project: ProjectOption = Path("."),
) -> None:
    """Write a pytest-split .test_durations file from the history's medians.

    Examples:

      optikit export-durations --runs 10
    """
    from optikit.timing.durations import export_durations

    config = load_config(project)
    count = export_durations(config.path(config.performance.history_db), runs, output)
    console.print(f"Wrote {count} test durations to {escape(str(output))}.")
