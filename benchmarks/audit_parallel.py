"""What ``optikit audit-parallel`` costs over plain runs, and what it finds in a planted suite.

1. Orchestration overhead: ``audit-parallel --runs N -n 2`` on a clean generated suite
   against N plain ``pytest -p randomly -n 2`` runs of the same suite, in alternating pairs;
   the audit's run phase (its ``seconds.runs``) against the plain runs' wall time.
   Target: at most 10% more. The culprit searches are reported separately (none here).
2. Detection and time: the planted suite of ``tests/planted_suite`` plus quick tests up to
   about 100 (a suite that runs in about a second), audited with ``--runs N -n 2``: each
   planted case against its expected class and culprit, every printed reproducer's rate, and
   the audit's wall time against N plain ``pytest -n 2`` runs of the same suite (target:
   under 2 minutes for 20 runs, culprits and reproducers included).

    python benchmarks/audit_parallel.py [--runs 20] [--pairs 2] [--tests 200]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLANTED = Path(__file__).resolve().parent.parent / "tests" / "planted_suite"
P = "test_pollution.py::"
RACE = "test_race.py::"
CACHES = [P + "test_cache_a", P + "test_cache_b"]
CHAIN = [P + "test_chain_first", P + "test_chain_second"]
EXPECTED = {
    P + "test_price_in_usd": ("order_dependent", [P + "test_set_currency"], []),
    P + "test_cache_starts_empty": ("order_dependent", CACHES, []),
    P + "test_chain_victim": ("order_dependent", CHAIN, []),
    P + "test_needs_registry": ("order_dependent", [], [P + "test_setup_registry"]),
    "test_nondeterministic.py::test_every_other_run": ("flaky", [], []),
    "test_nondeterministic.py::test_sampled_discount": ("flaky", [], []),
    RACE + "test_race_writer_a": ("parallel_unsafe", [RACE + "test_race_writer_b"], []),
    RACE + "test_race_writer_b": ("parallel_unsafe", [RACE + "test_race_writer_a"], []),
}  # fmt: skip


def audit(project: Path, runs: int) -> dict:
    subprocess.run(
        [sys.executable, "-m", "optikit", "audit-parallel", "--runs", str(runs), "-n", "2"],
        cwd=project,
        capture_output=True,
        check=False,
    )
    return json.loads((project / ".optikit" / "audit.json").read_text())


def plain_runs(project: Path, runs: int) -> float:
    started = time.perf_counter()
    for index in range(runs):
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
             "-p", "randomly", f"--randomly-seed={index + 1}"],
            cwd=project,
            capture_output=True,
            check=False,
        )  # fmt: skip
    return time.perf_counter() - started


def overhead(runs: int, pairs: int, tests: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch)
        (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
        body = "".join(
            f"def test_{n}():\n    assert sum(range({n % 50} * 100)) >= 0\n\n" for n in range(tests)
        )
        (project / "test_generated.py").write_text(body)
        print(f"1. overhead: {tests} tests, {runs} runs per side, {pairs} pairs, -n 2")
        for pair in range(pairs):
            plain = plain_runs(project, runs)
            report = audit(project, runs)
            run_phase = report["seconds"]["runs"]
            rest = report["seconds"].get("targeted_runs", 0) + report["seconds"].get(
                "classifying", 0
            )
            print(
                f"   pair {pair + 1}: plain {plain:.1f} s, audit runs {run_phase:.1f} s "
                f"({run_phase / plain - 1:+.1%}); culprit searches {rest:.1f} s"
            )


def detection(runs: int, size: int = 100) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch) / "planted"
        shutil.copytree(PLANTED, project)
        (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
        quick = size - 16  # the planted suite has 16 tests
        body = "def test_quick_{0}():\n    assert str({0}).isdigit()\n\n"
        (project / "test_quick.py").write_text("".join(map(body.format, range(quick))))
        started = time.perf_counter()
        for _ in range(runs):
            subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2"],
                cwd=project,
                capture_output=True,
                check=False,
            )
        plain = time.perf_counter() - started
        (project / "every_other.count").unlink(missing_ok=True)
        started = time.perf_counter()
        report = audit(project, runs)
        wall = time.perf_counter() - started
        phases = ", ".join(f"{k} {v:.0f} s" for k, v in report["seconds"].items())
        print(
            f"2. detection: planted suite + {quick} quick tests, {runs} runs, -n 2: {wall:.0f} s "
            f"({wall / plain:.1f}x {runs} plain runs' {plain:.0f} s; {phases}), "
            f"{report['probes']} probes"
        )
        right = 0
        for nodeid, (kind, polluters, setters) in EXPECTED.items():
            test = report["tests"].get(nodeid, {"classification": "stable"})
            culprits = sorted(test.get("polluters", [])), test.get("state_setters", [])
            ok = (test["classification"], *culprits) == (kind, sorted(polluters), setters)
            right += ok
            print(
                f"   {'ok ' if ok else 'BAD'} {nodeid}: {test['classification']} "
                f"(reproducer failed {test.get('reproduced') or '-'})"
            )
        false = [
            n
            for n, t in report["tests"].items()
            if n not in EXPECTED and t["classification"] != "stable"
        ]
        print(f"   {right}/{len(EXPECTED)} planted cases right; false findings: {false or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--tests", type=int, default=200)
    options = parser.parse_args()
    overhead(options.runs, options.pairs, options.tests)
    detection(options.runs)


if __name__ == "__main__":
    main()
