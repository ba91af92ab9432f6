"""A registry of datasets by name that loads each one only when a test first asks for it.

Suites that build a dict of every dataset up front pay for all of them in every run, even when
the selected tests need one. Here ``names()`` and ``available()`` never call a loader, and
``get(name)`` loads once per session, optionally through the fixture cache so a later run
reads the result from disk instead of loading it again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

from fixtures_lib.cache.keys import digest, source_digest
from fixtures_lib.cache.session import CacheSession

ENTRY_POINT_GROUP = "optikit.datasets"
L = TypeVar("L", bound=Callable[[], Any])


class UnknownDatasetError(KeyError):
    """A name nobody registered: a typo to fix, never a reason to skip."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Dataset:
    name: str
    loader: Callable[[], Any]
    available: Callable[[], bool] | None
    reason: str
    cache: bool
    version: str


class DatasetRegistry:
    def __init__(self, cache: CacheSession | None = None) -> None:
        self.cache = cache
        self._datasets: dict[str, Dataset] = {}
        self._loaded: dict[str, Any] = {}
        self._availability: dict[str, bool] = {}
        self._lock = threading.Lock()

    def register(
        self,
        name: str,
        loader: L | None = None,
        *,
        available: Callable[[], bool] | None = None,
        reason: str = "",
        cache: bool = False,
        version: str = "",
    ) -> Any:
        """Register ``loader`` under ``name``; without a loader, return a decorator for one.

        ``available`` says, cheaply and without loading, whether the dataset can be had here
        (a file exists, a credential is set); ``reason`` is shown when it cannot. ``cache``
        stores what the loader returns in the fixture cache, keyed by the loader's source and
        ``version``.
        """

        def add(function: L) -> L:
            if name in self._datasets:
                raise ValueError(f"dataset {name!r} is already registered")
            self._datasets[name] = Dataset(name, function, available, reason, cache, version)
            return function

        return add(loader) if loader is not None else add

    def names(self) -> list[str]:
        return sorted(self._datasets)

    def is_available(self, name: str) -> bool:
        dataset = self._dataset(name)
        if name not in self._availability:
            self._availability[name] = dataset.available is None or bool(dataset.available())
        return self._availability[name]

    def available(self) -> list[str]:
        return [name for name in self.names() if self.is_available(name)]

    def unavailable_reason(self, name: str) -> str:
        dataset = self._dataset(name)
        check = getattr(dataset.available, "__name__", "its availability check")
        detail = dataset.reason or f"{check}() returned False"
        return f"dataset {name!r} is not available here: {detail}"

    def is_loaded(self, name: str) -> bool:
        return name in self._loaded

    def get(self, name: str) -> Any:
        """The dataset, loaded on first use and shared afterwards (xdist workers load their own)."""
        with self._lock:
            if name not in self._loaded:
                dataset = self._dataset(name)
                if not self.is_available(name):
                    raise LookupError(self.unavailable_reason(name))
                self._loaded[name] = self._load(dataset)
            return self._loaded[name]

    def _load(self, dataset: Dataset) -> Any:
        if not dataset.cache or self.cache is None:
            return dataset.loader()
        label = f"dataset.{dataset.name}"
        recipe = digest(source_digest(dataset.loader).encode(), dataset.version.encode())
        key = f"{label}:{recipe[:32]}"
        return self.cache.fetch(label, key, dataset.loader, _no_scratch)

    def _dataset(self, name: str) -> Dataset:
        try:
            return self._datasets[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise UnknownDatasetError(f"no dataset named {name!r} (registered: {known})") from None

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Each entry point names a function that takes the registry and registers datasets."""
        for entry_point in entry_points(group=group):
            entry_point.load()(self)


def _no_scratch() -> Path:
    raise TypeError("datasets are values, not files: return the loaded data, not a path")
