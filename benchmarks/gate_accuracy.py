"""How often the regression gate finds real slowdowns, and how often it cries wolf.

A generated suite of 200 tests of 20-300 ms (half busy loop, half sleep, so both CPU
contention and scheduler jitter show up) runs 10 times with ``--track-performance -n 2`` to
build a history; ``optikit baseline --from-history 10`` writes the baseline. Then, in each of
10 trials, 10 random tests are made 30% slower and the suite runs once more. Each trial is
judged by optikit's gate (alone, and with ``--confirm 3``: its suspects re-run three times
beside reference tests) and by the naive rule most CI actions use: "more than 20% slower
than the previous run".

    python benchmarks/gate_accuracy.py [--history 10] [--trials 10] [--neighbour]

``--neighbour`` adds what a shared CI runner does: in a random half of all runs (history and
trials alike) a busy-looping process competes for the CPU for the whole run.

The suite sets ``noise_floor_seconds = 0.005``: at the default 50 ms floor a 30% slowdown of
a test under 167 ms is below the floor by design. The default floor is reported beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from optikit.config import load_config
from optikit.gate.baseline import read_baseline
from optikit.gate.confirm import confirm_suspects
from optikit.gate.verdict import GateResult, compare
from optikit.timing.run_record import RunRecord, read_run_record

TESTS = 200
FILES = 10
SLOWDOWN = 1.3
SLOWED_PER_TRIAL = 10
NAIVE_THRESHOLD = 1.2
FACTORS_ENV = "GATE_ACCURACY_FACTORS"

WORKLOAD = f'''
"""Each test takes ``seconds * factor``: half a fixed amount of CPU work, half asleep.

The CPU half is a count of loop iterations calibrated when the suite was written, not a
deadline, so a busy machine makes it slower, as it makes real tests slower.
"""
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

_FILE = os.environ.get("{FACTORS_ENV}")
FACTORS = json.loads(Path(_FILE).read_text()) if _FILE else {{}}


LOOPS_PER_SECOND = {{loops_per_second}}


def work(name: str, seconds: float) -> None:
    seconds *= FACTORS.get(name, 1.0)
    for _ in range(int(seconds / 2 * LOOPS_PER_SECOND)):
        pass
    time.sleep(seconds / 2)
'''


def loops_per_second() -> int:
    """Empty-loop iterations per second here, best of five, for the workload's CPU half."""
    best = 0.0
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(2_000_000):
            pass
        best = max(best, 2_000_000 / (time.perf_counter() - started))
    return int(best)


PYPROJECT = """
[tool.pytest.ini_options]
pythonpath = ["."]
addopts = "-p no:randomly -p no:cacheprovider"

[tool.optikit.performance]
noise_floor_seconds = 0.005
"""


def make_suite(root: Path, seed: int) -> list[str]:
    """Write the suite and return its test names."""
    rng = random.Random(seed)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "workload.py").write_text(
        WORKLOAD.replace("{loops_per_second}", str(loops_per_second()))
    )
    tests = root / "tests"
    tests.mkdir()
    names = []
    per_file = TESTS // FILES
    for index in range(FILES):
        lines = ["from workload import work", ""]
        for number in range(index * per_file, (index + 1) * per_file):
            name = f"test_{number:03d}"
            names.append(name)
            lines += ["", f"def {name}():", f"    work({name!r}, {rng.uniform(0.02, 0.3):.3f})", ""]
        (tests / f"test_gen_{index:02d}.py").write_text("\n".join(lines))
    return names


def run(root: Path, *args: str) -> None:
    result = subprocess.run([sys.executable, "-m", *args], cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr}")


def tracked_run(root: Path, *extra: str) -> RunRecord:
    run(root, "pytest", "-q", "-n", "2", "--track-performance", *extra)
    return read_run_record(root / "tests/.performance_data.json")


def flagged(result: GateResult) -> set[str]:
    return {verdict.nodeid.rsplit("::", 1)[1] for verdict in result.regressions}


def naive_flagged(previous: RunRecord, current: RunRecord) -> set[str]:
    before = {t["nodeid"]: t["duration"] for t in previous["tests"]}
    return {
        t["nodeid"].rsplit("::", 1)[1]
        for t in current["tests"]
        if t["nodeid"] in before and t["duration"] > NAIVE_THRESHOLD * before[t["nodeid"]]
    }


@dataclasses.dataclass
class Score:
    found: int = 0
    injected: int = 0
    false_alarms: int = 0
    trials: int = 0
    suite_alarms: int = 0

    def add(self, slowed: set[str], flagged: set[str], suite_alarms: int = 0) -> None:
        self.found += len(slowed & flagged)
        self.injected += len(slowed)
        self.false_alarms += len(flagged - slowed)
        self.trials += 1
        self.suite_alarms += suite_alarms

    def summary(self) -> dict[str, float]:
        return {
            "found_percent": round(100 * self.found / self.injected, 1),
            "false_alarms_per_trial": round(self.false_alarms / self.trials, 2),
            "suite_level_alarms_per_trial": round(self.suite_alarms / self.trials, 2),
        }


@contextlib.contextmanager
def neighbour(active: bool) -> Iterator[None]:
    """A process that burns one core for as long as the block runs, when ``active``."""
    if not active:
        yield
        return
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=10, help="clean runs before the trials")
    parser.add_argument("--trials", type=int, default=10, help="runs with injected slowdowns")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument(
        "--neighbour", action="store_true", help="a CPU hog beside half of the runs, at random"
    )
    parser.add_argument(
        "--save", type=Path, help="keep the baseline and each trial's run record here"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    suspects_rerun: list[int] = []  # per trial that had any
    scores = {
        "optikit gate": Score(),
        "optikit gate --confirm 3": Score(),
        "optikit gate, default 50 ms floor": Score(),
        "naive: >20% over previous run": Score(),
    }
    with tempfile.TemporaryDirectory(prefix="optikit-gate-") as tmp:
        root = Path(tmp)
        names = make_suite(root, args.seed)
        factors = root / "factors.json"
        factors.write_text("{}")
        os.environ[FACTORS_ENV] = str(factors)
        noisy = args.neighbour
        for number in range(args.history):
            with neighbour(noisy and rng.random() < 0.5):
                previous = tracked_run(root)
            print(f"history run {number + 1}/{args.history}", file=sys.stderr)
        run(root, "optikit", "baseline", "--from-history", str(args.history))
        baseline = read_baseline(root / "tests/.performance_baseline.json")
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            (args.save / "baseline.json").write_text(json.dumps(baseline))
        settings = load_config(root).performance
        default_floor = dataclasses.replace(settings, noise_floor_seconds=0.05)
        for trial in range(args.trials):
            slowed = set(rng.sample(names, SLOWED_PER_TRIAL))
            factors.write_text(json.dumps(dict.fromkeys(slowed, SLOWDOWN)))
            hogged = noisy and rng.random() < 0.5
            with neighbour(hogged):
                current = tracked_run(root, "--performance-no-history")
            result = compare(baseline, current, settings)
            scores["optikit gate"].add(slowed, flagged(result), len(result.suite_regressions))
            confirmed = result
            if result.failed:  # as `optikit regression --confirm` does
                with neighbour(hogged):
                    confirmed = confirm_suspects(result, baseline, settings, 3, root)
                suspects_rerun.append(len(result.suspects))
            scores["optikit gate --confirm 3"].add(
                slowed, flagged(confirmed), len(confirmed.suite_regressions)
            )
            at_default = compare(baseline, current, default_floor)
            scores["optikit gate, default 50 ms floor"].add(
                slowed, flagged(at_default), len(at_default.suite_regressions)
            )
            scores["naive: >20% over previous run"].add(slowed, naive_flagged(previous, current))
            if args.save:
                trial_data = {
                    "slowed": sorted(slowed),
                    "hogged": hogged,
                    "run": current,
                    "confirmed": [  # each suspect as its re-runs judged it
                        dataclasses.asdict(verdict)
                        for verdict in confirmed.tests
                        if verdict.nodeid in result.suspects
                    ],
                    "notes": confirmed.notes,
                }
                (args.save / f"trial_{trial:02d}.json").write_text(json.dumps(trial_data))
            print(f"trial {trial + 1}/{args.trials}", file=sys.stderr)
    report = {
        "tests": TESTS,
        "history_runs": args.history,
        "trials": args.trials,
        "slowed_per_trial": SLOWED_PER_TRIAL,
        "slowdown": SLOWDOWN,
        "noisy_neighbour": args.neighbour,
        "results": {name: score.summary() for name, score in scores.items()},
        "confirm_reruns": {
            "trials_with_suspects": len(suspects_rerun),
            "suspects_per_trial": round(sum(suspects_rerun) / args.trials, 1),
        },
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
