"""Every command docs/llm-cassettes.md shows runs as printed, in a project shaped like its
examples (``tests/test_nl_query.py::test_x`` calling the fake server through openai)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from optikit.testing.fake_llm import FakeLLMServer

DOC = Path(__file__).parents[2] / "docs" / "llm-cassettes.md"

TEST_MODULE = """
import os

import openai


def test_x():
    client = openai.OpenAI(base_url=os.environ["LLM_URL"] + "/v1", api_key="sk-doc", max_retries=0)
    reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Echo: hi"
"""


def documented_commands() -> list[str]:
    """Each line of the doc's ``sh`` blocks, its comment cut; ``make`` targets are
    optikit init's (tested with init)."""
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(), flags=re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("make ")]


def test_the_doc_shows_the_commands_this_test_runs() -> None:
    commands = documented_commands()
    assert "pytest --record-llm" in commands
    assert any(c.startswith("optikit cassettes check tests/") for c in commands)
    assert len(commands) >= 8


def test_every_documented_command_runs_as_printed(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.optikit.llm]\nhosts = ["127.0.0.1:*"]\n')
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_nl_query.py").write_text(TEST_MODULE)
    ran = []
    with FakeLLMServer(latency=0.0) as server:
        env = {**os.environ, "LLM_URL": server.url, "PYTHONDONTWRITEBYTECODE": "1"}
        for command in documented_commands():
            words = shlex.split(command)
            program = [sys.executable, "-m", words[0]]  # the pytest and optikit of this Python
            done = subprocess.run(
                [*program, *words[1:]],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                env=env,
            )
            assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
            assert "Traceback" not in done.stderr, command
            ran.append(command)
    assert (tmp_path / "tests" / "cassettes" / "test_nl_query" / "test_x.yaml").is_file()
    assert len(ran) == len(documented_commands())


@pytest.mark.parametrize("command", documented_commands())
def test_documented_commands_are_real_options(command: str) -> None:
    """No placeholder (``[PATHS]``, ``<id>``) a shell would choke on."""
    assert not re.search(r"[\[\]<>]", command.split("::")[0]), command
