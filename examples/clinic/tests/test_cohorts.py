import polars as pl
from clinic.data import DIAGNOSES, SITES


def test_patient_ids_are_unique(patients):
    assert patients["patient_id"].n_unique() == patients.height


def test_patients_are_adults(patients):
    assert patients["age"].min() >= 18


def test_every_site_and_diagnosis_is_present(patients):
    assert set(patients["site"].unique()) == set(SITES)
    assert set(patients["diagnosis"].unique()) == set(DIAGNOSES)


def test_smoking_rate_is_plausible(patients):
    rate = patients.select(pl.col("smoker").mean()).item()
    assert 0.15 < rate < 0.21
