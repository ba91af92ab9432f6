"""LLM cassettes in real pytest runs: the real openai, anthropic, ollama, httpx and requests
clients talk to the local fake LLM server while recording, and to nothing while replaying."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from optikit.testing.fake_llm import FakeLLMServer

PYPROJECT = """
[tool.optikit.llm]
hosts = ["127.0.0.1:*"]
"""

CONFTEST = """
import os
import pytest

@pytest.fixture
def url():
    return os.environ["LLM_URL"]
"""

CLIENTS = """
import asyncio

import anthropic
import httpx
import ollama
import openai
import requests

KEY = "sk-test-abcdefghijklmnopqrstuvwx"
ANTHROPIC_KEY = "sk-ant-test-abcdefghijklmnopqrstu"
MESSAGES = [{"role": "user", "content": "three little words"}]


def test_openai_sync_and_stream(url):
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert reply.choices[0].message.content == "Echo: three little words"
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    chunks = [c.choices[0].delta.content for c in stream if c.choices]
    chunks = [chunk for chunk in chunks if chunk]
    assert chunks == ["Echo:", " three", " little", " words"]


def test_openai_async(url):
    async def ask():
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY)
        reply = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
        chunks = [c.choices[0].delta.content async for c in stream if c.choices]
        return reply.choices[0].message.content, "".join(c or "" for c in chunks)

    assert asyncio.run(ask()) == ("Echo: three little words", "Echo: three little words")


def test_anthropic_sync_stream_and_concurrent(url):
    client = anthropic.Anthropic(base_url=url, api_key=ANTHROPIC_KEY)
    reply = client.messages.create(model="claude-x", max_tokens=20, messages=MESSAGES)
    assert reply.content[0].text == "Echo: three little words"
    with client.messages.stream(model="claude-x", max_tokens=20, messages=MESSAGES) as stream:
        assert "".join(stream.text_stream) == "Echo: three little words"

    async def both():
        aclient = anthropic.AsyncAnthropic(base_url=url, api_key=ANTHROPIC_KEY)
        asks = [
            aclient.messages.create(
                model="claude-x", max_tokens=20, messages=[{"role": "user", "content": word}]
            )
            for word in ("left", "right")
        ]
        return [r.content[0].text for r in await asyncio.gather(*asks)]

    assert asyncio.run(both()) == ["Echo: left", "Echo: right"]


def test_ollama_chat_and_generate(url):
    client = ollama.Client(host=url)
    reply = client.chat(model="llama3", messages=MESSAGES)
    assert reply.message.content == "Echo: three little words"
    parts = [p.response for p in client.generate(model="llama3", prompt="two words", stream=True)]
    assert "".join(parts) == "Echo: two words"


def test_plain_httpx_and_requests(url):
    body = {"model": "m", "messages": [{"role": "user", "content": "plain"}]}
    endpoint = f"{url}/v1/chat/completions"
    via_httpx = httpx.post(endpoint, json=body, headers={"Authorization": f"Bearer {KEY}"})
    via_requests = requests.post(endpoint, json=body, headers={"api-key": KEY})
    for response in (via_httpx, via_requests):
        assert response.json()["choices"][0]["message"]["content"] == "Echo: plain"
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyprojecttoml(PYPROJECT)
    pytester.makeconftest(CONFTEST)
    return pytester


@pytest.fixture
def llm_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLMServer]:
    """A fake LLM server whose address the inner runs read from ``LLM_URL``."""
    with FakeLLMServer(latency=0.05) as server:
        monkeypatch.setenv("LLM_URL", server.url)
        yield server


def pytest_run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider", *args)


def cassettes(project: pytest.Pytester) -> list[Path]:
    return sorted((project.path / "tests" / "cassettes").rglob("*.yaml"))


def test_every_client_records_then_replays_with_the_server_stopped(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(test_clients=CLIENTS)
    with FakeLLMServer(latency=0.05) as server:
        monkeypatch.setenv("LLM_URL", server.url)
        recorded = pytest_run(project, "--record-llm")
        calls = sum(server.counts().values())
    assert recorded.ret == 0, recorded.stdout.str()
    recorded.stdout.fnmatch_lines(["0 calls replayed*, 12 recorded"])
    assert calls == 12
    assert len(cassettes(project)) == 5
    replayed = pytest_run(project)  # the server is gone; its port refuses connections
    assert replayed.ret == 0, replayed.stdout.str()
    replayed.stdout.fnmatch_lines(["12 calls replayed (*s of recorded latency*), 0 recorded"])


def test_secrets_never_reach_the_cassette(project: pytest.Pytester, llm_env: FakeLLMServer) -> None:
    project.makepyfile(
        test_secret="""
        import openai

        def test_leaky(url):
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-proj-realLookingKey1234567890")
            text = "key sk-live-0123456789abcdefghijklmnop, Bearer abcdefghijklmnopqrstuvwxyz"
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
        """
    )
    assert pytest_run(project, "--record-llm").ret == 0
    (path,) = cassettes(project)
    text = path.read_text()
    for secret in ("sk-proj-realLookingKey", "sk-live-0123456789", "abcdefghijklmnopqrstuvwxyz"):
        assert secret not in text
    assert not re.search(r"(?im)^\s*(authorization|x-api-key|api-key):", text)
    assert "<redacted>" in text
    assert pytest_run(project).ret == 0  # replay matches the redacted request


def test_a_missing_recording_fails_at_once_with_the_command_to_record_it(
    project: pytest.Pytester, llm_env: FakeLLMServer
) -> None:
    project.makepyfile(
        test_ask="""
        import openai

        def test_question(url):
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-x", max_retries=5)
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        """
    )
    (project.path / "tests" / "cassettes").mkdir(parents=True)  # the project uses cassettes
    result = pytest_run(project)
    assert result.ret == 1
    assert sum(llm_env.counts().values()) == 0  # no network attempt, no retries
    result.stdout.fnmatch_lines(
        [
            "no recorded LLM call matches POST /v1/chat/completions model=m messages=*",
            "  cassette tests/cassettes/test_ask/test_question.yaml does not exist or is empty",
            "  record it with: pytest --record-llm test_ask.py::test_question",
        ]
    )
    # the command, pasted into a shell as printed, records the call; then replay passes
    pasted = shell(project, printed_command(result))
    assert pasted.returncode == 0, pasted.stdout + pasted.stderr
    assert sum(llm_env.counts().values()) == 1
    assert pytest_run(project).ret == 0


def printed_command(result: pytest.RunResult) -> str:
    """The command a failure message says to run."""
    line = next(line for line in result.stdout.lines if "record it with: " in line)
    return line.split("record it with: ", 1)[1].strip()


def shell(project: pytest.Pytester, command: str) -> subprocess.CompletedProcess[str]:
    """``command`` as a user pastes it: /bin/sh, the project root, this environment's bin
    directory first on PATH (an activated virtual environment)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(
        ["/bin/sh", "-c", f"{command} -p no:randomly"],
        cwd=project.path,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        check=False,
    )


ASK = """
import httpx

def test_good(url):
    body = {"model": "m", "messages": [{"role": "user", "content": "good"}]}
    assert httpx.post(f"{url}/v1/chat/completions", json=body).status_code == 200

def test_bad(url):
    body = {"model": "m", "messages": [{"role": "user", "content": "bad"}]}
    assert httpx.post(f"{url}/v1/chat/completions", json=body).status_code == 200
"""
DAMAGE = {
    "truncated": b"interactions:\n- request:\n    body: {json: {model: m",
    "not utf-8": b"interactions: []\nmetadata: {test: \xff\xfe}\n",
    "a yaml list": b"- one\n- two\n",
    "no response": b"interactions:\n- request: {method: POST, uri: 'http://x'}\n",
    "python tag": b"interactions: !!python/object/apply:os.system ['echo pwned']\n",
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_one_bad_cassette_fails_one_test_and_says_how_to_rerecord(
    project: pytest.Pytester, llm_env: FakeLLMServer, damage: str
) -> None:
    project.makepyfile(test_ask=ASK)
    assert pytest_run(project, "--record-llm").ret == 0
    bad = project.path / "tests/cassettes/test_ask/test_bad.yaml"
    bad.write_bytes(DAMAGE[damage])
    result = pytest_run(project)
    assert result.ret == 1, result.stdout.str()  # not 3 (INTERNALERROR): the others ran
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*cassette tests/cassettes/test_ask/test_bad.yaml could not be read (*"]
    )
    command = printed_command(result)
    assert command == "pytest --record-llm-mode=all test_ask.py::test_bad"
    assert shell(project, command).returncode == 0
    assert pytest_run(project).ret == 0


def test_a_failed_rerecording_keeps_the_old_cassette(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(test_ask=ASK)
    with FakeLLMServer(latency=0.01) as server:
        monkeypatch.setenv("LLM_URL", server.url)
        assert pytest_run(project, "--record-llm").ret == 0
    before = {path: path.read_bytes() for path in cassettes(project)}
    # the model server is down now: re-recording fails, and the recordings stay as they were
    assert pytest_run(project, "--record-llm-mode=all").ret == 1
    assert {path: path.read_bytes() for path in cassettes(project)} == before
    assert pytest_run(project).ret == 0


def test_the_closest_recording_and_what_differs_are_shown(
    project: pytest.Pytester, llm_env: FakeLLMServer
) -> None:
    source = """
        import openai

        def test_question(url):
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-x")
            client.chat.completions.create(
                model="m", temperature=0, messages=[{"role": "user", "content": "PROMPT"}]
            )
        """
    project.makepyfile(test_ask=source.replace("PROMPT", "how many patients?"))
    assert pytest_run(project, "--record-llm").ret == 0
    project.makepyfile(test_ask=source.replace("PROMPT", "how many doctors?"))
    result = pytest_run(project)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*has 1 call(s); the closest:",
            "*differs in body.messages: *patients?* recorded, *doctors?* now",
        ]
    )


def test_key_order_whitespace_and_volatile_fields_do_not_matter(
    project: pytest.Pytester, llm_env: FakeLLMServer
) -> None:
    source = """
        import httpx

        def test_raw(url):
            body = BODY
            headers = {"content-type": "application/json"}
            response = httpx.post(f"{url}/v1/chat/completions", content=body, headers=headers)
            assert response.json()["choices"][0]["message"]["content"] == "Echo: same"
        """
    first = '\'{"model": "m", "user": "alice", "messages": [{"role": "user", "content": "same"}]}\''
    second = '\'{"messages":[{"content":"same","role":"user"}],  "user":"bob","model":"m"}\''
    project.makepyfile(test_raw=source.replace("BODY", first))
    assert pytest_run(project, "--record-llm").ret == 0
    project.makepyfile(test_raw=source.replace("BODY", second))
    result = pytest_run(project)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["1 call replayed*"])


def test_identical_calls_replay_in_recorded_order(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(
        test_twice="""
        import httpx

        def test_thrice(url):
            body = {"model": "m", "messages": [{"role": "user", "content": "again"}]}
            replies = [
                httpx.post(f"{url}/v1/chat/completions", json=body).json()
                for _ in range(3)
            ]
            assert [r["choices"][0]["message"]["content"] for r in replies] == [
                "call 1", "call 2", "call 3"
            ]
        """
    )
    calls = iter(range(1, 100))
    with FakeLLMServer(lambda request: f"call {next(calls)}", latency=0.0) as server:
        monkeypatch.setenv("LLM_URL", server.url)
        assert pytest_run(project, "--record-llm").ret == 0
    replayed = pytest_run(project)
    assert replayed.ret == 0, replayed.stdout.str()
    replayed.stdout.fnmatch_lines(["3 calls replayed*"])


def test_record_all_replaces_the_cassette(project: pytest.Pytester, llm_env: FakeLLMServer) -> None:
    source = """
        import httpx

        def test_one(url):
            body = {"model": "m", "messages": [{"role": "user", "content": "PROMPT"}]}
            httpx.post(f"{url}/v1/chat/completions", json=body)
        """
    project.makepyfile(test_one=source.replace("PROMPT", "old"))
    assert pytest_run(project, "--record-llm").ret == 0
    project.makepyfile(test_one=source.replace("PROMPT", "new"))
    assert pytest_run(project, "--record-llm-mode=all").ret == 0
    (path,) = cassettes(project)
    text = path.read_text()
    assert "content: new" in text
    assert "content: old" not in text


def test_real_llm_tests_always_go_live(project: pytest.Pytester, llm_env: FakeLLMServer) -> None:
    project.makepyfile(
        test_live="""
        import httpx
        import pytest

        @pytest.mark.real_llm
        def test_live(url):
            body = {"model": "m", "messages": [{"role": "user", "content": "live"}]}
            assert httpx.post(f"{url}/v1/chat/completions", json=body).status_code == 200
        """
    )
    (project.path / "tests" / "cassettes").mkdir(parents=True)
    assert pytest_run(project).ret == 0
    assert pytest_run(project, "--record-llm").ret == 0
    assert llm_env.counts()["openai"] == 2
    assert cassettes(project) == []


def test_parallel_workers_record_and_replay_their_own_cassettes(
    project: pytest.Pytester, llm_env: FakeLLMServer
) -> None:
    test = """
        import httpx
        import pytest

        @pytest.mark.parametrize("word", ["a", "b", "c", "d"])
        def test_word_NAME(url, word):
            body = {"model": "m", "messages": [{"role": "user", "content": "NAME " + word}]}
            reply = httpx.post(f"{url}/v1/chat/completions", json=body).json()
            assert reply["choices"][0]["message"]["content"] == "Echo: NAME " + word
        """
    for name in ("left", "right"):
        project.makepyfile(**{f"test_{name}": test.replace("NAME", name)})
    recorded = pytest_run(project, "--record-llm", "-n", "2")
    assert recorded.ret == 0, recorded.stdout.str()
    recorded.stdout.fnmatch_lines(["0 calls replayed*, 8 recorded"])
    assert len(cassettes(project)) == 8
    replayed = pytest_run(project, "-n", "2")
    assert replayed.ret == 0, replayed.stdout.str()
    replayed.stdout.fnmatch_lines(["8 calls replayed*, 0 recorded"])


def test_other_hosts_are_untouched(project: pytest.Pytester, llm_env: FakeLLMServer) -> None:
    """``localhost`` is not among this project's LLM hosts (only ``127.0.0.1:*`` is)."""
    project.makepyfile(
        test_other="""
        import httpx

        def test_other_service(url):
            other = url.replace("127.0.0.1", "localhost")
            body = {"model": "m", "messages": [{"role": "user", "content": "not an LLM host"}]}
            assert httpx.post(f"{other}/v1/chat/completions", json=body).status_code == 200
        """
    )
    (project.path / "tests" / "cassettes").mkdir(parents=True)
    assert pytest_run(project).ret == 0  # replay mode, yet the call went out
    assert pytest_run(project, "--record-llm").ret == 0
    assert llm_env.counts()["openai"] == 2
    assert cassettes(project) == []


def test_cassette_commands_list_check_and_prune(
    project: pytest.Pytester, llm_env: FakeLLMServer
) -> None:
    import os
    import subprocess
    import sys

    source = """
        import httpx

        def test_NAME(url):
            body = {"model": "gpt-x", "messages": [{"role": "user", "content": "NAME"}]}
            httpx.post(f"{url}/v1/chat/completions", json=body)
        """
    for name in ("kept", "gone"):
        project.makepyfile(**{f"test_{name}": source.replace("NAME", name)})
    assert pytest_run(project, "--record-llm").ret == 0

    def optikit(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "optikit", "cassettes", *args, "-p", str(project.path)]
        env = {**os.environ, "COLUMNS": "200"}
        return subprocess.run(command, capture_output=True, text=True, env=env)

    listed = optikit("list")
    assert listed.returncode == 0, listed.stderr
    assert "test_kept.py::test_kept" in listed.stdout
    assert "gpt-x" in listed.stdout
    assert optikit("check").returncode == 0
    (project.path / "test_gone.py").unlink()
    dry = optikit("prune")
    assert "would delete" in dry.stdout
    assert len(cassettes(project)) == 2
    assert optikit("prune", "--apply").returncode == 0
    (left,) = cassettes(project)
    assert left.name == "test_kept.yaml"
    left.write_text(left.read_text() + "# leaked: sk-proj-abcdefghijklmnopqrstuvwx\n")
    checked = optikit("check")
    assert checked.returncode == 1
    assert f"{left}:" in checked.stderr
    assert "OpenAI key" in checked.stderr
    assert "abcdefghijkl" not in checked.stderr  # the kind, never the secret


def test_a_compressed_reply_is_stored_decoded(pytester: pytest.Pytester) -> None:
    """api.openai.com (a default LLM host) answered by an in-memory transport that gzips."""
    pytester.makepyfile(
        test_gzip="""
        import gzip
        import json

        import httpx

        def reply(request):
            body = gzip.compress(json.dumps({"answer": "forty-two"}).encode())
            return httpx.Response(200, content=body, headers={"content-encoding": "gzip"})

        def test_gzip():
            client = httpx.Client(transport=httpx.MockTransport(reply))
            response = client.post("https://api.openai.com/v1/responses", json={"input": "q"})
            assert response.json() == {"answer": "forty-two"}
        """
    )
    recorded = pytest_run(pytester, "--record-llm")
    assert recorded.ret == 0, recorded.stdout.str()
    (path,) = cassettes(pytester)
    text = path.read_text()
    assert "answer: forty-two" in text
    assert "content-encoding" not in text.split("response:")[1]
    replayed = pytest_run(pytester)
    assert replayed.ret == 0, replayed.stdout.str()
    replayed.stdout.fnmatch_lines(["1 call replayed*"])


HOSTILE_IDS = ["::..::..::escape2", "1.5", "1.6", "a/b", "a_b", "x" * 300, "tab\there", ".."]


def test_cassette_paths_stay_inside_and_never_collide(tmp_path: Path) -> None:
    from fixtures_lib.cassettes.cassette import cassette_path

    directory = tmp_path / "tests" / "cassettes"
    paths = [
        cassette_path(directory, f"tests/test_x.py::test_p[{i}]", tmp_path) for i in HOSTILE_IDS
    ]
    assert len(set(paths)) == len(HOSTILE_IDS)  # 1.5 and 1.6, a/b and a_b: files of their own
    for path in paths:
        assert path.resolve().is_relative_to(directory.resolve())
        assert path.parent == directory / "test_x"
        assert path.suffix == ".yaml"
        assert len(path.name.encode()) < 255


def test_hostile_parametrize_ids_record_and_replay_inside_the_cassette_directory(
    project: pytest.Pytester, llm_env: FakeLLMServer
) -> None:
    project.makepyfile(
        test_ids=f"""
        import httpx
        import pytest

        @pytest.mark.parametrize("word", {HOSTILE_IDS!r})
        def test_p(url, word):
            body = {{"model": "m", "messages": [{{"role": "user", "content": word}}]}}
            assert httpx.post(f"{{url}}/v1/chat/completions", json=body).status_code == 200
        """
    )
    recorded = pytest_run(project, "--record-llm")
    assert recorded.ret == 0, recorded.stdout.str()
    written = cassettes(project)
    assert len(written) == len(HOSTILE_IDS)
    assert all(p.parent == project.path / "tests/cassettes/test_ids" for p in written)
    assert not list(project.path.glob("*.yaml"))  # nothing escaped to the project root
    replayed = pytest_run(project)
    assert replayed.ret == 0, replayed.stdout.str()
    replayed.stdout.fnmatch_lines([f"{len(HOSTILE_IDS)} calls replayed*"])


def test_a_cassette_recorded_under_the_old_name_still_replays(
    project: pytest.Pytester, llm_env: FakeLLMServer
) -> None:
    """optikit named ``test_p[1.5]``'s cassette ``test_p[1.yaml`` before; it is read there."""
    project.makepyfile(
        test_old="""
        import httpx

        import pytest

        @pytest.mark.parametrize("n", ["1.5"])
        def test_p(url, n):
            body = {"model": "m", "messages": [{"role": "user", "content": n}]}
            assert httpx.post(f"{url}/v1/chat/completions", json=body).status_code == 200
        """
    )
    assert pytest_run(project, "--record-llm").ret == 0
    (path,) = cassettes(project)
    path.rename(path.with_name("test_p[1.yaml"))
    assert pytest_run(project).ret == 0
