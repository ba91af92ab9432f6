"""Fake credentials in every format cassettes must keep off disk, and files that hide them.

Shared by the secrets tests (tests/fixtures_lib/test_cassette_secrets.py) and the benchmark
(benchmarks/llm_cassettes.py), so the figures in docs/llm-cassettes.md are about the same set.
Values are made from a fixed seed: format-valid, unique (no 10-character window of one appears
anywhere else), and worthless.
"""

from __future__ import annotations

import base64
import json
import random
import string

_random = random.Random(20261201)
_ALNUM = string.ascii_letters + string.digits


def _run(length: int, alphabet: str = _ALNUM) -> str:
    return "".join(_random.choice(alphabet) for _ in range(length))


# kind -> a value in that format, as it would sit in a prompt or a reply
PATTERN_SECRETS: dict[str, str] = {
    "OpenAI project key": f"sk-proj-{_run(48)}",
    "OpenAI short key": f"sk-{_run(6)}7{_run(10)}",
    "Anthropic key": f"sk-ant-api03-{_run(40)}",
    "AWS access key id": f"AKIA{_run(16, string.ascii_uppercase + string.digits)}",
    "GitHub token": f"ghp_{_run(36)}",
    "GitHub fine-grained token": f"github_pat_{_run(22)}_{_run(59)}",
    "Slack bot token": f"xoxb-{_run(11, string.digits)}-{_run(13, string.digits)}-"
    f"{_run(24, string.ascii_lowercase + string.digits)}",
    "Google API key": f"AIza{_run(35)}",
    "Hugging Face token": f"hf_{_run(34, string.ascii_letters)}",
    "Groq key": f"gsk_{_run(52)}",
    "Stripe key": f"sk_live_{_run(99)}",
    "JWT": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    f"{base64.urlsafe_b64encode(json.dumps({'sub': _run(12)}).encode()).decode().rstrip('=')}."
    f"{_run(43)}",
    "PEM private key": "-----BEGIN PRIVATE KEY-----\n"
    + "\n".join(_run(64, _ALNUM + "+/") for _ in range(3))
    + "\n-----END PRIVATE KEY-----",
}
# secrets only their context gives away
AZURE_KEY = _run(32, "0123456789abcdef")  # 32 hex digits: an MD5 too, unless named
AWS_SECRET = _run(40, _ALNUM + "/+")
URL_PASSWORD = _run(14)
FIELD_PASSWORD = _run(12)
FIELD_API_KEY = _run(24)
HEADER_TOKEN = f"tok-{_run(24)}"
QUERY_KEY = _run(32, "0123456789abcdef")
ENV_TOKEN = _run(20, string.ascii_lowercase)  # matches no pattern: only its exact value tells

CONTEXT_SECRETS: dict[str, str] = {
    "Azure key": AZURE_KEY,
    "AWS secret key": AWS_SECRET,
    "password in a URL": URL_PASSWORD,
    "JSON field password": FIELD_PASSWORD,
    "JSON field api_key": FIELD_API_KEY,
    "custom token header": HEADER_TOKEN,
    "key in a query string": QUERY_KEY,
    "credential from the environment": ENV_TOKEN,
}
ALL_SECRETS: dict[str, str] = {**PATTERN_SECRETS, **CONTEXT_SECRETS}

# ordinary prompts that look a little like keys: hyphenated words, ids, hashes of nothing
ORDINARY_PROMPTS = (
    "Summarise the risk-assessment-report-for-2023-q1",
    "Ask the state-of-the-art model about task-specific fine-tuning",
    "List the well-known sk-learn alternatives for up-to-date pipelines",
    "Explain the mask-rcnn-resnet50-fpn backbone in plain words",
    "Our ticket DESK-10432 and the follow-up desk-10433-hotfix branch",
    "Compare gpt-4o-mini with claude-3-5-sonnet-20241022 on long-context tasks",
    "Translate 'whisk-and-fold-technique-2' into French",
    "What does the key-value cache do in a token-by-token decoder?",
    "The user_id field and the session token count are both 42",
    "Rename the file risk-free-rate-2024-11-30.csv to rates.csv",
    "Is d41d8cd98f00b204e9800998ecf8427e the MD5 of an empty file?",
)


def leaked(text: str) -> list[str]:
    """The kinds whose secret appears in ``text``: whole, or any 10-character window of it
    (a half-redacted key is a leaked key)."""
    found = []
    for kind, secret in ALL_SECRETS.items():
        windows = {secret[i : i + 10] for i in range(max(1, len(secret) - 9))}
        compact = secret.replace("\n", "")
        if any(w in text for w in windows if "\n" not in w) or compact in text:
            found.append(kind)
    return found


def planted_cassettes() -> dict[str, str]:
    """``file name -> YAML`` for cassette files that each hide one secret, as other tools
    (vcrpy's defaults, hand edits, other serializers) write them: at least 30 files."""
    files: dict[str, str] = {}
    bearer = PATTERN_SECRETS["OpenAI project key"]
    for kind, secret in PATTERN_SECRETS.items():
        name = kind.lower().replace(" ", "-")
        prompt = json.dumps({"messages": [{"role": "user", "content": f"use {secret} now"}]})
        files[f"body-{name}.yaml"] = _vcr(body=prompt)
        reply = json.dumps({"choices": [{"message": {"content": f"Echo: {secret}"}}]})
        files[f"reply-{name}.yaml"] = _vcr(reply=reply)
    chunks = [bearer[i : i + 4] for i in range(0, len(bearer), 4)]
    stream = "".join(
        f"data: {json.dumps({'choices': [{'delta': {'content': c}}]})}\n\n" for c in chunks
    )
    files["stream-split-key.yaml"] = _vcr(reply=stream + "data: [DONE]\n\n", style="|")
    files["flow-authorization.yaml"] = (
        "interactions:\n- {request: {method: POST, uri: 'https://api.openai.com/v1/x', "
        f"headers: {{Authorization: [Bearer {bearer}]}}, body: null}}, "
        "response: {status: {code: 200}, headers: {}, body: {string: ''}}}\n"
    )
    files["header-x-auth-token.yaml"] = _vcr(headers={"X-Auth-Token": HEADER_TOKEN})
    files["header-x-goog-api-key.yaml"] = _vcr(
        headers={"x-goog-api-key": PATTERN_SECRETS["Google API key"]}
    )
    files["query-api-key.yaml"] = _vcr(uri=f"https://x.openai.azure.com/v1?api-key={QUERY_KEY}")
    files["query-key-aiza.yaml"] = _vcr(
        uri=f"https://generativelanguage.googleapis.com/v1?key={PATTERN_SECRETS['Google API key']}"
    )
    files["url-password.yaml"] = _vcr(uri=f"https://app:{URL_PASSWORD}@llm.internal/v1/chat")
    files["field-password.yaml"] = _vcr(body=json.dumps({"password": FIELD_PASSWORD}))
    files["field-api-key.yaml"] = _vcr(body=json.dumps({"api_key": FIELD_API_KEY}))
    files["aws-secret.yaml"] = _vcr(body=f"aws_secret_access_key = {AWS_SECRET}")
    files["azure-key.yaml"] = _vcr(body=f"the Azure OpenAI key is {AZURE_KEY}")
    binary = base64.b64encode(f"token {bearer}".encode()).decode()
    files["binary-body.yaml"] = _vcr(body=f"!!binary |\n          {binary}", raw=True)
    folded = json.dumps(f"a long prompt that goes on and on with the key {bearer} in it")
    cut = folded.index(bearer) + 12  # the key itself is folded over two lines
    files["folded-line.yaml"] = (
        "interactions:\n- request:\n    body: "
        + folded[:cut]
        + "\\\n      "
        + folded[cut:]
        + "\n    method: POST\n    uri: https://api.openai.com/v1/chat/completions\n"
        "  response: {status: {code: 200}, body: {string: ''}}\n"
    )
    files["comment.yaml"] = _vcr() + f"# debug: {PATTERN_SECRETS['Anthropic key']}\n"
    return files


def _vcr(
    body: str = "",
    reply: str = "",
    headers: dict[str, str] | None = None,
    uri: str = "https://api.openai.com/v1/chat/completions",
    style: str = "",
    raw: bool = False,
) -> str:
    """One interaction in vcrpy's default YAML layout."""
    header_lines = "".join(f"      {k}:\n      - {v}\n" for k, v in (headers or {}).items())
    header_block = f"    headers:\n{header_lines}" if header_lines else "    headers: {}\n"
    body_text = body if raw else json.dumps(body)
    if style == "|":
        indented = "".join(f"        {line}\n" for line in reply.splitlines())
        reply_text = f"|\n{indented}"
    else:
        reply_text = json.dumps(reply) + "\n"
    return (
        "interactions:\n- request:\n"
        f"    body: {body_text}\n" + header_block + f"    method: POST\n    uri: {uri}\n"
        "  response:\n    body:\n"
        f"      string: {reply_text}"
        "    headers: {}\n    status: {code: 200, message: OK}\nversion: 1\n"
    )
