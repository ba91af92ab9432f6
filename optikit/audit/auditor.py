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

import os
import shlex
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from typing_extensions import NotRequired, TypedDict  # pydantic needs its TypedDict before 3.12

from optikit.audit.classify import REST, Finding, Observation, Prober, classify
from optikit.audit.runs import PYTHON, ProbeServers, Pytest, RunResult, RunSpec
from optikit.audit.stats import clean_bound, wilson
from optikit.errors import OptikitError

SCHEMA_VERSION = 1
SIDE_BY_SIDE = 5  # side-by-side runs of the tests that wrote one file, until one fails
MAX_RACERS = 8  # of the tests that wrote one file, this many run side by side
TRIES = 3  # runs of each printed reproducer, by the audit, before it is printed


class ReportedTest(TypedDict):
    """The part of a test's entry in audit.json that other commands read (mark-serial)."""

    classification: str
    polluters: list[str]
    state_setters: list[str]
    reproduce: NotRequired[str]
    leaves: NotRequired[dict[str, Any]]  # what it changed and left so (fix-pollution)


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
    running: list[str] = field(default_factory=list)  # still running when the audit stopped
    probes: int = 0
    forked: int = 0  # probes and targeted runs forked from a probe server
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per phase
    reproduced: dict[str, tuple[int, int]] = field(default_factory=dict)  # command: fails, tries
    extra: tuple[str, ...] = ()  # the pytest arguments every run and reproducer carries
    victim: str | None = None  # --victim: the one test explained

    def observations(self, targeted: bool = True) -> dict[str, list[Observation]]:
        """Each test's runs; ``targeted=False`` leaves out the evidence-driven ones, which
        are not a sample of the suite and stay out of the statistics."""
        seen: dict[str, list[Observation]] = {}
        for result in (*self.results, *(self.targeted if targeted else ())):
            count = len(result.workers)
            for tests in result.workers.values():
                ids = tuple(t for t, _ in tests)
                for position, (nodeid, outcome) in enumerate(tests):
                    observation = Observation(outcome, result.spec.data_seed, ids, position, count)
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


def leaves(found: dict[str, Any]) -> dict[str, Any]:
    """A test's evidence as ``optikit codemod fix-pollution`` reads it: each module value
    with its value, module, file and type; environment variables (``null``: removed); the
    working directory; files written outside tmp dirs."""
    where = found.get("state_of", {})
    state = {
        name: {"value": value, **where.get(name, {})}
        for name, value in found.get("state", {}).items()
    }
    rest = {k: v for k, v in found.items() if k not in ("state", "state_of")}
    return {"state": state, **rest} if state else rest


Progress = Callable[[str, AuditState], None]
PHASES = {
    "runs": "running the suite",
    "targeted_runs": "following the evidence",
    "classifying": "classifying",
    "reproducers": "running the reproducers",
}


class Terminated(KeyboardInterrupt):
    """SIGTERM (what CI sends on cancel), stopping the audit as cleanly as Ctrl-C does."""


def run_audit(
    pytest: Pytest,
    *,
    runs: int,
    workers: str | int,
    seed: int,
    progress: Progress,
    save: Callable[[AuditState], None],
    victim: str | None = None,
) -> AuditState:
    """``pytest.deadline`` bounds the whole audit; whatever is known by then is kept.

    After each run, the new evidence is followed and the new failures are explained; a test
    once explained is deselected from the runs that follow (unless it is the culprit of
    something or left evidence: it must keep polluting, or its victims never fail again), so
    the budget goes to what is still unknown. With ``victim``, only that test is explained,
    from probes alone (what detect-test-pollution does).
    """
    state = AuditState(workers, extra=pytest.extra, victim=victim)
    followed: set[object] = set()
    # probes run side by side on at most two cores (Prober.side_by_side says when)
    servers = ProbeServers(pytest, size=2)
    prober = Prober(partial(_probe, servers))
    phase = "runs" if victim is None else "classifying"  # PHASES has it in words
    started = time.perf_counter()

    def enter(next_phase: str) -> None:
        """Book the time since the last phase began to it, and begin ``next_phase``."""
        nonlocal started, phase
        now = time.perf_counter()
        state.seconds[phase] = round(state.seconds.get(phase, 0.0) + now - started, 3)
        started, phase = now, next_phase

    try:
        if victim is not None:
            enter("classifying")
            _explain_victim(state, servers, prober, victim, seed, runs)
            enter("reproducers")
            _reproduce(pytest, state)
        for index in range(runs if victim is None else 0):
            enter("runs")
            order_seed = None if index == 0 else seed + index
            spec = RunSpec(order_seed, seed + index, workers, deselect=_settled(state))
            result = pytest.run(spec)
            state.seeds.append(order_seed)
            state.results.append(result)
            save(state)
            if index == 0:
                _check_runnable(result)
            progress("run", state)
            enter("targeted_runs")
            _follow_evidence(servers, state, seed, followed)
            enter("classifying")
            _classify(state, prober, progress)
            enter("reproducers")
            _reproduce(pytest, state)
            save(state)
    except TimeoutError as stopped:
        state.running = list(stopped.args[0]) if stopped.args else []
        state.stopped = (
            f"--max-time reached while {PHASES[phase]} ({len(state.results)} of {runs} runs)"
        )
        if state.running:
            state.stopped += f"; still running then: {', '.join(state.running)}"
    except Terminated:
        state.stopped = f"terminated (SIGTERM) while {PHASES[phase]}"
    except KeyboardInterrupt:
        state.stopped = f"interrupted (Ctrl-C) while {PHASES[phase]}"
    finally:
        servers.close()
        enter(phase)
        state.probes, state.forked = prober.count, servers.forked
    save(state)
    return state


def _check_runnable(first: RunResult) -> None:
    """A suite that cannot be collected, or has no tests, is not a clean suite: stop."""
    if first.crash is not None and not first.outcomes():
        raise OptikitError(
            f"pytest could not run the suite ({first.crash}); fix that, then audit again"
        )
    if not first.outcomes():
        raise OptikitError(
            f"pytest collected no tests (exit {first.exitstatus}); check the paths and "
            "the -k/-m arguments given after --"
        )


def _settled(state: AuditState) -> tuple[str, ...]:
    """Tests explained already, which need no more runs: not the culprits of anything,
    and not tests that left evidence (they may be the polluters of a victim not yet seen)."""
    culprits = {t for f in state.findings.values() for t in _culprits(f)}
    evidence = state.evidence()
    return tuple(sorted(t for t in state.findings if t not in culprits and t not in evidence))


def _probe(servers: ProbeServers, sequence: Sequence[str], data_seed: int) -> dict[str, str]:
    return servers.run(RunSpec(None, data_seed, 0, tuple(sequence))).outcomes()


def _follow_evidence(
    servers: ProbeServers, state: AuditState, seed: int, followed: set[object]
) -> None:
    """Targeted runs where the evidence points, which random orders reach only by luck;
    each lead is followed once (``followed``). Every test that leaked state runs first, in
    one process, before the rest of the suite in its own order (one run however many
    leaked: delta debugging then names the one that matters), and once more after it (a
    brittle test that needs their state fails there); the tests that wrote one file run
    side by side on two workers."""
    evidence = state.evidence()
    # A lead is what leaked (a module value's name, a variable, the cwd), not who leaked it:
    # once one run has put a cache's writers first, more tests filling the same cache in
    # later orders are no new lead (structlog: 10 runs of 2 whole-suite runs each, before).
    leads = {nodeid: _leaks(found) - followed for nodeid, found in evidence.items()}
    leakers = [nodeid for nodeid, new in leads.items() if new]
    if leakers:
        followed.update(*leads.values())
        state.targeted.append(servers.run(RunSpec(None, seed, 0, (*leakers, REST))))
        # and last: a brittle test that needs a leaker's state first fails before them
        state.targeted.append(servers.run(RunSpec(None, seed, 0, (REST, *leakers))))
    groups = {
        tuple(sorted(set(t))[:MAX_RACERS])
        for t in file_writers(evidence).values()
        if len(set(t)) > 1
    }
    for tests in sorted(groups - followed):
        followed.add(tests)
        for _ in range(SIDE_BY_SIDE):
            result = servers.run(RunSpec(None, seed, 2, tests))
            state.targeted.append(result)
            if result.failed():
                break


def _leaks(found: dict[str, Any]) -> set[object]:
    names = {*found.get("state", {}), *(f"${key}" for key in found.get("env", {}))}
    return names | ({"the working directory"} if "cwd" in found else set())


def _explain_victim(
    state: AuditState, servers: ProbeServers, prober: Prober, victim: str, seed: int, orders: int
) -> None:
    """``--victim``: run the suite in one process with the victim last, in the suite's own
    order and then in up to ``orders - 1`` shuffled ones, until it fails; then explain it
    from that run like any failure (alone, replayed, delta debugging over what ran first)."""
    for index in range(orders):
        order_seed = None if index == 0 else seed + index
        result = servers.run(RunSpec(order_seed, seed, 0, (REST, victim)))
        if index == 0:
            _check_runnable(result)
            if victim not in result.outcomes():
                raise OptikitError(
                    f"{victim} is not a test pytest collects here; give its node id as "
                    "`pytest --collect-only -q` prints it"
                )
        state.targeted.append(result)
        ran = list(result.outcomes())
        prober.remember(ran[: ran.index(victim) + 1], seed, result.outcomes())
        if victim in result.failed():
            _classify(state, prober, lambda event, state: None, only=victim)
            return


def _classify(
    state: AuditState, prober: Prober, progress: Progress, only: str | None = None
) -> None:
    writers = file_writers(state.evidence())
    prober.side_by_side = 1 if writers else min(os.cpu_count() or 1, 2)
    # Only files cross processes: environment and module state stay inside one worker.
    partners: dict[str, set[str]] = {}
    for tests in writers.values():
        for test in tests:
            partners.setdefault(test, set()).update(t for t in tests if t != test)
    observed = state.observations()
    prober.last = sorted(
        nodeid
        for nodeid, seen in observed.items()
        if nodeid not in state.findings and all(o.outcome == "failed" for o in seen)
    )
    for nodeid, seen in sorted(observed.items()):
        if not any(o.outcome == "failed" for o in seen) or nodeid in state.findings:
            continue
        if only is not None and nodeid != only:
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


def reproducer(nodeid: str, finding: Finding | None, extra: Sequence[str] = ()) -> str:
    """The shell command that shows the finding, run from the project root; the audit runs
    each one before printing it (``_reproduce``)."""
    if finding is None:
        return ""
    if finding.classification == "parallel_unsafe":
        side_by_side = sorted({nodeid, *finding.polluters})
        return shell_command(["-p", "no:randomly", "-n", "2", *side_by_side, *extra])
    tests = [*finding.polluters, nodeid]
    if finding.data_seed is not None:  # its outcome follows the random data
        tests.insert(0, f"--audit-data-seed={finding.data_seed}")
    return shell_command(["-p", "no:randomly", "-p", "no:xdist", *tests, *extra])


def shell_command(arguments: Sequence[str]) -> str:
    return shlex.join([PYTHON, "-m", "pytest", *arguments])


def _reproduce(pytest: Pytest, state: AuditState) -> None:
    """Run every reproducer the report will print, exactly as printed, ``TRIES`` times, and
    keep how often it showed the failure. A failing or order-dependent test whose reproducer
    does not fail every time is flaky after all."""
    writers = {t for tests in file_writers(state.evidence()).values() for t in tests}
    todo: dict[str, tuple[str, Finding]] = {}
    for nodeid, finding in sorted(state.findings.items()):
        command = reproducer(nodeid, finding, pytest.extra)
        if command not in state.reproduced:
            todo.setdefault(command, (nodeid, finding))
    # Every try of every reproducer side by side, except those of a race (xdist's two
    # workers take both cores) or of tests that write a file another could see: each try is
    # its own process, so only files could make two interfere.
    alone = [
        c
        for c, (nodeid, finding) in todo.items()
        if finding.classification == "parallel_unsafe" or writers & {nodeid, *_culprits(finding)}
    ]
    together = [c for c in todo if c not in alone for _ in range(TRIES)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        runs = list(zip(together, pool.map(pytest.reproduce, together), strict=True))
    runs += [(c, pytest.reproduce(c)) for c in alone for _ in range(TRIES)]
    for command, (nodeid, finding) in todo.items():
        race = finding.classification == "parallel_unsafe"
        watched = {nodeid, *finding.polluters} if race else {nodeid}
        tries = [outcomes for c, outcomes in runs if c == command]
        failures = sum(any(o.get(t) == "failed" for t in watched) for o in tries)
        state.reproduced[command] = (failures, TRIES)
        if finding.classification in CONSISTENT and failures < TRIES:
            finding.why = f"{finding.why}; but its reproducer failed only {failures}/{TRIES}"
            finding.classification = "flaky"  # the culprits stay: its reproducer names them


CONSISTENT = frozenset({"failing", "order_dependent"})
"""Classes whose reproducer must fail every time it runs."""


def _culprits(finding: Finding | None) -> list[str]:
    return [*finding.polluters, *finding.state_setters] if finding else []


def report(state: AuditState) -> dict[str, Any]:
    """DESIGN.md's audit report, plus statistics and what stopped the audit early. Per-test
    detail is kept for the tests that failed, were explained or left evidence; the others
    are only counted (``stable``), so the report of a large clean suite stays small."""
    evidence = state.evidence()
    shared = shared_resources(evidence)
    tests: dict[str, Any] = {}
    complete = [r for r in state.results if r.crash is None]
    sampled = state.observations(targeted=False)
    observed = state.observations()
    stable = 0
    for nodeid in sorted({*observed, *state.findings, *state.running}):
        if state.victim is not None and nodeid != state.victim:
            continue  # --victim: the other tests that failed on the way were not asked about
        audited = sampled.get(nodeid, [])
        failures = sum(o.outcome == "failed" for o in audited)
        finding = state.findings.get(nodeid)
        failed_somewhere = any(o.outcome == "failed" for o in observed.get(nodeid, []))
        if finding is None and not failed_somewhere and nodeid not in state.running:
            stable += 1
            if nodeid not in shared:
                continue
        if finding is not None:
            classification = finding.classification
        else:
            unexplained = failed_somewhere or nodeid in state.running
            classification = "unclassified" if unexplained else "stable"
        low, high = wilson(failures, len(audited))
        command = reproducer(nodeid, finding, state.extra)
        fails, tries = state.reproduced.get(command, (0, 0))
        why = finding.why if finding else ""
        if nodeid in state.running:
            why = "still running when the audit stopped (hangs, or slower than --max-time allows)"
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
            "leaves": leaves(evidence.get(nodeid, {})),
            "why": why,
            "reproduce": command,
            "reproduced": f"{fails}/{tries}" if tries else "",
        }
    with_failure = sum(bool(r.failed()) for r in complete)
    return {
        "schema_version": SCHEMA_VERSION,
        "runs": len(state.results),
        "victim": state.victim,
        "orders_tried": len(state.targeted) if state.victim else None,
        "seeds": state.seeds,
        "workers": state.workers,
        "suite": {
            "tests": len(observed),
            "stable": stable,
            "runs_with_a_failure": with_failure,
            "fraction": with_failure / len(complete) if complete else 0.0,
            "clean_run_bound_95": round(clean_bound(len(complete)), 4),
        },
        "crashes": [{"seed": r.spec.order_seed, "why": r.crash} for r in state.results if r.crash],
        "probes": state.probes,
        "forked_runs": state.forked,
        "seconds": state.seconds,
        "partial": state.stopped is not None,
        "stopped": state.stopped,
        "tests": tests,
    }
