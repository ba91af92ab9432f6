"""Why a test failed: classification by re-running it alone and after what ran before it,
and delta debugging for the tests that cause it.

Every probe is one fresh pytest process running an exact sequence (``Probe``), so this
module is plain logic over outcomes and is unit-tested with fake probes. The rules:

- fails alone every time, never passed in the audit, and fails after the rest of the suite
  too (one run, so a test that needs another test first is not called failing after one
  unlucky order): ``failing``;
- passes again alone with the data seed of a run it passed in: ``flaky`` (its outcome
  follows the random data, not the order); any finding whose reproducer, run several times
  by the auditor, does not fail every time: ``flaky`` too;
- passes alone but fails after the tests its worker ran before it: ``order_dependent``, with
  the polluters found by delta debugging (ddmin) over that prefix; again on what is left
  after removing them, until the prefix no longer fails (several polluters; a chain shows up
  as one group of several tests);
- fails alone but passed after some earlier tests: ``order_dependent`` (brittle), with the
  state-setters found the same way;
- fails under xdist, never when its worker's exact sequence is replayed in one process:
  ``parallel_unsafe`` when it writes a file another test writes, else ``flaky`` (the audit
  then marks the other side of the race too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

Probe = Callable[[Sequence[str], int], dict[str, str]]
"""Run these node ids in this order in one process with this data seed; their outcomes, in
the order they ran."""

REST = "..."
"""In a probe's sequence: every other test of the suite, in the suite's own order."""

MAX_GROUPS = 5


@dataclass
class Finding:
    classification: str
    polluters: list[str] = field(default_factory=list)
    state_setters: list[str] = field(default_factory=list)
    groups: list[list[str]] = field(default_factory=list)
    why: str = ""
    data_seed: int | None = None  # the failing data seed, when the outcome follows the data


@dataclass(frozen=True)
class Observation:
    """One audit run in which the test ran: its outcome, data seed, what its worker ran
    (``ran``, shared by every test of that worker: a 26,854-test suite made a prefix copy
    per test before, quadratic in the worker's length) and where in it this test was."""

    outcome: str
    data_seed: int
    ran: tuple[str, ...]
    position: int
    workers: int

    @property
    def prefix(self) -> tuple[str, ...]:
        """What its worker ran before it."""
        return self.ran[: self.position]


class Prober:
    """Probes with a memory: the same sequence and seed is never run twice by ddmin."""

    def __init__(self, probe: Probe) -> None:
        self._probe = probe
        self._seen: dict[tuple[tuple[str, ...], int], dict[str, str]] = {}
        self.count = 0
        self.groups: list[list[str]] = []  # polluter groups found so far, for other victims
        # How many probes may run at once: more than one only while no test is seen writing
        # a file (each probe is its own process; only files could make two interfere).
        self.side_by_side = 1
        self.last: list[str] = []  # run last together by after_suite

    def prefetch(self, sequences: list[list[str]], seed: int) -> None:
        """Run these probes at the same time, when ``side_by_side`` allows, so that the
        ``outcome`` calls that follow find them done."""
        new = [s for s in sequences if (tuple(s), seed) not in self._seen]
        if self.side_by_side < 2 or len(new) < 2:
            return
        with ThreadPoolExecutor(max_workers=self.side_by_side) as pool:
            done = list(pool.map(self._probe, new, [seed] * len(new)))
        for sequence, outcomes in zip(new, done, strict=True):
            self.count += 1
            self.remember(sequence, seed, outcomes)

    def after_suite(self, test: str, seed: int) -> tuple[str, tuple[str, ...]]:
        """The test's outcome after the rest of the suite, and what ran before it. One run
        serves every test in ``last`` (the tests that never passed, still to explain; a
        suite with 30 failing tests pays for one such run, not 30)."""
        sequence = [REST, *self.last] if test in self.last else [REST, test]
        outcomes = self.ran(sequence, seed)
        ran = list(outcomes)
        prefix = tuple(ran[: ran.index(test)]) if test in ran else ()
        return outcomes.get(test, "missing"), prefix

    def remember(self, sequence: Sequence[str], seed: int, outcomes: dict[str, str]) -> None:
        """What a run in one process already showed for exactly this sequence."""
        self._seen[(tuple(sequence), seed)] = outcomes

    def ran(self, sequence: Sequence[str], seed: int) -> dict[str, str]:
        key = (tuple(sequence), seed)
        if key not in self._seen:
            self.count += 1
            self._seen[key] = self._probe(list(sequence), seed)
        return self._seen[key]

    def outcome(self, sequence: Sequence[str], seed: int, test: str) -> str:
        return self.ran(sequence, seed).get(test, "missing")


def ddmin(items: list[str], reproduces: Callable[[list[str]], bool]) -> list[str]:
    """Zeller's delta debugging: a 1-minimal subset of ``items`` (order kept) that still
    reproduces, given that all of ``items`` does."""
    granularity = 2
    while len(items) >= 2:
        size = -(-len(items) // granularity)
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        for chunk in chunks:
            if reproduces(chunk):
                items, granularity = chunk, 2
                break
        else:
            for chunk in chunks:
                rest = [item for item in items if item not in chunk]
                if len(chunks) > 2 and reproduces(rest):
                    items, granularity = rest, max(granularity - 1, 2)
                    break
            else:
                if granularity >= len(items):
                    break
                granularity = min(len(items), granularity * 2)
    return items


def bisect_one(
    items: list[str],
    reproduces: Callable[[list[str]], bool],
    ahead: Callable[[list[list[str]]], None] | None = None,
) -> list[str] | None:
    """The one item that reproduces on its own, by halving (what detect-test-pollution
    does): about log2(n) + 1 probes where ddmin spends about twice that. None when no single
    item does (a chain, or a cleaner in between): then ``ddmin`` searches properly.
    With ``ahead`` (probes run side by side), each step tries the first two quarters at
    once and keeps one of four quarters: half as many steps."""
    candidates = items
    while len(candidates) > 1:
        half = candidates[: len(candidates) // 2]
        if ahead is not None and len(candidates) >= 4:
            first, second = half[: len(half) // 2], half[len(half) // 2 :]
            ahead([first, second])
            if reproduces(first):
                candidates = first
            elif reproduces(second):
                candidates = second
            else:
                candidates = candidates[len(half) :]
            continue
        candidates = half if reproduces(half) else candidates[len(half) :]
    return candidates if candidates and reproduces(candidates) else None


def classify(test: str, seen: list[Observation], prober: Prober, shared: bool) -> Finding:
    """``shared``: the evidence shows a resource the test shares with another test.

    Each step is one probe; the finding's reproducer is then run several times by the
    auditor, and a finding whose reproducer does not fail every time is called flaky there
    (so consistency is checked once, on the command the user will run, not at every step).
    """
    failed = [o for o in seen if o.outcome == "failed"]
    passed = [o for o in seen if o.outcome == "passed"]
    first = failed[0]
    if prober.outcome([test], first.data_seed, test) == "failed":
        if passed:
            return _brittle_or_random(test, first, passed[0], prober)
        outcome, prefix = prober.after_suite(test, first.data_seed)
        if outcome != "passed":
            return Finding("failing", why="fails alone and after the rest of the suite")
        return _brittle_or_random(
            test, first, Observation("passed", first.data_seed, prefix, len(prefix), 1), prober
        )
    if prober.outcome([*first.prefix, test], first.data_seed, test) == "failed":
        return _victim(test, failed, prober)
    if first.workers > 1 and shared:
        return Finding(
            "parallel_unsafe",
            why="fails only beside other workers, never in its worker's sequence replayed alone",
        )
    return Finding("flaky", why="fails only beside other workers, and no shared resource was seen")


def _victim(test: str, failed: list[Observation], prober: Prober) -> Finding:
    """Polluters from every failing run's prefix: one run's worker may have run only one of
    several polluters before the victim."""
    groups: list[list[str]] = []
    for observation in failed:
        seed = observation.data_seed
        remaining = [t for t in observation.prefix if not any(t in g for g in groups)]
        while remaining and len(groups) < MAX_GROUPS:
            if prober.outcome([*remaining, test], seed, test) != "failed":
                break
            fails = partial(_fails_after, prober, test, seed)
            ahead = partial(_ahead, prober, test, seed)
            group = (
                _known_group(prober, test, seed, remaining)
                or bisect_one(remaining, fails, ahead)
                or ddmin(remaining, fails)
            )
            groups.append(group)
            prober.groups.append(group)
            remaining = [t for t in remaining if t not in group]
    polluters = [t for group in groups for t in group]
    kinds = ", ".join(" + ".join(g) if len(g) > 1 else g[0] for g in groups)
    return Finding(
        "order_dependent",
        polluters=polluters,
        groups=groups,
        why=f"passes alone, fails after: {kinds}" if groups else "passes alone",
    )


def _known_group(prober: Prober, test: str, seed: int, prefix: list[str]) -> list[str] | None:
    """A polluter group already found for another victim, if it is in this prefix and makes
    this test fail too: one polluter often has many victims, and a probe or two then do what
    a delta debugging search would (a group of several is checked 1-minimal for this test)."""
    for known in dict.fromkeys(map(tuple, prober.groups)):
        group = [t for t in prefix if t in known]  # in this prefix's order
        if len(group) < len(known) or not _fails_after(prober, test, seed, group):
            continue
        smaller = ([t for t in group if t != left] for left in group)
        if len(group) == 1 or not any(_fails_after(prober, test, seed, s) for s in smaller):
            return group
    return None


def _ahead(prober: Prober, test: str, seed: int, sequences: list[list[str]]) -> None:
    prober.prefetch([[*sequence, test] for sequence in sequences], seed)


def _fails_after(prober: Prober, test: str, seed: int, sequence: list[str]) -> bool:
    return prober.outcome([*sequence, test], seed, test) == "failed"


def _brittle_or_random(
    test: str, failed: Observation, passed: Observation, prober: Prober
) -> Finding:
    alone = prober.outcome([test], passed.data_seed, test)
    if alone == "passed":
        return Finding(
            "flaky",
            why=f"alone it fails with data seed {failed.data_seed} and passes with "
            f"{passed.data_seed}: its outcome follows the random data, not the order",
            data_seed=failed.data_seed,
        )
    prefix = list(passed.prefix)
    if prober.outcome([*prefix, test], passed.data_seed, test) != "passed":
        return Finding("flaky", why="fails alone, passed once, and does not pass again")

    def passes(sequence: list[str]) -> bool:
        return prober.outcome([*sequence, test], passed.data_seed, test) == "passed"

    setters = bisect_one(prefix, passes) or ddmin(prefix, passes)
    return Finding(
        "order_dependent",
        state_setters=setters,
        why=f"fails alone, passes after: {', '.join(setters)}",
    )
