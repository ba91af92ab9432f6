"""``optikit report``: what a person wants to know about the suite's time, in three formats.

One ``Report`` is computed from the run record (plus the baseline and the history when they
exist) and then rendered as markdown, JSON or a self-contained HTML page; the renderers only
format, they never compute.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fixtures_lib.atomic import write_text_atomic
from optikit import history
from optikit.gate import GateResult
from optikit.run_record import FixtureEntry, RunRecord, TestEntry

TOP = 10
WIDER_SCOPE = {"function": "module", "class": "module", "module": "session", "package": "session"}
DOCS_START = "<!-- optikit:report:start -->"
DOCS_END = "<!-- optikit:report:end -->"


@dataclass(frozen=True)
class HotSpot:
    name: str
    scope: str
    baseid: str
    setups: int
    total: float
    wider_scope: str
    saving: float


@dataclass(frozen=True)
class TrendPoint:
    run_id: str
    started_at: str
    commit: str | None
    total_duration: float
    tests: int


@dataclass
class Report:
    run: dict[str, Any]
    slowest: list[TestEntry]
    unmarked_slow: list[TestEntry]
    slow_threshold: float
    hot_spots: list[HotSpot]
    gate: GateResult | None = None
    trend: list[TrendPoint] = field(default_factory=list)
    test_trends: dict[str, list[float]] = field(default_factory=dict)
    recommendations: list[str] = field(default_factory=list)


def hot_spots(fixtures: list[FixtureEntry], min_saving: float = 0.0) -> list[HotSpot]:
    """Fixtures set up more than once, with what one setup per wider scope would save.

    The saving is an upper bound: it assumes the value can be shared, which only a person (or
    the rescope codemod's checks) can confirm.
    """
    spots = []
    for fixture in fixtures:
        wider = WIDER_SCOPE.get(fixture["scope"])
        if wider is None or fixture["setups"] < 2:
            continue
        mean = fixture["total"] / fixture["setups"]
        if fixture["total"] - mean < min_saving:
            continue
        spots.append(
            HotSpot(
                fixture["name"],
                fixture["scope"],
                fixture["baseid"],
                fixture["setups"],
                fixture["total"],
                wider,
                round(fixture["total"] - mean, 6),
            )
        )
    return sorted(spots, key=lambda spot: spot.saving, reverse=True)[:TOP]


def build_report(
    record: RunRecord,
    slow_threshold: float,
    gate: GateResult | None = None,
    history_db: Path | None = None,
    trend_runs: int = 20,
    min_saving: float = 0.05,
) -> Report:
    tests = sorted(record["tests"], key=lambda t: t["duration"], reverse=True)
    unmarked = [t for t in tests if t["duration"] >= slow_threshold and "slow" not in t["markers"]]
    run = {key: record.get(key) for key in ("run_id", "started_at", "git", "machine", "summary")}
    run["collection_time"] = record.get("collection_time")
    run["wall_time"] = record.get("wall_time")
    run["workers"] = record.get("workers", {})
    report = Report(
        run, tests[:TOP], unmarked, slow_threshold, hot_spots(record["fixtures"], min_saving), gate
    )
    if history_db is not None and history_db.exists():
        report.trend = [
            TrendPoint(r.run_id, r.started_at, r.commit, r.total_duration, r.tests)
            for r in history.recent_runs(history_db, trend_runs)
        ]
        samples = history.durations(history_db, trend_runs, passed_only=False)
        report.test_trends = {t["nodeid"]: samples.get(t["nodeid"], []) for t in tests[:5]}
    report.recommendations = recommendations(report)
    return report


def recommendations(report: Report) -> list[str]:
    advice = []
    if report.unmarked_slow:
        advice.append(
            f"Mark the {len(report.unmarked_slow)} test(s) over {report.slow_threshold:g} s with "
            "@pytest.mark.slow so the fast loop can deselect them (-m 'not slow')."
        )
    for spot in report.hot_spots[:3]:
        advice.append(
            f"Fixture '{spot.name}' ({spot.scope} scope) was set up {spot.setups} times "
            f"({spot.total:.2f} s); if its value is never mutated, {spot.wider_scope} scope "
            f"would save up to {spot.saving:.2f} s."
        )
    if report.gate is not None and report.gate.failed:
        advice.append("Investigate the regressions below before merging; re-check with --confirm.")
    workers = report.run.get("workers") or {}
    if len(workers) > 1:
        busy = [load["busy"] for load in workers.values()]
        if min(busy) < 0.6 * max(busy):
            advice.append(
                "xdist workers are unevenly loaded; a few long tests dominate. "
                "Try '--dist worksteal' or split the slowest tests."
            )
    return advice


def _seconds(value: float) -> str:
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
            _seconds(t.baseline),
            _seconds(t.current),
            f"{t.change:+.1f}%",
            f"{t.threshold:g}%",
            t.verdict,
        ]
        for t in sorted(shown, key=lambda t: t.change, reverse=True)
    ]


def suite_rows(gate: GateResult) -> list[list[str]]:
    return [
        [
            s.group,
            _seconds(s.baseline),
            _seconds(s.adjusted),
            f"{s.change:+.1f}%",
            f"{s.threshold:g}%",
            s.verdict,
        ]
        for s in sorted(gate.suites, key=lambda s: s.change, reverse=True)
    ]


GATE_HEADER = ["test", "baseline s", "current s", "change", "threshold", "verdict"]
SUITE_HEADER = ["group", "baseline s", "adjusted s", "change", "threshold", "verdict"]


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
    if run.get("wall_time") is not None:
        lines.append(
            f"- wall time {run['wall_time']:.2f} s, collection {run['collection_time']:.2f} s"
        )
    workers = run.get("workers") or {}
    if len(workers) > 1:
        loads = ", ".join(f"{w} {v['busy']:.1f} s busy" for w, v in sorted(workers.items()))
        lines.append(f"- workers: {loads}")
    lines += ["", "## Slowest tests", ""]
    lines += _table(
        ["test", "total s", "setup s", "call s", "teardown s"],
        [
            [
                f"`{t['nodeid']}`",
                _seconds(t["duration"]),
                _seconds(t["setup"]),
                _seconds(t["call"]),
                _seconds(t["teardown"]),
            ]
            for t in report.slowest
        ],
    )
    lines += [f"## Slow tests without the `slow` mark (over {report.slow_threshold:g} s)", ""]
    if report.unmarked_slow:
        lines += _table(
            ["test", "seconds"],
            [[f"`{t['nodeid']}`", _seconds(t["duration"])] for t in report.unmarked_slow],
        )
    else:
        lines += ["None.", ""]
    lines += ["## Fixture hot spots", ""]
    if report.hot_spots:
        lines += _table(
            ["fixture", "scope", "setups", "total s", "wider scope", "saves up to s"],
            [
                [
                    f"`{s.name}` ({s.baseid or '.'})",
                    s.scope,
                    str(s.setups),
                    _seconds(s.total),
                    s.wider_scope,
                    _seconds(s.saving),
                ]
                for s in report.hot_spots
            ],
        )
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
        f"Runner speed factor {gate.speed_factor:.2f}, CPU calibration ratio "
        f"{gate.calibration_ratio:.2f}, CPU contention ratio {gate.contention_ratio:.2f}, "
        f"suite totals divided by {gate.suite_divisor:.2f}. " + " ".join(gate.notes)
    )
    lines.append("")
    rows = gate_rows(gate)
    lines += _table(GATE_HEADER, rows) if rows else ["No test changed beyond its threshold.", ""]
    lines += _table(SUITE_HEADER, suite_rows(gate))
    return lines


def to_json(report: Report) -> str:
    data = asdict(report)
    if report.gate is not None:
        data["gate"]["tests"] = [
            {**asdict(t), "change": round(t.change, 3)} for t in report.gate.tests
        ]
        data["gate"]["suites"] = [
            {**asdict(s), "change": round(s.change, 3)} for s in report.gate.suites
        ]
        data["gate"]["failed"] = report.gate.failed
    return json.dumps(data, indent=1) + "\n"


def _svg_lines(series: dict[str, list[float]], width: int = 640, height: int = 220) -> str:
    """A small line chart as inline SVG: no scripts, no network, opens anywhere."""
    points = [v for values in series.values() for v in values]
    if not points:
        return "<p>Not enough history yet: run <code>pytest --track-performance</code> again.</p>"
    top = max(points) * 1.1 or 1.0
    longest = max(len(values) for values in series.values())
    step = (width - 60) / max(longest - 1, 1)
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"]
    parts = [
        f'<svg viewBox="0 0 {width} {height + 20 * len(series)}" width="{width}" '
        'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">',
        f'<line x1="50" y1="{height - 20}" x2="{width - 10}" y2="{height - 20}" stroke="#999"/>',
        f'<line x1="50" y1="10" x2="50" y2="{height - 20}" stroke="#999"/>',
        f'<text x="4" y="16">{top:.2f}s</text><text x="4" y="{height - 20}">0</text>',
    ]
    for index, (name, values) in enumerate(series.items()):
        colour = colours[index % len(colours)]
        coords = " ".join(
            f"{50 + i * step:.1f},{(height - 20) - v / top * (height - 30):.1f}"
            for i, v in enumerate(values)
        )
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>'
        )
        legend_y = height + 12 + 20 * index
        parts.append(f'<rect x="50" y="{legend_y - 9}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="66" y="{legend_y}">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c.strip('`'))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(report: Report) -> str:
    summary = report.run["summary"]
    sections = [
        f"<h1>Test performance report</h1><p>Run <code>{html.escape(report.run['run_id'])}</code>"
        f" at {html.escape(report.run['started_at'])}: {summary['total_tests']} tests, "
        f"{summary['total_duration']:.2f} s of test time.</p>",
        "<h2>Suite time over runs</h2>",
        _svg_lines({"total test time": [p.total_duration for p in report.trend]}),
        "<h2>Slowest tests over runs</h2>",
        _svg_lines({name: values for name, values in report.test_trends.items() if values}),
        "<h2>Slowest tests</h2>",
        _html_table(
            ["test", "total s", "setup s", "call s", "teardown s"],
            [
                [
                    t["nodeid"],
                    _seconds(t["duration"]),
                    _seconds(t["setup"]),
                    _seconds(t["call"]),
                    _seconds(t["teardown"]),
                ]
                for t in report.slowest
            ],
        ),
        "<h2>Fixture hot spots</h2>",
        _html_table(
            ["fixture", "scope", "setups", "total s", "wider scope", "saves up to s"],
            [
                [
                    s.name,
                    s.scope,
                    str(s.setups),
                    _seconds(s.total),
                    s.wider_scope,
                    _seconds(s.saving),
                ]
                for s in report.hot_spots
            ],
        ),
    ]
    if report.gate is not None:
        sections += [
            "<h2>Against the baseline</h2>",
            _html_table(GATE_HEADER, gate_rows(report.gate, everything=True)),
            _html_table(SUITE_HEADER, suite_rows(report.gate)),
        ]
    sections += ["<h2>Recommendations</h2><ul>"]
    sections += [f"<li>{html.escape(item)}</li>" for item in report.recommendations]
    sections += ["</ul>"]
    style = (
        "body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:left;font-size:13px}th{background:#f4f4f4}code{background:#f4f4f4}"
    )
    body = "\n".join(sections)
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'><title>Test performance report"
        f"</title><style>{style}</style></head><body>\n{body}\n</body></html>\n"
    )


def render(report: Report, fmt: str) -> str:
    return {"markdown": to_markdown, "json": to_json, "html": to_html}[fmt](report)


def update_docs(path: Path, markdown: str) -> None:
    """Replace the text between the optikit markers; the rest of the file is left alone."""
    block = f"{DOCS_START}\n{markdown.rstrip()}\n{DOCS_END}"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(re.escape(DOCS_START) + r".*?" + re.escape(DOCS_END), re.DOTALL)
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
