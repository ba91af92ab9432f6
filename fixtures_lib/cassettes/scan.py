"""Secrets in cassette files already on disk, whoever wrote them: ``optikit cassettes check``.

A line-by-line regex misses what YAML hides: a flow-style header map on one line, a string
folded over several lines, a ``!!binary`` body, a key split across a stream's events. So each
file is read twice: composed as YAML (nodes carry their line, nothing is constructed, so no tag
runs code) and walked with the rules redaction uses (``cassettes.secrets``), and scanned line
by line for patterns (a comment holds no node). A finding says the file, the line and the kind
of secret, never the secret.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import yaml

from fixtures_lib.cassettes.secrets import (
    Scrubber,
    credential_field,
    credential_header,
    credential_name,
    placeholder,
)

_BINARY = "tag:yaml.org,2002:binary"
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's


@dataclass(frozen=True, order=True)
class Finding:
    path: Path
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


class UnreadableCassette(ValueError):
    """The file is not YAML text; ``str()`` says why, the CLI names the file."""


def yaml_files(targets: Iterable[Path]) -> list[Path]:
    """The YAML files under directories, and files as given."""
    found: list[Path] = []
    for target in targets:
        if target.is_dir():
            found.extend(sorted(p for p in target.rglob("*") if p.suffix in (".yaml", ".yml")))
        else:
            found.append(target)
    return found


def scan_file(path: Path, scrubber: Scrubber | None = None) -> list[Finding]:
    """Findings in one file, sorted by line; ``UnreadableCassette`` if it cannot be read."""
    scrubber = scrubber or Scrubber()
    try:
        text = path.read_bytes().decode("utf-8")
        root = yaml.compose(text, Loader=_Loader)
    except UnicodeDecodeError as exc:
        raise UnreadableCassette(f"not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise UnreadableCassette(f"not YAML: {str(exc).splitlines()[0]}") from None
    except OSError as exc:
        raise UnreadableCassette(exc.strerror or type(exc).__name__) from None
    starts = [0, *(m.end() for m in re.finditer("\n", text))]
    found = {(bisect.bisect_right(starts, span.start), span.kind) for span in scrubber.spans(text)}
    if root is not None:
        for first, last, what in _walk(root, (), scrubber):
            if not any(first <= n <= last and w == what for n, w in found):
                found.add((first, what))
    return sorted(Finding(path, line, what) for line, what in found)


def _walk(
    node: yaml.Node, keys: tuple[str, ...], scrubber: Scrubber
) -> Iterator[tuple[int, int, str]]:
    """``(first line, last line, what)`` for each secret under ``node``; ``keys`` is the path
    of mapping keys that leads to it (``request``, ``headers``, ...)."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else ""
            yield from _entry(key, value, keys, scrubber)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _walk(item, keys, scrubber)
    elif isinstance(node, yaml.ScalarNode):
        yield from _scalar(node, keys, scrubber)


def _entry(
    key: str, value: yaml.Node, keys: tuple[str, ...], scrubber: Scrubber
) -> Iterator[tuple[int, int, str]]:
    first, last = _lines(value)
    strings = [n.value for n in _scalars(value)]
    if keys[-1:] == ("headers",) and credential_header(key):
        if any(not placeholder(s) and len(s.split(" ")[-1]) >= 8 for s in strings):
            yield first, last, f"credential header {key!r}"
        return
    if any(credential_field(key, s) for s in strings):
        yield first, last, f"credential field {key!r}"
        return
    if key == "uri" and isinstance(value, yaml.ScalarNode):
        yield from ((first, last, what) for what in _uri_findings(str(value.value)))
    yield from _walk(value, (*keys, key), scrubber)


def _scalar(
    node: yaml.ScalarNode, keys: tuple[str, ...], scrubber: Scrubber
) -> Iterator[tuple[int, int, str]]:
    text = str(node.value)
    if node.tag == _BINARY or keys[-1:] == ("base64",):
        try:
            text = base64.b64decode(text, validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return  # binary indeed: no text to hold a secret
    first, last = _lines(node)
    scrubber.found.clear()
    scrubber.body(text)  # JSON fields, streams re-joined, patterns, as when recording
    for what in dict.fromkeys(scrubber.found):
        yield first, last, what


def _uri_findings(uri: str) -> Iterator[str]:
    parts = urlsplit(uri)
    if parts.password and not placeholder(parts.password):
        yield "password in the URL"
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if credential_name(name) and not placeholder(value):
            yield f"credential in query parameter {name!r}"


def _scalars(node: yaml.Node) -> Iterator[yaml.ScalarNode]:
    if isinstance(node, yaml.ScalarNode):
        yield node
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _scalars(item)


def _lines(node: yaml.Node) -> tuple[int, int]:
    """1-based first and last line of a node."""
    return node.start_mark.line + 1, max(node.end_mark.line, node.start_mark.line) + 1
