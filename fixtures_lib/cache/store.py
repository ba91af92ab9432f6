"""The fixture cache on disk: diskcache entries, a ledger of their use, one lock per key.

Layout under the cache directory:

* ``entries/``: a ``diskcache.Cache`` with least-recently-used eviction, enforced after each
  write so the size limit always holds.
  Each value is raw bytes (a one-line JSON header, then the serialized value), so diskcache
  writes large values straight to their own files and commits the row only after the file is
  complete: a process killed mid-write leaves no entry, never a torn one.
* ``ledger/``: a ``diskcache.Index`` (never evicted) with per-fixture hit and miss counts and
  each entry's last use, written once per process at session end, for ``optikit cache stats``
  and ``prune``.
* ``locks/``: one ``filelock`` per key while it is being built, so under ``pytest -n auto`` one
  worker builds while the others wait and then read. The operating system releases the lock
  if the builder dies.
"""

from __future__ import annotations

import dataclasses
import json
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from annotated_types import Ge, Le

if TYPE_CHECKING:  # imported on first use: a pytest run that caches nothing should not pay for them
    import diskcache
    from filelock import FileLock
    from pydantic import TypeAdapter

MB = 1024 * 1024


@dataclass(frozen=True)
class Header:
    """What travels with a stored value besides its bytes."""

    serializer: str
    build_seconds: float
    run_token: str
    created: float
    size: int = 0
    crc32: int = 0

    def encode(self) -> bytes:
        return json.dumps(self.__dict__, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def split(cls, blob: bytes) -> tuple[Header, memoryview]:
        """Raises ``ValueError`` (or ``KeyError``/``TypeError``) on a damaged entry.

        The size and checksum catch damage a serializer cannot see, such as a cached file
        that lost its tail.
        """
        end = blob.index(b"\n")
        header = cls(**json.loads(blob[:end]))
        payload = memoryview(blob)[end + 1 :]
        if len(payload) != header.size or zlib.crc32(payload) != header.crc32:
            raise ValueError(f"stored {len(payload)} bytes do not match the {header.size} written")
        return header, payload


Count = Annotated[int, Ge(0)]
Amount = Annotated[float, Ge(0), Le(1e12)]  # seconds or a timestamp: finite, not negative


@dataclass
class FixtureCounts:
    """One fixture's figures in one run (or, in the ledger, over all runs): the ledger's schema."""

    hits: Count = 0
    misses: Count = 0
    saved_seconds: Amount = 0.0
    build_seconds: Amount = 0.0
    corrupt: Count = 0
    last_used: Amount = 0.0

    @classmethod
    def from_ledger(cls, value: Any) -> FixtureCounts:
        """Figures as any optikit wrote them: keys a newer one added are ignored; a damaged
        entry starts again from zero rather than breaking every later session."""
        from pydantic import ValidationError

        try:
            return _counts_schema().validate_python(value)
        except ValidationError:
            return cls()

    def merge(self, other: Mapping[str, Any]) -> None:
        self.hits += other.get("hits", 0)
        self.misses += other.get("misses", 0)
        self.saved_seconds += other.get("saved_seconds", 0.0)
        self.build_seconds += other.get("build_seconds", 0.0)
        self.corrupt += other.get("corrupt", 0)
        self.last_used = max(self.last_used, other.get("last_used", 0.0))


@dataclass(frozen=True)
class EntryInfo:
    key: str
    fixture: str
    last_used: float | None


@dataclass
class StoreStats:
    entries: int
    size_bytes: int
    size_limit_bytes: int
    fixtures: dict[str, FixtureCounts] = field(default_factory=dict)
    entries_per_fixture: dict[str, int] = field(default_factory=dict)


@cache
def _counts_schema() -> TypeAdapter[FixtureCounts]:
    from pydantic import TypeAdapter

    return TypeAdapter(FixtureCounts)


def fixture_of(key: str) -> str:
    """Keys read ``<fixture>:<hash>`` so entries can be counted per fixture without reading them."""
    return key.rsplit(":", 1)[0]


class FixtureStore:
    def __init__(self, directory: Path, size_limit_mb: float) -> None:
        self.directory = directory
        self.size_limit = int(size_limit_mb * MB)
        import diskcache

        directory.mkdir(parents=True, exist_ok=True)
        self.entries = diskcache.Cache(
            str(directory / "entries"),
            size_limit=self.size_limit,
            eviction_policy="least-recently-used",
            cull_limit=0,  # evicted here, one entry at a time; see write()
        )
        self._ledger: diskcache.Index | None = None
        (directory / "locks").mkdir(exist_ok=True)

    @property
    def ledger(self) -> diskcache.Index:
        if self._ledger is None:
            import diskcache

            self._ledger = diskcache.Index(str(self.directory / "ledger"))
        return self._ledger

    def read(self, key: str) -> bytes | None:
        value = self.entries.get(key, retry=True)
        return value if isinstance(value, bytes) else None

    def write(self, key: str, header: Header, payload: bytes) -> bool:
        """Store unless the value alone would break the size limit; True when stored."""
        header = dataclasses.replace(header, size=len(payload), crc32=zlib.crc32(payload))
        blob = header.encode() + payload
        if len(blob) > self.size_limit:
            return False
        self.entries.set(key, blob, retry=True)
        while self.entries.volume() > self.size_limit and self._evict_least_recently_used():
            pass
        return True

    def _evict_least_recently_used(self) -> bool:
        """Evict exactly one entry, the one read or written longest ago.

        diskcache culls in batches of ten (``cull()``, and ``cull_limit`` on each write, checked
        before the write lands), which empties a small cache and lets a large write overshoot.
        This reads the order from diskcache's own least-recently-used index and deletes through
        its public API, so the value's file goes too.
        """
        row = self.entries._sql("SELECT key FROM Cache ORDER BY access_time LIMIT 1").fetchone()
        if row is None:
            return False
        self.entries.delete(row[0], retry=True)
        return True

    def delete(self, key: str) -> None:
        self.entries.delete(key, retry=True)

    def lock(self, key: str) -> FileLock:
        from filelock import FileLock

        return FileLock(str(self.directory / "locks" / f"{key.rsplit(':', 1)[1]}.lock"))

    def record_use(self, counts: Mapping[str, FixtureCounts], used: Mapping[str, float]) -> None:
        """Fold one process's figures into the ledger, in one transaction."""
        if not counts and not used:
            return
        ledger = self.ledger
        with ledger.transact():
            for fixture, figures in counts.items():
                total = FixtureCounts.from_ledger(ledger.get(f"fixture:{fixture}", {}))
                total.merge(figures.__dict__)
                ledger[f"fixture:{fixture}"] = total.__dict__
            for key, when in used.items():
                ledger[f"entry:{key}"] = when

    def entry_keys(self) -> Iterator[str]:
        return (key for key in self.entries.iterkeys() if isinstance(key, str))

    def stats(self) -> StoreStats:
        stats = StoreStats(len(self.entries), self.entries.volume(), self.size_limit)
        for key in self.entry_keys():
            fixture = fixture_of(key)
            stats.entries_per_fixture[fixture] = stats.entries_per_fixture.get(fixture, 0) + 1
        for name, value in self.ledger.items():
            if name.startswith("fixture:"):
                stats.fixtures[name.removeprefix("fixture:")] = FixtureCounts.from_ledger(value)
        return stats

    def prune(self, older_than_seconds: float) -> list[EntryInfo]:
        """Drop entries not used within the window (entries never seen in use count as unused)."""
        cutoff = time.time() - older_than_seconds
        removed = []
        for key in list(self.entry_keys()):
            last_used = self.ledger.get(f"entry:{key}")
            if last_used is None or last_used < cutoff:
                self.entries.delete(key, retry=True)
                removed.append(EntryInfo(key, fixture_of(key), last_used))
        live = set(self.entry_keys())
        with self.ledger.transact():
            for name in list(self.ledger.keys()):
                if name.startswith("entry:") and name.removeprefix("entry:") not in live:
                    del self.ledger[name]
        return removed

    def clear(self) -> int:
        count = int(self.entries.clear(retry=True))
        self.ledger.clear()
        return count

    def close(self) -> None:
        self.entries.close()
        if self._ledger is not None:
            self._ledger.cache.close()
