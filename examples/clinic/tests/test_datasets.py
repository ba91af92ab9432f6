def test_lab_values_are_positive(discovered_datasets):
    assert discovered_datasets["labs"]["value"].min() > 0


def test_visits_fall_within_the_year(discovered_datasets):
    days = discovered_datasets["visits"]["day"]
    assert days.min() >= 1
    assert days.max() <= 365
