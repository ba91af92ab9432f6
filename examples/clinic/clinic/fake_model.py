"""The deterministic model behind the example suite's fake LLM server.

It understands just the questions the example suite asks, the way a real model would answer
them, so the suite exercises the real request and parsing code paths.
"""

from __future__ import annotations

import json
import re

from clinic.nl_query import PARSER_SYSTEM_PROMPT
from optikit.testing.fake_llm import ChatRequest

RULES: tuple[tuple[str, dict[str, object]], ...] = (
    (r"older than (\d+)", {"column": "age", "op": ">"}),
    (r"(?:younger than|under) (\d+)", {"column": "age", "op": "<"}),
    (r"bmi (?:over|above) (\d+)", {"column": "bmi", "op": ">"}),
    (r"\bwomen\b|\bfemale", {"column": "sex", "op": "==", "value": "F"}),
    (r"\bmen\b|\bmale", {"column": "sex", "op": "==", "value": "M"}),
    (r"\bsmokers?\b", {"column": "smoker", "op": "==", "value": True}),
    (r"(diabetes|hypertension|asthma|copd)", {"column": "diagnosis", "op": "=="}),
    (r"(?:at|in) the (north|south|east|west) site", {"column": "site", "op": "=="}),
)


def parse_question(question: str) -> dict[str, object]:
    text = question.lower()
    filters = []
    for pattern, template in RULES:
        match = re.search(pattern, text)
        if match:
            item = dict(template)
            if "value" not in item:
                raw = match.group(1)
                item["value"] = int(raw) if raw.isdigit() else raw
            filters.append(item)
    mean = re.search(r"average (\w+)", text)
    aggregate = f"mean:{mean.group(1)}" if mean else "count"
    return {"filters": filters, "aggregate": aggregate}


def clinic_responder(request: ChatRequest) -> str:
    if request.system == PARSER_SYSTEM_PROMPT:
        return json.dumps(parse_question(request.prompt))
    question, _, result = request.prompt.partition("\nAnswer: ")
    return f"The answer to '{question.removeprefix('Question: ')}' is {result}."
