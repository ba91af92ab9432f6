import os

from clinic.nl_query import answer
from clinic.reports import read_summary, summarise, write_summary

REPORT = "/tmp/clinic_reports/summary.csv"


def test_site_report(patients, parser):
    os.makedirs("/tmp/clinic_reports", exist_ok=True)
    rows = summarise(patients, "site")
    write_summary(rows, REPORT)
    north = answer(patients, parser.parse("How many patients at the north site?"))
    assert read_summary(REPORT) == rows
    assert ("north", north) in rows
    os.remove(REPORT)


def test_diagnosis_report(patients, parser):
    os.makedirs("/tmp/clinic_reports", exist_ok=True)
    rows = summarise(patients, "diagnosis")
    write_summary(rows, REPORT)
    copd = answer(patients, parser.parse("How many patients have copd?"))
    assert read_summary(REPORT) == rows
    assert ("copd", copd) in rows
    os.remove(REPORT)
