"""What makes two LLM requests "the same call", and how to describe one to a person.

Clients differ in key order, whitespace and per-call noise (user ids, request ids, metadata),
none of which changes the answer; the model, the messages and the sampling settings do. A
request is reduced to a canonical form once, and its hash is what a recording is looked up by.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fixtures_lib.cassettes.secrets import credential_name

DEFAULT_VOLATILE_FIELDS = ("user", "metadata", "stream_options", "request_id", "idempotency_key")


@dataclass(frozen=True)
class CallShape:
    """The parts of a request that decide whether a recording answers it."""

    method: str
    host: str  # the configured host pattern it matched, so a local server's port can vary
    path: str
    body: str  # canonical JSON (sorted keys, volatile fields dropped) or the raw text
    query: str = ""  # sorted, without credential parameters (they differ per machine)

    @property
    def _text(self) -> bytes:
        parts = (self.method, self.host, self.path, self.body)
        return "\n".join((*parts, self.query) if self.query else parts).encode()

    @cached_property
    def key(self) -> str:
        """What a recording is looked up by when it is stored as it was sent."""
        return hashlib.sha256(self._text).hexdigest()

    @cached_property
    def secret_key(self) -> str:
        """The key of a request that held a secret, stored beside its redacted form: scrypt
        (the cost of a password hash), so a short password cannot be recovered from it by
        hashing guesses."""
        digest = hashlib.scrypt(self._text, salt=b"optikit cassette", n=2**14, r=8, p=1)
        return f"scrypt:{digest.hex()}"


def host_pattern(url_or_host: str, hosts: Iterable[str]) -> str | None:
    """The configured pattern this request's ``host[:port]`` matches, or None (not an LLM host).

    Patterns are ``host`` (any port), ``host:port``, or shell-style (``127.0.0.1:*``).
    """
    netloc = urlsplit(url_or_host).netloc if "://" in url_or_host else url_or_host
    name = netloc.rsplit("@", 1)[-1].lower()
    bare = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
    for pattern in hosts:
        wanted = pattern.lower()
        if fnmatch.fnmatchcase(name, wanted) or fnmatch.fnmatchcase(bare, wanted):
            return pattern
    return None


def canonical_body(body: bytes | str | None, volatile: Iterable[str]) -> str:
    if not body:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if isinstance(data, dict):
        dropped = set(volatile)
        data = {key: value for key, value in data.items() if key not in dropped}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def shape_of(
    method: str, url: str, body: bytes | str | None, hosts: Iterable[str], volatile: Iterable[str]
) -> CallShape | None:
    pattern = host_pattern(url, hosts)
    if pattern is None:
        return None
    parts = urlsplit(url)
    return CallShape(
        method.upper(),
        pattern,
        parts.path,
        canonical_body(body, volatile),
        canonical_query(parts.query),
    )


def canonical_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode(sorted((n, v) for n, v in pairs if not credential_name(n)))


def describe(shape: CallShape) -> str:
    """``POST /v1/chat/completions model=gpt-4o-mini messages=3f9a1c2e`` for error messages."""
    parts = [shape.method, shape.path]
    data = _json(shape.body)
    if isinstance(data, dict):
        if "model" in data:
            parts.append(f"model={data['model']}")
        prompt = data.get("messages", data.get("prompt"))
        if prompt is not None:
            digest = hashlib.sha256(json.dumps(prompt, sort_keys=True).encode()).hexdigest()
            parts.append(f"messages={digest[:8]}")
    return " ".join(parts)


def differences(wanted: CallShape, recorded: CallShape) -> list[str]:
    """What separates a request from a recorded one, field by field, briefly."""
    found = [
        f"{name}: {getattr(recorded, name)!r} recorded, {getattr(wanted, name)!r} now"
        for name in ("method", "host", "path", "query")
        if getattr(wanted, name) != getattr(recorded, name)
    ]
    old, new = _json(recorded.body), _json(wanted.body)
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                was, now = _contrast(old.get(key), new.get(key))
                found.append(f"body.{key}: {was} recorded, {now} now")
    elif recorded.body != wanted.body:
        was, now = _contrast(recorded.body, wanted.body)
        found.append(f"body: {was} recorded, {now} now")
    return found


def closeness(wanted: CallShape, recorded: CallShape) -> int:
    """Higher is closer: same endpoint first, then fewer differing body fields."""
    same = sum(getattr(wanted, n) == getattr(recorded, n) for n in ("method", "host", "path"))
    score: int = 10 * same
    return score - len(differences(wanted, recorded))


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _contrast(old: Any, new: Any, limit: int = 60) -> tuple[str, str]:
    """Both values briefly, around where they first differ (a long prompt that changed at
    its end shows its end)."""
    values = (old, new)
    texts = [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in values]
    longest = max(len(t) for t in texts)
    if longest <= limit:
        shown = [repr(t) if isinstance(v, str) else t for t, v in zip(texts, values, strict=True)]
        return shown[0], shown[1]
    pairs = zip(texts[0], texts[1], strict=False)
    same = next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(t) for t in texts))
    start = max(0, min(same - limit // 3, longest - limit))

    def cut(text: str) -> str:
        tail = "..." if len(text) > start + limit else ""
        return ("..." if start else "") + text[start : start + limit] + tail

    return cut(texts[0]), cut(texts[1])


def usage_of(body: str) -> dict[str, int]:
    """Token counts from an OpenAI, Anthropic or Ollama reply, plain or streamed (best effort)."""
    totals: dict[str, int] = {}
    for document in _documents(body):
        for found in _usage_blocks(document):
            for name, value in found.items():
                if isinstance(value, int):
                    totals[name] = max(totals.get(name, 0), value)
    return totals


def _documents(body: str) -> Iterable[Any]:
    """The JSON documents in a reply: one, one per SSE ``data:`` line, or one per NDJSON line."""
    whole = _json(body)
    if whole is not None:
        yield whole
        return
    for line in body.splitlines():
        line = line.strip()
        if line.startswith("data:"):
            line = line[5:].strip()
        if line.startswith("{"):
            document = _json(line)
            if document is not None:
                yield document


_TOKEN_FIELDS = {
    "prompt_tokens": "input_tokens",
    "completion_tokens": "output_tokens",
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "prompt_eval_count": "input_tokens",
    "eval_count": "output_tokens",
}


def _usage_blocks(document: Any) -> Iterable[Mapping[str, int]]:
    """OpenAI and Anthropic put counts under ``usage`` (Anthropic's first stream event under
    ``message.usage``); Ollama puts ``prompt_eval_count``/``eval_count`` at the top level."""
    if not isinstance(document, dict):
        return
    message = document.get("message")
    for block in (
        document,
        document.get("usage"),
        message.get("usage") if isinstance(message, dict) else None,
    ):
        if isinstance(block, dict):
            picked = {
                _TOKEN_FIELDS[k]: v
                for k, v in block.items()
                if k in _TOKEN_FIELDS and isinstance(v, int)
            }
            if picked:
                yield picked
