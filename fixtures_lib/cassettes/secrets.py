"""Credentials never reach a cassette: headers that carry them are dropped, bodies are redacted.

Cassettes get committed, so this runs on every interaction before it is written, and
``optikit cassettes check`` runs the same patterns over files already on disk (as a pre-commit
hook, it catches a cassette recorded by something else).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "openai-organization",
        "openai-project",
        "anthropic-organization-id",
        "cookie",
        "set-cookie",
    }
)

REDACTED = "<redacted>"

SECRET_PATTERNS = (
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"sk-(?:proj-|svcacct-)?[A-Za-z0-9_\-]{16,}"),
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._\-~+/]{16,}=*"),
)


def drop_secret_headers(headers: MutableMapping[str, Any]) -> None:
    for name in [name for name in headers if name.lower() in SECRET_HEADERS]:
        del headers[name]


def redact(text: str) -> str:
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def redact_body(body: bytes | str | None) -> bytes | str | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return body  # binary: no text secret to find
        cleaned = redact(text)
        return body if cleaned == text else cleaned.encode("utf-8")
    return redact(body)


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


_HEADER_LINE = re.compile(r"^\s*-?\s*['\"]?([A-Za-z][A-Za-z0-9\-]*)['\"]?\s*:")


def scan(paths: Iterable[Path]) -> Iterator[Finding]:
    """Secret-looking values and credential headers in the given cassette files."""
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER_LINE.match(line)
            if header and header[1].lower() in SECRET_HEADERS:
                yield Finding(path, number, f"credential header {header[1]!r}")
                continue
            for pattern in SECRET_PATTERNS:
                found = pattern.search(line)
                if found:
                    yield Finding(path, number, f"secret-looking value {found[0][:8]}...")
                    break
