"""The auditor's reasoning over outcomes, with probes that simulate planted suites."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from optikit.audit.auditor import AuditState, _reproduce
from optikit.audit.classify import (
    REST,
    Finding,
    Observation,
    Prober,
    bisect_one,
    classify,
    ddmin,
)
from optikit.audit.runs import Pytest
from optikit.audit.stats import clean_bound, wilson

VICTIM = "t::victim"


def suite_probe(
    fails: Callable[[list[str], int], bool], suite: Sequence[str] = ()
) -> Callable[[Sequence[str], int], dict[str, str]]:
    """A probe whose victim fails when ``fails(tests before it, data seed)``; others pass.
    ``...`` in a sequence stands for the rest of ``suite``, as in real probes."""

    def probe(sequence: Sequence[str], seed: int) -> dict[str, str]:
        rest = [t for t in suite if t not in sequence]
        sequence = [t for item in sequence for t in (rest if item == REST else [item])]
        outcomes = dict.fromkeys(sequence, "passed")
        if VICTIM in sequence:
            before = list(sequence[: list(sequence).index(VICTIM)])
            outcomes[VICTIM] = "failed" if fails(before, seed) else "passed"
        return outcomes

    return probe


def seen(outcome: str, prefix: Sequence[str] = (), seed: int = 1, workers: int = 2) -> Observation:
    return Observation(outcome, seed, tuple(prefix), len(prefix), workers)


PREFIX = [f"t::other{i}" for i in range(12)]


def test_ddmin_finds_a_single_polluter_in_few_probes() -> None:
    calls: list[list[str]] = []

    def reproduces(subset: list[str]) -> bool:
        calls.append(subset)
        return "t::other7" in subset

    assert ddmin(PREFIX, reproduces) == ["t::other7"]
    assert len(calls) <= 10


def test_ddmin_keeps_a_whole_chain_in_order() -> None:
    assert ddmin(PREFIX, lambda s: "t::other2" in s and "t::other9" in s) == [
        "t::other2",
        "t::other9",
    ]


def test_a_cleaner_is_never_named_a_polluter() -> None:
    """p1 pollutes, c cleans what p1 left, p2 pollutes again: both polluters, never c."""

    def pollutes(before: list[str], seed: int) -> bool:
        dirty = False
        for test in before:
            dirty = test in {"t::p1", "t::p2"} or (dirty and test != "t::c")
        return dirty

    prober = Prober(suite_probe(pollutes))
    finding = classify(VICTIM, [seen("failed", ["t::p1", "t::c", "t::p2"])], prober, shared=False)
    assert finding.classification == "order_dependent"
    assert finding.groups == [["t::p1"], ["t::p2"]]


def test_two_polluters_are_both_found_across_runs() -> None:
    prober = Prober(suite_probe(lambda before, seed: bool({"t::a", "t::b"} & set(before))))
    observations = [
        seen("failed", ["t::x", "t::a"]),
        seen("failed", ["t::b", "t::y"]),
        seen("passed"),
    ]
    finding = classify(VICTIM, observations, prober, shared=False)
    assert finding.classification == "order_dependent"
    assert sorted(finding.polluters) == ["t::a", "t::b"]
    assert finding.groups == [["t::a"], ["t::b"]]


def test_fails_alone_and_never_passed_is_failing() -> None:
    prober = Prober(suite_probe(lambda before, seed: True))
    assert (
        classify(VICTIM, [seen("failed"), seen("failed")], prober, shared=False).classification
        == "failing"
    )


def test_fails_in_every_default_order_run_but_passes_alone_is_order_dependent() -> None:
    prober = Prober(suite_probe(lambda before, seed: "t::other1" in before))
    runs = [seen("failed", PREFIX) for _ in range(3)]
    finding = classify(VICTIM, runs, prober, shared=False)
    assert (finding.classification, finding.polluters) == ("order_dependent", ["t::other1"])


def test_brittle_test_gets_its_state_setter() -> None:
    prober = Prober(suite_probe(lambda before, seed: "t::setup" not in before))
    observations = [seen("failed", ["t::x"]), seen("passed", ["t::y", "t::setup", "t::z"])]
    finding = classify(VICTIM, observations, prober, shared=False)
    assert (finding.classification, finding.state_setters) == ("order_dependent", ["t::setup"])


def test_random_data_is_flaky_not_order_dependent() -> None:
    prober = Prober(suite_probe(lambda before, seed: seed == 2))
    observations = [seen("passed", ["t::a"], seed=1), seen("failed", ["t::b"], seed=2)]
    finding = classify(VICTIM, observations, prober, shared=False)
    assert finding.classification == "flaky"
    assert "random data" in finding.why


def test_a_brittle_test_that_never_passed_gets_its_setter_from_the_rest_of_the_suite() -> None:
    """Failing in run 0 and alone is not enough to call it failing: after the rest of the
    suite it passes, so it is brittle, and the setter is found in that sequence."""
    suite = [*PREFIX[:5], "t::setup", *PREFIX[5:], VICTIM]
    prober = Prober(suite_probe(lambda before, seed: "t::setup" not in before, suite))
    finding = classify(VICTIM, [seen("failed", PREFIX[:3])], prober, shared=False)
    assert (finding.classification, finding.state_setters) == ("order_dependent", ["t::setup"])


class Reproducing(Pytest):
    """A project whose reproducers fail on the turns listed."""

    def __init__(self, failing_turns: set[int]) -> None:
        super().__init__(root=Path("."))
        object.__setattr__(self, "turns", iter(range(100)))
        object.__setattr__(self, "failing_turns", failing_turns)

    def reproduce(self, command: str) -> dict[str, str]:
        turn = next(self.turns)  # type: ignore[attr-defined]
        return {VICTIM: "failed" if turn in self.failing_turns else "passed"}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("failing_turns", "expected", "rate"),
    [({0, 1, 2}, "order_dependent", (3, 3)), ({0, 2}, "flaky", (2, 3))],
)
def test_a_finding_whose_reproducer_does_not_always_fail_is_flaky(
    failing_turns: set[int], expected: str, rate: tuple[int, int]
) -> None:
    state = AuditState(workers=2)
    state.findings[VICTIM] = Finding("order_dependent", polluters=["t::p"], why="fails after t::p")
    _reproduce(Reproducing(failing_turns), state)
    assert state.findings[VICTIM].classification == expected
    assert list(state.reproduced.values()) == [rate]


@pytest.mark.parametrize(("shared", "expected"), [(True, "parallel_unsafe"), (False, "flaky")])
def test_fails_only_beside_other_workers(shared: bool, expected: str) -> None:
    prober = Prober(suite_probe(lambda before, seed: False))
    finding = classify(VICTIM, [seen("failed", ["t::a"], workers=2)], prober, shared=shared)
    assert finding.classification == expected


def test_prober_runs_each_sequence_once() -> None:
    prober = Prober(suite_probe(lambda before, seed: False))
    prober.outcome(["t::a", VICTIM], 1, VICTIM)
    prober.outcome(["t::a", VICTIM], 1, VICTIM)
    prober.outcome([VICTIM], 1, VICTIM)
    assert prober.count == 2


def test_wilson_interval_and_the_bound_clean_runs_support() -> None:
    low, high = wilson(1, 10)
    assert (round(low, 3), round(high, 3)) == (0.018, 0.404)
    assert wilson(0, 100)[0] == 0.0
    assert clean_bound(100) < 0.03
    assert clean_bound(100) == pytest.approx(0.0295, abs=1e-4)


def test_a_polluter_found_for_one_victim_is_tried_first_for_the_next() -> None:
    """One polluter, many victims (humanize: 25 tests after one `__file__` deletion): the
    second victim costs a probe or two, not a second delta debugging search."""
    prober = Prober(suite_probe(lambda before, seed: "t::other7" in before))
    first = classify(VICTIM, [seen("failed", PREFIX)], prober, shared=False)
    searched = prober.count
    again = Prober(suite_probe(lambda before, seed: "t::other7" in before))
    again.groups = [["t::other7"]]
    second = classify(VICTIM, [seen("failed", PREFIX)], again, shared=False)
    assert first.polluters == second.polluters == ["t::other7"]
    assert again.count <= 4 < searched


def test_bisection_finds_one_polluter_in_log_n_probes_and_defers_chains_to_ddmin() -> None:
    items = [f"t::{i}" for i in range(64)]
    calls: list[list[str]] = []

    def single(subset: list[str]) -> bool:
        calls.append(subset)
        return "t::41" in subset

    assert bisect_one(items, single) == ["t::41"]
    assert len(calls) == 7  # log2(64) halvings and the check of the one left
    assert bisect_one(items, lambda s: {"t::3", "t::50"} <= set(s)) is None  # a chain


def test_probes_side_by_side_halve_the_bisection_steps() -> None:
    items = [f"t::{i}" for i in range(64)]
    steps: list[list[list[str]]] = []
    assert bisect_one(items, lambda s: "t::41" in s, ahead=steps.append) == ["t::41"]
    assert len(steps) == 3  # 64 -> 16 -> 4 -> 1, two quarters tried at once in each step
    assert all(len(pair) == 2 for pair in steps)


def test_the_tests_that_never_passed_share_one_run_after_the_rest_of_the_suite() -> None:
    runs: list[Sequence[str]] = []

    def probe(sequence: Sequence[str], seed: int) -> dict[str, str]:
        runs.append(sequence)
        return dict.fromkeys(
            [*PREFIX, *sequence[1:]] if sequence[0] == REST else sequence, "failed"
        )

    prober = Prober(probe)
    prober.last = ["t::a", "t::b", "t::c"]
    for test in prober.last:
        assert classify(test, [seen("failed")], prober, shared=False).classification == "failing"
    assert [s for s in runs if REST in s] == [[REST, "t::a", "t::b", "t::c"]]


def test_one_workers_observations_share_its_sequence() -> None:
    """Each test's prefix is a view of its worker's one sequence, not a copy: copies made
    the report of a 26,854-test suite quadratic (36 s per write; 0.5 s shared)."""
    from optikit.audit.runs import RunResult, RunSpec

    state = AuditState(workers=1)
    tests = [(f"t.py::test_{n}", "passed") for n in range(5)]
    state.results.append(RunResult(RunSpec(None, 1), {"main": tests}))
    seen = state.observations()
    first, last = seen["t.py::test_0"][0], seen["t.py::test_4"][0]
    assert first.ran is last.ran
    assert last.prefix == tuple(t for t, _ in tests[:4])
    assert first.prefix == ()
