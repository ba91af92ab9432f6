def test_lab_values_are_positive(get_dataset):
    assert get_dataset("labs")["value"].min() > 0


def test_visits_fall_within_the_year(get_dataset):
    days = get_dataset("visits")["day"]
    assert days.min() >= 1
    assert days.max() <= 365
