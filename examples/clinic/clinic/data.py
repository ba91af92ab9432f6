"""Synthetic patient data, built row by row the way many teams' fixture factories are."""

from __future__ import annotations

import random

import polars as pl

DIAGNOSES = ("diabetes", "hypertension", "asthma", "copd", "healthy")
SITES = ("north", "south", "east", "west")


def build_patients(rows: int = 200_000, seed: int = 7) -> pl.DataFrame:
    """A deterministic patients table; slow on purpose because it is realistic, not clever."""
    rng = random.Random(seed)
    records = [
        (
            index,
            rng.randint(18, 95),
            rng.choice("FM"),
            round(rng.gauss(27.0, 4.5), 1),
            rng.choice(DIAGNOSES),
            rng.random() < 0.18,
            rng.randint(95, 185),
            rng.choice(SITES),
        )
        for index in range(rows)
    ]
    return pl.DataFrame(
        records,
        schema=[
            ("patient_id", pl.Int64),
            ("age", pl.Int64),
            ("sex", pl.String),
            ("bmi", pl.Float64),
            ("diagnosis", pl.String),
            ("smoker", pl.Boolean),
            ("systolic_bp", pl.Int64),
            ("site", pl.String),
        ],
        orient="row",
    )
