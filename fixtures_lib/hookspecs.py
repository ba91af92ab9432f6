"""Hooks fixtures_lib adds to pytest, for conftest files and plugins to implement."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fixtures_lib.datasets import DatasetRegistry


def pytest_optikit_datasets(registry: DatasetRegistry) -> None:
    """Register datasets by name: ``registry.register("labs", load_labs, cache=True)``.

    Called once per session when a test first uses ``dataset_registry`` or ``get_dataset``;
    register loaders only, never load here.
    """
