"""LLM cassette settings, modes and figures: plain values, importable without vcrpy.

vcrpy patches a dozen HTTP libraries and imports them to do so (a quarter of a second);
pytest runs that record or replay nothing must not pay for that, so only this module is
imported up front.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from fixtures_lib.cassettes.requests import DEFAULT_VOLATILE_FIELDS


class Mode(Enum):
    REPLAY = "replay"  # the default: replay only; a call with no recording fails its test
    NEW = "new"  # --record-llm: record what is missing, replay the rest
    ALL = "all"  # --record-llm-mode=all: every call afresh, the cassette replaced if it passed
    OFF = "off"  # --no-llm-cassettes: every call goes live, nothing is written


@dataclass(frozen=True)
class LLMSettings:
    """Handed over by whoever owns the configuration (optikit's plugin reads pyproject.toml)."""

    cassette_dir: Path
    hosts: tuple[str, ...] = ("api.openai.com", "api.anthropic.com", "localhost:11434")
    volatile_fields: tuple[str, ...] = DEFAULT_VOLATILE_FIELDS


@dataclass
class LLMCounts:
    replayed: int = 0
    recorded: int = 0
    saved_seconds: float = 0.0  # recorded latency of the replayed calls: what the run did not wait
    tokens: int = 0  # input plus output tokens of the replayed calls

    def merge(self, other: dict[str, Any]) -> None:
        for name in ("replayed", "recorded", "saved_seconds", "tokens"):
            setattr(self, name, getattr(self, name) + other.get(name, 0))
