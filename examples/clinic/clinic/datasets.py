"""The clinic's datasets by name; the suite registers them with optikit's lazy registry."""

from __future__ import annotations

import random
from collections.abc import Callable

import polars as pl

from clinic.data import build_patients


def load_patients() -> pl.DataFrame:
    return build_patients(rows=50_000, seed=11)


def load_labs() -> pl.DataFrame:
    rng = random.Random(3)
    tests = ("hba1c", "ldl", "creatinine", "alt")
    rows = [
        (i % 50_000, rng.choice(tests), round(rng.uniform(0.5, 12.0), 2)) for i in range(150_000)
    ]
    return pl.DataFrame(rows, schema=["patient_id", "test", "value"], orient="row")


def load_visits() -> pl.DataFrame:
    rng = random.Random(5)
    rows = [
        (i % 50_000, rng.randint(1, 365), rng.choice(("gp", "er", "clinic")))
        for i in range(120_000)
    ]
    return pl.DataFrame(rows, schema=["patient_id", "day", "kind"], orient="row")


def load_medications() -> pl.DataFrame:
    rng = random.Random(9)
    drugs = ("metformin", "statin", "ace_inhibitor", "inhaler")
    rows = [(i % 50_000, rng.choice(drugs), rng.choice((5, 10, 20, 40))) for i in range(80_000)]
    return pl.DataFrame(rows, schema=["patient_id", "drug", "dose_mg"], orient="row")


DATASETS: dict[str, Callable[[], pl.DataFrame]] = {
    "patients": load_patients,
    "labs": load_labs,
    "visits": load_visits,
    "medications": load_medications,
}
