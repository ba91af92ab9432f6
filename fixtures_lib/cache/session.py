"""One pytest process's use of the fixture cache: keys, hits, misses, rebuilds and their figures.

Nothing here runs unless a cached fixture is requested; the store is opened on first use.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from fixtures_lib.cache import serializers
from fixtures_lib.cache.keys import FORMAT_VERSION, InputFiles, digest, source_digest, token
from fixtures_lib.cache.settings import (
    DEFAULT_DIR,
    CacheSettings,
    disabled_by_env,
    session_key,
    settings_key,
)
from fixtures_lib.cache.store import FixtureCounts, FixtureStore, Header

log = logging.getLogger("fixtures_lib.cache")

_MISSING: Any = object()


class FixtureCacheWarning(UserWarning):
    """The cache could not be used at all; the run goes on without it."""


class CacheSession:
    def __init__(
        self, settings: CacheSettings, root: Path, *, refresh: bool, run_token: str
    ) -> None:
        self.settings = settings
        self.refresh = refresh
        self.run_token = run_token
        self.inputs = InputFiles(root)
        self.counts: dict[str, FixtureCounts] = {}
        self.used: dict[str, float] = {}
        self._latest: dict[str, tuple[int, str]] = {}
        self._store: FixtureStore | None = None
        self._unusable = False

    @property
    def store(self) -> FixtureStore | None:
        """The store, opened on first use; None, after one warning, when it cannot be opened."""
        if self._store is None and not self._unusable:
            try:
                self._store = FixtureStore(self.settings.directory, self.settings.size_limit_mb)
            except (sqlite3.Error, OSError) as exc:
                self._unusable = True
                # a warning, not a log line: pytest shows it in a passing run's summary
                warnings.warn(
                    f"fixture cache: cannot open {self.settings.directory} "
                    f"({type(exc).__name__}: {exc}); running uncached. Fix: optikit cache clear",
                    FixtureCacheWarning,
                    stacklevel=2,
                )
        return self._store

    def key_for(
        self,
        label: str,
        function: Callable[..., Any],
        request: pytest.FixtureRequest,
        arguments: Mapping[str, Any],
        *,
        version: str,
        key: Callable[[pytest.FixtureRequest], Any] | None,
        inputs: tuple[str, ...],
    ) -> str:
        parts = [
            f"format:{FORMAT_VERSION}".encode(),
            label.encode(),
            source_digest(function).encode(),
            b"version:" + version.encode(),
        ]
        if hasattr(request, "param"):
            param = token(request.param)
            if param is None:
                # named by its position in the params list instead, so the list itself counts
                index = getattr(request, "param_index", 0)
                param = f"#{index}:{source_digest(function, decorators=True)}".encode()
            parts.append(b"param:" + param)
        for name, value in sorted(arguments.items()):
            part = self._argument_token(name, value)
            if part is not None:
                parts.append(name.encode() + b"=" + part)
        if key is not None:
            extra = token(key(request))
            if extra is None:
                raise TypeError(
                    f"cached fixture {label}: key= must return plain values "
                    "(str, numbers, tuples, lists, dicts, sets)"
                )
            parts.append(b"key:" + extra)
        if inputs:
            parts.append(b"inputs:" + self.inputs.digest(inputs).encode())
        return f"{label}:{digest(*parts)[:32]}"

    def _argument_token(self, name: str, value: Any) -> bytes | None:
        """A cached input stands for its key; other inputs for their content, if they have one."""
        latest = self._latest.get(name)
        if latest is not None and latest[0] == id(value):
            return b"cached:" + latest[1].encode()
        return token(value)

    def remember(self, argname: str, value: Any, key: str) -> None:
        self._latest[argname] = (id(value), key)

    def fetch(
        self, label: str, key: str, build: Callable[[], Any], scratch: Callable[[], Path]
    ) -> Any:
        store = self.store
        if store is None:
            return build()
        counts = self.counts.setdefault(label, FixtureCounts())
        value = self._load(store, label, key, scratch, counts)
        if value is not _MISSING:
            return value
        with store.lock(key):
            # built by another worker while this one waited for the lock?
            value = self._load(store, label, key, scratch, counts)
            if value is not _MISSING:
                return value
            started = time.perf_counter()
            value = build()
            seconds = time.perf_counter() - started
            counts.misses += 1
            counts.build_seconds += seconds
            self._save(store, label, key, value, seconds)
        return value

    def _load(
        self,
        store: FixtureStore,
        label: str,
        key: str,
        scratch: Callable[[], Path],
        counts: FixtureCounts,
    ) -> Any:
        blob = store.read(key)
        if blob is None:
            return _MISSING
        started = time.perf_counter()
        try:
            header, payload = Header.split(blob)
            if self.refresh and header.run_token != self.run_token:
                return _MISSING  # --refresh-fixture-cache: built before this run, so rebuild
            serializer = serializers.by_name(header.serializer)
            if serializer is None:
                raise LookupError(f"no serializer named {header.serializer!r} is registered")
            value = serializer.load(payload, scratch)
        except Exception as exc:  # any failure to read means the entry cannot be trusted
            log.warning(
                "fixture cache: dropped the unreadable entry for %s in %s (%s: %s); rebuilding",
                label,
                self.settings.directory,
                type(exc).__name__,
                exc,
            )
            store.delete(key)
            counts.corrupt += 1
            return _MISSING
        now = time.time()
        counts.hits += 1
        counts.saved_seconds += max(header.build_seconds - (time.perf_counter() - started), 0.0)
        counts.last_used = self.used[key] = now
        return value

    def _save(self, store: FixtureStore, label: str, key: str, value: Any, seconds: float) -> None:
        serializer = serializers.for_value(value)
        try:
            payload = serializer.dump(value)
        except Exception as exc:  # an unpicklable value is still a good fixture value
            log.warning(
                "fixture cache: %s cannot be stored (%s: %s)", label, type(exc).__name__, exc
            )
            return
        header = Header(serializer.name, round(seconds, 6), self.run_token, time.time())
        if not store.write(key, header, payload):
            log.warning(
                "fixture cache: %s is %.1f MB, more than the whole cache (%.0f MB); not stored",
                label,
                len(payload) / 1024 / 1024,
                self.settings.size_limit_mb,
            )
            return
        self.counts[label].last_used = self.used[key] = time.time()

    def finish(self) -> None:
        """Write this process's figures to the ledger; a failure here must not fail the run."""
        if self._store is None:
            return
        try:
            self._store.record_use(self.counts, self.used)
        except (sqlite3.Error, OSError) as exc:
            log.warning("fixture cache: usage figures not saved (%s: %s)", type(exc).__name__, exc)
        finally:
            self._store.close()


def cache_session(config: pytest.Config) -> CacheSession | None:
    """This process's cache session, created on first use; None when the cache is switched off."""
    session = config.stash.get(session_key, None)
    if session is not None:
        return session
    if disabled_by_env() or config.getoption("no_fixture_cache", False):
        return None
    settings = config.stash.get(settings_key, None) or CacheSettings(config.rootpath / DEFAULT_DIR)
    workerinput = getattr(config, "workerinput", None)
    run_token = workerinput["testrunuid"] if workerinput else uuid.uuid4().hex
    session = CacheSession(
        settings,
        config.rootpath,
        refresh=bool(config.getoption("refresh_fixture_cache", False)),
        run_token=run_token,
    )
    config.stash[session_key] = session
    return session
