"""How long ``optikit --help`` takes, against ``python -c pass`` and against importing typer
and its help formatter alone (the floor any typer CLI pays), side by side in one run.

Target (issue 18): under 0.3 s on this machine.

    python benchmarks/cli_startup.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import typer + help formatter": [sys.executable, "-c", "import typer.main, typer.rich_utils"],
    "optikit --help": [sys.executable, "-m", "optikit", "--help"],
    "optikit codemod --help": [sys.executable, "-m", "optikit", "codemod", "--help"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    repeats = parser.parse_args().repeats
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(repeats):  # interleaved, so a busy moment costs every command alike
        for name, command in COMMANDS.items():
            started = time.perf_counter()
            subprocess.run(command, capture_output=True, check=True)
            times[name].append(time.perf_counter() - started)
    for name, seconds in times.items():
        print(f"{name:32} median {statistics.median(seconds):.3f} s, min {min(seconds):.3f} s")


if __name__ == "__main__":
    main()
