"""The report as markdown: for PR comments, the job summary and a generated docs section.

Also the gate's rows and headers (the CLI's tables show the same rows) and the GitHub
annotations of regressions.
"""

from __future__ import annotations

import re
from pathlib import Path

from fixtures_lib.atomic import write_text_atomic
from optikit.gate.verdict import GateResult
from optikit.report.build import Report

DOCS_START = "<!-- optikit:report:start -->"
DOCS_END = "<!-- optikit:report:end -->"


def seconds(value: float) -> str:
    return f"{value:.3f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return [*lines, ""]


def gate_rows(gate: GateResult, everything: bool = False) -> list[list[str]]:
    shown = [t for t in gate.tests if everything or t.verdict not in ("ok", "new", "missing")]
    return [
        [
            f"`{t.nodeid}`",
            seconds(t.baseline),
            seconds(t.corrected),
            f"{t.change:+.1f}%",
            f"{t.threshold:g}%",
            seconds(t.current),
            t.verdict,
        ]
        for t in sorted(shown, key=lambda t: t.change, reverse=True)
    ]


def suite_rows(gate: GateResult) -> list[list[str]]:
    return [
        [
            s.group,
            seconds(s.baseline),
            seconds(s.adjusted),
            f"{s.change:+.1f}%",
            f"{s.threshold:g}%",
            seconds(s.current),
            s.verdict,
        ]
        for s in sorted(gate.suites, key=lambda s: s.change, reverse=True)
    ]


# "judged": the time the verdict compares with the baseline (the raw time divided by the runner
# speed factor); "raw": as measured
COLLECTION_SHARE = 0.25  # of the wall time: worth a line of its own in the summary
GATE_HEADER = ["test", "baseline s", "judged s", "change", "threshold", "raw s", "verdict"]
SUITE_HEADER = ["group", "baseline s", "judged s", "change", "threshold", "raw s", "verdict"]


SLOWEST_HEADER = ["test", "total s", "setup s", "call s", "teardown s"]
HOT_SPOT_HEADER = ["fixture", "scope", "setups", "total s", "wider scope", "saves up to s"]


def slowest_rows(report: Report) -> list[list[str]]:
    return [
        [
            f"`{t['nodeid']}`",
            seconds(t["duration"]),
            seconds(t["setup"]),
            seconds(t["call"]),
            seconds(t["teardown"]),
        ]
        for t in report.slowest
    ]


def hot_spot_rows(report: Report) -> list[list[str]]:
    return [
        [
            f"`{s.name}` ({s.baseid or '.'})",
            s.scope,
            str(s.setups),
            seconds(s.total),
            s.wider_scope,
            seconds(s.saving),
        ]
        for s in report.hot_spots
    ]


def to_markdown(report: Report) -> str:
    run, summary = report.run, report.run["summary"]
    git = run.get("git") or {}
    lines = ["# Test performance report", ""]
    lines += [
        f"Run `{run['run_id']}` at {run['started_at']}, commit `{(git.get('commit') or '-')[:10]}`"
        f"{' (dirty)' if git.get('dirty') else ''}.",
        "",
        f"- **{summary['total_tests']} tests**, {summary['total_duration']:.2f} s of test time "
        f"({summary['average_duration']:.3f} s on average)",
    ]
    if report.failing:
        shown = ", ".join(f"`{nodeid}`" for nodeid in report.failing[:10])
        more = f" and {len(report.failing) - 10} more" if len(report.failing) > 10 else ""
        lines.append(f"- **{len(report.failing)} failed**: {shown}{more}")
    wall, collection = run.get("wall_time"), run.get("collection_time")
    if wall is not None:
        lines.append(f"- wall time {wall:.2f} s, collection {collection or 0:.2f} s")
        if collection and wall and collection / wall >= COLLECTION_SHARE:
            lines.append(
                f"- **collection took {collection / wall:.0%} of the wall time**: imports at "
                "module level of the tests or conftest files (`python -X importtime -m pytest "
                "--collect-only -q` shows which)"
            )
    workers = run.get("workers") or {}
    if len(workers) > 1:
        loads = ", ".join(f"{w} {v['busy']:.1f} s busy" for w, v in sorted(workers.items()))
        lines.append(f"- workers: {loads}")
    lines += ["", "## Slowest tests", ""]
    lines += _table(SLOWEST_HEADER, slowest_rows(report))
    lines += [f"## Slow tests without the `slow` mark (over {report.slow_threshold:g} s)", ""]
    if report.unmarked_slow:
        lines += _table(
            ["test", "seconds"],
            [[f"`{t['nodeid']}`", seconds(t["duration"])] for t in report.unmarked_slow],
        )
    else:
        lines += ["None.", ""]
    if report.budgeted:
        lines += ["## Over their time budget", ""]
        if report.over_budget:
            lines += _table(
                ["test", "seconds", "budget s", "budget from"],
                [
                    [f"`{b.what}`", seconds(b.seconds), f"{b.budget:g}", b.source]
                    for b in report.over_budget
                ],
            )
        else:
            lines += ["None.", ""]
    lines += ["## Fixture hot spots", ""]
    if report.hot_spots:
        lines += _table(HOT_SPOT_HEADER, hot_spot_rows(report))
    else:
        lines += ["No fixture is set up more than once.", ""]
    if report.gate is not None:
        lines += markdown_gate(report.gate)
    if report.trend:
        lines += ["## Trend", ""]
        lines += _table(
            ["run", "commit", "tests", "total s"],
            [
                [p.started_at, (p.commit or "-")[:10], str(p.tests), f"{p.total_duration:.2f}"]
                for p in report.trend
            ],
        )
    lines += ["## Recommendations", ""]
    lines += [f"- {item}" for item in report.recommendations] or ["Nothing to do."]
    return "\n".join(lines).rstrip() + "\n"


def markdown_gate(gate: GateResult) -> list[str]:
    lines = ["## Against the baseline", ""]
    lines.append(
        f'"judged" is the measured ("raw") time divided by the runner speed factor, '
        f"{gate.speed_factor:.2f} for tests and {gate.suite_divisor:.2f} for suite totals; "
        f'"change" compares it with the baseline. CPU calibration ratio '
        f"{gate.calibration_ratio:.2f}, CPU contention ratio {gate.contention_ratio:.2f}. "
        + " ".join(gate.notes)
    )
    lines.append("")
    rows = gate_rows(gate)
    lines += _table(GATE_HEADER, rows) if rows else ["No test changed beyond its threshold.", ""]
    lines += _table(SUITE_HEADER, suite_rows(gate))
    return lines


def update_docs(path: Path, markdown: str, start: str = DOCS_START, end: str = DOCS_END) -> None:
    """Replace the text between the markers; the rest of the file is left alone."""
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        updated = pattern.sub(lambda _: block, text, count=1)
    else:
        updated = (
            text
            + ("\n" if text and not text.endswith("\n") else "")
            + ("\n" if text else "")
            + block
            + "\n"
        )
    write_text_atomic(path, updated)


def github_annotations(gate: GateResult) -> list[str]:
    """One ``::warning`` per regression, on the test's own line, for the Actions UI."""
    lines = []
    for test in gate.regressions:
        location = f"file={test.nodeid.split('::', 1)[0]}"
        if test.line is not None:
            location += f",line={test.line}"
        lines.append(
            f"::warning {location}::{test.nodeid} is {test.change:+.0f}% slower "
            f"({test.baseline:.3f}s -> {test.corrected:.3f}s, threshold {test.threshold:g}%)"
        )
    return lines
