"""The pytest side of ``optikit audit-parallel``: who ran what, in which order, and what it
left behind (``--audit-log PATH``).

On the controller, reports arrive from each xdist worker in the order that worker ran its
tests, so one list per worker is that worker's exact sequence: no terminal output is parsed.
Where tests run, each test's side effects are taken from the interpreter itself: files
opened for writing, removed or renamed outside pytest's tmp dirs (``sys.addaudithook``),
environment variables, the working directory, and module-level values of the project's own
modules that it changed and did not restore. They ride
to the controller on the teardown report. ``--audit-data-seed N`` reseeds ``random`` (and
numpy, when imported) before every test, so the random data a test sees does not depend on
the order seed the tests are shuffled with (``--audit-shuffle``).
"""

from __future__ import annotations

import json
import os
import random
import sys
import types
import zlib
from pathlib import Path
from typing import Any

import pytest

from fixtures_lib.atomic import write_text_atomic
from optikit.audit.classify import REST
from optikit.audit.running import running_path
from optikit.config import OptikitConfig

IGNORED_PARTS = ("/__pycache__", "/.pytest_cache")
WRITE_EVENTS = frozenset({"os.remove", "os.rename", "os.rmdir", "os.mkdir", "shutil.rmtree"})


class SideEffects:
    """One test's writes outside pytest's tmp dirs, gathered by an audit hook.

    An audit hook can never be removed, so one is installed per process and does nothing
    while no test is being watched.
    """

    _installed = False
    current: set[str] | None = None
    # The session's basetemp (what tests write there is theirs alone) and optikit's own
    # directories (the fixture cache is shared by design, and locked).
    own: tuple[str, ...] = ()

    @classmethod
    def install(cls) -> None:
        if not cls._installed:
            sys.addaudithook(cls._hook)
            cls._installed = True

    @classmethod
    def _hook(cls, event: str, args: tuple[Any, ...]) -> None:
        written = cls.current
        if written is None:
            return
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            )
            if writing and isinstance(path, str | bytes | os.PathLike):
                cls._note(written, path)
        elif event in WRITE_EVENTS and args and isinstance(args[0], str | bytes | os.PathLike):
            # a name relative to a directory handle (shutil.rmtree's unlinks) is not a name
            # in the working directory; rmtree's own event already names the tree
            relative_to_handle = any(isinstance(a, int) for a in args[1:])
            if not relative_to_handle or os.path.isabs(os.fsdecode(args[0])):
                cls._note(written, args[0])

    @classmethod
    def _note(cls, written: set[str], path: str | bytes | os.PathLike[Any]) -> None:
        text = os.fsdecode(path)
        if not os.path.isabs(text):
            cwd = working_directory()
            if cwd.startswith(DELETED):  # nothing to resolve against; the cwd is the evidence
                return
            text = os.path.join(cwd, text)
        text = os.path.normpath(text)
        if not text.startswith(cls.own) and not any(p in text for p in IGNORED_PARTS):
            written.add(text)


DELETED = "<deleted"


def working_directory() -> str:
    """The cwd, or ``<deleted /tmp/xyz>`` when a test left the process in a directory since
    removed (``os.getcwd()`` then raises; the recorder must not take the run down with it)."""
    try:
        return os.getcwd()
    except FileNotFoundError:
        try:  # Linux still knows the name: "/tmp/xyz (deleted)"
            gone = os.readlink("/proc/self/cwd").removesuffix(" (deleted)")
        except OSError:
            gone = "a removed directory"
        return f"{DELETED} {gone}>"


PLAIN = (dict, list, set, tuple, str, int, float, bool, type(None))


def logging_state() -> dict[str, str]:
    """The standard library's logging configuration, a global that suites often leave
    changed (``logging.basicConfig(force=True)``, a level, a handler); pytest's own capture
    handlers come and go around every test and are not counted."""
    logging = sys.modules.get("logging")
    if logging is None:
        return {}
    root = logging.root
    handlers = [
        type(h).__name__ for h in root.handlers if not type(h).__module__.startswith("_pytest")
    ]
    return {
        "logging.root.level": logging.getLevelName(root.level),
        "logging.root.handlers": repr(handlers),
        "logging.disable": logging.getLevelName(root.manager.disable),
    }


def own_packages(root: str) -> frozenset[str]:
    """The top-level names of the project's own modules, from its source tree (``src/``
    layout too): a suite often runs against its package installed into site-packages
    (humanize's does), and that package's state is still the project's."""
    names: set[str] = set()
    for base in (Path(root), Path(root) / "src"):
        try:
            children = list(base.iterdir())
        except OSError:
            continue
        for child in children:
            if child.suffix == ".py" or (child / "__init__.py").is_file():
                names.add(child.stem if child.suffix == ".py" else child.name)
    return frozenset(n for n in names if n.isidentifier())


def module_state(
    root: str, own: frozenset[str] = frozenset(), aliases: dict[str, list[str]] | None = None
) -> dict[str, str]:
    """A short text of each plain module-level value in the project's own modules (under
    ``root``, or named in ``own``), of the dicts, lists and sets the objects they hold keep
    (a Flask app's ``config``), and of the logging configuration.

    A container reached by several names (puppetboard's app config, four of them) is one
    value, kept under the first name; the others go to ``aliases`` under that name."""
    state: dict[str, str] = logging_state()
    first: dict[int, str] = {}

    def keep(key: str, value: object) -> None:
        if isinstance(value, CONTAINERS):
            name = first.setdefault(id(value), key)
            if name != key:
                if aliases is not None:
                    aliases.setdefault(name, []).append(key)
                return
        state[key] = _short(value)

    for name, module in list(sys.modules.items()):
        path = module_path(module)
        inside = path.startswith(root) and "site-packages" not in path
        if not inside and name.partition(".")[0] not in own:
            continue
        for attribute, value in list(vars(module).items()):
            if attribute.startswith("__") and attribute != "__file__":  # humanize sets it
                continue
            if isinstance(value, PLAIN):
                if value is not sys.modules:
                    keep(f"{name}.{attribute}", value)
            elif not isinstance(value, NOT_INSTANCES):
                for inner, item in _attributes(value):
                    keep(f"{name}.{attribute}.{inner}", item)
    return state


NOT_INSTANCES = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)


CONTAINERS = (dict, list, set)


def _attributes(value: object) -> list[tuple[str, object]]:
    """An object's own public dicts, lists and sets (a config, a registry; not a counter or
    a cached number, which change on every call); none where asking fails (a proxy outside
    its context, as Flask's ``request`` is)."""
    try:
        own = vars(value)
    except Exception:  # any object's __dict__ may raise anything
        return []
    if not isinstance(own, dict):
        return []
    return [
        (k, v) for k, v in list(own.items()) if not k.startswith("_") and isinstance(v, CONTAINERS)
    ]


DELETED_VALUE = "<deleted>"
MISSING = object()


def _still_there(name: str) -> bool:
    """A value gone because its module is (a test that unloads a module) is not a leak."""
    return _owner(name)[0] is not None


def _owner(name: str) -> tuple[types.ModuleType | None, list[str]]:
    """The module a dotted value lives in, and the path to it there."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is not None:
            return module, parts[cut:]
    return None, parts


def origin(name: str, root: str) -> dict[str, str]:
    """Where a leaked value lives and what it is: what ``optikit codemod fix-pollution``
    needs to write code that puts it back (the module's file, relative to the root, tells a
    test module's own globals from another module's; ``type`` is ``dict``, ``list`` or
    ``set`` for anything put back in place, ``deleted`` for a value a test removed)."""
    module, path = _owner(name)
    if name.startswith("logging.") or module is None:  # logging's configuration, or gone
        return {"module": "", "type": "logging" if name.startswith("logging.") else ""}
    value: object = module
    for part in path:
        value = getattr(value, part, MISSING)
    kind = next((k.__name__ for k in CONTAINERS if isinstance(value, k)), None)
    where = module_path(module)
    return {
        "module": module.__name__,
        "file": os.path.relpath(where, root).replace(os.sep, "/") if where else "",
        "type": "deleted" if value is MISSING else kind or type(value).__name__,
    }


def module_path(module: object) -> str:
    """Where a module was loaded from: its spec's origin, not its ``__file__``, which a test
    may change (humanize's do)."""
    spec = getattr(module, "__spec__", None)
    return getattr(spec, "origin", None) or getattr(module, "__file__", None) or ""


def _short(value: object) -> str:
    """A value's text for the evidence; a long one cut, with a checksum of the whole, so a
    change past the cut still shows (puppetboard's ``PAGE_TITLE``, deep in a Flask config)."""
    if isinstance(value, dict | list | set | tuple) and len(value) > 200:
        return f"<{type(value).__name__} of {len(value)}>"
    text = repr(value)
    if len(text) <= 120:
        return text
    whole = zlib.crc32(text.encode("utf-8", "replace"))
    return f"{text[:100]}... ({len(text)} characters, crc32 {whole:08x})"


class EvidenceCollector:
    """Where tests run: what each test changed in the process and on disk."""

    def __init__(self, data_seed: int | None, root: Path, own: tuple[str, ...]) -> None:
        self.data_seed = data_seed
        self.root = str(root)
        self.own = own
        self.own_packages = own_packages(self.root)
        self.environ: dict[str, str] = {}
        self.cwd = ""
        self.state: dict[str, str] = {}
        SideEffects.install()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if not SideEffects.own:
            factory = getattr(item.config, "_tmp_path_factory", None)  # pytest's tmp_path source
            basetemp = (str(factory.getbasetemp()),) if factory is not None else ()
            SideEffects.own = (*basetemp, *self.own)
        self.environ, self.cwd = current_environ(), working_directory()
        self.state = module_state(self.root, self.own_packages)
        SideEffects.current = set()
        if self.data_seed is not None:
            reseed(self.data_seed)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown" or SideEffects.current is None:
            return
        written, SideEffects.current = SideEffects.current, None
        found = evidence(written, self.environ, self.cwd)
        aliases: dict[str, list[str]] = {}
        after = module_state(self.root, self.own_packages, aliases)
        leaked = {k: v for k, v in after.items() if k in self.state and self.state[k] != v}
        leaked |= {k: DELETED_VALUE for k in self.state.keys() - after.keys() if _still_there(k)}
        if leaked:
            found["state"] = leaked
            found["state_of"] = {
                name: origin(name, self.root)
                | ({"aliases": aliases[name]} if name in aliases else {})
                for name in leaked
            }
        report.optikit_audit = found  # type: ignore[attr-defined]


def reseed(seed: int) -> None:
    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed % 2**32)


def current_environ() -> dict[str, str]:
    """The environment, minus the variable pytest itself sets and clears around each test."""
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}


def evidence(written: set[str], environ: dict[str, str], cwd: str) -> dict[str, Any]:
    """What is different now from before the test, in plain JSON values."""
    now = current_environ()
    changed = {k: v for k, v in now.items() if environ.get(k) != v}
    removed = sorted(k for k in environ if k not in now)
    found: dict[str, Any] = {}
    if written:  # a directory and the file made in it are one resource: keep the file
        found["files"] = sorted(
            p for p in written if not any(o.startswith(p + os.sep) for o in written)
        )
    if changed or removed:
        found["env"] = {**changed, **dict.fromkeys(removed)}
    now_cwd = working_directory()
    if now_cwd != cwd:
        found["cwd"] = now_cwd
    return found


class SequenceLog:
    """On the controller (or the only process): each worker's sequence, written at the end."""

    def __init__(self, path: Path, loadgroup: bool) -> None:
        self.path = path
        self.loadgroup = loadgroup  # xdist then appends "@group" to grouped tests' node ids
        self.workers: dict[str, list[list[str]]] = {}
        self.outcomes: dict[str, str] = {}
        self.evidence: dict[str, dict[str, Any]] = {}
        # One line as each test starts and ends, flushed: if the run is killed (a hung test,
        # --max-time), the tests still running are the ones started and not ended.
        self.running = running_path(path).open("w", encoding="utf-8", buffering=1)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        node = vars(report).get("node")
        worker = node.gateway.id if node is not None else "main"
        nodeid = report.nodeid
        if self.loadgroup and nodeid.rfind("@") > nodeid.rfind("]"):  # xdist's own rule
            nodeid = nodeid.rsplit("@", 1)[0]
        if report.when == "setup":
            self.workers.setdefault(worker, []).append([nodeid, "passed"])
            self.running.write(f"+{nodeid}\n")
        elif report.when == "teardown":
            self.running.write(f"-{nodeid}\n")
        entry = self.workers.get(worker, [[nodeid, "passed"]])[-1]
        if report.failed:
            entry[1] = "failed"
        elif report.skipped and entry[1] == "passed":
            entry[1] = "skipped"
        found = vars(report).get("optikit_audit")
        if found:
            self.evidence[nodeid] = found

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.running.close()
        data = {"workers": self.workers, "evidence": self.evidence, "exitstatus": int(exitstatus)}
        write_text_atomic(self.path, json.dumps(data), durable=False)


class FixedOrder:
    """``--audit-order FILE``: run exactly these node ids, in this order, in one process;
    a line ``...`` stands for the rest of the collected tests, in the suite's own order
    (so "these first, then the suite" needs no list of the suite)."""

    def __init__(self, path: Path) -> None:
        self.order = path.read_text(encoding="utf-8").split("\n")

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        chosen = in_order(self.order, items)
        kept = set(map(id, chosen))
        config.hook.pytest_deselected(items=[i for i in items if id(i) not in kept])
        items[:] = chosen


def in_order(order: list[str], items: list[pytest.Item]) -> list[pytest.Item]:
    """The collected ``items`` named in ``order``, in that order (``...``: the rest)."""
    by_id = {item.nodeid: item for item in items}
    listed = set(order)
    chosen: list[pytest.Item] = []
    for nodeid in order:
        if nodeid == REST:
            chosen += [item for item in items if item.nodeid not in listed]
        elif nodeid in by_id:
            chosen.append(by_id[nodeid])
    return chosen


class Reseed:
    """``--audit-data-seed N`` alone (a printed reproducer of a test whose outcome follows
    its random data): reseed before every test, record nothing."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        reseed(self.seed)


def register(config: pytest.Config, settings: OptikitConfig) -> None:
    """Called by optikit's plugin when ``--audit-log``, ``--audit-serve`` or
    ``--audit-data-seed`` is given."""
    seed = config.getoption("audit_data_seed")
    if not config.getoption("audit_log") and not config.getoption("audit_serve"):
        config.pluginmanager.register(Reseed(seed), "optikit-audit-reseed")
        return
    own = (str(settings.path(settings.cache.dir)), str(settings.root / ".optikit"))
    collector = EvidenceCollector(seed, config.rootpath, own)
    config.pluginmanager.register(collector, "optikit-audit-evidence")
    if config.getoption("audit_serve"):
        from optikit.audit.probe_server import ProbeServer

        config.pluginmanager.register(ProbeServer(config.getoption("audit_serve"), collector))
        return  # each forked probe writes its own log
    if config.getoption("audit_order"):
        config.pluginmanager.register(FixedOrder(Path(config.getoption("audit_order"))))
    if not hasattr(config, "workerinput"):
        loadgroup = config.getoption("dist", "no") == "loadgroup"
        log = SequenceLog(Path(config.getoption("audit_log")), loadgroup)
        config.pluginmanager.register(log, "optikit-audit-log")
