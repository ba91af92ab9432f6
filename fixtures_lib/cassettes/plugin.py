"""The pytest side of LLM cassettes: which mode, which cassette for which test, what it saved.

``register`` runs at configure time and adds ``CassettePlugin`` only when cassettes are in
play: ``--record-llm`` was given, or the cassette directory exists (the project has recorded
before). Otherwise nothing is patched and no hook runs per test.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from fixtures_lib.cassettes.settings import LLMCounts, LLMSettings, Mode

if TYPE_CHECKING:
    from fixtures_lib.cassettes.cassette import CassetteSession

settings_key = pytest.StashKey[LLMSettings]()
_totals_key = pytest.StashKey[LLMCounts]()
WORKER_OUTPUT_KEY = "optikit_llm"
DEFAULT_DIR = "tests/cassettes"


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("optikit-llm", "optikit LLM cassettes")
    # A flag and a mode with a required value (pytest-recording's --record-mode shape): an
    # optional value would take the node id that follows (`--record-llm tests/x.py::test`).
    group.addoption(
        "--record-llm",
        action="store_true",
        help="record LLM calls that have no recording and replay the rest",
    )
    group.addoption(
        "--record-llm-mode",
        choices=("new", "all"),
        help="new: as --record-llm; all: record every call afresh, replacing each test's "
        "cassette once its test passes",
    )
    group.addoption(
        "--no-llm-cassettes",
        action="store_true",
        help="every LLM call goes live; no cassette is read or written",
    )


def mode_of(config: pytest.Config) -> Mode:
    if config.getoption("no_llm_cassettes", False):
        return Mode.OFF
    record = config.getoption("record_llm_mode", None) or (
        "new" if config.getoption("record_llm", False) else ""
    )
    return {"new": Mode.NEW, "all": Mode.ALL}.get(record, Mode.REPLAY)


def register(config: pytest.Config) -> None:
    settings = config.stash.get(settings_key, None) or LLMSettings(config.rootpath / DEFAULT_DIR)
    mode = mode_of(config)
    if mode is Mode.OFF or (mode is Mode.REPLAY and not settings.cassette_dir.is_dir()):
        return
    from fixtures_lib.cassettes.cassette import CassetteSession, LLMCassette  # imports vcrpy

    plugin = CassettePlugin(CassetteSession(LLMCassette(settings, mode, config.rootpath)))
    config.pluginmanager.register(plugin, "optikit-llm-cassettes")


def run_totals(config: pytest.Config) -> LLMCounts:
    return config.stash.setdefault(_totals_key, LLMCounts())


class CassettePlugin:
    def __init__(self, session: CassetteSession) -> None:
        self.session = session

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        # the whole protocol, so calls made by fixtures are recorded with the test's calls
        self.session.start(item.nodeid, live=item.get_closest_marker("real_llm") is not None)
        try:
            return (yield)
        finally:
            self.session.finish()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:  # a re-recording that failed must not replace the old cassette
            self.session.cassette.failed = True

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.session.close()
        counts = self.session.cassette.counts
        run_totals(session.config).merge(vars(counts))
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[WORKER_OUTPUT_KEY] = vars(counts)


def merge_worker(node: Any) -> None:
    figures = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
    if figures:
        run_totals(node.config).merge(figures)


def summary(terminalreporter: Any, config: pytest.Config) -> None:
    totals = config.stash.get(_totals_key, None)
    if totals is None or not (totals.replayed or totals.recorded):
        return
    terminalreporter.write_sep("-", "optikit LLM cassettes")
    terminalreporter.write_line(
        f"{totals.replayed} call{'s' * (totals.replayed != 1)} replayed "
        f"({totals.saved_seconds:.1f} s of recorded latency not waited for, "
        f"{totals.tokens:,} tokens), {totals.recorded} recorded"
    )
