"""``optikit export-durations``: a pytest-split ``.test_durations`` file from the history.

pytest-split balances shards by these numbers; medians over several runs balance better than
one run's durations, which carry that run's noise.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from fixtures_lib.atomic import write_text_atomic
from optikit.timing import history


def export_durations(history_db: Path, runs: int, output: Path) -> int:
    samples = history.durations(history_db, runs)
    durations = {nodeid: round(statistics.median(values), 6) for nodeid, values in samples.items()}
    write_text_atomic(output, json.dumps(dict(sorted(durations.items())), indent=1) + "\n")
    return len(durations)
