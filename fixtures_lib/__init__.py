"""What a test suite uses at run time: the fixture cache on disk, lazy datasets, LLM cassettes.

The public names are imported on first use, so a pytest run whose suite never touches the
cache does not pay for importing it (this package is loaded by its pytest plugin every run).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fixtures_lib.cache.decorator import cached_fixture as cached_fixture
    from fixtures_lib.cache.serializers import Serializer as Serializer
    from fixtures_lib.cache.serializers import register_serializer as register_serializer
    from fixtures_lib.cache.serializers import unregister_serializer as unregister_serializer
    from fixtures_lib.datasets import DatasetRegistry as DatasetRegistry
    from fixtures_lib.datasets import UnknownDatasetError as UnknownDatasetError

_HOMES = {
    "DatasetRegistry": "fixtures_lib.datasets",
    "Serializer": "fixtures_lib.cache.serializers",
    "UnknownDatasetError": "fixtures_lib.datasets",
    "cached_fixture": "fixtures_lib.cache.decorator",
    "register_serializer": "fixtures_lib.cache.serializers",
    "unregister_serializer": "fixtures_lib.cache.serializers",
}

__all__ = [
    "DatasetRegistry",
    "Serializer",
    "UnknownDatasetError",
    "cached_fixture",
    "register_serializer",
    "unregister_serializer",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'fixtures_lib' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value
