"""The regression gate: fail on real slowdowns, not on noise or a slower runner.

Rules (DESIGN.md, issue "regression gate"), in the order they are applied:

1. Runner speed. The median current/baseline ratio of the *stable* tests (or, when fewer
   than 5 tests are long and quiet enough, of the stable module totals; or, when fewer than
   5 of those, of all tests, at least 50 of them) is the speed factor:
   a CI machine 40% slower makes every test 40% slower, which is not a regression. Each
   test's current time is divided by it before judging. A factor under 1 (the tests ran
   faster than the baseline's) is taken as 1: on one machine it is the baseline's runs that
   were slow, and dividing by it would inflate every time into a false alarm.
2. A test regresses only when its corrected time is slower than its baseline by more than its
   threshold (percent) AND by more than ``noise_floor_seconds`` AND by more than
   ``noise_mads`` times its own noise (the MAD of its history).
3. A test whose history is too noisy to gate at its threshold is reported as ``noisy``.
4. Suite totals (the whole suite, per module, per marker) are judged like tests: against
   ``suite_threshold``, a floor of ``noise_floor_seconds`` times the square root of the
   group's size, and ``noise_mads`` times the group total's own MAD over the history (a
   group too noisy for its threshold is ``noisy``). They are first divided by the runner
   slowdown that the machine's own account *and* the tests agree on, so a real slowdown
   that hits every test, which rule 1 absorbs, still fails. The machine's account is the
   larger of the CPU calibration ratio (slower hardware) and the contention ratio (the share
   of their time the test processes waited for a CPU, from the kernel, against the
   baseline's: a busy neighbour). Neither is trusted beyond what the tests show: the divisor
   is clamped to [1, speed factor].

Before any of it, each test's time loses what it spent waiting for a CPU (measured per test
by the tracker from the kernel's count): a busy neighbour slows a long test by half and a
short one, inside one timeslice, not at all, which no single factor can undo.
"""

from __future__ import annotations

import math
import shlex
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from optikit.config import PerformanceConfig
from optikit.gate.baseline import Baseline
from optikit.timing.run_record import RunRecord, TestEntry, net_duration

MIN_TESTS_FOR_SPEED_FACTOR = 5
MIN_TESTS_FOR_MEDIAN = 50  # short tests each jitter a lot; the median of many does not
REFERENCE_TESTS = 10
MAX_GROUP_RERUN = 500  # tests of a regressed group re-run by --confirm; larger ones are not
MIN_REFERENCES = 3
# how --confirm runs its tests (with the node ids, in a fresh pytest process): each twice in
# the process, the second run measured, in node id order
RERUN_OPTIONS = (
    "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
    "--track-performance", "--performance-no-history", "--performance-warm-up",
)  # fmt: skip


@dataclass(frozen=True)
class TestVerdict:
    nodeid: str
    baseline: float
    current: float
    corrected: float
    threshold: float
    verdict: str  # ok, regression, noisy, faster, new, missing
    line: int | None = None

    @property
    def change(self) -> float:
        """Percent change after the runner-speed correction."""
        return (self.corrected / self.baseline - 1) * 100 if self.baseline else 0.0


@dataclass(frozen=True)
class SuiteVerdict:
    group: str
    baseline: float
    current: float
    adjusted: float
    threshold: float
    verdict: str  # ok, regression, noisy

    @property
    def change(self) -> float:
        return (self.adjusted / self.baseline - 1) * 100 if self.baseline else 0.0


@dataclass(frozen=True)
class GateResult:
    tests: list[TestVerdict]
    suites: list[SuiteVerdict]
    speed_factor: float
    calibration_ratio: float
    notes: list[str] = field(default_factory=list)
    suite_divisor: float = 1.0
    suspects: list[str] = field(default_factory=list)  # for confirm: the regressions
    contention_ratio: float = 1.0

    @property
    def regressions(self) -> list[TestVerdict]:
        return [t for t in self.tests if t.verdict == "regression"]

    @property
    def suite_regressions(self) -> list[SuiteVerdict]:
        return [s for s in self.suites if s.verdict == "regression"]

    @property
    def failed(self) -> bool:
        return bool(self.regressions or self.suite_regressions)


def too_noisy(duration: float, noise: float, threshold: float, settings: PerformanceConfig) -> bool:
    """Its own jitter is bigger than the slowdown ``threshold`` percent is meant to catch."""
    return settings.noise_mads * noise > duration * threshold / 100


def is_stable(duration: float, noise: float, threshold: float, settings: PerformanceConfig) -> bool:
    """Long and quiet enough to tell the runner's speed from."""
    return duration >= settings.noise_floor_seconds and not too_noisy(
        duration, noise, threshold, settings
    )


def compare(baseline: Baseline, current: RunRecord, settings: PerformanceConfig) -> GateResult:
    passed = [t for t in current["tests"] if t["status"] == "passed"]
    now = {t["nodeid"]: t | {"duration": net_duration(t)} for t in passed}
    shared = [nodeid for nodeid in baseline["tests"] if nodeid in now]
    stable_ratios = [
        now[nodeid]["duration"] / entry["duration"]
        for nodeid, entry in baseline["tests"].items()
        if nodeid in now
        and is_stable(entry["duration"], entry["noise"], entry["threshold"], settings)
    ]
    notes = []
    if waited := [t["cpu_wait"] for t in passed if "cpu_wait" in t]:
        notes.append(
            f"{len(waited)} tests waited {sum(waited):.2f} s in all for a CPU (another busy "
            "process): test times are taken without it"
        )
    speed = 1.0
    module_ratios = _module_ratios(baseline, now, settings)
    all_ratios = [
        now[nodeid]["duration"] / baseline["tests"][nodeid]["duration"]
        for nodeid in shared
        if baseline["tests"][nodeid]["duration"] > 0
    ]
    if len(stable_ratios) >= MIN_TESTS_FOR_SPEED_FACTOR:
        speed = statistics.median(stable_ratios)
    elif len(module_ratios) >= MIN_TESTS_FOR_SPEED_FACTOR:
        speed = statistics.median(module_ratios)
        notes.append(
            f"runner speed from {len(module_ratios)} module totals: only "
            f"{len(stable_ratios)} tests are long and quiet enough alone"
        )
    elif len(all_ratios) >= MIN_TESTS_FOR_MEDIAN:
        speed = statistics.median(all_ratios)
        notes.append(
            f"runner speed from the median of all {len(all_ratios)} tests: only "
            f"{len(stable_ratios)} tests and {len(module_ratios)} module totals are long and "
            "quiet enough alone"
        )
    else:
        notes.append(
            f"only {len(stable_ratios)} stable tests, {len(module_ratios)} stable modules "
            f"and {len(all_ratios)} tests in all: no runner-speed correction (needs "
            f"{MIN_TESTS_FOR_SPEED_FACTOR} stable, or {MIN_TESTS_FOR_MEDIAN} in all)"
        )
    if speed <= 0:  # tabulate beside a hog: most sub-millisecond tests were charged
        # a millisecond's wait (read at most once a millisecond), their net time 0
        notes.append(
            "most tests' times came to 0 once their CPU wait was taken off: "
            "no runner-speed correction"
        )
        speed = 1.0
    elif speed < 1:
        notes.append(
            f"the tests ran {1 / speed:.2f}x faster than the baseline's on the whole: "
            "taken as they are, not as a faster runner (that would inflate every time)"
        )
        speed = 1.0
    calibration = _calibration_ratio(baseline, current)
    contention = _contention_ratio(baseline, current)
    excused = min(max(calibration, contention, 1.0), max(speed, 1.0))

    verdicts = [
        judge_test(
            nodeid, baseline, now[nodeid]["duration"], speed, settings, now[nodeid].get("line")
        )
        for nodeid in shared
    ]
    verdicts += [
        TestVerdict(n, 0.0, t["duration"], t["duration"], 0.0, "new", t.get("line"))
        for n, t in now.items()
        if n not in baseline["tests"]
    ]
    verdicts += [
        TestVerdict(n, e["duration"], 0.0, 0.0, e["threshold"], "missing")
        for n, e in baseline["tests"].items()
        if n not in now
    ]
    durations = {nodeid: now[nodeid]["duration"] for nodeid in shared}
    suites = judge_suites(baseline, durations, excused, settings)
    suspects = [v.nodeid for v in verdicts if v.verdict == "regression"]
    return GateResult(verdicts, suites, speed, calibration, notes, excused, suspects, contention)


def _module_ratios(
    baseline: Baseline, now: Mapping[str, TestEntry], settings: PerformanceConfig
) -> list[float]:
    """current/baseline of each module total that is long and quiet enough to tell the
    runner's speed: for suites whose tests are each under the floor."""
    ratios = []
    for group, metric in baseline["suite_metrics"].items():
        if not group.startswith("module:"):
            continue
        members = [n for n in baseline["groups"].get(group, []) if n in now]
        base = sum(baseline["tests"][n]["duration"] for n in members)
        noise = metric.get("noise", 0.0)
        if members and is_stable(base, noise, metric["threshold"], settings):
            ratios.append(sum(now[n]["duration"] for n in members) / base)
    return ratios


def judge_test(
    nodeid: str,
    baseline: Baseline,
    current: float,
    speed: float,
    settings: PerformanceConfig,
    line: int | None = None,
) -> TestVerdict:
    entry = baseline["tests"][nodeid]
    base, threshold, noise = entry["duration"], entry["threshold"], entry["noise"]
    corrected = current / speed
    delta = corrected - base
    beyond = max(base * threshold / 100, settings.noise_floor_seconds, settings.noise_mads * noise)
    verdict = "ok"
    if delta > beyond:
        verdict = "noisy" if too_noisy(base, noise, threshold, settings) else "regression"
    elif -delta > beyond:
        verdict = "faster"
    return TestVerdict(nodeid, base, current, corrected, threshold, verdict, line)


def judge_suites(
    baseline: Baseline,
    durations: Mapping[str, float],
    divisor: float,
    settings: PerformanceConfig,
) -> list[SuiteVerdict]:
    """Each group's total over the tests present in both runs, divided by the runner slowdown."""
    verdicts = []
    for group, metric in baseline["suite_metrics"].items():
        members = [n for n in baseline["groups"].get(group, []) if n in durations]
        if not members:
            continue
        base = sum(baseline["tests"][n]["duration"] for n in members)
        current = sum(durations[n] for n in members)
        adjusted = current / divisor
        threshold = metric["threshold"]
        # The group's own history says how much its total jitters; without one, the sum
        # of its tests' MADs. The floor grows with the square root of the group's size, as
        # the spread of a sum of independent jitters does: 50 ms for one test, 0.5 s for 100.
        noise = metric.get("noise", sum(baseline["tests"][n]["noise"] for n in members))
        floor = settings.noise_floor_seconds * math.sqrt(len(members))
        beyond = max(base * threshold / 100, floor, settings.noise_mads * noise)
        verdict = "ok"
        if adjusted - base > beyond:
            verdict = "noisy" if too_noisy(base, noise, threshold, settings) else "regression"
        verdicts.append(SuiteVerdict(group, base, current, adjusted, threshold, verdict))
    return verdicts


def _contention_ratio(baseline: Baseline, current: RunRecord) -> float:
    """How much longer work took because the test processes waited for a CPU, against the
    baseline's runs: a process that waited a share ``w`` of its time ran ``1 / (1 - w)`` times
    slower than it would have alone. 1.0 where either side was not measured."""
    before, after = baseline.get("cpu_wait_share"), current["machine"].get("cpu_wait_share")
    if (
        isinstance(before, int | float)
        and isinstance(after, int | float)
        and max(before, after) < 1
    ):
        return (1 - float(before)) / (1 - float(after))
    return 1.0


def _calibration_ratio(baseline: Baseline, current: RunRecord) -> float:
    before, after = baseline.get("calibration"), current["machine"].get("calibration")
    if isinstance(before, int | float) and isinstance(after, int | float) and before > 0:
        return float(after) / float(before)
    return 1.0


def group_suspects(result: GateResult, baseline: Baseline) -> list[str]:
    """The tests of each group that regressed, to re-run with the suspects; a group larger
    than ``MAX_GROUP_RERUN`` (the whole suite, say) is judged on its first run alone."""
    found: set[str] = set()
    for group in result.suite_regressions:
        members = baseline["groups"].get(group.group, [])
        if len(members) <= MAX_GROUP_RERUN:
            found.update(members)
    return sorted(found - set(result.suspects))


def reference_tests(
    result: GateResult, baseline: Baseline, settings: PerformanceConfig
) -> list[str]:
    """Stable tests that passed the gate, spread over the range of durations, to re-run beside
    the suspects: their ratios tell each re-run's runner speed."""
    suspects = set(result.suspects)
    candidates = sorted(
        (entry["duration"], verdict.nodeid)
        for verdict in result.tests
        if verdict.verdict == "ok"
        and verdict.nodeid not in suspects
        and is_stable(
            (entry := baseline["tests"][verdict.nodeid])["duration"],
            entry["noise"],
            entry["threshold"],
            settings,
        )
    )
    if len(candidates) <= REFERENCE_TESTS:
        return [nodeid for _, nodeid in candidates]
    step = len(candidates) / REFERENCE_TESTS
    return [candidates[int(index * step)][1] for index in range(REFERENCE_TESTS)]


def confirm(
    result: GateResult,
    reruns: Sequence[Mapping[str, float]],
    baseline: Baseline,
    settings: PerformanceConfig,
    references: Sequence[str],
) -> GateResult:
    """Judge the regressions again on their re-runs (one mapping of durations per re-run).

    Confirming can only remove failures: a regression that does not persist becomes
    ``unconfirmed``; every other verdict, of a test or a group, stays as the first run had
    it. Group totals are judged again with the re-run times, brought back to the first run's
    runner speed, and a group regression the re-runs clear is ``unconfirmed`` too.

    The re-runs also tell a busy machine from slower code for the groups: the references ran
    ``speed_factor`` times their baseline in the suite; code that got slower is as slow when
    re-run, a machine that was busy then is not. What the re-runs do not repeat is excused.
    """
    speeds = [_rerun_speed(run, references, baseline) for run in reruns]
    notes = list(result.notes)
    if None in speeds:
        notes.append(
            f"fewer than {MIN_REFERENCES} reference tests in a re-run: "
            "its times are taken as they are"
        )
    divisor = result.suite_divisor
    if measured := [speed for speed in speeds if speed is not None]:
        rerun_speed = statistics.median(measured)
        if result.speed_factor / rerun_speed > divisor:
            divisor = result.speed_factor / rerun_speed
            notes.append(
                f"the reference tests ran {result.speed_factor:.2f}x their baseline times in "
                f"the suite and {rerun_speed:.2f}x when re-run: the machine was busy, not the "
                f"code slower; the groups that regressed were judged again divided by {divisor:.2f}"
            )
    suspects = set(result.suspects)
    if unrun := sorted(n for n in suspects if not any(n in run for run in reruns)):
        command = shlex.join(["python", "-m", "pytest", *RERUN_OPTIONS, *unrun])
        notes.append(
            f"{len(unrun)} flagged test(s) did not pass when re-run, so their first verdict "
            f"stands; to see why, re-run them as --confirm does: {command}"
        )
    tests = []
    durations = {}
    for verdict in result.tests:
        times = [
            (run[verdict.nodeid], speed or 1.0)
            for run, speed in zip(reruns, speeds, strict=True)
            if verdict.nodeid in run
        ]
        if verdict.nodeid in suspects and times:
            verdict = _judge_reruns(verdict, times, settings)
            durations[verdict.nodeid] = verdict.corrected * result.speed_factor
        elif times:  # a member of a group that regressed: its re-run time counts for the group
            corrected = statistics.median(seconds / speed for seconds, speed in times)
            durations[verdict.nodeid] = corrected * result.speed_factor
        elif verdict.verdict not in ("new", "missing"):
            durations[verdict.nodeid] = verdict.current
        tests.append(verdict)
    again = {s.group: s for s in judge_suites(baseline, durations, divisor, settings)}
    suites = [
        (again[s.group] if again[s.group].verdict == "regression" else
         replace(again[s.group], verdict="unconfirmed"))
        if s.verdict == "regression" and s.group in again
        else s
        for s in result.suites
    ]  # fmt: skip
    return replace(result, tests=tests, suites=suites, notes=notes)


def _rerun_speed(
    run: Mapping[str, float], references: Sequence[str], baseline: Baseline
) -> float | None:
    ratios = [run[n] / baseline["tests"][n]["duration"] for n in references if n in run]
    # A re-run alone, without the suite's workers beside it, runs faster than the baseline's
    # runs, and not by the same factor for every test: never inflate the suspects' times.
    return max(statistics.median(ratios), 1.0) if len(ratios) >= MIN_REFERENCES else None


def _judge_reruns(
    first: TestVerdict, times: list[tuple[float, float]], settings: PerformanceConfig
) -> TestVerdict:
    """A regression stays one only if its re-runs, each corrected by its own runner speed,
    are still past its threshold and the floor."""
    current = statistics.median(seconds for seconds, _ in times)
    corrected = statistics.median(seconds / speed for seconds, speed in times)
    beyond = max(first.baseline * first.threshold / 100, settings.noise_floor_seconds)
    verdict = "regression" if corrected - first.baseline > beyond else "unconfirmed"
    return replace(first, current=current, corrected=corrected, verdict=verdict)
