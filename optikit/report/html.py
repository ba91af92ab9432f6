"""The report as one self-contained HTML page: inline SVG charts, no scripts, no network.

The page reads top down as a person asks: how did this run go (headline numbers and the
gate's verdict), what got worse (regressions, budget breaches), how has it trended, and where
the time goes. A section with nothing to say is left out. Each chart point carries an SVG
``<title>``, which every browser shows as a tooltip, so the page needs no script.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from optikit.report.build import Report
from optikit.report.markdown import (
    GATE_HEADER,
    HOT_SPOT_HEADER,
    SLOWEST_HEADER,
    SUITE_HEADER,
    gate_rows,
    hot_spot_rows,
    seconds,
    slowest_rows,
    suite_rows,
)

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf")
WIDTH, HEIGHT, LEFT, BOTTOM = 720, 240, 64, 48  # chart area and its margins, in pixels


def _ticks(top: float, count: int = 4) -> list[float]:
    return [top * i / count for i in range(count + 1)]


def _svg_chart(series: dict[str, list[float]], labels: Sequence[str], title: str) -> str:
    """A line chart with labelled axes (runs on x, seconds on y), a marker and a tooltip per
    point, and a legend; ``labels`` name the runs (date and short commit)."""
    points = [v for values in series.values() for v in values]
    if len(points) < 2:
        return ""
    top = max(points) * 1.1 or 1.0
    longest = max(len(values) for values in series.values())
    plot_w, plot_h = WIDTH - LEFT - 16, HEIGHT - BOTTOM - 12
    step = plot_w / max(longest - 1, 1)

    def x(i: int) -> float:
        return LEFT + i * step

    def y(v: float) -> float:
        return 12 + plot_h - v / top * plot_h

    legend = 18 * len(series)
    parts = [
        f'<svg role="img" aria-label="{html.escape(title)}" viewBox="0 0 {WIDTH} '
        f'{HEIGHT + legend}" width="{WIDTH}" xmlns="http://www.w3.org/2000/svg" '
        'font-family="sans-serif" font-size="11">',
        f'<line x1="{LEFT}" y1="{y(0):.1f}" x2="{LEFT + plot_w}" y2="{y(0):.1f}" stroke="#999"/>',
        f'<line x1="{LEFT}" y1="12" x2="{LEFT}" y2="{y(0):.1f}" stroke="#999"/>',
        f'<text class="axis" x="12" y="{12 + plot_h / 2:.0f}" transform="rotate(-90 12 '
        f'{12 + plot_h / 2:.0f})" text-anchor="middle">seconds</text>',
        f'<text class="axis" x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 4}" '
        'text-anchor="middle">run (date, commit)</text>',
    ]
    for tick in _ticks(top):
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:.2f}</text>'
            f'<line x1="{LEFT - 3}" y1="{y(tick):.1f}" x2="{LEFT}" y2="{y(tick):.1f}" '
            'stroke="#999"/>'
        )
    shown = {0, longest - 1, (longest - 1) // 2}  # first, middle and last run named
    for i in sorted(shown):
        if i < len(labels):
            parts.append(
                f'<text x="{x(i):.1f}" y="{y(0) + 16:.1f}" text-anchor="middle">'
                f"{html.escape(labels[i])}</text>"
            )
    for index, (name, values) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        coords = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>'
        )
        for i, value in enumerate(values):
            run = labels[i] if i < len(labels) else f"run {i + 1}"
            tip = html.escape(f"{name}: {value:.3f} s ({run})")
            parts.append(
                f'<circle class="point" cx="{x(i):.1f}" cy="{y(value):.1f}" r="3.5" '
                f'fill="{colour}"><title>{tip}</title></circle>'
            )
        legend_y = HEIGHT + 12 + 18 * index
        parts.append(
            f'<rect x="{LEFT}" y="{legend_y - 9}" width="10" height="10" fill="{colour}"/>'
        )
        parts.append(f'<text x="{LEFT + 16}" y="{legend_y}">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c.strip('`'))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _headline(report: Report) -> str:
    """The numbers a person looks for first, and the gate's verdict when there is one."""
    run, summary = report.run, report.run["summary"]
    figures = [("tests", f"{summary['total_tests']:,}"), ("failed", str(len(report.failing)))]
    wall, collection = run.get("wall_time"), run.get("collection_time")
    if wall is not None:
        figures.append(("wall time", f"{wall:.2f} s"))
        if collection is not None and wall:
            figures.append(("collection", f"{collection:.2f} s ({collection / wall:.0%})"))
    figures.append(("test time", f"{summary['total_duration']:.2f} s"))
    if report.gate is not None:
        gate = report.gate
        verdict = "FAILED" if gate.failed else "passed"
        count = len(gate.regressions) + len(gate.suite_regressions)
        figures.append(("gate", f"{verdict} ({count} regression{'s' * (count != 1)})"))
    if report.budgeted:
        figures.append(("over budget", str(len(report.over_budget))))
    cells = "".join(
        f'<div class="figure"><div class="value">{html.escape(value)}</div>'
        f'<div class="label">{html.escape(label)}</div></div>'
        for label, value in figures
    )
    return f'<section id="headline"><div class="figures">{cells}</div></section>'


def to_html(report: Report) -> str:
    run = report.run
    git = run.get("git") or {}
    commit = (git.get("commit") or "-")[:10]
    sections = [
        f"<h1>Test performance report</h1><p>Run <code>{html.escape(run['run_id'])}</code> "
        f"at {html.escape(run['started_at'])}, commit <code>{html.escape(commit)}</code>.</p>",
        _headline(report),
    ]
    if report.failing:
        items = "".join(f"<li><code>{html.escape(n)}</code></li>" for n in report.failing[:20])
        sections.append(f'<section id="failing"><h2>Failed</h2><ul>{items}</ul></section>')
    if report.gate is not None:
        rows = gate_rows(report.gate)
        groups = [row for row in suite_rows(report.gate) if row[-1] != "ok"]
        if rows or groups:
            sections.append(
                '<section id="regressions"><h2>Against the baseline</h2>'
                "<p>judged = the measured (raw) time divided by the runner speed factor "
                f"({report.gate.speed_factor:.2f}); change compares it with the baseline.</p>"
                + (_html_table(GATE_HEADER, rows) if rows else "")
                + (_html_table(SUITE_HEADER, groups) if groups else "")
                + "</section>"
            )
    if report.over_budget:
        sections.append(
            '<section id="budgets"><h2>Over their time budget</h2>'
            + _html_table(
                ["test", "seconds", "budget s", "budget from"],
                [
                    [b.what, seconds(b.seconds), f"{b.budget:g}", b.source]
                    for b in report.over_budget
                ],
            )
            + "</section>"
        )
    labels = [
        f"{point.started_at[:10]} {(point.commit or '')[:7]}".strip() for point in report.trend
    ]
    suite_chart = _svg_chart(
        {"total test time": [p.total_duration for p in report.trend]}, labels, "suite time"
    )
    test_chart = _svg_chart(
        {name: values for name, values in report.test_trends.items() if values},
        labels,
        "slowest tests",
    )
    if suite_chart or test_chart:
        sections.append('<section id="trends"><h2>Trends</h2>')
        if suite_chart:
            sections += ["<h3>Total test time per run</h3>", suite_chart]
        if test_chart:
            sections += ["<h3>The slowest tests per run</h3>", test_chart]
        sections.append("</section>")
    if report.slowest:
        sections.append(
            '<section id="slowest"><h2>Slowest tests</h2>'
            + _html_table(SLOWEST_HEADER, slowest_rows(report))
            + "</section>"
        )
    if report.hot_spots:
        sections.append(
            '<section id="hot-spots"><h2>Fixture hot spots</h2>'
            + _html_table(HOT_SPOT_HEADER, hot_spot_rows(report))
            + "</section>"
        )
    if report.recommendations:
        items = "".join(f"<li>{html.escape(item)}</li>" for item in report.recommendations)
        sections.append(
            f'<section id="recommendations"><h2>Recommendations</h2><ul>{items}</ul></section>'
        )
    style = (
        "body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:left;font-size:13px}th{background:#f4f4f4}code{background:#f4f4f4}"
        ".figures{display:flex;flex-wrap:wrap;gap:12px}.figure{border:1px solid #ddd;"
        "border-radius:6px;padding:8px 14px}.value{font-size:20px;font-weight:bold}"
        ".label{color:#666;font-size:12px}.point:hover{r:6}"
    )
    body = "\n".join(sections)
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>Test performance "
        f"report</title><style>{style}</style></head><body>\n{body}\n</body></html>\n"
    )
