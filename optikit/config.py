"""``[tool.optikit]`` in the nearest pyproject.toml, read once into a typed, validated object.

The defaults here are the ones DESIGN.md documents; ``optikit init`` writes them out and
``optikit config show`` reports, for every value, whether it came from the file or the default.
A typo in a key must never be silently ignored, so unknown keys are errors, with a suggestion.
"""

from __future__ import annotations

import difflib
import json
import math
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from optikit.errors import OptikitError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

PYPROJECT = "pyproject.toml"

Converter = Callable[[Any], Any]


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1e12:
        raise ValueError("a finite number >= 0")  # NaN fails the comparison too
    return float(value)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("a whole number >= 1")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a non-empty string")
    return value


def _text_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValueError("a list of non-empty strings")
    return tuple(value)


def _workers(value: Any) -> int | Literal["auto"]:
    if value == "auto":
        return "auto"
    try:
        return _count(value)
    except ValueError:
        raise ValueError('"auto" or a whole number >= 1') from None


def _setting(default: Any, convert: Converter, help: str) -> Any:
    """A config field: its default, how to validate a file value, and what it means."""
    return field(default=default, metadata={"convert": convert, "help": help})


@dataclass(frozen=True)
class PerformanceConfig:
    data_file: str = _setting("tests/.performance_data.json", _text, "latest run record")
    baseline_file: str = _setting("tests/.performance_baseline.json", _text, "committed baseline")
    history_db: str = _setting(".optikit/history.db", _text, "SQLite history of tracked runs")
    individual_test_threshold: float = _setting(20.0, _number, "per-test slowdown, percent")
    suite_threshold: float = _setting(15.0, _number, "per-group slowdown, percent")
    slow_test_threshold_seconds: float = _setting(30.0, _number, "a test this slow is 'slow'")
    noise_floor_seconds: float = _setting(0.05, _number, "deltas below this never regress")
    noise_mads: float = _setting(3.0, _number, "a regression must exceed this many MADs")
    exclude: tuple[str, ...] = _setting(
        ("tests/performance/test_*.py",), _text_list, "test files the tracker ignores"
    )


@dataclass(frozen=True)
class CacheConfig:
    dir: str = _setting("tests/.test_cache", _text, "fixture cache directory")
    size_limit_mb: float = _setting(500, _number, "LRU eviction above this size")


@dataclass(frozen=True)
class LLMConfig:
    cassette_dir: str = _setting("tests/cassettes", _text, "one cassette per test")
    hosts: tuple[str, ...] = _setting(
        ("api.openai.com", "api.anthropic.com", "localhost:11434"),
        _text_list,
        "hosts whose traffic is recorded and replayed (host, host:port, or 127.0.0.1:*)",
    )
    volatile_fields: tuple[str, ...] = _setting(
        ("user", "metadata", "stream_options", "request_id", "idempotency_key"),
        _text_list,
        "top-level request body fields ignored when matching a call to its recording",
    )


@dataclass(frozen=True)
class AuditConfig:
    runs: int = _setting(20, _count, "pytest runs per audit")
    workers: int | Literal["auto"] = _setting("auto", _workers, "xdist workers per run")


# [tool.optikit.budgets] (optikit.gate.budgets judges a run against them)
SUITE = "suite"
DEFAULT = "default"
SEED_BUDGETS = {DEFAULT: 1.0, "integration": 5.0, "e2e": 10.0, SUITE: 300.0}


@dataclass(frozen=True)
class Budgets:
    per_test: Mapping[str, float] = field(default_factory=dict)  # marker or "default" -> s
    suite: float | None = None  # the run's wall time, seconds

    def __bool__(self) -> bool:
        return bool(self.per_test) or self.suite is not None

    def for_test(self, markers: list[str]) -> tuple[float, str] | None:
        """The most generous budget among the test's markers, else ``default``, else none."""
        own = [(self.per_test[m], f"marker {m}") for m in markers if m in self.per_test]
        if own:
            return max(own)
        if DEFAULT in self.per_test:
            return self.per_test[DEFAULT], DEFAULT
        return None


def parse_budgets(values: Mapping[str, Any], pyproject: Path) -> Budgets:
    """``[tool.optikit.budgets]``: every value a number of seconds, finite, above 0."""
    seconds: dict[str, float] = {}
    for key, raw in values.items():
        number = raw if isinstance(raw, int | float) and not isinstance(raw, bool) else None
        if number is None or not math.isfinite(number) or not 0 < number <= 7 * 24 * 3600.0:
            raise OptikitError(
                f"[tool.optikit.budgets] {key} must be seconds (a number above 0), got {raw!r}",
                pyproject,
            )
        seconds[key] = float(number)
    suite = seconds.pop(SUITE, None)
    return Budgets(per_test=dict(sorted(seconds.items())), suite=suite)


BUDGETS = "budgets"  # [tool.optikit.budgets]: keys are the project's markers, not fixed
SECTIONS: dict[str, type] = {
    "performance": PerformanceConfig,
    "cache": CacheConfig,
    "llm": LLMConfig,
    "audit": AuditConfig,
}


@dataclass(frozen=True)
class Setting:
    """One effective value and where it came from, for ``optikit config show``."""

    section: str
    key: str
    value: Any
    source: str
    help: str


@dataclass(frozen=True)
class OptikitConfig:
    """The effective configuration of one project.

    Paths in the sections stay as written (relative to ``root``); ``path()`` resolves them so
    that commands behave the same from any working directory inside the project.
    """

    root: Path
    pyproject: Path | None = None
    performance: PerformanceConfig = field(default_factory=PerformanceConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    budgets: Budgets = field(default_factory=Budgets)
    from_file: frozenset[str] = frozenset()

    def path(self, relative: str) -> Path:
        return self.root / relative

    def settings(self) -> Iterator[Setting]:
        for section in SECTIONS:
            values = getattr(self, section)
            for spec in fields(values):
                dotted = f"{section}.{spec.name}"
                source = PYPROJECT if dotted in self.from_file else "default"
                yield Setting(
                    section, spec.name, getattr(values, spec.name), source, spec.metadata["help"]
                )
        for marker, seconds in self.budgets.per_test.items():
            help = (
                "seconds per test with no budgeted marker"
                if marker == "default"
                else (f"seconds per test marked {marker}")
            )
            yield Setting(BUDGETS, marker, seconds, PYPROJECT, help)
        if self.budgets.suite is not None:
            yield Setting(BUDGETS, "suite", self.budgets.suite, PYPROJECT, "the run's wall time")


def toml_value(value: Any) -> str:
    """A setting as it would be written in pyproject.toml."""
    if isinstance(value, tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    # JSON strings and numbers are valid TOML for the ASCII values optikit uses.
    return json.dumps(value)


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above ``start``, as pytest and ruff look for it."""
    start = start.resolve()
    for directory in (start, *start.parents):
        candidate = directory / PYPROJECT
        if candidate.is_file():
            return candidate
    return None


def load_config(start: Path | None = None) -> OptikitConfig:
    """Read the config of the project containing ``start`` (default: the working directory)."""
    start = Path.cwd() if start is None else start
    pyproject = find_pyproject(start)
    if pyproject is None:
        return OptikitConfig(root=start.resolve())
    return parse_config(read_toml(pyproject), pyproject)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise OptikitError(f"is not valid TOML ({exc}); fix the syntax", path) from None
    except UnicodeDecodeError as exc:
        raise OptikitError(
            f"is not UTF-8 text (byte {exc.start}); save it as UTF-8, as TOML requires", path
        ) from None
    except OSError as exc:
        raise OptikitError(f"cannot be read ({exc.strerror})", path) from None


def parse_config(document: Mapping[str, Any], pyproject: Path) -> OptikitConfig:
    """Validate ``[tool.optikit]`` of a parsed pyproject.toml; the first problem is the error."""
    table = document.get("tool", {}).get("optikit", {})
    if not isinstance(table, dict):
        raise OptikitError("[tool.optikit] must be a table of sections", pyproject)
    sections: dict[str, Any] = {}
    from_file: set[str] = set()
    for name, values in table.items():
        if name == BUDGETS and isinstance(values, dict):  # keyed by the project's own markers
            sections[name] = parse_budgets(values, pyproject)
            from_file.update(f"{name}.{key}" for key in values)
            continue
        if name not in SECTIONS:
            raise OptikitError(
                f"unknown section [tool.optikit.{name}]; {_expect(name, SECTIONS)}", pyproject
            )
        if not isinstance(values, dict):
            raise OptikitError(f"[tool.optikit.{name}] must be a table of settings", pyproject)
        sections[name] = _parse_section(name, values, pyproject)
        from_file.update(f"{name}.{key}" for key in values)
    return OptikitConfig(
        root=pyproject.parent, pyproject=pyproject, from_file=frozenset(from_file), **sections
    )


def _parse_section(name: str, values: Mapping[str, Any], pyproject: Path) -> Any:
    cls = SECTIONS[name]
    specs = {spec.name: spec for spec in fields(cls)}
    converted: dict[str, Any] = {}
    for key, raw in values.items():
        if key not in specs:
            raise OptikitError(
                f"unknown key '{key}' in [tool.optikit.{name}]; {_expect(key, specs)}", pyproject
            )
        try:
            converted[key] = specs[key].metadata["convert"](raw)
        except ValueError as exc:
            raise OptikitError(
                f"[tool.optikit.{name}] {key} must be {exc}, got {raw!r}", pyproject
            ) from None
    return cls(**converted)


def _expect(given: str, known: Mapping[str, object]) -> str:
    close = difflib.get_close_matches(given, list(known), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"{hint}expected one of: {', '.join(known)}"
