"""The gate's rules, one by one, on constructed baselines and runs."""

from __future__ import annotations

import random

import pytest

from optikit.config import PerformanceConfig
from optikit.gate.verdict import compare, confirm, group_suspects, reference_tests
from tests.factories import baseline, record

SETTINGS = PerformanceConfig()  # 20% per test, 15% suite, 0.05 s floor, 3 MADs


def suite(
    count: int = 10, seconds: float = 1.0, module: str = "tests/test_a.py"
) -> dict[str, float]:
    return {f"{module}::test_{i}": seconds for i in range(count)}


def verdicts(result: object) -> dict[str, str]:
    return {t.nodeid: t.verdict for t in result.tests}  # type: ignore[attr-defined]


def test_unchanged_run_passes() -> None:
    durations = suite()
    result = compare(baseline(durations), record(durations), SETTINGS)
    assert not result.failed
    assert set(verdicts(result).values()) == {"ok"}
    assert result.speed_factor == 1.0


def test_one_test_much_slower_is_a_regression() -> None:
    durations = suite()
    slower = {**durations, "tests/test_a.py::test_3": 1.5}
    result = compare(baseline(durations), record(slower), SETTINGS)
    assert [t.nodeid for t in result.regressions] == ["tests/test_a.py::test_3"]
    assert round(result.regressions[0].change) == 50
    assert result.failed


def test_slowdown_under_the_threshold_passes() -> None:
    durations = suite()
    result = compare(
        baseline(durations), record({**durations, "tests/test_a.py::test_3": 1.15}), SETTINGS
    )
    assert not result.failed


def test_slowdown_under_the_noise_floor_passes() -> None:
    durations = suite(seconds=0.1)
    tiny = {**durations, "tests/test_a.py::test_0": 0.14}  # +40% but only 40 ms
    result = compare(baseline(durations), record(tiny), SETTINGS)
    assert verdicts(result)["tests/test_a.py::test_0"] == "ok"


def test_slowdown_within_its_own_noise_passes() -> None:
    durations = suite()
    noise = {"tests/test_a.py::test_0": 0.06}  # 3 MADs = 0.18 s: below the 20% threshold
    result = compare(
        baseline(durations, noise), record({**durations, "tests/test_a.py::test_0": 1.25}), SETTINGS
    )
    assert verdicts(result)["tests/test_a.py::test_0"] == "regression"
    wider = {"tests/test_a.py::test_0": 0.066}  # 3 MADs = 0.198 s, delta 0.21 still over
    result = compare(
        baseline(durations, wider), record({**durations, "tests/test_a.py::test_0": 1.19}), SETTINGS
    )
    assert verdicts(result)["tests/test_a.py::test_0"] == "ok"


def test_test_too_noisy_for_its_threshold_is_noisy_not_failed() -> None:
    durations = suite()
    noise = {"tests/test_a.py::test_0": 0.3}  # 3 MADs = 0.9 s on a 1 s test
    result = compare(
        baseline(durations, noise), record({**durations, "tests/test_a.py::test_0": 2.5}), SETTINGS
    )
    assert verdicts(result)["tests/test_a.py::test_0"] == "noisy"
    assert not result.failed


def test_slower_runner_does_not_fail_every_test() -> None:
    durations = suite()
    everything_slower = {nodeid: seconds * 1.4 for nodeid, seconds in durations.items()}
    # the calibration score says this machine is 40% slower too
    result = compare(
        baseline(durations, calibration=0.02),
        record(everything_slower, calibration=0.028),
        SETTINGS,
    )
    assert round(result.speed_factor, 2) == 1.4
    assert not result.failed


def test_real_suite_wide_slowdown_fails_the_suite_total() -> None:
    durations = suite()
    everything_slower = {nodeid: seconds * 1.4 for nodeid, seconds in durations.items()}
    # same machine speed: the code got slower
    result = compare(baseline(durations), record(everything_slower), SETTINGS)
    assert not result.regressions  # absorbed by the speed factor...
    groups = {s.group for s in result.suite_regressions}
    assert groups == {"suite", "module:tests/test_a.py"}  # ...but caught by the totals
    assert result.failed


def test_a_busy_neighbour_excuses_the_suite_total_as_far_as_the_tests_agree() -> None:
    """Every test 30% slower while the kernel says the test processes waited for a CPU a
    quarter of their time (against 2% in the baseline's runs): the runner, not the code."""
    durations = suite()
    busy = {nodeid: seconds * 1.3 for nodeid, seconds in durations.items()}
    expected = baseline(durations)
    expected["cpu_wait_share"] = 0.02
    run = record(busy)
    run["machine"]["cpu_wait_share"] = 0.25
    result = compare(expected, run, SETTINGS)
    assert round(result.contention_ratio, 2) == 1.31
    assert round(result.suite_divisor, 2) == 1.3  # no more than the tests' own slowdown
    assert not result.failed
    quiet = record(busy)
    quiet["machine"]["cpu_wait_share"] = 0.02  # no waiting: the code got slower
    assert compare(expected, quiet, SETTINGS).suite_regressions


def test_suite_total_within_its_tests_jitter_passes() -> None:
    # a small module whose two tests each jitter by 0.1 s: a 0.3 s wobble in its total
    # is 25% but within 3 MADs of the sum, so it is noise
    quiet = suite(count=10, seconds=1.0)
    jumpy = suite(count=2, seconds=0.6, module="tests/test_b.py")
    noise = dict.fromkeys(jumpy, 0.1)
    wobbly = {**quiet, **{nodeid: 0.75 for nodeid in jumpy}}
    result = compare(baseline({**quiet, **jumpy}, noise), record(wobbly), SETTINGS)
    assert not result.suite_regressions
    steady = compare(baseline({**quiet, **jumpy}), record(wobbly), SETTINGS)
    assert {s.group for s in steady.suite_regressions} == {"module:tests/test_b.py"}


def test_regression_still_found_on_a_slower_runner() -> None:
    durations = suite()
    slower_runner = {nodeid: seconds * 1.3 for nodeid, seconds in durations.items()}
    slower_runner["tests/test_a.py::test_5"] = 1.3 * 1.5
    result = compare(baseline(durations), record(slower_runner, calibration=0.026), SETTINGS)
    assert [t.nodeid for t in result.regressions] == ["tests/test_a.py::test_5"]
    assert round(result.regressions[0].change) == 50


def test_new_missing_failed_and_faster_tests() -> None:
    durations = suite()
    now = dict(durations)
    del now["tests/test_a.py::test_0"]
    now["tests/test_a.py::test_new"] = 3.0
    now["tests/test_a.py::test_1"] = 0.5
    now["tests/test_a.py::test_2"] = 9.0
    run = record(now)
    for test in run["tests"]:
        if test["nodeid"] == "tests/test_a.py::test_2":
            test["status"] = "failed"  # a failing test's time says nothing about speed
    result = compare(baseline(durations), run, SETTINGS)
    found = verdicts(result)
    assert found["tests/test_a.py::test_0"] == "missing"
    assert found["tests/test_a.py::test_2"] == "missing"
    assert found["tests/test_a.py::test_new"] == "new"
    assert found["tests/test_a.py::test_1"] == "faster"
    assert not result.failed


def test_speed_factor_needs_enough_stable_tests() -> None:
    durations = suite(count=3)
    slower = {nodeid: 2.0 for nodeid in durations}
    result = compare(baseline(durations), record(slower), SETTINGS)
    assert result.speed_factor == 1.0
    assert result.notes
    assert len(result.regressions) == 3


def test_confirm_keeps_persistent_regressions_only() -> None:
    durations = suite(count=20)
    slower = {**durations, "tests/test_a.py::test_1": 2.0, "tests/test_a.py::test_2": 2.0}
    expected = baseline(durations)
    result = compare(expected, record(slower), SETTINGS)
    assert len(result.regressions) == 2
    references = reference_tests(result, expected, SETTINGS)
    assert len(references) == 10
    assert not {"tests/test_a.py::test_1", "tests/test_a.py::test_2"} & set(references)
    reruns = [
        {
            "tests/test_a.py::test_1": t1,
            "tests/test_a.py::test_2": t2,
            **dict.fromkeys(references, 1.0),
        }
        for t1, t2 in ((2.1, 1.0), (1.9, 1.02), (2.0, 0.98))
    ]
    confirmed = confirm(result, reruns, expected, SETTINGS, references)
    assert [t.nodeid for t in confirmed.regressions] == ["tests/test_a.py::test_1"]
    assert verdicts(confirmed)["tests/test_a.py::test_2"] == "unconfirmed"


def test_a_suspect_that_does_not_pass_when_re_run_keeps_its_verdict_and_says_so() -> None:
    """No re-run time, no second opinion: the first verdict stands, and the note says which
    test to run alone (attrs: a warm-up bug failed a parametrized suspect's second run)."""
    durations = suite(count=20)
    expected = baseline(durations)
    result = compare(expected, record({**durations, "tests/test_a.py::test_1": 2.0}), SETTINGS)
    references = reference_tests(result, expected, SETTINGS)
    reruns = [dict.fromkeys(references, 1.0) for _ in range(3)]
    confirmed = confirm(result, reruns, expected, SETTINGS, references)
    assert [t.nodeid for t in confirmed.regressions] == ["tests/test_a.py::test_1"]
    assert any(
        "did not pass when re-run" in note
        and note.endswith("--performance-warm-up tests/test_a.py::test_1")
        for note in confirmed.notes
    )
    assert not any("did not pass" in note for note in result.notes)


def test_confirm_corrects_each_rerun_by_its_references() -> None:
    """A re-run on a machine twice as slow is not a regression; a 30% slowdown on it is."""
    durations = suite(count=20)
    expected = baseline(durations)
    trial = {**durations, "tests/test_a.py::test_1": 1.3, "tests/test_a.py::test_2": 1.3}
    result = compare(expected, record(trial), SETTINGS)
    references = reference_tests(result, expected, SETTINGS)
    reruns = [
        {
            "tests/test_a.py::test_1": 2.0,
            "tests/test_a.py::test_2": 2.6,
            **dict.fromkeys(references, 2.0),
        }
        for _ in range(3)
    ]
    confirmed = confirm(result, reruns, expected, SETTINGS, references)
    assert [t.nodeid for t in confirmed.regressions] == ["tests/test_a.py::test_2"]
    assert verdicts(confirmed)["tests/test_a.py::test_1"] == "unconfirmed"


def test_confirm_never_adds_a_failure() -> None:
    """A slowdown the first run let pass stays passed, whatever the re-runs show; over
    random runs and re-runs, confirming only turns regressions into ``unconfirmed``."""
    durations = suite(count=20)
    expected = baseline(durations)
    hidden = {**durations, "tests/test_a.py::test_1": 1.15}
    result = compare(expected, record(hidden), SETTINGS)
    assert not result.failed
    assert result.suspects == []
    references = reference_tests(result, expected, SETTINGS)
    reruns = [{"tests/test_a.py::test_1": 1.3, **dict.fromkeys(references, 1.0)}] * 3
    assert not confirm(result, reruns, expected, SETTINGS, references).failed

    chance = random.Random(15)
    for _ in range(200):
        noise = {n: chance.uniform(0, 0.2) for n in durations}
        expected = baseline(durations, noise=noise)
        first = {n: chance.uniform(0.5, 2.0) for n in durations}
        result = compare(expected, record(first), SETTINGS)
        references = reference_tests(result, expected, SETTINGS)
        wanted = [*result.suspects, *group_suspects(result, expected), *references]
        reruns = [{n: chance.uniform(0.5, 2.0) for n in wanted} for _ in range(3)]
        confirmed = confirm(result, reruns, expected, SETTINGS, references)
        before = {t.nodeid: t.verdict for t in result.tests}
        for test in confirmed.tests:
            if test.verdict != before[test.nodeid]:
                assert (before[test.nodeid], test.verdict) == ("regression", "unconfirmed")
        groups_before = {s.group: s.verdict for s in result.suites}
        for group in confirmed.suites:
            if group.verdict != groups_before[group.group]:
                assert (groups_before[group.group], group.verdict) == ("regression", "unconfirmed")
        assert len(confirmed.regressions) <= len(result.regressions)


def test_a_group_of_short_tests_is_judged_by_its_own_noise_and_size() -> None:
    """100 tests of 2 ms: +0.1 s on their module total (10 ms on each of ten, each under the
    floor) is under the floor of 100 tests (0.05 s x sqrt(100)); +7 ms on every one of them
    is a regression; in a module whose total jitters by 0.3 s in its history, +0.95 s is
    noisy, not a regression."""
    tiny = suite(count=100, seconds=0.002, module="tests/test_tiny.py")
    quiet = suite(count=10, seconds=1.0)
    expected = baseline({**tiny, **quiet})
    a_little = {**tiny, **{f"tests/test_tiny.py::test_{i}": 0.012 for i in range(10)}}
    assert not compare(expected, record({**a_little, **quiet}), SETTINGS).failed

    every_one = {n: 0.009 for n in tiny}
    result = compare(expected, record({**every_one, **quiet}), SETTINGS)
    assert {s.group for s in result.suite_regressions} == {"module:tests/test_tiny.py"}
    assert result.regressions == []  # no test alone is past the floor

    jumpy = baseline({**tiny, **quiet})
    jumpy["suite_metrics"]["module:tests/test_tiny.py"]["noise"] = 0.3
    slower = {n: 0.0115 for n in tiny}
    judged = compare(jumpy, record({**slower, **quiet}), SETTINGS)
    assert {s.group: s.verdict for s in judged.suites}["module:tests/test_tiny.py"] == "noisy"
    assert not judged.failed


def test_confirm_clears_a_group_whose_tests_run_at_baseline_speed_again() -> None:
    tiny = suite(count=40, seconds=0.01, module="tests/test_tiny.py")
    quiet = suite(count=10, seconds=1.0)
    expected = baseline({**tiny, **quiet})
    result = compare(expected, record({**{n: 0.03 for n in tiny}, **quiet}), SETTINGS)
    assert {s.group for s in result.suite_regressions} == {"module:tests/test_tiny.py"}
    members = group_suspects(result, expected)
    assert members == sorted(tiny)
    references = reference_tests(result, expected, SETTINGS)
    reruns = [{**dict.fromkeys(members, 0.01), **dict.fromkeys(references, 1.0)}] * 3
    confirmed = confirm(result, reruns, expected, SETTINGS, references)
    assert not confirmed.failed
    assert {s.group: s.verdict for s in confirmed.suites}["module:tests/test_tiny.py"] == (
        "unconfirmed"
    )


def test_confirm_without_references_takes_rerun_times_as_they_are() -> None:
    durations = suite(count=20)
    expected = baseline(durations)
    result = compare(expected, record({**durations, "tests/test_a.py::test_1": 2.0}), SETTINGS)
    confirmed = confirm(result, [{"tests/test_a.py::test_1": 2.0}], expected, SETTINGS, [])
    assert [t.nodeid for t in confirmed.regressions] == ["tests/test_a.py::test_1"]
    assert any("reference" in note for note in confirmed.notes)


def test_a_faster_run_is_not_taken_as_a_faster_runner() -> None:
    """Every stable test 30% faster (the baseline's runs were the slow ones): an unchanged
    test is not inflated into a regression by dividing by 0.7."""
    durations = suite(count=10)
    faster = {**{n: 0.7 for n in durations}, "tests/test_a.py::test_0": 1.0}
    result = compare(baseline(durations), record(faster), SETTINGS)
    assert result.speed_factor == 1.0
    assert not result.failed
    assert any("faster than the baseline's" in note for note in result.notes)


def test_short_tests_get_a_runner_speed_from_their_module_totals() -> None:
    """200 tests of 10 ms (none stable alone) in 5 modules, the runner 1.5x slower: module
    totals give the factor, and nothing regresses."""
    durations: dict[str, float] = {}
    for module in range(5):
        durations |= suite(count=40, seconds=0.01, module=f"tests/test_{module}.py")
    slower = {n: 0.015 for n in durations}
    result = compare(baseline(durations), record(slower), SETTINGS)
    assert result.speed_factor == pytest.approx(1.5)
    assert any("from 5 module totals" in note for note in result.notes)
    assert not result.regressions


def test_runner_speed_from_the_median_of_many_short_tests_in_few_modules() -> None:
    """Under the floor alone and only two modules: the median ratio of all the tests is the
    runner's speed (a hog slowed every one by 40%), so no test regresses and the suite
    total is excused by what the machine reports; ten tests are too few to tell."""
    durations = suite(count=60, seconds=0.01) | suite(count=2, module="tests/test_b.py")
    slower = {n: seconds * 1.4 for n, seconds in durations.items()}
    expected, busy = baseline(durations), record(slower)
    expected["cpu_wait_share"], busy["machine"]["cpu_wait_share"] = 0.0, 0.5
    result = compare(expected, busy, SETTINGS)
    assert result.speed_factor == pytest.approx(1.4)
    assert any("from the median of all 62 tests" in note for note in result.notes)
    assert not result.failed
    few = suite(count=10, seconds=0.01)
    result = compare(baseline(few), record({n: 0.014 for n in few}), SETTINGS)
    assert result.speed_factor == 1.0
    assert any("no runner-speed correction" in note for note in result.notes)


def test_time_a_test_waited_for_a_cpu_is_taken_off_before_judging() -> None:
    """A neighbour made two long tests wait (the kernel's count, per test): raw +88% is +5%
    once the wait is off, so it passes, while a real slowdown on top of a wait still fails.
    The note says how much was taken off."""
    durations = suite()
    slower = {**durations, "tests/test_a.py::test_1": 1.88, "tests/test_a.py::test_2": 1.9}
    run = record(slower)
    waits = {"tests/test_a.py::test_1": 0.83, "tests/test_a.py::test_2": 0.4}
    for test in run["tests"]:
        if test["nodeid"] in waits:
            test["cpu_wait"] = waits[test["nodeid"]]
    result = compare(baseline(durations), run, SETTINGS)
    assert verdicts(result)["tests/test_a.py::test_1"] == "ok"
    assert verdicts(result)["tests/test_a.py::test_2"] == "regression"  # 1.5 s without its wait
    assert any("2 tests waited 1.23 s in all for a CPU" in note for note in result.notes)


def test_tests_whose_whole_time_was_cpu_wait_do_not_break_the_speed_factor() -> None:
    """Beside a busy neighbour, tabulate's sub-millisecond tests were each charged as much
    wait as their time: net 0, a median ratio of 0, and ``1 / speed`` crashed the gate."""
    durations = suite(count=60, seconds=0.001)
    run = record(durations)
    for test in run["tests"]:
        test["cpu_wait"] = test["duration"]
    result = compare(baseline(durations), run, SETTINGS)
    assert result.speed_factor == 1.0
    assert not result.failed
    assert any("came to 0 once their CPU wait was taken off" in note for note in result.notes)


def test_a_rerun_that_ran_faster_than_the_baseline_never_inflates_a_suspect() -> None:
    """Alone in a re-run the references take half their baseline time; a suspect back at its
    baseline time is unconfirmed, not 'twice as slow as the references'."""
    durations = suite(count=20)
    expected = baseline(durations)
    result = compare(expected, record({**durations, "tests/test_a.py::test_1": 2.0}), SETTINGS)
    references = reference_tests(result, expected, SETTINGS)
    reruns = [{"tests/test_a.py::test_1": 1.0, **dict.fromkeys(references, 0.5)}] * 3
    confirmed = confirm(result, reruns, expected, SETTINGS, references)
    assert verdicts(confirmed)["tests/test_a.py::test_1"] == "unconfirmed"


@pytest.mark.parametrize(
    ("rerun_seconds", "verdict"), [(1.0, "unconfirmed"), (1.3, "regression")], ids=["busy", "code"]
)
def test_confirm_tells_a_busy_machine_from_slower_code_for_groups(
    rerun_seconds: float, verdict: str
) -> None:
    """Every test 30% slower in the suite: each test is judged against the others (all ok),
    the suite and module totals regress. Re-run at baseline speed, the machine was busy and
    the groups are cleared; re-run as slow, the code is slower and they stay."""
    durations = suite(count=20)
    expected = baseline(durations)
    result = compare(expected, record({n: 1.3 for n in durations}), SETTINGS)
    assert result.regressions == []
    assert {s.group for s in result.suite_regressions} == {"suite", "module:tests/test_a.py"}
    references = reference_tests(result, expected, SETTINGS)
    members = group_suspects(result, expected)
    reruns = [dict.fromkeys([*members, *references], rerun_seconds)] * 3
    confirmed = confirm(result, reruns, expected, SETTINGS, references)
    assert {s.verdict for s in confirmed.suites} == {verdict}
    assert any("the machine was busy" in note for note in confirmed.notes) == (
        verdict == "unconfirmed"
    )
