"""Natural-language questions about patients, parsed into filters by an LLM.

The app sends the question to a chat-completions endpoint through the real ``openai`` client
and asks for a JSON filter; a second path asks a local Ollama model to explain an answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import ollama
import openai
import polars as pl
from openai.types.chat import ChatCompletionMessageParam

PARSER_SYSTEM_PROMPT = (
    "You translate questions about the patients table into a JSON filter. "
    "Columns: age, sex (F/M), bmi, diagnosis, smoker, systolic_bp, site. Reply with JSON only: "
    '{"filters": [{"column": str, "op": "==|!=|>|>=|<|<=", "value": any}], '
    '"aggregate": "count" | "mean:<column>"}'
)
EXPLAIN_SYSTEM_PROMPT = "Explain the answer to the clinician in one plain sentence."

OPERATORS = {
    "==": pl.Expr.__eq__,
    "!=": pl.Expr.__ne__,
    ">": pl.Expr.__gt__,
    ">=": pl.Expr.__ge__,
    "<": pl.Expr.__lt__,
    "<=": pl.Expr.__le__,
}


class QueryParseError(ValueError):
    """The model's reply was not a filter this app understands."""


@dataclass(frozen=True)
class Filter:
    column: str
    op: str
    value: object


@dataclass(frozen=True)
class ParsedQuery:
    filters: tuple[Filter, ...]
    aggregate: str


def parse_reply(reply: str) -> ParsedQuery:
    try:
        data = json.loads(reply)
        filters = tuple(Filter(f["column"], f["op"], f["value"]) for f in data["filters"])
        aggregate = str(data["aggregate"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise QueryParseError(f"unusable model reply {reply!r}: {exc}") from exc
    unknown = [f.op for f in filters if f.op not in OPERATORS]
    if unknown:
        raise QueryParseError(f"unknown operators {unknown}")
    return ParsedQuery(filters, aggregate)


class NLQueryParser:
    def __init__(self, client: openai.OpenAI, model: str = "gpt-4o-mini") -> None:
        self.client = client
        self.model = model

    def _messages(self, question: str) -> list[ChatCompletionMessageParam]:
        return [
            {"role": "system", "content": PARSER_SYSTEM_PROMPT},
            {"role": "user", "content": question},
        ]

    def parse(self, question: str) -> ParsedQuery:
        response = self.client.chat.completions.create(
            model=self.model,
            messages=self._messages(question),
            response_format={"type": "json_object"},
            temperature=0,
        )
        return parse_reply(response.choices[0].message.content or "")

    def parse_streaming(self, question: str) -> ParsedQuery:
        """The UI streams so users see progress; the parse must not depend on chunking."""
        stream = self.client.chat.completions.create(
            model=self.model,
            messages=self._messages(question),
            temperature=0,
            stream=True,
        )
        reply = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        return parse_reply(reply)


def apply_query(patients: pl.DataFrame, query: ParsedQuery) -> pl.DataFrame:
    selected = patients
    for item in query.filters:
        selected = selected.filter(OPERATORS[item.op](pl.col(item.column), pl.lit(item.value)))
    return selected


def answer(patients: pl.DataFrame, query: ParsedQuery) -> float:
    selected = apply_query(patients, query)
    if query.aggregate == "count":
        return float(selected.height)
    if query.aggregate.startswith("mean:"):
        mean = selected[query.aggregate.removeprefix("mean:")].mean()
        return float(mean) if isinstance(mean, int | float) else float("nan")
    raise QueryParseError(f"unknown aggregate {query.aggregate!r}")


def explain(client: ollama.Client, question: str, result: float, model: str = "llama3.2") -> str:
    response = client.chat(
        model=model,
        messages=[
            {"role": "system", "content": EXPLAIN_SYSTEM_PROMPT},
            {"role": "user", "content": f"Question: {question}\nAnswer: {result:g}"},
        ],
    )
    return response.message.content or ""
