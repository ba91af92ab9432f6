"""No credential reaches a cassette in any form, redaction never changes what matches, and
``optikit cassettes check`` finds what other tools left on disk.

The corpus (optikit.testing.secret_corpus) goes through the real openai, anthropic, ollama,
httpx and requests clients to the local fake server: in headers, query strings, prompts, JSON
fields, echoed replies, error bodies and streams split at every chunk size from 1 to 8.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures_lib.cassettes.scan import scan_file
from fixtures_lib.cassettes.secrets import Scrubber
from optikit.testing import secret_corpus
from optikit.testing.fake_llm import FakeLLMServer
from optikit.testing.secret_corpus import ORDINARY_PROMPTS, leaked

EXAMPLE_CASSETTES = Path(__file__).parents[2] / "examples" / "clinic" / "tests" / "cassettes"

CONFTEST = """
import os
import pytest

@pytest.fixture
def url():
    return os.environ["LLM_URL"]
"""

# The inner suite: every way a secret reaches an LLM call. In record mode it asserts the
# server really echoed each secret back (so the test below is not vacuous); replayed, it
# asserts the client now sees none of them.
CORPUS_SUITE = """
import json, os

import anthropic, httpx, ollama, openai, pytest, requests

from optikit.testing.secret_corpus import (
    AWS_SECRET, AZURE_KEY, ENV_TOKEN, FIELD_API_KEY, FIELD_PASSWORD, HEADER_TOKEN,
    PATTERN_SECRETS, QUERY_KEY, URL_PASSWORD, leaked,
)

REPLAY = os.environ.get("CORPUS_REPLAY") == "1"
OPENAI_KEY = PATTERN_SECRETS["OpenAI project key"]
ANTHROPIC_KEY = PATTERN_SECRETS["Anthropic key"]
# the formats patterns know, a value only the environment knows, an AWS secret in its context
PROMPT = " ".join([
    *PATTERN_SECRETS.values(), ENV_TOKEN, f"aws_secret_access_key={AWS_SECRET}",
    f"azure key {AZURE_KEY}",
])


def seen(text):
    kinds = leaked(text)
    if REPLAY:
        assert kinds == [], kinds
    else:
        assert kinds, "the server should have echoed the secrets"


@pytest.fixture(autouse=True)
def process_credential(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", ENV_TOKEN)


def test_openai_headers_body_and_reply(url):
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=OPENAI_KEY, max_retries=0)
    # values only their header or field gives away, echoed back in the reply
    known = f"{PROMPT} {HEADER_TOKEN} {FIELD_API_KEY} {FIELD_PASSWORD}"
    reply = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": known}],
        extra_body={"api_key": FIELD_API_KEY, "password": FIELD_PASSWORD},
        extra_headers={"X-Fake-Echo": "x-custom-token", "x-custom-token": HEADER_TOKEN},
    )
    seen(reply.choices[0].message.content)


@pytest.mark.parametrize("size", range(1, 9))
def test_streams_split_at_every_size(url, size):
    chunk = {"X-Fake-Chunk-Size": str(size)}
    messages = [{"role": "user", "content": PROMPT}]
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=OPENAI_KEY, max_retries=0)
    stream = client.chat.completions.create(
        model="m", messages=messages, stream=True, extra_headers=chunk
    )
    seen("".join(c.choices[0].delta.content or "" for c in stream if c.choices))
    claude = anthropic.Anthropic(base_url=url, api_key=ANTHROPIC_KEY, max_retries=0)
    with claude.messages.stream(
        model="c", max_tokens=5, messages=messages, extra_headers=chunk
    ) as events:
        seen("".join(events.text_stream))
    local = ollama.Client(host=url, headers=chunk)
    seen("".join(part["message"]["content"] for part in local.chat(
        model="l", messages=messages, stream=True
    )))


def test_error_bodies_name_the_key(url):
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=OPENAI_KEY, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as failed:
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}],
            extra_headers={"X-Fake-Status": "401"},
        )
    seen(str(failed.value))
    claude = anthropic.Anthropic(base_url=url, api_key=ANTHROPIC_KEY, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as refused:
        claude.messages.create(
            model="c", max_tokens=5, messages=[{"role": "user", "content": "hi"}],
            extra_headers={"X-Fake-Status": "401"},
        )
    seen(str(refused.value))


def test_query_strings_and_plain_clients(url):
    host = url.replace("http://", f"http://app:{URL_PASSWORD}@")
    known = f"{PROMPT} {URL_PASSWORD} {QUERY_KEY} {HEADER_TOKEN}"
    body = {"model": "m", "messages": [{"role": "user", "content": known}]}
    azure = httpx.post(
        f"{host}/v1/chat/completions?api-version=2024-02-01&api-key={QUERY_KEY}",
        json=body, headers={"X-Auth-Token": HEADER_TOKEN, "X-Fake-Echo": "X-Auth-Token"},
    )
    seen(azure.text + azure.headers.get("x-echo", ""))
    google = requests.post(
        f"{url}/v1/chat/completions?key={PATTERN_SECRETS['Google API key']}&alt=json",
        json=body, headers={"x-goog-api-key": PATTERN_SECRETS["Google API key"]},
        cookies={"session": HEADER_TOKEN},
    )
    seen(google.text)
"""


def cassette_texts(project: Path) -> dict[Path, str]:
    return {p: p.read_text() for p in sorted((project / "tests" / "cassettes").rglob("*.yaml"))}


def test_no_secret_reaches_disk_in_any_form_and_replay_still_matches(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyprojecttoml('[tool.optikit.llm]\nhosts = ["127.0.0.1:*"]\n')
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_corpus=CORPUS_SUITE)
    args = ("-p", "no:randomly", "-p", "no:cacheprovider")
    with FakeLLMServer(latency=0.0) as server:
        monkeypatch.setenv("LLM_URL", server.url)
        recorded = pytester.runpytest_subprocess(*args, "--record-llm")
        assert recorded.ret == 0, recorded.stdout.str()
        calls = sum(server.counts().values())
        assert calls == 1 + 8 * 3 + 2  # the 401s never reach the responder

        texts = cassette_texts(pytester.path)
        assert len(texts) == 11
        on_disk = {path.name: leaked(text) for path, text in texts.items()}
        assert all(kinds == [] for kinds in on_disk.values()), on_disk

        monkeypatch.setenv("CORPUS_REPLAY", "1")
        replayed = pytester.runpytest_subprocess(*args)
        assert replayed.ret == 0, replayed.stdout.str()  # replay matched; clients saw no secret
        assert sum(server.counts().values()) == calls  # nothing went live
    # what was written passes the check: redaction leaves nothing it would report
    checked = [finding for path in texts for finding in scan_file(path, Scrubber({}))]
    assert checked == []


def test_redaction_never_changes_what_matches(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two prompts that differ only in a key each replay their own answer; a hyphenated
    prompt is stored whole, and editing it is a miss, not the old answer."""
    pytester.makepyprojecttoml('[tool.optikit.llm]\nhosts = ["127.0.0.1:*"]\n')
    pytester.makeconftest(CONFTEST)
    source = """
        import openai

        KEYS = ["sk-proj-FIRSTfirst1234567890abcd", "sk-proj-SECONDsecond123456789abc"]

        def ask(url, text):
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test-0000", max_retries=0)
            reply = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": text}]
            )
            return reply.choices[0].message.content

        def test_keys(url):
            first, second = (ask(url, f"check the key {key}") for key in KEYS)
            assert first != second
            assert (first, second) == (ask(url, f"check the key {KEYS[0]}"),
                                       ask(url, f"check the key {KEYS[1]}"))

        def test_report(url):
            assert ask(url, "Summarise the risk-assessment-report-for-YEAR")
        """
    pytester.makepyfile(test_match=source.replace("YEAR", "2023-q1"))
    args = ("-p", "no:randomly", "-p", "no:cacheprovider")
    with FakeLLMServer(latency=0.0) as server:
        server.responder = lambda request: f"answer {abs(hash(request.prompt)) % 10**6}"
        monkeypatch.setenv("LLM_URL", server.url)
        assert pytester.runpytest_subprocess(*args, "--record-llm").ret == 0
    texts = {p.name: t for p, t in cassette_texts(pytester.path).items()}
    assert texts["test_keys.yaml"].count("match: scrypt:") == 4  # each call, stored redacted
    assert "FIRSTfirst" not in texts["test_keys.yaml"]
    assert "risk-assessment-report-for-2023-q1" in texts["test_report.yaml"]

    replayed = pytester.runpytest_subprocess(*args)  # the server is gone
    assert replayed.ret == 0, replayed.stdout.str()

    pytester.makepyfile(test_match=source.replace("YEAR", "2024-q4"))
    edited = pytester.runpytest_subprocess(*args)
    assert edited.ret == 1
    edited.stdout.fnmatch_lines(["*no recorded LLM call matches*", "*2024-q4*"])
    edited.assert_outcomes(passed=1, failed=1)

    third = source.replace("YEAR", "2023-q1").replace("SECONDsecond", "THIRDthird12")
    pytester.makepyfile(test_match=third)
    swapped = pytester.runpytest_subprocess(*args)
    swapped.stdout.fnmatch_lines(["*differs in a redacted value (a secret)*"])
    assert "THIRDthird" not in swapped.stdout.str()  # the failure message is scrubbed too
    swapped.assert_outcomes(passed=1, failed=1)


def test_check_catches_every_planted_cassette(tmp_path: Path) -> None:
    planted = secret_corpus.planted_cassettes()
    assert len(planted) >= 30
    for name, text in planted.items():
        (tmp_path / name).write_text(text)
    result = optikit("cassettes", "check", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    reported = {line.split(":", 1)[0] for line in result.stderr.splitlines() if ".yaml:" in line}
    assert reported == {str(tmp_path / name) for name in planted}
    assert leaked(result.stdout + result.stderr) == []  # kinds and lines, never the values
    assert "stream-split-key.yaml:" in result.stderr
    assert "credential in query parameter 'api-key'" in result.stderr


def test_check_has_no_false_positives_on_real_cassettes_or_ordinary_prompts(
    tmp_path: Path,
) -> None:
    clean = optikit("cassettes", "check", str(EXAMPLE_CASSETTES), cwd=tmp_path)
    assert clean.returncode == 0, clean.stderr
    assert "no secrets found" in clean.stdout
    scrubber = Scrubber({})
    assert [p for p in ORDINARY_PROMPTS if scrubber.spans(p)] == []
    for number, prompt in enumerate(ORDINARY_PROMPTS):
        body = json.dumps({"messages": [{"role": "user", "content": prompt}]})
        assert scrubber.body(body) == body
        (tmp_path / f"p{number}.yaml").write_text(secret_corpus._vcr(body=body))
    assert optikit("cassettes", "check", str(tmp_path), cwd=tmp_path).returncode == 0


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"interactions: [\n", "not YAML"),
        (b"\xff\xfe not text", "not UTF-8"),
    ],
)
def test_check_exits_2_on_an_unreadable_file_and_0_without_a_cassette_directory(
    tmp_path: Path, content: bytes, why: str
) -> None:
    nothing = optikit("cassettes", "check", cwd=tmp_path)
    assert nothing.returncode == 0
    assert "nothing to check" in nothing.stdout
    bad = tmp_path / "tests" / "cassettes" / "bad.yaml"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(content)
    result = optikit("cassettes", "check", cwd=tmp_path)
    assert result.returncode == 2
    assert f"bad.yaml: cannot be read ({why}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_credential_in_the_environment_is_found_by_its_value(tmp_path: Path) -> None:
    value = "plainlowercasevaluewithnopattern"
    (tmp_path / "c.yaml").write_text(secret_corpus._vcr(body=f"hello {value}"))
    env_free = optikit("cassettes", "check", str(tmp_path), cwd=tmp_path)
    assert env_free.returncode == 0
    found = optikit("cassettes", "check", str(tmp_path), cwd=tmp_path, MY_API_TOKEN=value)
    assert found.returncode == 1
    assert "the value of $MY_API_TOKEN" in found.stderr
    assert value not in found.stderr


def optikit(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "optikit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300", **env},
    )
