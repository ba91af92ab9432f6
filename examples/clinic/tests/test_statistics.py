import polars as pl
from clinic.excel import read_summary, write_cohort_workbook
from clinic.nl_query import apply_query


def test_bootstrap_mean_age_interval(patients):
    means = sorted(
        patients.sample(fraction=1.0, with_replacement=True, seed=seed)["age"].mean()
        for seed in range(400)
    )
    low, high = means[10], means[-11]
    assert low < patients["age"].mean() < high
    assert high - low < 0.5


def test_monthly_review_workbook(patients, parser, tmp_path):
    cohort = patients.head(20_000)
    summary = read_summary(write_cohort_workbook(cohort, tmp_path / "review.xlsx"))
    for diagnosis in ("diabetes", "asthma"):
        query = parser.parse(f"How many patients have {diagnosis}?")
        assert summary[diagnosis][0] == apply_query(cohort, query).height
    assert pl.DataFrame(list(summary)).height == 5
