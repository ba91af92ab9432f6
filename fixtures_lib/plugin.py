"""fixtures_lib's pytest plugin: cache and cassette switches, their summaries, dataset fixtures.

Registered through its own ``pytest11`` entry point. Every hook here is a dictionary lookup
until a test actually uses a cached fixture or a dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fixtures_lib import hookspecs, llm_plugin
from fixtures_lib.cache_session import (
    DISABLE_ENV,
    WORKER_OUTPUT_KEY,
    cache_session,
    existing_session,
    run_totals,
)
from fixtures_lib.cache_store import FixtureCounts
from fixtures_lib.datasets import DatasetRegistry


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("optikit-cache", "optikit fixture cache")
    group.addoption(
        "--no-fixture-cache",
        action="store_true",
        help=f"build every cached fixture as if it were a plain one (same as {DISABLE_ENV}=1)",
    )
    group.addoption(
        "--refresh-fixture-cache",
        action="store_true",
        help="rebuild, once per run, every cached fixture and dataset this run uses",
    )
    llm_plugin.add_options(parser)


@pytest.hookimpl(trylast=True)  # after optikit's plugin has put the configured settings in place
def pytest_configure(config: pytest.Config) -> None:
    llm_plugin.register(config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    local = existing_session(config)
    if local is None:
        return
    totals = run_totals(config)
    for label, counts in local.counts.items():
        totals.setdefault(label, FixtureCounts()).merge(counts.__dict__)
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[WORKER_OUTPUT_KEY] = {k: v.__dict__ for k, v in local.counts.items()}
    local.finish()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any) -> None:
    llm_plugin.merge_worker(node)
    figures = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY, {})
    totals = run_totals(node.config)
    for label, counts in figures.items():
        totals.setdefault(label, FixtureCounts()).merge(counts)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    llm_plugin.summary(terminalreporter, config)
    totals = run_totals(config)
    if not totals:
        return
    terminalreporter.write_sep("-", "optikit fixture cache")
    width = max(len(label) for label in totals)
    for label, counts in sorted(totals.items()):
        line = (
            f"{label:<{width}}  {counts.hits} hit{'s' * (counts.hits != 1)}, "
            f"{counts.misses} miss{'es' * (counts.misses != 1)}, "
            f"{counts.saved_seconds:.2f} s saved"
        )
        if counts.corrupt:
            line += (
                f", {counts.corrupt} unreadable entr{'ies' if counts.corrupt > 1 else 'y'} rebuilt"
            )
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def dataset_registry(pytestconfig: pytest.Config) -> DatasetRegistry:
    """Every dataset registered by entry points and conftest files; nothing loaded yet."""
    registry = DatasetRegistry(cache=cache_session(pytestconfig))
    registry.load_entry_points()
    pytestconfig.hook.pytest_optikit_datasets(registry=registry)
    return registry


@pytest.fixture
def get_dataset(dataset_registry: DatasetRegistry) -> Callable[[str], Any]:
    """``get_dataset("labs")``: the dataset, loaded on first use; skips the test if unavailable."""

    def get(name: str) -> Any:
        if not dataset_registry.is_available(name):  # an unknown name raises: a typo is an error
            pytest.skip(dataset_registry.unavailable_reason(name))
        return dataset_registry.get(name)

    return get


@pytest.fixture(scope="session")
def discovered_datasets(dataset_registry: DatasetRegistry) -> dict[str, Any]:
    """Every available dataset, loaded up front: the slow path, for suites still migrating.

    Prefer ``get_dataset``: a run that selects one test then loads one dataset, not all.
    """
    return {name: dataset_registry.get(name) for name in dataset_registry.available()}
