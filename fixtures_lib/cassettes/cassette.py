"""Record LLM calls once, replay them ever after: a vcrpy ``Cassette`` fitted to LLM APIs.

One ``LLMCassette`` lives for the whole session and vcrpy's patches go on once; before each
test it is pointed at that test's file, after it the file is saved if anything was recorded.
(vcrpy's own ``use_cassette`` per test would patch and unpatch a dozen HTTP libraries around
every test of the suite.) What differs from plain vcrpy:

* recordings are looked up by the hash of the normalised request (``cassettes.requests``), not by
  trying each stored request in turn, so replay costs the same with 5 or 500 calls recorded;
* only the configured LLM hosts are recorded or replayed; all other traffic goes out untouched;
* in replay mode a call with no recording fails the test at once, before any network attempt,
  with the cassette, the request, the closest recording and the command that records it.
  ``pytest.fail`` raises a ``BaseException``, so clients that retry on ``Exception`` (openai,
  anthropic) do not retry it into a connection error;
* credentials are dropped or redacted before anything is written (``cassettes.secrets``), but
  a recording is matched by the request as it was sent: when redaction changed it, a slow
  digest of the sent request is stored beside it (``optikit.match``), so two requests that
  differ only in a secret never replay each other's answer;
* each recorded call carries its latency, token usage, model and client.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import re
import shlex
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from vcr.cassette import Cassette
from vcr.filters import decode_response
from vcr.patch import CassettePatcherBuilder
from vcr.persisters.filesystem import FilesystemPersister
from vcr.record_mode import RecordMode
from vcr.request import Request
from vcr.serialize import serialize

from fixtures_lib.atomic import write_text_atomic
from fixtures_lib.cassettes import format as cassette_format
from fixtures_lib.cassettes.requests import (
    CallShape,
    closeness,
    describe,
    differences,
    host_pattern,
    shape_of,
    usage_of,
)
from fixtures_lib.cassettes.secrets import Scrubber
from fixtures_lib.cassettes.settings import LLMCounts, LLMSettings, Mode

_RECORD_MODES = {
    Mode.REPLAY: RecordMode.NONE,
    Mode.NEW: RecordMode.NEW_EPISODES,
    Mode.ALL: RecordMode.ALL,
}


class _AtomicPersister(FilesystemPersister):  # type: ignore[misc]  # vcrpy is untyped
    """vcrpy's file persister, but a cassette is replaced whole or not at all."""

    @staticmethod
    def save_cassette(cassette_path: Any, cassette_dict: Any, serializer: Any) -> None:
        write_text_atomic(Path(cassette_path), serialize(cassette_dict, serializer))


UNSAFE = re.compile(r"[^\w.\-\[\]=,+]")  # in a file name, these become "_"
MAX_NAME_BYTES = 150  # well under the 255 bytes of a file name, with room for ".yaml"


def cassette_path(cassette_dir: Path, nodeid: str, root: Path, legacy: bool = False) -> Path:
    """``tests/test_x.py::TestA::test_b[id]`` -> ``tests/cassettes/test_x/TestA/test_b[id].yaml``.

    Leading directories the module shares with the cassette directory are dropped, so the
    default ``tests/cassettes`` does not hold a second ``tests/``. The path never leaves
    the cassette directory: a parametrize id is part of the file name whatever it holds
    (``::``, ``..``, separators, control characters become ``_``); a name too long for the
    file system is cut and ends with a hash of the whole; ``.yaml`` is added, never put in
    place of a dot, so ids ``1.5`` and ``1.6`` get files of their own. ``legacy``: the name
    optikit used before (the part after the last dot was replaced), still read on replay.
    """
    module, _, rest = nodeid.partition("::")
    head, bracket, params = rest.partition("[")  # an id may hold "::": it stays one name
    *outer, function = head.split("::")
    names = [*outer, function + bracket + params] if rest else []
    module_parts = Path(module).with_suffix("").parts
    try:
        shared = cassette_dir.relative_to(root).parts
    except ValueError:
        shared = ()
    common = 0
    while (
        common < min(len(shared), len(module_parts) - 1) and shared[common] == module_parts[common]
    ):
        common += 1
    parts = [*module_parts[common:], *names]
    if legacy:
        old = [UNSAFE.sub("_", part) for part in parts]
        return cassette_dir.joinpath(*old).with_suffix(".yaml") if old else cassette_dir
    safe = [_safe_name(part) for part in parts]
    if not safe:
        return cassette_dir
    return cassette_dir.joinpath(*safe[:-1], safe[-1] + ".yaml")


def _safe_name(part: str) -> str:
    """``part`` as one file name; when characters had to be replaced or it was cut, a hash
    of the original follows, so two ids never share a file (``a/b`` and ``a_b``)."""
    name = UNSAFE.sub("_", part)
    if set(name) <= {"."}:  # "", ".", "..": never a directory step
        name = name.replace(".", "_") + "_"
    if name == part and len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    digest = hashlib.sha256(part.encode("utf-8")).hexdigest()[:12]
    cut = name.encode("utf-8")[: MAX_NAME_BYTES - 13].decode("utf-8", "ignore")
    return f"{cut}-{digest}"


class LLMCassette(Cassette):  # type: ignore[misc]  # vcrpy is untyped
    def __init__(self, settings: LLMSettings, mode: Mode, root: Path) -> None:
        super().__init__(
            path=str(settings.cassette_dir / "unused.yaml"),
            serializer=cassette_format,
            persister=_AtomicPersister,
            record_mode=_RECORD_MODES.get(mode, RecordMode.NONE),
            match_on=(same_call,),
            before_record_request=self._filter_request,
            before_record_response=decode_response,  # stored readable, not gzip
            drop_unused_requests=mode is Mode.ALL,
        )
        self.settings = settings
        self.mode = mode
        self.root = root
        self.counts = LLMCounts()
        self.nodeid = ""
        self.live = True  # between tests, and for real_llm tests: nothing recorded or replayed
        self._index: dict[str, list[int]] = defaultdict(list)
        self._secret_keys = False  # a loaded recording is looked up by its secret key
        self.scrubber = Scrubber()
        self._started: dict[int, float] = {}
        self._loading = False
        self._unreadable: str | None = None

    # --- one test at a time -------------------------------------------------------------

    def start(self, nodeid: str, live: bool) -> None:
        self.nodeid, self.live = nodeid, live
        self._path = str(cassette_path(self.settings.cassette_dir, nodeid, self.root))
        self.data: list[tuple[Request, Any]] = []
        self._old_interactions: list[tuple[Request, Any]] = []
        self._played_interactions: list[tuple[Request, Any]] = []
        self.play_counts.clear()
        self._index.clear()
        self._secret_keys = False
        self._started.clear()
        self.dirty = self.rewound = False
        self._loaded_count = 0
        self._metadata = {}
        self._unreadable = None
        self.failed = False
        if live:
            return
        if self.mode is Mode.ALL:
            # a true rewrite, never an append; the old file stays until the new one is whole
            self._metadata = {"test": nodeid}
            return
        legacy = cassette_path(self.settings.cassette_dir, nodeid, self.root, legacy=True)
        if not Path(self._path).exists() and legacy.is_file():
            self._path = str(legacy)  # recorded before the naming changed: replayed from there
        self._loading = True
        try:
            self._load()
        except Exception as exc:  # any damage: this test fails, not the session
            first = str(exc).splitlines()[0] if str(exc) else ""
            self._unreadable = f"{type(exc).__name__}: {first}"
            self.data, self._old_interactions = [], []
            self._index.clear()
        finally:
            self._loading = False
        path = Path(self._path)
        if not self._unreadable and not self.rewound and path.is_file() and path.stat().st_size:
            self._unreadable = "not a cassette vcrpy can read"  # vcrpy logged and ignored it
        self._metadata = {**self._metadata, "test": nodeid}  # for `optikit cassettes list/prune`

    def finish(self) -> None:
        keep_old = self.mode is Mode.ALL and self.failed  # the server down, the run broken
        if not self.live and self.mode is not Mode.REPLAY and not keep_old:
            self._save()
        self.live = True

    # --- what vcrpy's stubs call ---------------------------------------------------------

    def _filter_request(self, request: Request) -> Request | None:
        """The request with its shape as sent (what it is matched by); None for other hosts."""
        if self.live:
            return None
        if "_optikit_shape" not in request.__dict__:
            if host_pattern(request.uri, self.settings.hosts) is None:
                return None  # not an LLM host: no need to parse its body
            request.__dict__["_optikit_shape"] = self._shape_of(request)
        return request

    def _shape_of(self, request: Request) -> CallShape | None:
        settings = self.settings
        return shape_of(
            request.method, request.uri, request.body, settings.hosts, settings.volatile_fields
        )

    def _scrubbed(self, request: Request) -> Request:
        """A copy of ``request`` as it is written: credentials dropped or redacted."""
        self.scrubber.refresh()
        stored = copy.copy(request)
        stored.headers = copy.deepcopy(request.headers)
        self.scrubber.headers(stored.headers)  # learns the client's key before the body
        stored.uri = self.scrubber.uri(request.uri)
        stored.body = self.scrubber.body(request.body)
        stored.__dict__["_optikit_shape"] = self._shape_of(stored)
        return stored

    def _scrub_response(self, response: dict[str, Any]) -> None:
        headers = response.get("headers") or {}
        self.scrubber.headers(headers)
        body = response.get("body") or {}
        body["string"] = self.scrubber.body(body.get("string"))
        cassette_format.fix_content_length(headers, body["string"])

    def _responses(self, request: Request) -> Iterator[tuple[int, Any]]:
        """Recordings of ``request``: by the hash of its shape, or (when this cassette holds
        requests stored redacted) by its slow secret key."""
        if self._filter_request(request) is None:
            return
        shape = _shape(request)
        for key in (shape.key, shape.secret_key) if self._secret_keys else (shape.key,):
            indices = self._index.get(key)
            if indices:
                for index in indices:
                    yield index, self.data[index][1]
                return

    def can_play_response_for(self, request: Request) -> bool:
        if super().can_play_response_for(request):
            return True
        stored = self._filter_request(request)
        if stored is None:
            return False
        if self.mode is Mode.REPLAY:
            pytest.fail(self._missing_message(_shape(self._scrubbed(request))), pytrace=False)
        self._started[id(request)] = time.perf_counter()  # about to go live: time the call
        return False

    def play_response(self, request: Request) -> Any:
        response = super().play_response(request)
        recorded = response.get("optikit") or {}
        self.counts.replayed += 1
        self.counts.saved_seconds += recorded.get("latency_seconds", 0.0)
        self.counts.tokens += sum((recorded.get("usage") or {}).values())
        return response

    def append(self, request: Request, response: dict[str, Any]) -> None:
        before = len(self.data)
        started = self._started.pop(id(request), None)
        super().append(request, response)
        if len(self.data) == before:
            return  # not an LLM host
        sent, saved = self.data[-1]
        recorded = saved.get("optikit") or {}
        if self._loading:
            key = recorded.get("match") or _shape(sent).key
            self._secret_keys |= key.startswith("scrypt:")
            self._index[key].append(before)
            return
        # Recorded now: what is kept is redacted; the key is the request as it was sent.
        stored = self._scrubbed(sent)
        self._scrub_response(saved)
        shape = _shape(sent)
        key = shape.key if _shape(stored).key == shape.key else shape.secret_key
        self._secret_keys |= key != shape.key
        self.data[-1] = (stored, saved)
        self._index[key].append(before)
        body = saved.get("body", {}).get("string") or b""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        saved["optikit"] = {
            "latency_seconds": round(time.perf_counter() - started, 4) if started else None,
            "model": _model(_shape(stored)),
            "client": request.headers.get("User-Agent") or request.headers.get("user-agent"),
            "usage": usage_of(text),
            **({"match": key} if key != shape.key else {}),
        }
        self.counts.recorded += 1

    # --- messages ------------------------------------------------------------------------

    def _missing_message(self, wanted: CallShape) -> str:
        command = f"pytest --record-llm {shlex.quote(self.nodeid)}"
        where = _shown(Path(self._path))
        lines = [f"no recorded LLM call matches {describe(wanted)}"]
        if self._unreadable:
            lines.append(
                f"  cassette {where} could not be read ({self._unreadable}); re-record it:"
            )
            command = f"pytest --record-llm-mode=all {shlex.quote(self.nodeid)}"
        elif not self.data:
            lines.append(f"  cassette {where} does not exist or is empty")
        else:
            closest = max(
                (_shape(stored) for stored, _ in self.data), key=lambda s: closeness(wanted, s)
            )
            lines.append(f"  cassette {where} has {len(self.data)} call(s); the closest:")
            lines.append(f"    {describe(closest)}")
            differing = differences(wanted, closest)[:6] or ["a redacted value (a secret)"]
            lines.extend(f"    differs in {item}" for item in differing)
        lines.append(f"  record it with: {command}")
        return "\n".join(lines)


def _shown(path: Path) -> str:
    """Relative to the working directory when under it: the form a person pastes."""
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


def same_call(first: Request, second: Request) -> None:
    """vcrpy matcher: equal normalised shapes (vcrpy uses it when it saves)."""
    assert _shape(first).key == _shape(second).key


def _shape(request: Request) -> CallShape:
    shape: CallShape | None = request.__dict__.get("_optikit_shape")
    if shape is None:
        raise LookupError("request was not filtered by LLMCassette")
    return shape


def _model(shape: CallShape) -> str | None:
    try:
        data = json.loads(shape.body)
    except ValueError:
        return None
    return data.get("model") if isinstance(data, dict) else None


@dataclass
class CassetteSession:
    """The session's cassette and vcrpy's patches, entered on first use and left at the end."""

    cassette: LLMCassette
    _patches: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _patched: bool = False

    def start(self, nodeid: str, live: bool) -> None:
        if not self._patched:
            for patcher in CassettePatcherBuilder(self.cassette).build():
                self._patches.enter_context(patcher)
            self._patched = True
        self.cassette.start(nodeid, live)

    def finish(self) -> None:
        self.cassette.finish()

    def close(self) -> None:
        self._patches.close()
