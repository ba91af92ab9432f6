"""optikit's pytest plugin, registered through the ``pytest11`` entry point.

Installing optikit must not change a suite that does not ask for anything: this module only
registers optikit's markers (so ``--strict-markers`` suites need no config edits) and checks
``[tool.optikit]`` once, turning a bad value into a pytest usage error rather than a failure
deep inside some later hook. Every measuring or rewriting behaviour is behind its own flag.
"""

from __future__ import annotations

import pytest

from fixtures_lib.cache.settings import CacheSettings
from fixtures_lib.cache.settings import settings_key as cache_settings_key
from fixtures_lib.cassettes.plugin import settings_key as llm_settings_key
from fixtures_lib.cassettes.settings import LLMSettings
from optikit.audit import serial_lock
from optikit.config import OptikitConfig, load_config
from optikit.errors import OptikitError
from optikit.markers import MARKERS

config_key = pytest.StashKey[OptikitConfig]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("optikit", "optikit performance tracking")
    group.addoption(
        "--track-performance",
        action="store_true",
        help="record per-test and per-fixture timings to the run record and the history",
    )
    group.addoption(
        "--track-memory",
        action="store_true",
        help="with --track-performance: also record each test's RSS growth (needs psutil)",
    )
    group.addoption(
        "--track-summary",
        type=int,
        default=5,
        metavar="N",
        help="with --track-performance: end with the N slowest tests and costliest fixtures "
        "(default 5; 0 for none)",
    )
    group.addoption(
        "--performance-data",
        metavar="PATH",
        help="write the run record here instead of [tool.optikit.performance] data_file "
        "(give it as --performance-data=PATH)",
    )
    group.addoption(
        "--performance-no-history",
        action="store_true",
        help="do not append this run to the history database",
    )
    group.addoption(
        "--performance-warm-up",
        action="store_true",
        help="with --track-performance: run the selected tests twice and record the second "
        "run (optikit regression --confirm: a one-time cost, such as a first import or a "
        "cache filled, then falls on no test)",
    )
    group.addoption(
        "--audit-log",
        metavar="PATH",
        help="(used by optikit audit-parallel) write each worker's test sequence, outcomes "
        "and side effects here",
    )
    group.addoption(
        "--audit-shuffle",
        type=int,
        metavar="N",
        help="run the tests in a random order drawn from seed N (modules, then classes, then "
        "tests, as pytest-randomly does; random state untouched)",
    )
    group.addoption(
        "--audit-data-seed",
        type=int,
        metavar="N",
        help="reseed random and numpy with N before every test",
    )
    group.addoption(
        "--audit-serve",
        metavar="R,W",
        help="(used by optikit audit-parallel) collect once, then run each requested "
        "sequence read from fd R in a forked process, replying on fd W",
    )
    group.addoption(
        "--audit-order",
        metavar="FILE",
        help="(with --audit-log) run exactly the node ids in FILE, one per line, in that order",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    try:
        settings = load_config(config.rootpath)
    except OptikitError as exc:
        raise pytest.UsageError(f"optikit: {exc}") from None
    config.stash[config_key] = settings
    config.stash[cache_settings_key] = CacheSettings(
        settings.path(settings.cache.dir), settings.cache.size_limit_mb
    )
    config.stash[llm_settings_key] = LLMSettings(
        settings.path(settings.llm.cassette_dir), settings.llm.hosts, settings.llm.volatile_fields
    )
    serial_lock.register(config)
    if config.getoption("track_performance"):
        # imported here: a session without the flag should not pay for the tracker's imports
        from optikit.timing import tracker

        tracker.register(config, settings)
    if config.getoption("audit_shuffle") is not None:
        from optikit.audit import shuffle

        shuffle.register(config)
    recording = config.getoption("audit_log") or config.getoption("audit_serve")
    if recording or config.getoption("audit_data_seed") is not None:
        from optikit.audit import recorder as audit_recorder

        audit_recorder.register(config, settings)


def optikit_config(config: pytest.Config) -> OptikitConfig:
    """The project's optikit config, as loaded when the session started."""
    return config.stash[config_key]
