"""Fixture cache settings and per-run figures: plain values, importable without the cache.

The pytest plugins read and hand over these on every run; the cache machinery itself
(``session``, ``store``, diskcache, sqlite3) is imported only when a test uses a cached fixture.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fixtures_lib.cache.session import CacheSession
    from fixtures_lib.cache.store import FixtureCounts

DISABLE_ENV = "DISABLE_TEST_CACHE"
DEFAULT_DIR = "tests/.test_cache"
DEFAULT_SIZE_LIMIT_MB = 500.0
WORKER_OUTPUT_KEY = "optikit_fixture_cache"


@dataclass(frozen=True)
class CacheSettings:
    """Handed over by whoever owns the configuration (optikit's plugin reads pyproject.toml)."""

    directory: Path
    size_limit_mb: float = DEFAULT_SIZE_LIMIT_MB


settings_key = pytest.StashKey[CacheSettings]()
session_key = pytest.StashKey["CacheSession"]()
_totals_key = pytest.StashKey[dict[str, "FixtureCounts"]]()


def disabled_by_env() -> bool:
    return os.environ.get(DISABLE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def existing_session(config: pytest.Config) -> CacheSession | None:
    return config.stash.get(session_key, None)


def run_totals(config: pytest.Config) -> dict[str, FixtureCounts]:
    """Per-fixture figures for the whole run: this process's, plus every xdist worker's."""
    return config.stash.setdefault(_totals_key, {})
