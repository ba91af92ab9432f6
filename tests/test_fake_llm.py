"""The fake LLM server through the real openai, ollama and anthropic clients."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import anthropic
import ollama
import openai
import pytest
from anthropic.types import MessageParam
from openai.types.chat import ChatCompletionMessageParam

from optikit.testing.fake_llm import ChatRequest, FakeLLMServer

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "count the diabetic patients"}
]
CLAUDE_MESSAGES: list[MessageParam] = [{"role": "user", "content": "count the diabetic patients"}]
REPLY = "Echo: count the diabetic patients"


def openai_client(server: FakeLLMServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.openai_base_url, api_key="sk-test", max_retries=0)


def test_openai_sync(fake_llm: FakeLLMServer) -> None:
    response = openai_client(fake_llm).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "be brief"}, *MESSAGES],
    )
    assert response.choices[0].message.content == REPLY
    assert response.model == "gpt-4o-mini"
    assert response.usage is not None
    assert response.usage.completion_tokens == len(REPLY.split())
    (request,) = fake_llm.requests
    assert request.api == "openai"
    assert request.system == "be brief"
    assert request.prompt == "count the diabetic patients"


def test_openai_streaming_with_usage(fake_llm: FakeLLMServer) -> None:
    stream = openai_client(fake_llm).chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == REPLY
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens > 0


def test_openai_async_concurrent(fake_llm: FakeLLMServer) -> None:
    async def ask_both() -> list[str | None]:
        client = openai.AsyncOpenAI(base_url=fake_llm.openai_base_url, api_key="sk-test")
        replies = await asyncio.gather(
            *(
                client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": text}]
                )
                for text in ("one", "two")
            )
        )
        return [reply.choices[0].message.content for reply in replies]

    assert asyncio.run(ask_both()) == ["Echo: one", "Echo: two"]


def test_openai_async_streaming(fake_llm: FakeLLMServer) -> None:
    async def stream_text() -> str:
        client = openai.AsyncOpenAI(base_url=fake_llm.openai_base_url, api_key="sk-test")
        stream = await client.chat.completions.create(
            model="m",
            messages=MESSAGES,
            stream=True,
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(stream_text()) == REPLY


def test_ollama_chat_and_generate(fake_llm: FakeLLMServer) -> None:
    client = ollama.Client(host=fake_llm.url)
    chat = client.chat(model="llama3.2", messages=MESSAGES)
    assert chat.message.content == REPLY
    assert chat.done
    generated = client.generate(model="llama3.2", prompt="hello there", system="terse")
    assert generated.response == "Echo: hello there"
    assert [r.api for r in fake_llm.requests] == ["ollama-chat", "ollama-generate"]
    assert fake_llm.requests[1].system == "terse"


def test_ollama_ndjson_streaming(fake_llm: FakeLLMServer) -> None:
    client = ollama.Client(host=fake_llm.url)
    parts = list(client.chat(model="llama3.2", messages=MESSAGES, stream=True))
    assert "".join(p.message.content or "" for p in parts) == REPLY
    assert [p.done for p in parts] == [False] * (len(parts) - 1) + [True]
    pieces = list(client.generate(model="llama3.2", prompt="a b c", stream=True))
    assert "".join(p.response or "" for p in pieces) == "Echo: a b c"
    assert pieces[-1].eval_count == 4


def test_ollama_async(fake_llm: FakeLLMServer) -> None:
    async def ask() -> str | None:
        client = ollama.AsyncClient(host=fake_llm.url)
        return (await client.chat(model="llama3.2", messages=MESSAGES)).message.content

    assert asyncio.run(ask()) == REPLY


def anthropic_client(server: FakeLLMServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key="sk-ant-test", max_retries=0)


def test_anthropic_sync(fake_llm: FakeLLMServer) -> None:
    message = anthropic_client(fake_llm).messages.create(
        model="claude-sonnet",
        max_tokens=64,
        system="be brief",
        messages=CLAUDE_MESSAGES,
    )
    block = message.content[0]
    assert isinstance(block, anthropic.types.TextBlock)
    assert block.text == REPLY
    assert message.stop_reason == "end_turn"
    assert fake_llm.requests[0].system == "be brief"


def test_anthropic_streaming(fake_llm: FakeLLMServer) -> None:
    with anthropic_client(fake_llm).messages.stream(
        model="claude-sonnet",
        max_tokens=64,
        messages=CLAUDE_MESSAGES,
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(pieces) == REPLY
    assert len(pieces) > 1
    assert final.usage.output_tokens == len(REPLY.split())


def test_anthropic_async(fake_llm: FakeLLMServer) -> None:
    async def ask() -> str:
        client = anthropic.AsyncAnthropic(base_url=fake_llm.url, api_key="sk-ant-test")
        message = await client.messages.create(
            model="claude-sonnet",
            max_tokens=64,
            messages=CLAUDE_MESSAGES,
        )
        block = message.content[0]
        assert isinstance(block, anthropic.types.TextBlock)
        return block.text

    assert asyncio.run(ask()) == REPLY


def test_replies_are_deterministic_bytes(fake_llm: FakeLLMServer) -> None:
    body = json.dumps({"model": "m", "messages": MESSAGES}).encode()

    def post() -> bytes:
        request = urllib.request.Request(
            f"{fake_llm.openai_base_url}/chat/completions",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as response:
            return bytes(response.read())

    assert post() == post()


def test_custom_responder_sees_parsed_request(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = lambda request: f"{request.api}:{request.model}:{len(request.messages)}"
    reply = openai_client(fake_llm).chat.completions.create(model="x", messages=MESSAGES)
    assert reply.choices[0].message.content == "openai:x:1"


def test_unknown_route_and_bad_json_are_http_errors(fake_llm: FakeLLMServer) -> None:
    for path, data, status in [("/v1/embeddings", b"{}", 404), ("/api/chat", b"{not json", 400)]:
        request = urllib.request.Request(f"{fake_llm.url}{path}", data=data)
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request)
        assert caught.value.code == status
    assert fake_llm.requests == []


def test_latency_is_a_lower_bound_on_each_reply() -> None:
    with FakeLLMServer(latency=0.2) as server:
        started = time.perf_counter()
        ollama.Client(host=server.url).chat(model="m", messages=MESSAGES)
        assert time.perf_counter() - started >= 0.2


def test_chat_request_prompt_is_last_user_message() -> None:
    request = ChatRequest(
        "openai", "m", (("user", "first"), ("assistant", "ok"), ("user", "second")), False, {}
    )
    assert request.prompt == "second"
    assert request.system == ""
