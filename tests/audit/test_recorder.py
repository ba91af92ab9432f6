"""The auditor's pytest side, in real pytest runs: sequences per xdist worker, side effects,
the data seed, and fixed-order probes."""

from __future__ import annotations

import itertools
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from optikit.audit.running import still_running

SUITE = textwrap.dedent("""\
    import os
    import random
    from pathlib import Path

    STATE = {"mode": "fresh"}
    DRAWS = []

    def test_leaks():
        STATE["mode"] = "dirty"
        os.environ["OPTIKIT_AUDIT_TEST"] = "1"

    def test_writes():
        Path(__file__).with_name("out.txt").write_text("x")

    def test_draws():
        DRAWS.append(random.random())

    def test_fails():
        assert STATE["mode"] == "fresh"
    """)


def run(pytester: pytest.Pytester, *args: str) -> dict[str, Any]:
    """The suite in a subprocess, in file order unless ``args`` shuffle it."""
    pytester.makepyfile(test_audited=SUITE)
    log = pytester.path / "log.json"
    pytester.runpytest_subprocess("-p", "no:randomly", "--audit-log", str(log), *args)
    data: dict[str, Any] = json.loads(log.read_text())
    return data


def logged(pytester: pytest.Pytester, **modules: str) -> Path:
    """These test modules, run in one process with the recorder; the log's path."""
    pytester.makepyfile(**modules)
    log = pytester.path / "log.json"
    pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:xdist", "--audit-log", str(log))
    return log


def test_each_worker_sequence_and_outcome_under_xdist(pytester: pytest.Pytester) -> None:
    data = run(pytester, "-n", "2")
    assert set(data["workers"]) == {"gw0", "gw1"}
    ran = [t for tests in data["workers"].values() for t, _ in tests]
    names = ("test_leaks", "test_writes", "test_draws", "test_fails")
    assert sorted(ran) == sorted(f"test_audited.py::{n}" for n in names)
    outcomes = {t: o for tests in data["workers"].values() for t, o in tests}
    assert outcomes["test_audited.py::test_writes"] == "passed"
    assert data["exitstatus"] in (0, 1)


def test_side_effects_are_recorded_per_test(pytester: pytest.Pytester) -> None:
    data = run(pytester, "-p", "no:xdist")
    evidence = data["evidence"]
    leaks = evidence["test_audited.py::test_leaks"]
    assert leaks["env"] == {"OPTIKIT_AUDIT_TEST": "1"}
    assert leaks["state"] == {"test_audited.STATE": "{'mode': 'dirty'}"}
    where = {"module": "test_audited", "file": "test_audited.py", "type": "dict"}
    assert leaks["state_of"] == {"test_audited.STATE": where}
    assert evidence["test_audited.py::test_writes"]["files"] == [str(pytester.path / "out.txt")]
    assert "test_audited.py::test_fails" not in evidence
    assert data["workers"]["main"][-1] == ["test_audited.py::test_fails", "failed"]


def test_fixed_order_runs_exactly_the_listed_tests(pytester: pytest.Pytester) -> None:
    order = pytester.path / "order.txt"
    order.write_text("test_audited.py::test_fails\ntest_audited.py::test_leaks")
    data = run(
        pytester, "-p", "no:xdist", "--audit-order", str(order), f"--rootdir={pytester.path}"
    )
    assert data["workers"]["main"] == [
        ["test_audited.py::test_fails", "passed"],
        ["test_audited.py::test_leaks", "passed"],
    ]


def test_the_data_seed_fixes_random_data_whatever_the_order(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "import json\n"
        "def pytest_sessionfinish(session):\n"
        "    import test_audited\n"
        "    open('draws.json', 'w').write(json.dumps(test_audited.DRAWS))\n"
    )
    draws = []
    for order in ((), ("--audit-shuffle=5",), ("--audit-shuffle=9",)):
        run(pytester, "-p", "no:xdist", "--audit-data-seed", "7", *order)
        draws.append(json.loads((pytester.path / "draws.json").read_text()))
    assert draws[0] == draws[1] == draws[2]
    run(pytester, "-p", "no:xdist", "--audit-data-seed", "8")
    assert json.loads((pytester.path / "draws.json").read_text()) != draws[0]


def test_serial_tests_never_overlap_under_xdist(pytester: pytest.Pytester) -> None:
    """Each serial test notes when it starts and ends; no interval may overlap another."""
    body = (
        "    start = time.monotonic()\n"
        "    time.sleep(0.05)  # long enough that two unguarded tests would overlap\n"
        "    with open(LOG, 'a') as f:\n"
        "        f.write(f'{start} {time.monotonic()}\\n')\n"
    )
    pytester.makepyfile(
        test_serial="import time\nimport pytest\n\n"
        f"LOG = {str(pytester.path / 'spans.txt')!r}\n\n"
        + "".join(f"@pytest.mark.serial\ndef test_serial_{n}():\n{body}\n" for n in range(8))
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-n", "2")
    result.assert_outcomes(passed=8)
    lines = (pytester.path / "spans.txt").read_text().splitlines()
    spans = sorted(tuple(map(float, line.split())) for line in lines)
    assert len(spans) == 8
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))


def test_shuffle_orders_modules_then_classes_then_tests(pytester: pytest.Pytester) -> None:
    """--audit-shuffle: same seed, same order (every xdist worker must agree); other seeds
    differ; a class's tests stay together."""
    methods = "".join(f"    def test_{t}(self): pass\n" for t in range(3))
    module = "".join(f"def test_f{t}(): pass\n" for t in range(4))
    module += "".join(f"class TestC{c}:\n{methods}" for c in range(2))
    pytester.makepyfile(**{f"test_m{m}": module for m in range(4)})

    def order(*args: str) -> list[str]:
        log = pytester.path / "log.json"
        pytester.runpytest_subprocess("-p", "no:randomly", "--audit-log", str(log), *args)
        workers = json.loads(log.read_text())["workers"]
        return [t for tests in workers.values() for t, _ in tests]

    plain = order("-p", "no:xdist")
    first = order("-p", "no:xdist", "--audit-shuffle=1")
    assert sorted(first) == sorted(plain)
    assert first == order("-p", "no:xdist", "--audit-shuffle=1")
    assert first != plain
    assert first != order("-p", "no:xdist", "--audit-shuffle=2")
    classes = [t.rsplit("::", 1)[0] for t in first if "::TestC" in t]
    assert all(classes.count(c) == 3 for c in set(classes))
    runs = [c for i, c in enumerate(classes) if i == 0 or classes[i - 1] != c]
    assert len(runs) == len(set(runs))  # each class's tests run together
    parallel = order("-n", "2", "--audit-shuffle=1")  # the workers agree on the order
    assert sorted(parallel) == sorted(plain)


def test_a_removed_tree_is_one_path_and_names_no_file_in_the_cwd(pytester: pytest.Pytester) -> None:
    """shutil.rmtree unlinks through a directory handle: those names are relative to the
    tree, not to the working directory, and must not be reported as files there."""
    log = logged(
        pytester,
        test_trees="import shutil\nfrom pathlib import Path\nfrom sys import modules\n\n"
        "def test_removes_a_tree():\n"
        "    tree = Path(__file__).with_name('tree')\n"
        "    (tree / 'inner').mkdir(parents=True)\n"
        "    (tree / 'inner' / 'leaf.txt').write_text('x')\n"
        "    shutil.rmtree(tree)\n",
    )
    found = json.loads(log.read_text())["evidence"]["test_trees.py::test_removes_a_tree"]
    tree = str(pytester.path / "tree")
    assert found["files"] == [str(pytester.path / "tree" / "inner" / "leaf.txt")]
    assert all(path.startswith(tree) for path in found["files"])
    assert "state" not in found  # `modules` (sys.modules itself) is not the project's state


def test_rest_of_the_suite_in_an_order_file(pytester: pytest.Pytester) -> None:
    """`...` stands for every test not listed, in the suite's own order."""
    order = pytester.path / "order.txt"
    order.write_text("test_audited.py::test_fails\n...\ntest_audited.py::test_leaks")
    data = run(
        pytester, "-p", "no:xdist", "--audit-order", str(order), f"--rootdir={pytester.path}"
    )
    assert [t for t, _ in data["workers"]["main"]] == [
        "test_audited.py::test_fails",
        "test_audited.py::test_writes",
        "test_audited.py::test_draws",
        "test_audited.py::test_leaks",
    ]


def test_the_tests_still_running_when_a_run_is_killed(pytester: pytest.Pytester) -> None:
    log = logged(
        pytester,
        test_hang="import os\nimport signal\n\n"
        "def test_fine():\n    pass\n\n"
        "def test_killed():\n    os.kill(os.getpid(), signal.SIGKILL)\n",
    )
    assert not log.exists()  # killed before the end
    assert still_running(log) == ["test_hang.py::test_killed"]


def test_a_changed_logging_configuration_is_evidence(pytester: pytest.Pytester) -> None:
    """logging.basicConfig(force=True) in one test silences a caplog test later; pytest's
    own capture handlers, attached around every test, are not a change."""
    log = logged(
        pytester,
        test_logs="import logging\n\n"
        "def test_configures():\n    logging.basicConfig(level=45, force=True)\n\n"
        "def test_logs(caplog):\n    logging.getLogger('x').error('seen')\n",
    )
    evidence = json.loads(log.read_text())["evidence"]
    state = evidence["test_logs.py::test_configures"]["state"]
    assert state["logging.root.level"] == "Level 45"
    assert state["logging.root.handlers"] == "['StreamHandler']"
    assert "test_logs.py::test_logs" not in evidence


def test_a_deleted_module_value_and_a_changed_file_name_are_evidence(
    pytester: pytest.Pytester,
) -> None:
    """What fix-pollution needs to put them back: where each lives (by the module's spec,
    not the ``__file__`` a test changed) and that the value is gone."""
    log = logged(
        pytester,
        test_dels="import sys\n\nGONE = 1\n\n\n"
        "def test_deletes():\n"
        "    module = sys.modules[__name__]\n"
        "    del module.GONE\n"
        "    module.__file__ = 'elsewhere.py'\n",
    )
    found = json.loads(log.read_text())["evidence"]["test_dels.py::test_deletes"]
    assert found["state"]["test_dels.GONE"] == "<deleted>"
    assert found["state"]["test_dels.__file__"] == "'elsewhere.py'"
    assert found["state_of"]["test_dels.GONE"] == {
        "module": "test_dels",
        "file": "test_dels.py",
        "type": "deleted",
    }
    assert found["state_of"]["test_dels.__file__"]["type"] == "str"


def test_a_dict_an_object_holds_is_module_state(pytester: pytest.Pytester) -> None:
    """A Flask app's config: a module-level object's public dict; its counters are not
    (they change on every call), an object that cannot be asked is skipped, and another
    name for the same dict is an alias, not a second value."""
    log = logged(
        pytester,
        test_app="class App:\n"
        "    def __init__(self):\n        self.config = {}\n        self.calls = 0\n\n"
        "class Proxy:\n    @property\n    def __dict__(self):\n"
        "        raise RuntimeError('no context')\n\n"
        "APP = App()\nCONFIG = APP.config\nREQUEST = Proxy()\n\n\n"
        "def test_configures():\n    APP.config['TITLE'] = 'x'\n    APP.calls += 1\n",
    )
    found = json.loads(log.read_text())["evidence"]["test_app.py::test_configures"]
    assert found["state"] == {"test_app.APP.config": "{'TITLE': 'x'}"}
    assert found["state_of"]["test_app.APP.config"] == {
        "module": "test_app",
        "file": "test_app.py",
        "type": "dict",
        "aliases": ["test_app.CONFIG"],  # one object, two names: one value
    }


def test_the_projects_package_installed_elsewhere_is_still_its_state(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """humanize's suite imports humanize from site-packages: its ``src/humanize`` says the
    package is the project's, wherever it was imported from."""
    installed = tmp_path_factory.mktemp("site-packages")
    for base in (installed, pytester.path / "src"):
        (base / "mypkg").mkdir(parents=True)
        (base / "mypkg" / "__init__.py").write_text("SETTINGS = {}\n")
    monkeypatch.setenv("PYTHONPATH", str(installed))
    log = logged(
        pytester, test_pkg="import mypkg\n\n\ndef test_sets():\n    mypkg.SETTINGS['x'] = 1\n"
    )
    found = json.loads(log.read_text())["evidence"]["test_pkg.py::test_sets"]
    assert found["state"] == {"mypkg.SETTINGS": "{'x': 1}"}
    assert found["state_of"]["mypkg.SETTINGS"]["module"] == "mypkg"


def test_a_change_past_the_cut_of_a_long_value_is_evidence(pytester: pytest.Pytester) -> None:
    """The evidence shows a long value cut; the change is in the part cut off."""
    log = logged(
        pytester,
        test_long="CONFIG = {f'KEY_{n}': 'x' * 20 for n in range(20)}\n\n\n"
        "def test_retitles():\n    CONFIG['KEY_19'] = 'changed'\n",
    )
    found = json.loads(log.read_text())["evidence"]["test_long.py::test_retitles"]
    assert list(found["state"]) == ["test_long.CONFIG"]
    assert "crc32" in found["state"]["test_long.CONFIG"]
