"""Cohort workbooks for the clinic's monthly review, written with openpyxl."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from openpyxl import Workbook, load_workbook


def write_cohort_workbook(patients: pl.DataFrame, path: Path) -> Path:
    """One sheet of patient rows, one of per-diagnosis summaries; cell by cell, like openpyxl."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Patients"
    sheet.append(patients.columns)
    for row in patients.iter_rows():
        sheet.append(list(row))
    summary = workbook.create_sheet("Summary")
    summary.append(["diagnosis", "patients", "mean_age"])
    grouped = patients.group_by("diagnosis").agg(
        pl.len().alias("patients"), pl.col("age").mean().round(2).alias("mean_age")
    )
    for row in grouped.sort("diagnosis").iter_rows():
        summary.append(list(row))
    workbook.save(path)
    return path


def read_summary(path: Path) -> dict[str, tuple[int, float]]:
    workbook = load_workbook(path, read_only=True)
    rows = workbook["Summary"].iter_rows(min_row=2, values_only=True)
    return {str(name): (int(count), float(age)) for name, count, age in rows}  # type: ignore[arg-type]
