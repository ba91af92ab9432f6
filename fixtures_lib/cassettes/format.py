"""The YAML a person reads in a review: JSON bodies as structures, streams as text blocks.

A vcrpy serializer (``serialize``/``deserialize`` over vcrpy's cassette dict). JSON request
and response bodies are stored parsed under ``json:``; other text (an SSE or NDJSON stream)
as a literal block. Loading turns them back into the exact bytes a client gets.
"""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import TYPE_CHECKING, Any

import yaml
from typing_extensions import NotRequired, TypedDict  # pydantic needs its TypedDict before 3.12

if TYPE_CHECKING:
    from pydantic import TypeAdapter

# libyaml's C loader and dumper when PyYAML was built with them: cassettes load per test
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ReadableDumper: type[yaml.SafeDumper] = type(
    "_ReadableDumper", (getattr(yaml, "CSafeDumper", yaml.SafeDumper),), {}
)


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    """Multi-line strings as ``|`` blocks, so a stream reads as its lines."""
    style = "|" if "\n" in text and not text.endswith(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_ReadableDumper.add_representer(str, _represent_text)


def _pack(body: Any) -> Any:
    """A body vcrpy gives as text (or bytes, when binary) in the form stored on disk."""
    if isinstance(body, str) and body[:1] in "{[":
        try:
            return {"json": json.loads(body)}
        except ValueError:
            pass
    if isinstance(body, bytes):
        return {"base64": base64.b64encode(body).decode()}
    return body


def _unpack(body: Any) -> Any:
    if isinstance(body, dict) and set(body) == {"json"}:
        return json.dumps(body["json"], ensure_ascii=False, separators=(",", ":"))
    if isinstance(body, dict) and set(body) == {"base64"}:
        return base64.b64decode(body["base64"])
    return body


def serialize(cassette: dict[str, Any]) -> str:
    for interaction in cassette.get("interactions", []):
        request, response = interaction["request"], interaction["response"]
        request["body"] = _pack(request.get("body"))
        response["body"]["string"] = _pack(response["body"].get("string"))
    text: str = yaml.dump(cassette, Dumper=_ReadableDumper, sort_keys=False, allow_unicode=True)
    return text


class _Body(TypedDict):
    string: NotRequired[Any]


class _Response(TypedDict):
    body: _Body
    headers: NotRequired[dict[str, list[str]] | None]


class _Interaction(TypedDict):
    request: dict[str, Any]
    response: _Response


class _Metadata(TypedDict):
    test: NotRequired[str]


class CassetteSchema(TypedDict):
    """What loading a cassette relies on; vcrpy's other keys pass through unchecked."""

    interactions: list[_Interaction]
    metadata: NotRequired[_Metadata | None]


@cache
def _schema() -> TypeAdapter[CassetteSchema]:
    from pydantic import TypeAdapter

    return TypeAdapter(CassetteSchema)


def check(cassette: Any) -> None:
    """Raise ``ValueError`` saying what is wrong when ``cassette`` is not a cassette's shape."""
    from pydantic import ValidationError

    try:
        _schema().validate_python(cassette)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "the document"
        raise ValueError(f"not a cassette: {where}: {first['msg'].lower()}") from None


def deserialize(text: str) -> dict[str, Any]:
    cassette: dict[str, Any] = yaml.load(text, Loader=_Loader)
    check(cassette)
    for interaction in cassette.get("interactions", []):
        request, response = interaction["request"], interaction["response"]
        request["body"] = _unpack(request.get("body"))
        body = response["body"]["string"] = _unpack(response["body"].get("string"))
        fix_content_length(response.get("headers") or {}, body)
    return cassette


def fix_content_length(headers: dict[str, list[str]], body: Any) -> None:
    """A JSON body comes back compact, so its length can differ from the one recorded."""
    size = len(body.encode("utf-8") if isinstance(body, str) else body or b"")
    for name in headers:
        if name.lower() == "content-length":
            headers[name] = [str(size)]
