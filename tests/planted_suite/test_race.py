"""Planted race: two tests write and read back the same file; side by side, one loses."""

import time
from pathlib import Path

SHARED = Path(__file__).with_name("shared.txt")


def write_and_check(text: str) -> None:
    SHARED.write_text(text)
    time.sleep(0.3)  # the work between writing and reading, where the other test writes
    assert SHARED.read_text() == text


def test_race_writer_a() -> None:
    write_and_check("a")


def test_race_writer_b() -> None:
    write_and_check("b")
