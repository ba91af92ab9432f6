"""Overhead of ``pytest --track-performance`` on 5,000 trivial tests, serial and ``-n 2``.

Paired runs, alternating, so drift in the machine's speed hits both sides equally; the figure
is the median of the per-pair ratios. pytest-monitor runs on the same suite from its own
virtual environment (it would otherwise load into every run here) when it can be installed.

    python benchmarks/tracker_overhead.py [--pairs 5] [--instructions]

Wall time on a shared 2-core VM swings by 20% between identical runs, more than the 2% being
measured. ``--instructions`` adds a deterministic figure: the instructions each variant executes
(serial), counted by valgrind's callgrind with ``PYTHONHASHSEED=0`` (a random hash seed alone
moves pytest's count by 2%). Instructions are not time, but the ratio is reproducible to 0.02%.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = 5_000
FILES = 50

BASE = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
VARIANTS = {
    "optikit not loaded": [*BASE, "-p", "no:optikit"],
    "optikit loaded, no flag": BASE,
    "--track-performance": [*BASE, "--track-performance"],
}


def compile_sources() -> None:
    """Byte-compile optikit as an installed package would be: with PYTHONDONTWRITEBYTECODE set
    (as on this machine) every run would otherwise compile the tracker's modules again, a
    cost users never pay, charged to the flag alone."""
    repository = Path(__file__).resolve().parent.parent
    for package in ("optikit", "fixtures_lib"):
        compileall.compile_dir(repository / package, quiet=1)


def make_suite(root: Path) -> None:
    per_file = TESTS // FILES
    for index in range(FILES):
        body = "\n\n".join(f"def test_{i}():\n    assert {i} >= 0" for i in range(per_file))
        (root / f"test_gen_{index:02d}.py").write_text(body + "\n")


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return elapsed


def monitor_python(scratch: Path) -> Path | None:
    """A venv with pytest-monitor and pytest-xdist, or None when it cannot be installed.

    pytest-monitor 1.6.6 (its latest release) fails every test on pytest >= 8.4 ('Module'
    object has no attribute '_nodeid'), so its venv pins the last pytest it works with.
    """
    venv = scratch / "monitor-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "pytest-monitor", "pytest<8.4", "pytest-xdist"],
        capture_output=True,
        text=True,
    )
    return python if install.returncode == 0 else None


def measure(
    suite: Path, commands: dict[str, list[str]], pairs: int, workers: str | None
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    extra = ["-n", workers] if workers else []
    for _ in range(pairs):
        for name, command in commands.items():
            (suite / ".pymon").unlink(missing_ok=True)
            shutil.rmtree(suite / ".optikit", ignore_errors=True)
            times[name].append(timed([*command, *extra], suite))
    return times


def instructions(command: list[str], cwd: Path) -> int:
    """Instructions executed by ``command`` under callgrind (about 50x slower than native)."""
    out = cwd / "callgrind.out"
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    out.unlink(missing_ok=True)
    shutil.rmtree(cwd / ".optikit", ignore_errors=True)
    match = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or match is None:
        raise SystemExit(f"callgrind run failed:\n{result.stderr[-2000:]}")
    return int(match[1])


def percent(value: float, reference: float) -> float:
    return round((value / reference - 1) * 100, 2)


def overhead(times: dict[str, list[float]], name: str, reference: str) -> float:
    ratios = [b / a for a, b in zip(times[reference], times[name], strict=True)]
    return (statistics.median(ratios) - 1) * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--skip-monitor", action="store_true", help="leave pytest-monitor out")
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions with valgrind"
    )
    args = parser.parse_args()
    results: dict[str, object] = {"tests": TESTS, "pairs": args.pairs}
    compile_sources()
    with tempfile.TemporaryDirectory(prefix="optikit-overhead-") as tmp:
        scratch = Path(tmp)
        suite = scratch / "suite"
        suite.mkdir()
        make_suite(suite)
        commands = dict(VARIANTS)
        # each variant is compared with the plain run from its own environment
        references = {name: "optikit not loaded" for name in VARIANTS}
        monitor = None if args.skip_monitor else monitor_python(scratch)
        if monitor is None:
            results["pytest-monitor"] = "skipped or could not be installed here"
        else:
            plain = [str(monitor), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
            commands["pytest-monitor venv, plugin off"] = [*plain, "-p", "no:monitor"]
            commands["pytest-monitor"] = plain
            references["pytest-monitor"] = "pytest-monitor venv, plugin off"
            references["pytest-monitor venv, plugin off"] = "pytest-monitor venv, plugin off"
        if args.instructions:
            counts = {name: instructions(command, suite) for name, command in VARIANTS.items()}
            tracked = counts["--track-performance"]
            results["instructions (serial, callgrind)"] = {
                **counts,
                "flag_overhead_percent": percent(tracked, counts["optikit loaded, no flag"]),
                "vs_not_loaded_percent": percent(tracked, counts["optikit not loaded"]),
            }
        for mode, workers in (("serial", None), ("-n 2", "2")):
            times = measure(suite, commands, args.pairs, workers)
            figures: dict[str, dict[str, float]] = {
                name: {
                    "median_seconds": round(statistics.median(values), 3),
                    "overhead_percent": round(overhead(times, name, references[name]), 2),
                }
                for name, values in times.items()
            }
            flag = overhead(times, "--track-performance", "optikit loaded, no flag")
            figures["--track-performance"]["over_no_flag_percent"] = round(flag, 2)
            results[mode] = figures
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
