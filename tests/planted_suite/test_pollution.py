"""Planted order dependence: one polluter, two polluters, a chain, and a brittle test."""

SETTINGS = {"currency": "USD"}
SEEN: list[str] = []
FLAGS: dict[str, bool] = {}
REGISTRY: dict[str, bool] = {}


def test_set_currency() -> None:
    SETTINGS["currency"] = "EUR"


def test_price_in_usd() -> None:
    assert SETTINGS["currency"] == "USD"


def test_cache_a() -> None:
    SEEN.append("a")


def test_cache_b() -> None:
    SEEN.append("b")


def test_cache_starts_empty() -> None:
    assert SEEN == []


def test_chain_first() -> None:
    FLAGS["first"] = True


def test_chain_second() -> None:
    if FLAGS.get("first"):
        FLAGS["second"] = True


def test_chain_victim() -> None:
    assert not FLAGS.get("second")


def test_setup_registry() -> None:
    REGISTRY["ready"] = True


def test_needs_registry() -> None:
    assert REGISTRY.get("ready")
