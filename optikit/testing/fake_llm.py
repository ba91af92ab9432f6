"""A local stand-in for the LLM APIs that slow test suites call.

It speaks enough of the OpenAI (``/v1/chat/completions``, JSON and SSE), Ollama
(``/api/chat`` and ``/api/generate``, JSON and NDJSON) and Anthropic (``/v1/messages``, JSON
and SSE) wire formats for their real client libraries to work unchanged, so the example suite
and optikit's own tests exercise real HTTP through real clients without leaving 127.0.0.1.
Replies are deterministic (a function of the request) and every reply waits ``latency``
seconds first, which is what makes an LLM-calling suite slow and what cassettes remove.

Request headers make it hostile on demand, for the secrets tests: ``X-Fake-Chunk-Size: N``
streams N characters per event, ``X-Fake-Status: 401`` answers with an error naming the key
sent (as OpenAI's does), ``X-Fake-Echo: <header>`` sends that request header back.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

DEFAULT_LATENCY = 0.5
CREATED = 1_700_000_000  # a fixed timestamp keeps replies byte-identical across runs
CREATED_AT = "2023-11-14T22:13:20Z"


@dataclass(frozen=True)
class ChatRequest:
    """One request as the server understood it, whatever API it came through."""

    api: str
    model: str
    messages: tuple[tuple[str, str], ...]
    stream: bool
    body: dict[str, Any] = field(compare=False)

    @property
    def prompt(self) -> str:
        """The last user message: what a deterministic responder usually answers."""
        for role, text in reversed(self.messages):
            if role == "user":
                return text
        return ""

    @property
    def system(self) -> str:
        return "\n".join(text for role, text in self.messages if role == "system")


Responder = Callable[[ChatRequest], str]


def echo_responder(request: ChatRequest) -> str:
    """Default reply: repeats the prompt, so a test can tell replies apart."""
    return f"Echo: {request.prompt}"


class FakeLLMServer:
    """A threaded HTTP server on 127.0.0.1; use as a context manager or start()/stop()."""

    def __init__(
        self,
        responder: Responder = echo_responder,
        latency: float = DEFAULT_LATENCY,
        port: int = 0,
    ) -> None:
        self.responder = responder
        self.latency = latency
        self.requests: list[ChatRequest] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL for Ollama and Anthropic clients."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    def counts(self) -> Counter[str]:
        """Requests served so far, per API."""
        with self._lock:
            return Counter(request.api for request in self.requests)

    def start(self) -> FakeLLMServer:
        # A short poll interval keeps stop() quick: tests start and stop many servers.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), name="fake-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def reply(self, request: ChatRequest) -> str:
        with self._lock:
            self.requests.append(request)
        time.sleep(self.latency)
        return self.responder(request)


def _text_of(content: Any) -> str:
    """Message content is a string or a list of typed parts in all three APIs."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _messages(body: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    system = body.get("system")
    found = [("system", _text_of(system))] if system else []
    found += [(str(m.get("role", "")), _text_of(m.get("content"))) for m in body["messages"]]
    return tuple(found)


def _pieces(text: str, size: int | None = None) -> list[str]:
    """Stream chunks: one word with its leading whitespace, as models stream tokens, or
    ``size`` characters each (``X-Fake-Chunk-Size``: how a key gets split across events)."""
    if size:
        return [text[i : i + size] for i in range(0, len(text), size)] or [text]
    return re.findall(r"\s*\S+", text) or [text]


def _tokens(text: str) -> int:
    return len(text.split())


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24]


def _openai(
    body: dict[str, Any], reply: str, size: int | None
) -> tuple[dict[str, Any], Iterator[bytes]]:
    ident, model = f"chatcmpl-{_digest(body)}", body.get("model", "")
    prompt = sum(_tokens(text) for _, text in _messages(body))
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": _tokens(reply),
        "total_tokens": prompt + _tokens(reply),
    }
    head = {"id": ident, "created": CREATED, "model": model, "system_fingerprint": "fp_fake"}
    whole = {
        **head,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }

    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {
            **head,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def events() -> Iterator[bytes]:
        yield _sse(chunk({"role": "assistant", "content": ""}, None))
        for piece in _pieces(reply, size):
            yield _sse(chunk({"content": piece}, None))
        yield _sse(chunk({}, "stop"))
        if body.get("stream_options", {}).get("include_usage"):
            yield _sse({**head, "object": "chat.completion.chunk", "choices": [], "usage": usage})
        yield b"data: [DONE]\n\n"

    return whole, events()


def _ollama(
    body: dict[str, Any], reply: str, size: int | None, chat: bool
) -> tuple[dict[str, Any], Iterator[bytes]]:
    prompt = sum(_tokens(text) for _, text in _messages(body)) if chat else _tokens(body["prompt"])

    def part(text: str) -> dict[str, Any]:
        key = {"message": {"role": "assistant", "content": text}} if chat else {"response": text}
        return {"model": body.get("model", ""), "created_at": CREATED_AT, **key, "done": False}

    final = {
        **part(""),
        "done": True,
        "done_reason": "stop",
        "total_duration": 1_000_000,
        "load_duration": 1_000,
        "prompt_eval_count": prompt,
        "prompt_eval_duration": 1_000,
        "eval_count": _tokens(reply),
        "eval_duration": 1_000,
    }
    whole = {**final, **{k: v for k, v in part(reply).items() if k != "done"}}

    def lines() -> Iterator[bytes]:
        for piece in _pieces(reply, size):
            yield (json.dumps(part(piece)) + "\n").encode()
        yield (json.dumps(final) + "\n").encode()

    return whole, lines()


def _anthropic(
    body: dict[str, Any], reply: str, size: int | None
) -> tuple[dict[str, Any], Iterator[bytes]]:
    prompt = sum(_tokens(text) for _, text in _messages(body))
    message = {
        "id": f"msg_{_digest(body)}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", ""),
        "stop_sequence": None,
    }
    whole = {
        **message,
        "content": [{"type": "text", "text": reply}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": prompt, "output_tokens": _tokens(reply)},
    }

    def events() -> Iterator[bytes]:
        start = {**message, "content": [], "stop_reason": None}
        start["usage"] = {"input_tokens": prompt, "output_tokens": 0}
        yield _sse({"type": "message_start", "message": start}, "message_start")
        block = {"type": "text", "text": ""}
        yield _sse(
            {"type": "content_block_start", "index": 0, "content_block": block},
            "content_block_start",
        )
        for piece in _pieces(reply, size):
            delta = {"type": "text_delta", "text": piece}
            yield _sse(
                {"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta"
            )
        yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        end = {"stop_reason": "end_turn", "stop_sequence": None}
        usage = {"output_tokens": _tokens(reply)}
        yield _sse({"type": "message_delta", "delta": end, "usage": usage}, "message_delta")
        yield _sse({"type": "message_stop"}, "message_stop")

    return whole, events()


def _sse(data: dict[str, Any], event: str | None = None) -> bytes:
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {json.dumps(data)}\n\n".encode()


ROUTES: dict[str, tuple[str, str]] = {
    "/v1/chat/completions": ("openai", "text/event-stream"),
    "/api/chat": ("ollama-chat", "application/x-ndjson"),
    "/api/generate": ("ollama-generate", "application/x-ndjson"),
    "/v1/messages": ("anthropic", "text/event-stream"),
}


def _handler_for(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: a test server that prints every request buries the test output."""

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            if path not in ROUTES:
                self._json(HTTPStatus.NOT_FOUND, {"error": {"message": f"no route {path}"}})
                return
            api, stream_type = ROUTES[path]
            try:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                request = _parse(api, body)
            except (ValueError, KeyError, TypeError) as exc:
                self._json(HTTPStatus.BAD_REQUEST, {"error": {"message": f"bad request: {exc}"}})
                return
            status = int(self.headers.get("X-Fake-Status", 200))
            if status != HTTPStatus.OK:  # as OpenAI's 401 does, the error names the key sent
                sent = self.headers.get("Authorization", "").removeprefix("Bearer ")
                sent = sent or self.headers.get("x-api-key", "")
                message = f"Incorrect API key provided: {sent}"
                self._json(HTTPStatus(status), {"error": {"message": message}})
                return
            reply = server.reply(request)
            chunk = int(self.headers.get("X-Fake-Chunk-Size", 0)) or None
            whole, parts = _render(api, body, reply, chunk)
            if request.stream:
                self._stream(stream_type, parts)
            else:
                self._json(HTTPStatus.OK, whole)

        def do_GET(self) -> None:
            models = {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}
            self._json(HTTPStatus.OK, models)

        def _echoed_headers(self) -> None:
            """``X-Fake-Echo: name`` sends request header ``name`` back as ``X-Echo``."""
            echoed = self.headers.get("X-Fake-Echo")
            if echoed:
                self.send_header("X-Echo", self.headers.get(echoed, ""))

        def _json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self._echoed_headers()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, content_type: str, parts: Iterable[bytes]) -> None:
            self.send_response(HTTPStatus.OK)
            self._echoed_headers()
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            for data in parts:
                self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

    return Handler


def _parse(api: str, body: dict[str, Any]) -> ChatRequest:
    if api == "ollama-generate":
        messages: tuple[tuple[str, str], ...] = (("user", str(body["prompt"])),)
        if body.get("system"):
            messages = (("system", str(body["system"])), *messages)
    else:
        messages = _messages(body)
    # Ollama streams unless told not to; the others only when asked.
    stream = bool(body.get("stream", api.startswith("ollama")))
    return ChatRequest(api, str(body.get("model", "")), messages, stream, body)


def _render(
    api: str, body: dict[str, Any], reply: str, chunk: int | None = None
) -> tuple[dict[str, Any], Iterator[bytes]]:
    if api == "openai":
        return _openai(body, reply, chunk)
    if api == "anthropic":
        return _anthropic(body, reply, chunk)
    return _ollama(body, reply, chunk, chat=api == "ollama-chat")
