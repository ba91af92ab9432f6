"""What a test suite uses at run time: the fixture cache on disk, lazy datasets, LLM cassettes."""

from fixtures_lib.cached_fixture import cached_fixture
from fixtures_lib.datasets import DatasetRegistry, UnknownDatasetError
from fixtures_lib.serializers import Serializer, register_serializer, unregister_serializer

__all__ = [
    "DatasetRegistry",
    "Serializer",
    "UnknownDatasetError",
    "cached_fixture",
    "register_serializer",
    "unregister_serializer",
]
