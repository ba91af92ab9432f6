"""``optikit audit-parallel``: run the suite many times under xdist and in shuffled orders,
then explain every test that failed (``audit_classify``), with evidence and a reproducer.

Run 0 keeps the suite's own order (what ``pytest -n auto`` does in CI); later runs shuffle
with new order seeds. After each run, new failures are explained and then left out of the
runs that follow. The data seed (what ``random`` and numpy are reseeded with before each
test) is separate from the order seed. Targeted runs follow the evidence: a test that leaked
state runs first, before everything else, once; two tests on different workers that wrote
the same file run side by side on two workers. The report is rewritten after every run, so
an audit stopped by --max-time, Ctrl-C or a crash keeps what it had.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from typing_extensions import TypedDict  # pydantic needs its TypedDict before 3.12

from optikit.audit.classify import Finding, Observation, Prober, classify
from optikit.audit.runs import Pytest, RunResult, RunSpec
from optikit.audit.stats import clean_bound, wilson

SCHEMA_VERSION = 1
SIDE_BY_SIDE = 5


class ReportedTest(TypedDict):
    """The part of a test's entry in audit.json that other commands read (mark-serial)."""

    classification: str
    polluters: list[str]
    state_setters: list[str]


class AuditReport(TypedDict):
    """audit.json's schema as its readers check it; ``report()`` writes the full form."""

    schema_version: Literal[1]
    tests: dict[str, ReportedTest]


@dataclass
class AuditState:
    """Everything an audit knows so far; ``report()`` turns it into DESIGN's audit.json."""

    workers: str | int
    seeds: list[int | None] = field(default_factory=list)
    results: list[RunResult] = field(default_factory=list)
    targeted: list[RunResult] = field(default_factory=list)
    findings: dict[str, Finding] = field(default_factory=dict)
    stopped: str | None = None
    probes: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per phase

    def observations(self, targeted: bool = True) -> dict[str, list[Observation]]:
        """Each test's runs; ``targeted=False`` leaves out the evidence-driven ones, which
        are not a sample of the suite and stay out of the statistics."""
        seen: dict[str, list[Observation]] = {}
        for result in (*self.results, *(self.targeted if targeted else ())):
            count = len(result.workers)
            for tests in result.workers.values():
                ids = [t for t, _ in tests]
                for position, (nodeid, outcome) in enumerate(tests):
                    observation = Observation(
                        outcome, result.spec.data_seed, tuple(ids[:position]), count
                    )
                    seen.setdefault(nodeid, []).append(observation)
        return seen

    def evidence(self) -> dict[str, dict[str, Any]]:
        merged: dict[str, dict[str, Any]] = {}
        for result in (*self.results, *self.targeted):
            for nodeid, found in result.evidence.items():
                mine = merged.setdefault(nodeid, {})
                for key, value in found.items():
                    if key == "files":
                        mine["files"] = sorted({*mine.get("files", []), *value})
                    elif isinstance(value, dict):
                        mine.setdefault(key, {}).update(value)
                    else:
                        mine[key] = value
        return merged


def file_writers(evidence: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Each path written outside tmp dirs, and the tests that wrote it."""
    writers: dict[str, list[str]] = {}
    for nodeid, found in evidence.items():
        for path in found.get("files", []):
            writers.setdefault(path, []).append(nodeid)
    return writers


def shared_resources(evidence: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """For each test, the resources it shares with others, in words."""
    shared: dict[str, list[str]] = {}
    setters: dict[str, list[str]] = {}
    for nodeid, found in evidence.items():
        for key in found.get("env", {}):
            setters.setdefault(key, []).append(nodeid)
    for path, tests in file_writers(evidence).items():
        if len(tests) > 1:
            for test in tests:
                partners = ", ".join(t for t in tests if t != test)
                shared.setdefault(test, []).append(f"both write {path} (with {partners})")
    for key, tests in setters.items():
        for test in tests:
            others = [t for t in tests if t != test]
            tail = f" (so does {', '.join(others)})" if others else ""
            shared.setdefault(test, []).append(f"sets environment variable {key}{tail}")
    for nodeid, found in evidence.items():
        for name, value in found.get("state", {}).items():
            shared.setdefault(nodeid, []).append(f"leaves {name} = {value}")
        if "cwd" in found:
            shared.setdefault(nodeid, []).append(f"leaves the working directory at {found['cwd']}")
    return shared


Progress = Callable[[str, AuditState], None]


def run_audit(
    pytest: Pytest,
    *,
    runs: int,
    workers: str | int,
    seed: int,
    progress: Progress,
    save: Callable[[AuditState], None],
) -> AuditState:
    """``pytest.deadline`` bounds the whole audit; whatever is known by then is kept.

    After each run, the new evidence is followed and the new failures are explained; a test
    once explained is deselected from the runs that follow, so the budget goes to what is
    still unknown.
    """
    state = AuditState(workers)
    followed: set[object] = set()
    prober = Prober(partial(_probe, pytest))
    phase = "running the suite"
    started = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal started
        now = time.perf_counter()
        state.seconds[name] = round(state.seconds.get(name, 0.0) + now - started, 3)
        started = now

    try:
        for index in range(runs):
            phase = "running the suite"
            order_seed = None if index == 0 else seed + index
            known = tuple(sorted(state.findings))
            result = pytest.run(RunSpec(order_seed, seed + index, workers, deselect=known))
            state.seeds.append(order_seed)
            state.results.append(result)
            save(state)
            progress("run", state)
            lap("runs")
            phase = "following the evidence"
            _follow_evidence(pytest, state, seed, followed)
            lap("targeted_runs")
            phase = "classifying"
            _classify(state, prober, progress)
            lap("classifying")
            save(state)
    except TimeoutError:
        state.stopped = f"--max-time reached while {phase} ({len(state.results)} of {runs} runs)"
    except KeyboardInterrupt:
        state.stopped = f"interrupted (Ctrl-C) while {phase}"
    save(state)
    return state


def _probe(pytest: Pytest, sequence: Sequence[str], data_seed: int) -> dict[str, str]:
    return pytest.run(RunSpec(None, data_seed, 0, tuple(sequence))).outcomes()


def _follow_evidence(pytest: Pytest, state: AuditState, seed: int, followed: set[object]) -> None:
    """Targeted runs where the evidence points, which random orders reach only by luck;
    each lead is followed once (``followed``)."""
    evidence = state.evidence()
    everything = list(_suite_order(state))
    for nodeid, found in evidence.items():
        if (found.get("state") or found.get("env") or found.get("cwd")) and nodeid not in followed:
            followed.add(nodeid)
            rest = [t for t in everything if t != nodeid]
            state.targeted.append(pytest.run(RunSpec(None, seed, 0, (nodeid, *rest))))
    pairs = {tuple(sorted(set(t))) for t in file_writers(evidence).values() if len(set(t)) == 2}
    for tests in pairs - followed:
        followed.add(tests)
        for _ in range(SIDE_BY_SIDE):
            result = pytest.run(RunSpec(None, seed, 2, tests))
            state.targeted.append(result)
            if result.failed():
                break


def _suite_order(state: AuditState) -> Sequence[str]:
    """The suite's own order, from run 0 (its workers' sequences, in turn)."""
    if not state.results:
        return []
    first = state.results[0]
    return [t for tests in first.workers.values() for t, _ in tests]


def _classify(state: AuditState, prober: Prober, progress: Progress) -> None:
    # Only files cross processes: environment and module state stay inside one worker.
    partners: dict[str, set[str]] = {}
    for tests in file_writers(state.evidence()).values():
        for test in tests:
            partners.setdefault(test, set()).update(t for t in tests if t != test)
    for nodeid, seen in sorted(state.observations().items()):
        if not any(o.outcome == "failed" for o in seen) or nodeid in state.findings:
            continue
        finding = classify(nodeid, seen, prober, bool(partners.get(nodeid)))
        state.findings[nodeid] = finding
        if finding.classification == "parallel_unsafe":
            _name_the_race(state, nodeid, sorted(partners[nodeid]))
        state.probes = prober.count
        progress("classified", state)


def _name_the_race(state: AuditState, loser: str, racers: list[str]) -> None:
    """A race has two sides: whichever test lost this time, the tests it shares files with
    are parallel-unsafe too, and each names the others (so mark-serial marks them all)."""
    state.findings[loser].polluters = racers
    for racer in racers:
        known = state.findings.get(racer)
        if known is None:
            why = f"races with {loser} on a file both write"
            state.findings[racer] = Finding("parallel_unsafe", polluters=[loser], why=why)
        elif known.classification == "parallel_unsafe" and loser not in known.polluters:
            known.polluters.append(loser)


def reproducer(nodeid: str, finding: Finding | None, state: AuditState) -> str:
    plain = "pytest -p no:randomly -p no:xdist"
    if finding is None:
        return ""
    if finding.classification == "order_dependent" and finding.polluters:
        return f"{plain} {' '.join(finding.polluters)} {nodeid}"
    if finding.classification == "order_dependent":
        return f"{plain} {nodeid}  # fails; passes after: {' '.join(finding.state_setters)}"
    if finding.classification == "parallel_unsafe":
        for result in (*state.results, *state.targeted):
            if nodeid in result.failed() and len(result.workers) > 1:
                spec = result.spec
                order = "-p no:randomly"
                if spec.order_seed is not None:
                    order += f" --audit-shuffle={spec.order_seed}"
                targets = " ".join(spec.sequence)
                return f"pytest -n {spec.workers} {order} {targets}".rstrip()
        side_by_side = " ".join(sorted([nodeid, *finding.polluters]))
        return f"pytest -n 2 -p no:randomly {side_by_side}  # repeat until one fails"
    return f"{plain} {nodeid}"


def _culprits(finding: Finding | None) -> list[str]:
    return [*finding.polluters, *finding.state_setters] if finding else []


def report(state: AuditState) -> dict[str, Any]:
    """DESIGN.md's audit report, plus statistics and what stopped the audit early."""
    evidence = state.evidence()
    shared = shared_resources(evidence)
    tests: dict[str, Any] = {}
    complete = [r for r in state.results if r.crash is None]
    sampled = state.observations(targeted=False)
    for nodeid in sorted(state.observations()):
        audited = sampled.get(nodeid, [])
        failures = sum(o.outcome == "failed" for o in audited)
        finding = state.findings.get(nodeid)
        if finding is not None:
            classification = finding.classification
        else:
            classification = "stable" if failures == 0 else "unclassified"
        low, high = wilson(failures, len(audited))
        tests[nodeid] = {
            "runs": len(audited),
            "failures": failures,
            "failure_rate": failures / len(audited) if audited else 0.0,
            "failure_rate_95": [round(low, 4), round(high, 4)],
            "classification": classification,
            "polluters": finding.polluters if finding else [],
            "state_setters": finding.state_setters if finding else [],
            "evidence": [
                *shared.get(nodeid, []),
                *(
                    f"{culprit} {item}"
                    for culprit in _culprits(finding)
                    for item in shared.get(culprit, [])
                ),
            ],
            "why": finding.why if finding else "",
            "reproduce": reproducer(nodeid, finding, state),
        }
    with_failure = sum(bool(r.failed()) for r in complete)
    return {
        "schema_version": SCHEMA_VERSION,
        "runs": len(state.results),
        "seeds": state.seeds,
        "workers": state.workers,
        "suite": {
            "runs_with_a_failure": with_failure,
            "fraction": with_failure / len(complete) if complete else 0.0,
            "clean_run_bound_95": round(clean_bound(len(complete)), 4),
        },
        "crashes": [{"seed": r.spec.order_seed, "why": r.crash} for r in state.results if r.crash],
        "probes": state.probes,
        "seconds": state.seconds,
        "partial": state.stopped is not None,
        "stopped": state.stopped,
        "tests": tests,
    }
