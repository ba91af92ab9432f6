"""``optikit audit-parallel``: the flake auditor's command line (progress, tables, report)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import time
from collections import Counter
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fixtures_lib.atomic import write_text_atomic
from optikit.cli.support import MAX_COUNT, ProjectOption, console, errors, worker_count
from optikit.config import load_config
from optikit.errors import OptikitError

if TYPE_CHECKING:  # the auditor is imported by the command that runs it
    from optikit.audit.auditor import AuditState, Progress


class Format(str, Enum):
    text = "text"
    markdown = "markdown"


CLASSES = ("failing", "order_dependent", "parallel_unsafe", "flaky", "unclassified")
FLAKES = frozenset({"flaky", "order_dependent", "parallel_unsafe", "unclassified"})
SHOWN = 30  # findings listed in the text summary; the rest are in the report


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
        typer.Option(
            "--format", help="text (a summary, one line per finding) or markdown (all details)."
        ),
    ] = Format.text,
    victim: Annotated[
        str | None,
        typer.Option(
            help="Find what makes this one failing test fail (its node id), as "
            "detect-test-pollution does; --runs then bounds the orders tried.",
            show_default=False,
        ),
    ] = None,
    project: ProjectOption = Path("."),
) -> None:
    """Run the suite many times in random orders and in parallel; explain every failure.

    Examples:

      optikit audit-parallel --runs 20 -n 2

      optikit audit-parallel --victim tests/test_units.py::test_unknown_units_pass_through
    """
    from optikit.audit.auditor import report, run_audit
    from optikit.audit.runs import Pytest

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

    with _sigterm_stops(), _progress(total) as progress:
        state = run_audit(
            pytest,
            runs=total,
            workers=chosen_workers,
            seed=seed,
            progress=progress,
            save=save,
            victim=victim,
        )
    data = report(state)
    (render_markdown if output_format is Format.markdown else render_text)(data)
    if config.root.resolve() != Path.cwd().resolve():
        say(f"Reproducers run from the project: cd {shlex.quote(str(config.root))}")
    say(f"Report: {destination}")
    for line in fix_hints(data, destination, config.root):
        say(line)
    found = [t for t in data["tests"].values() if t["classification"] in FLAKES]
    if fail_on_flaky and found:
        raise typer.Exit(1)


def say(text: str) -> None:
    """One line as it is: node ids and commands are never wrapped, cut or highlighted."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


@contextlib.contextmanager
def _sigterm_stops() -> Iterator[None]:
    """SIGTERM (a cancelled CI job) stops the audit like Ctrl-C: the report says partial."""

    from optikit.audit.auditor import Terminated

    def stop(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _progress(total: int) -> Iterator[Progress]:
    """A live bar in a terminal; in a CI log (piped), one plain line per run and finding.
    On stderr: stdout is the summary alone (``--format markdown >> $GITHUB_STEP_SUMMARY``)."""
    started = time.monotonic()

    def status(state: AuditState) -> str:
        failed = {t for r in (*state.results, *state.targeted) for t in r.failed()}
        return f"tests failed so far: {len(failed)}, explained: {len(state.findings)}"

    if not errors.is_terminal:

        def plain(event: str, state: AuditState) -> None:
            elapsed = f"{time.monotonic() - started:.0f} s"
            if event == "run":
                line = f"run {len(state.results)}/{total} done ({elapsed}): {status(state)}"
            else:
                nodeid, finding = list(state.findings.items())[-1]
                line = f"explained ({elapsed}): {finding.classification} {nodeid}"
            errors.print(line, markup=False, highlight=False, soft_wrap=True)

        yield plain
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
    )
    with RichProgress(*columns, console=errors, transient=True) as bar:
        task = bar.add_task("audit runs", total=total, status="")

        def live(event: str, state: AuditState) -> None:
            description = "audit runs" if event == "run" else "explaining"
            bar.update(task, description=description, completed=len(state.results))
            bar.update(task, status=status(state))

        yield live


def verdict(data: dict[str, Any]) -> str:
    """The first line: what the audit found, before any detail."""
    counts = Counter(t["classification"] for t in data["tests"].values())
    found = [f"{counts[name]} {name.replace('_', '-')}" for name in CLASSES if counts[name]]
    where = f"{data['runs']} runs, -n {data['workers']}"
    if data["victim"]:
        where = f"--victim, orders tried: {data['orders_tried']}"
    seconds = sum(data["seconds"].values())
    if found:
        line = f"FOUND: {', '.join(found)} ({where}, {seconds:.0f} s)"
    elif data["victim"]:
        line = f"PASSED: {data['victim']} did not fail ({where}, {seconds:.0f} s)"
    elif data["runs"] == 0:
        line = f"NOTHING KNOWN: no run of the suite finished ({seconds:.0f} s)"
    else:
        bound = data["suite"]["clean_run_bound_95"]
        clean = data["runs"] - len(data["crashes"])
        line = (
            f"CLEAN: no test failed ({where}, {seconds:.0f} s); {clean} clean runs put the "
            f"per-run flake rate below {bound:.1%} (95% confidence)"
        )
    return line + (f" [partial: {data['stopped']}]" if data["partial"] else "")


def culprit(test: dict[str, Any]) -> str:
    if test["classification"] == "parallel_unsafe" and test["polluters"]:
        return "races with " + ", ".join(test["polluters"])
    if test["classification"] == "flaky":
        return str(test["why"])
    if test["polluters"]:
        return "fails after " + " + ".join(test["polluters"])
    if test["state_setters"]:
        return "passes only after " + " + ".join(test["state_setters"])
    return str(test["why"])


def findings(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    order = {name: index for index, name in enumerate(CLASSES)}
    found = [(k, v) for k, v in data["tests"].items() if v["classification"] in order]
    return sorted(found, key=lambda item: (order[item[1]["classification"]], item[0]))


def plural(text: str) -> str:
    return text.replace("fails after", "fail after", 1).replace("passes only", "pass only", 1)


def render_text(data: dict[str, Any]) -> None:
    """The verdict, then one entry per culprit: the victims of one polluter (puppetboard:
    20 tests after one) share a line, with the first one's reproducer."""
    say(verdict(data))
    groups: dict[tuple[str, str], list[str]] = {}
    for nodeid, test in findings(data):
        shared = test["classification"] == "order_dependent"
        key = (test["classification"], culprit(test) if shared else nodeid)
        groups.setdefault(key, []).append(nodeid)
    for (classification, _), victims in list(groups.items())[:SHOWN]:
        test = data["tests"][victims[0]]
        if len(victims) == 1:
            say(f"  {classification:<16} {victims[0]}  {culprit(test)}")
        else:
            say(
                f"  {classification:<16} {len(victims)} tests {plural(culprit(test))}: "
                f"{victims[0]} and {len(victims) - 1} more (--format markdown lists them)"
            )
        if test["reproduce"]:
            rate = f"failed {test['reproduced']}" if test["reproduced"] else "not run"
            say(f"      reproduce ({rate}): {test['reproduce']}")
    if len(groups) > SHOWN:
        say(f"  ... and {len(groups) - SHOWN} more: --format markdown, or the report")
    for crash in data["crashes"]:
        say(f"crashed run (order seed {crash['seed']}): {crash['why']}")
    phases = ", ".join(
        f"{name.replace('_', ' ')} {sec:.1f} s" for name, sec in data["seconds"].items()
    )
    say(f"Time: {phases}; {data['probes']} probes.")


FIXES = {
    "order_dependent": ("fix with", "fix-pollution", ["--apply", "--verify"]),
    "parallel_unsafe": ("serialise with", "mark-serial", ["--apply"]),
}


def fix_hints(data: dict[str, Any], report: Path, root: Path) -> list[str]:
    """The codemod for each kind of finding, as a command that runs from here: an
    order-dependent test is fixed in its polluter's code; a race is marked serial."""
    found = {t["classification"] for t in data["tests"].values()}
    extra = []
    if report.resolve() != (root / ".optikit" / "audit.json").resolve():
        extra += ["--from-audit", str(report)]
    if root.resolve() != Path.cwd().resolve():
        extra += ["--project", str(root)]
    return [
        f"{verb}: {shlex.join(['optikit', 'codemod', command, *extra, *flags])}"
        for classification, (verb, command, flags) in FIXES.items()
        if classification in found
    ]


def render_markdown(data: dict[str, Any]) -> None:
    lines = [
        "## optikit audit-parallel",
        "",
        f"**{verdict(data)}**",
        "",
        "| test | class | failed in runs | why / evidence | reproduce (failed / tries) |",
        "|---|---|---|---|---|",
    ]
    for nodeid, test in findings(data):
        why = "; ".join([culprit(test), *test["evidence"]]).strip("; ").replace("|", "\\|")
        lines.append(
            f"| `{nodeid}` | {test['classification']} | {test['failures']}/{test['runs']} | "
            f"{why} | `{test['reproduce']}` ({test['reproduced'] or 'not run'}) |"
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
