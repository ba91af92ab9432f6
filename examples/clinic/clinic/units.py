"""Lab unit aliases. Module-level and mutable, as such registries usually are."""

from __future__ import annotations

UNIT_ALIASES: dict[str, str] = {
    "mg": "milligram",
    "g": "gram",
    "kg": "kilogram",
    "ml": "millilitre",
    "mmol/l": "millimole per litre",
}


def register_alias(alias: str, unit: str) -> None:
    UNIT_ALIASES[alias.lower()] = unit


def normalise(unit: str) -> str:
    """Known aliases become their full name; anything else passes through unchanged."""
    return UNIT_ALIASES.get(unit.lower(), unit)
