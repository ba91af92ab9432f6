"""fixtures_lib's pytest plugin: cache and cassette switches, their summaries, dataset fixtures.

Registered through its own ``pytest11`` entry point. Every hook here is a dictionary lookup
until a test actually uses a cached fixture or a dataset; only then are the cache and the
dataset registry imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from fixtures_lib import hookspecs
from fixtures_lib.cache.settings import (
    DISABLE_ENV,
    WORKER_OUTPUT_KEY,
    existing_session,
    run_totals,
)
from fixtures_lib.cassettes import plugin as cassettes

if TYPE_CHECKING:
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
    cassettes.add_options(parser)


@pytest.hookimpl(trylast=True)  # after optikit's plugin has put the configured settings in place
def pytest_configure(config: pytest.Config) -> None:
    cassettes.register(config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    local = existing_session(config)
    if local is None:
        return
    from fixtures_lib.cache.store import FixtureCounts

    totals = run_totals(config)
    for label, counts in local.counts.items():
        totals.setdefault(label, FixtureCounts()).merge(counts.__dict__)
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[WORKER_OUTPUT_KEY] = {k: v.__dict__ for k, v in local.counts.items()}
    local.finish()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any) -> None:
    cassettes.merge_worker(node)
    figures = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY, {})
    if not figures:
        return
    from fixtures_lib.cache.store import FixtureCounts

    totals = run_totals(node.config)
    for label, counts in figures.items():
        totals.setdefault(label, FixtureCounts()).merge(counts)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    cassettes.summary(terminalreporter, config)
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
    from fixtures_lib.cache.session import cache_session
    from fixtures_lib.datasets import DatasetRegistry

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
