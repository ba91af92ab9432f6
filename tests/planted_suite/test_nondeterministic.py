"""Planted non-determinism: a test that fails every other time it runs, and one whose
outcome follows the random data (it fails for data seed 2 only)."""

import random
from pathlib import Path

COUNTER = Path(__file__).with_name("every_other.count")


def test_every_other_run() -> None:
    count = int(COUNTER.read_text()) if COUNTER.exists() else 0
    COUNTER.write_text(str(count + 1))
    assert count % 2 == 0


def test_sampled_discount() -> None:
    assert random.random() < 0.9
