"""mkdocs hook: the parts of the docs site that come from the code itself.

One reference page per optikit command, its own ``--help`` (what ``optikit <command> --help``
prints at 100 columns), listed in the nav under Reference > Commands; and the GitHub Actions
workflow ``optikit init --github-actions`` writes, in place of ``<!-- optikit:workflow -->``.
So neither can drift from the code.
"""

from __future__ import annotations

import os
from typing import Any

from mkdocs.structure.files import File, Files
from typer.testing import CliRunner

os.environ.setdefault("TERMINAL_WIDTH", "100")  # read by typer's help formatter at import
from optikit.cli.app import app, command_paths
from optikit.cli.github_actions import workflow

PAGES = "commands"


def _page(words: list[str]) -> str:
    result = CliRunner().invoke(app, [*words, "--help"], prog_name="optikit")
    if result.exit_code != 0:
        raise RuntimeError(f"optikit {' '.join(words)} --help exited {result.exit_code}")
    lines = [line.rstrip() for line in result.output.splitlines()]
    return f"# optikit {' '.join(words)}\n\n```text\n" + "\n".join(lines).strip("\n") + "\n```\n"


def on_config(config: Any) -> Any:
    pages = [{f"optikit {' '.join(w)}": f"{PAGES}/{'-'.join(w)}.md"} for w in command_paths()]
    for section in config["nav"]:
        for entries in section.values():
            if isinstance(entries, list):
                for entry in entries:
                    if "Commands" in entry:
                        entry["Commands"] = pages
    return config


def on_files(files: Files, config: Any) -> Files:
    for words in command_paths():
        path = f"{PAGES}/{'-'.join(words)}.md"
        files.append(File.generated(config, path, content=_page(words)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    return markdown.replace("<!-- optikit:workflow -->", workflow().rstrip("\n"))
