"""``--audit-shuffle N``: the audit's own random test order.

Installing optikit must change nothing about a suite (no reordering, no reseeding), so the
audit shuffles by itself rather than bringing pytest-randomly into every environment. The
order is pytest-randomly's kind: the modules in a random order, the classes within each
module, then the tests within each class, all drawn from one seed, so every xdist worker
collects the same order. Random state is not touched here (``--audit-data-seed`` reseeds
``random`` and numpy before each test).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

import pytest

T = TypeVar("T")


def shuffled(nodeids: Sequence[str], seed: int) -> list[int]:
    """The positions of ``nodeids`` in shuffled order: modules, then classes, then tests."""
    rng = random.Random(seed)
    modules: dict[str, dict[str, list[int]]] = {}
    for index, nodeid in enumerate(nodeids):
        parts = nodeid.split("[", 1)[0].split("::")
        modules.setdefault(parts[0], {}).setdefault("::".join(parts[:-1]), []).append(index)
    order: list[int] = []
    for classes in _shuffle(rng, list(modules.values())):
        for tests in _shuffle(rng, list(classes.values())):
            order.extend(_shuffle(rng, tests))
    return order


def _shuffle(rng: random.Random, values: list[T]) -> list[T]:
    rng.shuffle(values)
    return values


class Shuffle:
    def __init__(self, seed: int) -> None:
        self.seed = seed

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        items[:] = shuffled_items(items, self.seed)


def shuffled_items(items: list[pytest.Item], seed: int) -> list[pytest.Item]:
    """``items`` in the order seed ``seed`` draws (the probe server's forked runs too)."""
    return [items[i] for i in shuffled([item.nodeid for item in items], seed)]


def register(config: pytest.Config) -> None:
    """Called by optikit's plugin when ``--audit-shuffle`` is given."""
    config.pluginmanager.register(Shuffle(config.getoption("audit_shuffle")), "optikit-shuffle")
