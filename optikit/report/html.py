"""The report as one self-contained HTML page: inline SVG charts, no scripts, no network."""

from __future__ import annotations

import html

from optikit.report.build import Report
from optikit.report.markdown import GATE_HEADER, SUITE_HEADER, gate_rows, seconds, suite_rows


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
                    seconds(t["duration"]),
                    seconds(t["setup"]),
                    seconds(t["call"]),
                    seconds(t["teardown"]),
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
                    seconds(s.total),
                    s.wider_scope,
                    seconds(s.saving),
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
