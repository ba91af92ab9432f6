"""``make real-suites``: every optikit capability on real projects' own test suites.

    python benchmarks/real_suites/run.py [--only click,attrs] [--steps gate,audit]

For each project of ``manifest.toml``: fetch its sdist and build its environments, then the
steps of ``steps.py`` in order (authors, gate, report, audit, codemods, noflag, init,
cassettes). Progress is a
line per step (plain when piped, so a CI log reads). Results are merged into
``benchmarks/results/real-suites.json`` (a re-run of some steps keeps the others' figures) and
rendered into the generated section of ``docs/real-suites.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus
from render import write_docs
from steps import OPT_IN, STEPS

RESULTS = corpus.REPO / "benchmarks" / "results" / "real-suites.json"


def say(line: str) -> None:
    """One line per step: styled by rich in a terminal, plain text in a CI log."""
    stamp = time.strftime("%H:%M:%S")
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markup import escape

        Console(highlight=False, soft_wrap=True).print(f"[dim]{stamp}[/] {escape(line)}")
    else:
        print(f"{stamp} {line}", flush=True)


def progress(prefix: str) -> Callable[[str], None]:
    return lambda line: say(prefix + line)


def load_results() -> dict:
    if RESULTS.is_file():
        return json.loads(RESULTS.read_text())
    return {"projects": {}}


def save_results(results: dict) -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=corpus.REPO, capture_output=True, text=True
    ).stdout.strip()
    results["updated_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results["optikit_commit"] = commit
    results["machine"] = (
        f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    tmp.replace(RESULTS)
    write_docs(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated project names")
    default = ",".join(s for s in STEPS if s not in OPT_IN)
    parser.add_argument("--steps", default=default, help=f"from: {', '.join(STEPS)}")
    options = parser.parse_args()
    projects = corpus.load()
    only = {n for n in options.only.split(",") if n}
    unknown = only - {p.name for p in projects}
    steps = [s for s in options.steps.split(",") if s]
    if unknown or set(steps) - set(STEPS):
        parser.error(f"unknown project or step: {sorted(unknown | (set(steps) - set(STEPS)))}")
    results = load_results()
    started = time.perf_counter()
    for project in projects:
        if only and project.name not in only:
            continue
        wanted = [
            s
            for s in steps
            if (not project.steps or s in project.steps) and (s != "cassettes" or project.cassettes)
        ]
        if not wanted:
            continue
        entry = results["projects"].setdefault(project.name, {})
        entry["version"] = project.version
        entry["covers"] = list(project.covers)
        entry["truth"] = [t.__dict__ | {"culprits": list(t.culprits)} for t in project.truth]
        say(f"[{project.name} {project.version}] fetching and building its environments")
        try:
            corpus.fetch(project)
            if set(wanted) - {"cassettes"}:  # checking cassettes runs no suite
                corpus.environments(project)
        except Exception as error:  # a broken project is a row, never the end of the run
            entry["setup_error"] = str(error)
            say(f"[{project.name}] setup failed: {str(error).splitlines()[0]}")
            save_results(results)
            continue
        entry.pop("setup_error", None)
        for step in wanted:
            say(f"[{project.name}] {step}")
            began = time.perf_counter()
            try:
                figures = STEPS[step](project, progress(f"[{project.name}] {step}: "))
            except Exception as error:
                figures = {"error": f"{type(error).__name__}: {error}"}
            figures["step_seconds"] = round(time.perf_counter() - began, 1)
            entry.setdefault("steps", {})[step] = figures
            short = figures.get("error", "").splitlines()[0] if "error" in figures else "done"
            say(f"[{project.name}] {step}: {short} ({figures['step_seconds']} s)")
            save_results(results)
    say(f"all done in {time.perf_counter() - started:.0f} s; {RESULTS} and docs/real-suites.md")


if __name__ == "__main__":
    main()
