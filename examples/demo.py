"""`make demo`: the optikit loop on the bundled example suite, step by step.

The clinic suite is copied to a scratch directory (the repository is never touched; the copy is
kept for inspection, its path printed at the end) and run
the way its team runs it today: file order, one process, every LLM call waiting on the model.
Then each optikit capability that has landed takes its turn:

1. measure: ``pytest --track-performance --no-fixture-cache --no-llm-cassettes``: where the
   time goes, per test and per fixture, as the suite ran before optikit;
2. cache: the same suite with ``@cached_fixture`` and the lazy dataset registry, cold and then
   warm: the data fixtures' setup time in each;
3. replay: the LLM calls answered from the committed cassettes instead of the model;
4. gate: ``optikit baseline``, a commit that slows one function down, and
   ``optikit regression --confirm 2`` catching it (the commit also changes a cached fixture's
   declared input, so the cache rebuilds it rather than hiding the slowdown);
5. codemods: ``optikit codemod replace-tmp``, ``rescope`` and ``mark-slow`` rewrite the tests
   from step 1's measurements, and the suite, run as in step 1, shows the time saved;
6. audit: ``optikit audit-parallel`` on the unit and report tests finds the order-dependent
   pair (with its polluter) and the /tmp race, and ``codemod mark-serial`` marks them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

EXAMPLE = Path(__file__).resolve().parent / "clinic"
sys.path.insert(0, str(EXAMPLE))

from clinic.fake_model import clinic_responder  # noqa: E402

from fixtures_lib.cassettes.cassette import cassette_path  # noqa: E402
from optikit.testing.fake_llm import DEFAULT_LATENCY, FakeLLMServer  # noqa: E402
from optikit.timing.run_record import RunRecord, read_run_record, write_run_record  # noqa: E402

# Piped (a CI log, `make demo > demo.txt`) rich would wrap at 80 columns and break node ids
# over lines; 160 keeps them whole and the step rules short. COLUMNS still wins.
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160)

# The commit the gate has to catch: exporting a workbook gets a second slower.
SLOW_COMMIT = (
    "    workbook.save(path)\n",
    "    import time\n\n    time.sleep(1.0)\n    workbook.save(path)\n",
)


def run(project: Path, server: FakeLLMServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLINIC_LLM_URL": server.url, "COLUMNS": str(console.width)}
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=project, env=env, capture_output=True, text=True
    )


def tracked_run(
    project: Path, server: FakeLLMServer, label: str, *args: str
) -> tuple[float, RunRecord]:
    started = time.perf_counter()
    with console.status(label):
        result = run(project, server, "pytest", "-q", "--track-performance", *args)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        console.print(result.stdout[-3000:], result.stderr[-2000:], markup=False)
        raise SystemExit(
            "The example suite failed in its default order; that is a bug in the demo."
        )
    return wall, read_run_record(project / "tests" / ".performance_data.json")


def show_measurements(wall: float, record: RunRecord, server: FakeLLMServer) -> None:
    summary = record["summary"]
    console.print(
        f"[bold]{summary['total_tests']} tests passed[/] in [bold]{wall:.1f} s[/] wall time "
        f"({summary['total_duration']:.1f} s of test time, "
        f"collection {record.get('collection_time', 0):.1f} s)."
    )
    slowest = Table("slowest tests", "total s", "setup s", "call s", title_justify="left")
    slowest.columns[0].overflow = "fold"
    for test in sorted(record["tests"], key=lambda t: t["duration"], reverse=True)[:6]:
        slowest.add_row(
            escape(test["nodeid"]),
            f"{test['duration']:.2f}",
            f"{test['setup']:.2f}",
            f"{test['call']:.2f}",
        )
    console.print(slowest)
    fixtures = Table(
        "fixture", "scope", "setups", "total s", title="Fixture time", title_justify="left"
    )
    for fixture in record["fixtures"][:4]:
        fixtures.add_row(
            fixture["name"], fixture["scope"], str(fixture["setups"]), f"{fixture['total']:.2f}"
        )
    console.print(fixtures)
    calls = server.counts()
    by_api = ", ".join(f"{api}: {count}" for api, count in sorted(calls.items()))
    waited = sum(calls.values()) * server.latency
    console.print(
        f"LLM calls: [bold]{sum(calls.values())}[/] ({by_api}), each waiting "
        f"{server.latency:.1f} s for the model: [bold]{waited:.1f} s[/] of test time."
    )


CACHED = ("patients", "cohort_workbook")


def setup_seconds(record: RunRecord) -> dict[str, tuple[int, float]]:
    return {f["name"]: (f["setups"], f["total"]) for f in record["fixtures"] if f["name"] in CACHED}


def cache_step(
    project: Path, server: FakeLLMServer, uncached: RunRecord
) -> tuple[float, RunRecord]:
    """Cold then warm: how many times faster the data fixtures set up when warm, and that run."""
    live = ("--no-llm-cassettes", "--performance-no-history")  # one change at a time
    _, cold = tracked_run(project, server, "pytest --track-performance (cold cache) ...", *live)
    wall, warm = tracked_run(project, server, "pytest --track-performance (warm cache) ...", *live)
    table = Table(
        "data fixture",
        "setups",
        "no cache s",
        "cold cache s",
        "warm cache s",
        title="Fixture setup time",
        title_justify="left",
    )
    runs = [setup_seconds(record) for record in (uncached, cold, warm)]
    for name in CACHED:
        setups = runs[0].get(name, (0, 0.0))[0]
        table.add_row(name, str(setups), *(f"{run.get(name, (0, 0.0))[1]:.2f}" for run in runs))
    console.print(table)
    figures = warm.get("fixture_cache", {})
    for label, counts in sorted(figures.items()):
        console.print(
            f"  {escape(label)}: {counts['hits']:.0f} hits, {counts['misses']:.0f} misses, "
            f"{counts['saved_seconds']:.2f} s saved"
        )
    before = sum(total for _, total in runs[0].values())
    after = sum(total for _, total in runs[2].values())
    speedup = before / after if after else float("inf")
    console.print(
        f"Warm, the data fixtures set up in [bold]{after:.2f} s[/] instead of {before:.2f} s "
        f"([bold]{speedup:.0f}x[/] faster); the whole suite took {wall:.1f} s. Datasets load "
        "only when a test asks for one."
    )
    return speedup, warm


def replay_step(project: Path, server: FakeLLMServer, live: RunRecord) -> tuple[float, float]:
    """The committed cassettes instead of the model; returns (suite wall time, seconds saved)."""
    # Only runs like this one go into the history the gate's noise estimate comes from:
    # a team's history is its everyday runs, not the ones that filled the cache.
    before = sum(server.counts().values())
    wall, replayed = tracked_run(project, server, "pytest --track-performance (replay) ...")
    calls = sum(server.counts().values()) - before
    now = {test["nodeid"]: test for test in replayed["tests"]}
    cassettes = project / "tests" / "cassettes"
    waited = [
        t
        for t in live["tests"]
        if t["nodeid"] in now and cassette_path(cassettes, t["nodeid"], project).is_file()
    ]
    table = Table("test that calls the LLM", "live s", "replayed s", title_justify="left")
    table.columns[0].overflow = "fold"
    for test in sorted(waited, key=lambda t: t["call"], reverse=True)[:6]:
        table.add_row(
            escape(test["nodeid"]), f"{test['call']:.2f}", f"{now[test['nodeid']]['call']:.3f}"
        )
    console.print(table)
    live_total = sum(t["call"] for t in waited)
    replay_total = sum(now[t["nodeid"]]["call"] for t in waited)
    console.print(
        f"{len(waited)} tests that call the model took {live_total:.1f} s live and "
        f"{replay_total:.1f} s replayed from tests/cassettes/ (what is left is their own work, "
        f"such as writing a workbook): [bold]{live_total - replay_total:.1f} s saved[/], and the "
        f"server saw {calls} calls. The suite took [bold]{wall:.1f} s[/]."
    )
    return wall, live_total - replay_total


def gate_step(project: Path, server: FakeLLMServer) -> bool:
    baseline = run(project, server, "optikit", "baseline")
    console.print(baseline.stdout.strip(), markup=False)
    excel = project / "clinic" / "excel.py"
    excel.write_text(excel.read_text().replace(*SLOW_COMMIT))
    console.print(
        "A new commit makes [bold]write_cohort_workbook[/] one second slower. "
        "Running the suite again..."
    )
    tracked_run(project, server, "Running the suite with the slow commit...")
    with console.status(
        "optikit regression --confirm 2 (re-runs the suspects twice, beside reference tests)..."
    ):
        gate = run(project, server, "optikit", "regression", "--confirm", "2")
    console.print(gate.stdout.rstrip(), markup=False, highlight=False)
    caught = gate.returncode == 1
    verdict = "[bold green]caught it[/] (exit 1)" if caught else "[bold red]missed it[/]"
    console.print(f"The gate {verdict}: this is what fails CI on a real slowdown.")
    excel.write_text(excel.read_text().replace(SLOW_COMMIT[1], SLOW_COMMIT[0]))  # revert it
    return caught


def codemod_step(
    project: Path, server: FakeLLMServer, before: RunRecord, before_wall: float
) -> tuple[float, float]:
    """Rewrite the tests from step 1's data; returns (wall before, wall after) with step 1's
    flags, so only the codemods differ."""
    data = ".optikit/before-optikit.json"
    write_run_record(project / data, before)
    slow_seconds = 2.0
    for args in (
        ("replace-tmp",),
        ("rescope", "--data", data),
        ("mark-slow", "--data", data, "--threshold", str(slow_seconds)),
    ):
        console.print(
            f"[bold]$ optikit codemod {' '.join(args)} --apply[/]", highlight=False, soft_wrap=True
        )
        done = run(project, server, "optikit", "codemod", *args, "--apply")
        console.print(done.stdout.rstrip(), markup=False, highlight=False)
        if done.returncode != 0:
            console.print(done.stderr, markup=False)
            raise SystemExit("A codemod failed on the example suite; that is a bug in the demo.")
    wall, after = tracked_run(
        project,
        server,
        "pytest --track-performance --no-fixture-cache (after the codemods) ...",
        "--no-fixture-cache",
        "--no-llm-cassettes",
        "--performance-no-history",
    )
    table = Table(
        "fixture", "setups before", "s before", "setups after", "s after", title_justify="left"
    )
    now = {f["name"]: f for f in after["fixtures"]}
    for fixture in before["fixtures"][:4]:
        later = now.get(fixture["name"], {"setups": 0, "total": 0.0})
        table.add_row(
            fixture["name"],
            str(fixture["setups"]),
            f"{fixture['total']:.2f}",
            str(later["setups"]),
            f"{later['total']:.2f}",
        )
    console.print(table)
    slow = sum(t["duration"] > slow_seconds for t in before["tests"])
    console.print(
        f"Run as in step 1 (no cache, live model), the rewritten suite took [bold]{wall:.1f} s[/] "
        f"instead of {before_wall:.1f} s. The export test writes to its own tmp_path now, and "
        f'{slow} test(s) over {slow_seconds:.0f} s are marked slow, so `pytest -m "not slow"` '
        "leaves them out of the quick loop. The /tmp report pair is left for the flake audit."
    )
    return before_wall, wall


AUDITED = ("tests/test_units.py", "tests/test_reports.py")
VICTIM = "tests/test_units.py::test_unknown_units_pass_through"
POLLUTER = "tests/test_units.py::test_register_imperial_alias"


def audit_step(project: Path, server: FakeLLMServer) -> bool:
    """The audit, then mark-serial from its report; True when the planted pair was found."""
    command = ("optikit", "audit-parallel", *AUDITED, "--runs", "3", "-n", "2")
    with console.status(f"{' '.join(command)} (3 runs, then culprit searches) ..."):
        audit = run(project, server, *command)
    console.print(audit.stdout.rstrip(), markup=False, highlight=False, soft_wrap=True)
    if audit.returncode != 0:
        console.print(audit.stderr, markup=False)
        raise SystemExit("The audit failed on the example suite; that is a bug in the demo.")
    report = json.loads((project / ".optikit" / "audit.json").read_text())
    victim = report["tests"].get(VICTIM, {})
    found = victim.get("classification") == "order_dependent" and POLLUTER in victim["polluters"]
    console.print("[bold]$ optikit codemod mark-serial --apply[/]", highlight=False, soft_wrap=True)
    marked = run(project, server, "optikit", "codemod", "mark-serial", "--apply")
    console.print(marked.stdout.rstrip(), markup=False, highlight=False)
    verdict = "[bold green]found[/]" if found else "[bold red]missed[/]"
    console.print(
        f"The audit {verdict} the planted pair: {escape(VICTIM)} fails after "
        f"{escape(POLLUTER)}. The serial tests now run one at a time under pytest -n."
    )
    return found


def main() -> int:
    # Kept afterwards: the baseline, history, audit report and cassettes the steps mention
    # are there to inspect.
    project = Path(tempfile.mkdtemp(prefix="optikit-demo-")) / "clinic"
    shutil.copytree(
        EXAMPLE,
        project,
        ignore=shutil.ignore_patterns(".optikit", ".test_cache", ".*.json", "__pycache__"),
    )
    with FakeLLMServer(clinic_responder, latency=DEFAULT_LATENCY) as server:
        console.rule("[bold]1. Measure: the clinic suite as it ran before optikit")
        wall, record = tracked_run(
            project,
            server,
            "pytest --track-performance --no-fixture-cache ...",
            "--no-fixture-cache",
            "--no-llm-cassettes",
            "--performance-no-history",
        )
        show_measurements(wall, record, server)
        llm_calls = sum(server.counts().values())
        console.rule("[bold]2. Cache: data fixtures from disk, datasets on demand")
        speedup, warm = cache_step(project, server, record)
        console.rule("[bold]3. Replay: recorded LLM calls instead of the model")
        fast_wall, llm_saved = replay_step(project, server, warm)
        console.rule("[bold]4. Gate: a baseline, a slow commit, and the regression gate")
        caught = gate_step(project, server)
        console.rule("[bold]5. Codemods: the fixes written into the tests")
        _, rewritten_wall = codemod_step(project, server, record, wall)
        console.rule("[bold]6. Audit: order-dependent and parallel-unsafe tests")
        audited = audit_step(project, server)
    console.rule("[bold]Summary")
    hot = record["fixtures"][0] if record["fixtures"] else None
    if hot is not None:
        console.print(
            f"- fixture [bold]{hot['name']}[/] ({hot['scope']} scope) cost "
            f"{hot['total']:.1f} s over {hot['setups']} setups"
        )
    console.print(f"- the suite took {wall:.1f} s and waited on {llm_calls} LLM calls")
    console.print(f"- a warm fixture cache set the data fixtures up {speedup:.0f}x faster")
    console.print(f"- replaying the recorded LLM calls saved {llm_saved:.1f} s of test time")
    console.print(
        f"- [bold]the whole suite: {wall:.1f} s before, {fast_wall:.1f} s after "
        f"({wall / fast_wall:.1f}x faster)[/]"
    )
    console.print(f"- the regression gate {'caught' if caught else 'missed'} the slow commit")
    console.print(
        f"- the codemods alone (no cache, live model): {wall:.1f} s before, "
        f"{rewritten_wall:.1f} s after"
    )
    console.print(
        f"- the flake audit {'found' if audited else 'missed'} the order-dependent pair "
        "and its polluter"
    )
    console.print(
        f"The demo's project is kept in {project} (baseline, history, audit report, "
        "cassettes); delete it when done.",
        soft_wrap=True,
        markup=False,
    )
    return 0 if caught and audited else 1


if __name__ == "__main__":
    raise SystemExit(main())
