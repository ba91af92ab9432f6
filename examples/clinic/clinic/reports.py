"""CSV summaries the clinic exports for its dashboards."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl


def summarise(patients: pl.DataFrame, by: str) -> list[tuple[str, int]]:
    counts = patients.group_by(by).agg(pl.len().alias("n")).sort(by)
    return [(str(key), int(n)) for key, n in counts.iter_rows()]


def write_summary(rows: list[tuple[str, int]], path: str | Path) -> None:
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)


def read_summary(path: str | Path) -> list[tuple[str, int]]:
    with open(path, newline="") as handle:
        return [(key, int(n)) for key, n in csv.reader(handle)]
