"""What replaying LLM calls saves, and what a replayed call costs next to plain vcrpy.

1. The example suite's LLM-calling tests against the fake LLM server at 0.5 s latency, live
   (``--no-llm-cassettes``) and replayed from its committed cassettes, in alternating pairs:
   the tests' own call time (from optikit's run record) and the pytest wall time.
   Target: replay at least 50x faster.
2. Per-call replay cost with the real openai client, for cassettes of 50 and 500 distinct
   recorded calls: optikit's cassette (hash lookup) against plain vcrpy (``use_cassette``,
   matching method, URI and body by scanning every stored request), and the client alone
   on an in-memory transport. Target: at most 1.5x vcrpy's cost.
3. ``optikit cassettes check`` against the secrets corpus (optikit.testing.secret_corpus):
   planted files caught (target 100% of 30+), findings on the example suite's cassettes and
   on eleven ordinary prompts (hyphenated words, an MD5) (target 0), and, with ``--real-cassettes
   DIR``, findings and seconds on a directory of cassettes someone else recorded (the
   closing notes used langchain-openai 1.7.4's sdist, ``tests/cassettes/*.yaml.gz`` unzipped).
   That secrets recorded through the real clients never reach disk is asserted, per format,
   by tests/fixtures_lib/test_cassette_secrets.py.

    python benchmarks/llm_cassettes.py [--pairs 2] [--sizes 50 500] [--real-cassettes DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import openai
import vcr

from fixtures_lib.cassettes.cassette import CassetteSession, LLMCassette
from fixtures_lib.cassettes.scan import scan_file, yaml_files
from fixtures_lib.cassettes.secrets import Scrubber
from fixtures_lib.cassettes.settings import LLMSettings, Mode
from optikit.testing import secret_corpus
from optikit.testing.fake_llm import FakeLLMServer
from optikit.timing.run_record import read_run_record

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "clinic"
LLM_TESTS = ["tests/test_nl_query.py", "tests/test_reports.py"]


def example_run(project: Path, url: str, *args: str) -> tuple[float, float]:
    """(wall seconds, summed call seconds of the LLM tests) for one pytest run."""
    data = project / "run.json"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *LLM_TESTS]
    command += ["--track-performance", f"--performance-data={data}", "--performance-no-history"]
    started = time.perf_counter()
    result = subprocess.run(
        [*command, *args],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "CLINIC_LLM_URL": url},
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"example run failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    return wall, sum(test["call"] for test in read_run_record(data)["tests"])


def live_versus_replay(scratch: Path, pairs: int) -> dict[str, Any]:
    project = scratch / "clinic"
    ignore = shutil.ignore_patterns(".optikit", ".test_cache", ".*.json", "__pycache__")
    shutil.copytree(EXAMPLE, project, ignore=ignore)
    live, replay = [], []
    with FakeLLMServer(latency=0.5) as server:
        from clinic.fake_model import clinic_responder

        server.responder = clinic_responder
        example_run(project, server.url)  # warm the fixture cache and the imports
        for _ in range(pairs):
            live.append(example_run(project, server.url, "--no-llm-cassettes"))
            replay.append(example_run(project, server.url))
    live_call = statistics.median(call for _, call in live)
    replay_call = statistics.median(call for _, call in replay)
    return {
        "tests": LLM_TESTS,
        "live_call_seconds": round(live_call, 3),
        "replay_call_seconds": round(replay_call, 4),
        "speedup_call_time": round(live_call / replay_call, 1),
        "live_wall_seconds": round(statistics.median(wall for wall, _ in live), 2),
        "replay_wall_seconds": round(statistics.median(wall for wall, _ in replay), 2),
        "target": ">= 50x",
    }


def questions(count: int) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"question number {i}: how many?"}] for i in range(count)]


def per_call(ask: Callable[[list[dict[str, str]]], object], prompts: list[Any]) -> float:
    started = time.perf_counter()
    for messages in prompts:
        ask(messages)
    return (time.perf_counter() - started) / len(prompts) * 1000


def replay_cost(scratch: Path, size: int, repeats: int = 3) -> dict[str, Any]:
    prompts = questions(size)
    settings = LLMSettings(scratch / f"optikit-{size}", hosts=("127.0.0.1:*",))
    plain_path = scratch / f"vcrpy-{size}.yaml"
    matching = ("method", "uri", "body")
    with FakeLLMServer(latency=0.0) as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-bench")

        def ask(messages: list[dict[str, str]]) -> object:
            return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

        recorder = CassetteSession(LLMCassette(settings, Mode.NEW, scratch))
        recorder.start("bench.py::test_calls", live=False)
        per_call(ask, prompts)
        recorder.finish()
        recorder.close()
        with vcr.use_cassette(str(plain_path), record_mode="new_episodes", match_on=matching):
            per_call(ask, prompts)
    # the server is gone: both replay from disk
    optikit_ms, vcrpy_ms = [], []
    for _ in range(repeats):
        replayer = CassetteSession(LLMCassette(settings, Mode.REPLAY, scratch))
        replayer.start("bench.py::test_calls", live=False)
        optikit_ms.append(per_call(ask, prompts))
        replayer.finish()
        replayer.close()
        with vcr.use_cassette(str(plain_path), record_mode="none", match_on=matching):
            vcrpy_ms.append(per_call(ask, prompts))
    alone = openai.OpenAI(
        base_url="http://in-memory/v1",
        api_key="sk-bench",
        http_client=httpx2.Client(transport=httpx2.MockTransport(_canned_reply)),
    )
    alone_ms = min(
        per_call(lambda m: alone.chat.completions.create(model="gpt-4o-mini", messages=m), prompts)
        for _ in range(repeats)
    )
    optikit, plain = min(optikit_ms), min(vcrpy_ms)
    return {
        "recorded_calls": size,
        "optikit_ms_per_call": round(optikit, 3),
        "vcrpy_ms_per_call": round(plain, 3),
        "client_alone_ms_per_call": round(alone_ms, 3),
        "optikit_vs_vcrpy": round(optikit / plain, 2),
        "target": "<= 1.5x vcrpy",
    }


def _canned_reply(request: httpx2.Request) -> httpx2.Response:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "42"},
                "finish_reason": "stop",
            }
        ],
    }
    return httpx2.Response(200, json=body)


def check_figures(scratch: Path, real: Path | None) -> dict[str, Any]:
    planted_dir = scratch / "planted"
    planted_dir.mkdir()
    for name, text in secret_corpus.planted_cassettes().items():
        (planted_dir / name).write_text(text)
    scrubber = Scrubber({})  # the machine's own variables must not decide the figures
    caught = sum(bool(scan_file(path, scrubber)) for path in sorted(planted_dir.iterdir()))
    example = [f for p in yaml_files([EXAMPLE / "tests" / "cassettes"]) for f in scan_file(p)]
    prompts = [p for p in secret_corpus.ORDINARY_PROMPTS if scrubber.spans(p)]
    figures: dict[str, Any] = {
        "planted_files": len(list(planted_dir.iterdir())),
        "planted_caught": caught,
        "example_cassette_findings": len(example),
        "ordinary_prompt_findings": len(prompts),
    }
    if real is not None:
        files = yaml_files([real])
        started = time.perf_counter()
        findings = [f for path in files for f in scan_file(path, scrubber)]
        figures["real_cassettes"] = {
            "directory": str(real),
            "files": len(files),
            "megabytes": round(sum(p.stat().st_size for p in files) / 1e6, 1),
            "findings": len(findings),
            "seconds": round(time.perf_counter() - started, 1),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 500])
    parser.add_argument("--real-cassettes", type=Path, help="a directory of others' cassettes")
    parser.add_argument("--only", choices=("replay", "check"), help="one part")
    args = parser.parse_args()
    sys.path.insert(0, str(EXAMPLE))
    with tempfile.TemporaryDirectory(prefix="optikit-llm-bench-") as tmp:
        scratch = Path(tmp)
        results: dict[str, Any] = {}
        if args.only is None:
            results["example_llm_tests"] = live_versus_replay(scratch, args.pairs)
        if args.only in (None, "replay"):
            results["replay_cost"] = [replay_cost(scratch, size) for size in args.sizes]
        if args.only in (None, "check"):
            results["check"] = check_figures(scratch, args.real_cassettes)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
