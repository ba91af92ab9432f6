import os

from clinic.excel import read_summary, write_cohort_workbook


def test_workbook_summary_counts(cohort_workbook, patients):
    summary = read_summary(cohort_workbook)
    assert sum(count for count, _ in summary.values()) == 5_000


def test_export_to_shared_folder(patients):
    os.makedirs("/tmp/clinic_exports", exist_ok=True)
    path = write_cohort_workbook(patients.head(2_000), "/tmp/clinic_exports/cohort.xlsx")
    assert set(read_summary(path)) == set(patients.head(2_000)["diagnosis"].unique())
