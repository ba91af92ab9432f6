"""The report as JSON (for tools), and the choice of renderer by format name."""

from __future__ import annotations

import json
from dataclasses import asdict

from optikit.report.build import Report
from optikit.report.html import to_html
from optikit.report.markdown import to_markdown


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


def render(report: Report, fmt: str) -> str:
    return {"markdown": to_markdown, "json": to_json, "html": to_html}[fmt](report)
