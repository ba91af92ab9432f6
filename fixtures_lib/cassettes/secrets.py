"""Credentials never reach a cassette: structure first, patterns second, exact values third.

Cassettes get committed, so every recorded interaction passes through a ``Scrubber`` before it
is kept:

1. **Structure.** Headers are kept only from an allow-list (content type, model, usage and
   rate-limit headers, the clients' own ``x-stainless-*`` metadata); every other header is
   dropped. Query parameters and JSON fields whose names mean credentials (``api-key``, ``key``,
   ``token``, ``password``, ...) are replaced by ``<redacted>`` at any depth.
2. **Patterns.** Known key formats, from detect-secrets' regex plugins (AWS, GitHub, Slack,
   Stripe, JWT, basic-auth URLs, ...) plus the formats it lacks (today's OpenAI and Anthropic
   keys, Google, Hugging Face, Groq, whole PEM blocks, Azure's hex keys).
3. **Exact values.** What the process holds: values of environment variables whose names
   mean credentials, and every value seen in a credential header or query parameter this
   session (the key a client was configured with), wherever it appears.

A stream is scrubbed as the text a client re-assembles: the string fields of its events are
joined per field (``choices.0.delta.content`` across all chunks), scanned, and each chunk
loses the part of a secret it carried; a key split into 4-character chunks is found whole.

``optikit cassettes check`` (``cassettes.scan``) runs the same detection over files on disk.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from functools import cache
from typing import Any, cast
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

REDACTED = "<redacted>"

KEPT_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "anthropic-beta",
        "anthropic-version",
        "cache-control",
        "connection",
        "content-encoding",
        "content-length",
        "content-type",
        "date",
        "host",
        "openai-beta",
        "openai-model",
        "openai-processing-ms",
        "openai-version",
        "request-id",
        "retry-after",
        "retry-after-ms",
        "server",
        "transfer-encoding",
        "user-agent",
        "vary",
        "x-request-id",
        "x-should-retry",
    }
)
KEPT_HEADER_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-", "x-stainless-")

# Names (of headers, query parameters, JSON fields, environment variables), lower case with
# "-" as "_". The first always name a credential; the second only sometimes ("key" of a
# tool's argument, "token" of a logprob), so a JSON field so named is redacted only when its
# value looks like one.
_CREDENTIAL_NAME = re.compile(
    r"(?:^|_)(?:api_?key|apikey|secret|secret_key|client_secret|password|passwd|pwd|"
    r"authorization|auth_token|access_token|refresh_token|id_token|private_key|credentials?|"
    r"cookie|set_cookie)$"
)
_MAYBE_CREDENTIAL_NAME = re.compile(r"(?:^|_)(?:key|token|auth|sig|signature)$")
_MAYBE_EXACT = frozenset({"key", "token", "auth", "sig", "signature"})  # ?sig= of Azure SAS
_MAYBE_FIELD = frozenset({"key", "token", "auth"})  # "signature" of Anthropic's thinking blocks
_PLACEHOLDERS = frozenset(
    {"redacted", "filtered", "removed", "masked", "hidden", "scrubbed", "dummy", "placeholder"}
)
_MIN_EXACT = 8  # shorter environment values ("true", "1") are not worth a redaction

# Formats detect-secrets 1.5 does not know (its OpenAI pattern is the 2023 key format only).
# A group, when present, is the secret; otherwise the whole match is.
_OWN_PATTERNS = (
    (
        "private key",
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    ),
    ("Anthropic key", r"(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{8,}"),
    # sk- then a run with a digit: "risk-assessment-report" is words, not a key
    (
        "OpenAI key",
        r"(?<![A-Za-z0-9_-])sk-(?:(?:proj|svcacct|admin)-|(?=[A-Za-z0-9_-]*[0-9]))[A-Za-z0-9_-]{10,}",
    ),
    ("Google API key", r"AIza[0-9A-Za-z_-]{30,}"),
    ("Hugging Face token", r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}"),
    ("Groq key", r"(?<![A-Za-z0-9])gsk_[A-Za-z0-9]{20,}"),
    ("Stripe key", r"(?<![A-Za-z0-9])[rsp]k_(?:live|test)_[0-9A-Za-z]{16,}"),
    ("GitHub token", r"(?<![A-Za-z0-9])github_pat_[A-Za-z0-9_]{22,}"),
    # 32 hex digits are an Azure key only beside a word saying so: alone they are an MD5 (the
    # `s=` of an image URL in langchain-anthropic's web-fetch cassettes)
    (
        "Azure key",
        r"(?i)(?:azure|api[-_ ]?key|subscription[-_ ]?key|ocp-apim)[^\n]{0,30}?"
        r"(?<![A-Za-z0-9_-])([0-9a-f]{32})(?![A-Za-z0-9_-])",
    ),
    (
        "AWS secret key",
        r"(?i)aws.{0,20}?secret.{0,20}?[=:\s'\"]+([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
    ),
    ("bearer token", r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{16,}=*)"),
)
# detect-secrets plugins left out: one names no credential (a public IP address); one matches
# ordinary base64 (Artifactory's "AP" + 9 characters: a line of a !!binary body in
# langchain-openai's cassettes); four look for a keyword before the value at every position
# (IBM, Cloudant, SoftLayer): 60% of the time `cassettes check` took on those 102 cassettes,
# for services no LLM call carries. Its entropy plugins are not regex plugins and are never
# used: every id and hash would count.
_SKIPPED_PLUGINS = frozenset(
    {
        "IPPublicDetector",
        "ArtifactoryDetector",
        "IbmCloudIamDetector",
        "IbmCosHmacDetector",
        "CloudantDetector",
        "SoftlayerDetector",
    }
)
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-+/=.]*")
_TRIM = " \t\r\n\"'=:,"


@dataclass(frozen=True)
class Pattern:
    kind: str
    regex: re.Pattern[str]


@cache
def patterns() -> tuple[Pattern, ...]:
    """Our own formats first (they span whole keys), then detect-secrets' regex plugins.

    detect-secrets is the pattern library because it is maintained, its plugins are plain
    regular expressions (``RegexBasedDetector.denylist``), and new formats arrive with its
    releases; only formats it lacks are written here.
    """
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector

    found = [Pattern(kind, re.compile(regex)) for kind, regex in _OWN_PATTERNS]
    plugins: dict[str, type[Any]] = get_mapping_from_secret_type_to_class()
    for kind, plugin in sorted(plugins.items()):
        if issubclass(plugin, RegexBasedDetector) and plugin.__name__ not in _SKIPPED_PLUGINS:
            denylist = cast(Iterable[re.Pattern[str]], plugin.denylist)  # a class attribute
            found.extend(Pattern(kind, regex) for regex in denylist)
    return tuple(found)


def credential_name(name: str, *, broad: bool = False) -> bool:
    """A query parameter or JSON field name that means a credential (``api_key``, ``key``);
    ``broad`` for header and variable names, where ``*_token``/``*_key`` nearly always do
    (``X-Custom-Token``, ``HF_TOKEN``) but a body's ``prompt_cache_key`` or a query's
    ``page_token`` does not."""
    normal = name.lower().replace("-", "_")
    if _CREDENTIAL_NAME.search(normal):
        return True
    return bool(_MAYBE_CREDENTIAL_NAME.search(normal)) if broad else normal in _MAYBE_EXACT


def credential_header(name: str) -> bool:
    """CORS headers only name other headers (``Access-Control-Allow-Credentials: true``)."""
    return not name.lower().startswith("access-control-") and credential_name(name, broad=True)


def placeholder(value: str) -> bool:
    """A value already redacted, by optikit or another tool: empty, ``<redacted>``,
    ``**REDACTED**``, ``Bearer XXXX``, ``[FILTERED]``."""
    core = re.sub(r"[^a-z0-9]", "", value.strip().split(" ")[-1].lower())
    return not core or core in _PLACEHOLDERS or set(core) <= {"x"}


def credential_field(name: str, value: Any) -> bool:
    """A JSON field holding a credential: a credential name and a string value (for the
    ambiguous names, one that looks like a key: 16+ characters, no space, a digit)."""
    if not isinstance(value, str) or placeholder(value):
        return False
    normal = name.lower().replace("-", "_")
    if _CREDENTIAL_NAME.search(normal):
        return True
    return bool(
        normal in _MAYBE_FIELD
        and len(value) >= 16
        and not any(c.isspace() for c in value)
        and any(c.isdigit() for c in value)
    )


def environment_credentials(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``value -> "the value of $NAME"`` for variables whose names mean credentials."""
    environ = os.environ if environ is None else environ
    return {
        value.strip(): f"the value of ${name}"
        for name, value in environ.items()
        if credential_name(name, broad=True) and len(value.strip()) >= _MIN_EXACT
    }


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str


class Scrubber:
    """Redacts one session's interactions; remembers the credentials it has seen.

    ``found`` lists the kind of every redaction made, which ``cassettes check`` reports.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ
        self._exact: dict[str, str] = {}
        self.found: list[str] = []
        self.refresh()

    def refresh(self) -> None:
        """Read the environment's credentials again (a fixture may have set one)."""
        self._exact = {**environment_credentials(self._environ), **self._exact}

    # --- what is secret ------------------------------------------------------------------

    def learn(self, value: str, kind: str) -> None:
        """A credential this process used: redacted wherever it appears from now on."""
        value = value.strip()
        if len(value) >= _MIN_EXACT and not placeholder(value):
            self._exact.setdefault(value, kind)

    def spans(self, text: str) -> list[Span]:
        """Where secrets are in ``text``, merged and sorted."""
        if not text:
            return []
        found: list[Span] = []
        for pattern in patterns():
            for match in pattern.regex.finditer(text):
                found.append(_span(text, match, pattern.kind))
        for value, kind in self._exact.items():
            start = text.find(value)
            while start >= 0:
                found.append(Span(start, start + len(value), kind))
                start = text.find(value, start + 1)
        kept = [s for s in found if s.end > s.start and text[s.start : s.end] != REDACTED]
        return _merged(kept)

    # --- redaction -----------------------------------------------------------------------

    def text(self, text: str) -> str:
        return _redistribute([text], self._spans_noted(text))[0]

    def headers(self, headers: MutableMapping[str, Any]) -> None:
        """Drop every header not on the allow-list (learning credential values first);
        scan the values of those kept."""
        for name in list(headers):
            values = headers[name]
            items = values if isinstance(values, list) else [values]
            lowered = name.lower()
            if lowered in KEPT_HEADERS or lowered.startswith(KEPT_HEADER_PREFIXES):
                cleaned = [self.text(v) if isinstance(v, str) else v for v in items]
                headers[name] = cleaned if isinstance(values, list) else cleaned[0]
                continue
            if credential_header(name):
                for value in items:
                    if isinstance(value, str):
                        self.learn(value, f"credential header {name!r}")
                        scheme, _, token = value.partition(" ")
                        if token and scheme.isalpha():
                            self.learn(token, f"credential header {name!r}")
            del headers[name]

    def uri(self, uri: str) -> str:
        """Credential query parameters and a URL password redacted, other values scanned."""
        parts = urlsplit(uri)
        netloc = parts.netloc
        if parts.password:
            self.learn(parts.password, "password in the URL")
            netloc = netloc.replace(f":{parts.password}@", f":{REDACTED}@", 1)
            self.found.append("password in the URL")
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        for name, value in pairs:
            if credential_name(name) and value:
                self.learn(value, f"query parameter {name!r}")
        cleaned = []
        for name, value in pairs:
            if credential_name(name) and not placeholder(value):
                self.found.append(f"credential in query parameter {name!r}")
                value = REDACTED
            else:
                value = self.text(value)
            cleaned.append((name, value))
        if netloc == parts.netloc and cleaned == pairs:
            return uri
        query = "&".join(f"{quote(n, safe='')}={quote(v, safe='<>')}" for n, v in cleaned)
        return urlunsplit(parts._replace(netloc=netloc, query=query))

    def body(self, body: bytes | str | None) -> bytes | str | None:
        """A JSON body with credential fields and secrets redacted; a stream as re-joined
        text; other text by patterns. Binary bodies (not UTF-8) are left as they are."""
        if not body:
            return body
        if isinstance(body, bytes):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                return body
            cleaned = self._body_text(text)
            return body if cleaned == text else cleaned.encode("utf-8")
        return self._body_text(body)

    def _body_text(self, text: str) -> str:
        if text[:1] in "{[":
            try:
                data = json.loads(text)
            except ValueError:
                pass
            else:
                return self._json_text(text, data)
        events = _stream_events(text)
        return self._stream(text, events) if events else self.text(text)

    def _json_text(self, text: str, data: Any) -> str:
        if not self._redact_pieces([[leaf] for leaf in _leaves(data)]):
            return text
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    def _stream(self, text: str, events: list[tuple[int, str, Any]]) -> str:
        """Each field's pieces across all events are scanned as one text; the lines that
        are not events (``event: ...``) one by one."""
        groups: dict[tuple[Any, ...], list[_Leaf]] = {}
        for _, _, data in events:
            for leaf in _leaves(data):
                groups.setdefault(leaf.path, []).append(leaf)
        changed = self._redact_pieces(list(groups.values()))
        lines = text.split("\n")
        numbers = {number for number, _, _ in events}
        for number, line in enumerate(lines):
            if number not in numbers:
                lines[number] = self.text(line)
        if changed:
            for number, prefix, data in events:
                lines[number] = prefix + json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return "\n".join(lines)

    def _redact_pieces(self, groups: list[list[_Leaf]]) -> bool:
        """Redact credential fields, then secrets in each group's joined text. True if any."""
        changed = False
        for group in groups:  # first learn them: the prompt may come before the field
            for leaf in group:
                if credential_field(leaf.name, leaf.value):
                    self.learn(leaf.value, f"credential field {leaf.name!r}")
        for group in groups:
            plain = []
            for leaf in group:
                if credential_field(leaf.name, leaf.value):
                    leaf.set(REDACTED)
                    self.found.append(f"credential field {leaf.name!r}")
                    changed = True
                else:
                    plain.append(leaf)
            values = [leaf.value for leaf in plain]
            spans = self._spans_noted("".join(values))
            if spans:
                for leaf, cleaned in zip(plain, _redistribute(values, spans), strict=True):
                    leaf.set(cleaned)
                changed = True
        return changed

    def _spans_noted(self, text: str) -> list[Span]:
        spans = self.spans(text)
        self.found.extend(span.kind for span in spans)
        return spans


def _span(text: str, match: re.Match[str], kind: str) -> Span:
    """The secret within a match (its group, if any), without delimiters the pattern ate,
    extended over the rest of the token (detect-secrets' Stripe pattern stops at 24 chars)."""
    group = 1 if match.re.groups and match.group(1) is not None else 0
    start, end = match.span(group)
    while start < end and text[start] in _TRIM:
        start += 1
    while end > start and text[end - 1] in _TRIM:
        end -= 1
    if end < len(text) and kind != "private key":
        tail = _TOKEN_CHARS.match(text, end)
        end = tail.end() if tail else end
    return Span(start, end, kind)


def _merged(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Span(last.start, max(last.end, span.end), last.kind)
        else:
            merged.append(span)
    return merged


def _redistribute(pieces: list[str], spans: list[Span]) -> list[str]:
    """``pieces`` (which join to the scanned text) with every span's characters removed and
    ``<redacted>`` put in the piece where the span starts."""
    out, offset = [], 0
    for piece in pieces:
        start, end = offset, offset + len(piece)
        offset = end
        kept, position = [], start
        for span in spans:
            if span.end <= start or span.start >= end:
                continue
            kept.append(piece[position - start : max(span.start, start) - start])
            if span.start >= start:
                kept.append(REDACTED)
            position = min(span.end, end)
        kept.append(piece[position - start :])
        out.append("".join(kept))
    return out


@dataclass
class _Leaf:
    """One string in a JSON document, where it sits, and how to replace it."""

    path: tuple[Any, ...]
    name: str
    value: str
    set: Callable[[str], None]


def _leaves(data: Any, path: tuple[Any, ...] = (), name: str = "") -> Iterator[_Leaf]:
    if isinstance(data, dict):
        items: Any = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return
    for key, value in items:
        field = key if isinstance(key, str) else name  # a list item is named by its list
        if isinstance(value, str):
            yield _Leaf((*path, key), field, value, _setter(data, key))
        else:
            yield from _leaves(value, (*path, key), field)


def _setter(container: Any, key: Any) -> Callable[[str], None]:
    def set_value(value: str) -> None:
        container[key] = value

    return set_value


def _stream_events(text: str) -> list[tuple[int, str, Any]]:
    """``(line number, prefix, document)`` for the JSON lines of an SSE (``data: {...}``) or
    NDJSON stream; empty when ``text`` is not one."""
    events = []
    for number, line in enumerate(text.split("\n")):
        prefix, rest = "", line
        if line.startswith("data:"):
            rest = line[5:].lstrip()
            prefix = line[: len(line) - len(rest)]
        if rest.startswith("{"):
            try:
                events.append((number, prefix, json.loads(rest)))
            except ValueError:
                continue
    return events
