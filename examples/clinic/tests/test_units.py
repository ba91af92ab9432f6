from clinic.units import normalise, register_alias


def test_unknown_units_pass_through():
    assert normalise("lb") == "lb"


def test_known_aliases_expand():
    assert normalise("mmol/L") == "millimole per litre"


def test_register_imperial_alias():
    register_alias("lb", "pound")
    assert normalise("LB") == "pound"
