"""fix-pollution on source text: each kind of leaked state, before and after, and what is left.

The audit report is written here by hand, as ``optikit audit-parallel`` writes it; the end to
end run on the planted suite (a real audit, the real CLI) is in tests/cli.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from codemods.fix_pollution import FixPollution, PollutionPlan, by_file, new_conftest, plan_fixes
from codemods.runner import PerFile, transform_file

VICTIM = "tests/test_a.py::test_victim"
POLLUTER = "tests/test_a.py::test_polluter"


def report(leaves: dict[str, Any], polluter: str = POLLUTER) -> dict[str, Any]:
    """An audit report: one victim that fails after ``polluter``, which leaves ``leaves``."""
    return {
        "schema_version": 1,
        "tests": {
            VICTIM: {
                "classification": "order_dependent",
                "polluters": [polluter],
                "state_setters": [],
                "reproduce": f"python -m pytest -p no:randomly {polluter} {VICTIM}",
            },
            polluter: {
                "classification": "stable",
                "polluters": [],
                "state_setters": [],
                "leaves": leaves,
            },
        },
    }


def state(name: str, file: str, kind: str) -> dict[str, Any]:
    module = name.rpartition(".")[0]
    return {"state": {name: {"value": "...", "module": module, "file": file, "type": kind}}}


def fix(
    files: dict[str, str], audit: dict[str, Any], root: Path
) -> tuple[dict[str, str], PollutionPlan]:
    """The files the codemod changes or creates, as text, and its plan; a second run over
    its output must change nothing (the fixtures exist, the statements are monkeypatch's)."""
    for name, source in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(source))
    plan = plan_fixes(audit, root)
    first = _once(plan, root)
    for path, new in first.items():
        (root / path).write_text(new)
    assert _once(plan_fixes(audit, root), root) == {}, "a second run changed the files again"
    return first, plan


def _once(plan: PollutionPlan, root: Path) -> dict[str, str]:
    changed = {}
    for path, file_plan in by_file(plan.fixes, root).items():
        name = path.relative_to(root.resolve()).as_posix()
        if not path.exists():
            changed[name] = new_conftest(file_plan.fixtures)
            continue
        result = transform_file(path, PerFile(FixPollution, {path: file_plan}))
        assert result.skipped is None, result.skipped
        if result.changed:
            changed[name] = result.new.decode()
    return changed


def dedent(text: str) -> str:
    return textwrap.dedent(text)


def test_an_environment_variable_set_in_the_body_becomes_monkeypatch_setenv(
    tmp_path: Path,
) -> None:
    source = """\
    import os


    def test_polluter(tmp_path):
        os.environ["APP_MODE"] = "debug"
        assert os.environ["APP_MODE"] == "debug"
    """
    changed, plan = fix(
        {"tests/test_a.py": source}, report({"env": {"APP_MODE": "debug"}}), tmp_path
    )
    assert changed == {
        "tests/test_a.py": dedent("""\
        import os


        def test_polluter(monkeypatch, tmp_path):
            monkeypatch.setenv("APP_MODE", "debug")
            assert os.environ["APP_MODE"] == "debug"
        """)
    }
    assert plan.left == []


def test_a_removed_variable_becomes_delenv_and_a_chdir_monkeypatch_chdir(tmp_path: Path) -> None:
    source = """\
    import os
    from os import chdir


    class TestThings:
        def test_polluter(self):
            del os.environ["HOME_A"]
            os.environ.pop("HOME_B", None)
            chdir("/")
    """
    leaves = {"env": {"HOME_A": None, "HOME_B": None}, "cwd": "/"}
    changed, _ = fix(
        {"tests/test_a.py": source},
        report(leaves, POLLUTER.replace("::", "::TestThings::", 1)),
        tmp_path,
    )
    assert changed["tests/test_a.py"] == dedent("""\
    import os
    from os import chdir


    class TestThings:
        def test_polluter(self, monkeypatch):
            monkeypatch.delenv("HOME_A")
            monkeypatch.delenv("HOME_B", raising=False)
            monkeypatch.chdir("/")
    """)


def test_an_item_of_a_module_global_set_in_the_body_becomes_setitem(tmp_path: Path) -> None:
    """The planted suite's ``SETTINGS["currency"] = "EUR"``; an item set inside an ``if``
    is the test's own statement too."""
    source = """\
    SETTINGS = {"currency": "USD"}


    def test_polluter():
        SETTINGS["currency"] = "EUR"
        if SETTINGS:
            SETTINGS["seen"] = True


    def test_victim():
        assert SETTINGS["currency"] == "USD"
    """
    leaves = state("test_a.SETTINGS", "tests/test_a.py", "dict")
    changed, _ = fix({"tests/test_a.py": source}, report(leaves), tmp_path)
    assert changed["tests/test_a.py"] == dedent("""\
    SETTINGS = {"currency": "USD"}


    def test_polluter(monkeypatch):
        monkeypatch.setitem(SETTINGS, "currency", "EUR")
        if SETTINGS:
            monkeypatch.setitem(SETTINGS, "seen", True)


    def test_victim():
        assert SETTINGS["currency"] == "USD"
    """)


def test_a_global_changed_another_way_gets_a_restoring_fixture_in_its_module(
    tmp_path: Path,
) -> None:
    """``SEEN.append`` has no monkeypatch call: a fixture saves and restores the list in
    place, before the module's tests, requested by the polluter alone."""
    source = """\
    import pytest

    SEEN: list[str] = []


    def test_polluter():
        SEEN.append("a")


    def test_victim():
        assert SEEN == []
    """
    leaves = state("test_a.SEEN", "tests/test_a.py", "list")
    changed, _ = fix({"tests/test_a.py": source}, report(leaves), tmp_path)
    assert changed["tests/test_a.py"] == dedent('''\
    import pytest

    SEEN: list[str] = []


    @pytest.fixture
    def restore_test_a_seen():
        """Puts test_a.SEEN back after the test (optikit codemod fix-pollution:
        a test that changes it made another test fail)."""
        import copy

        saved = copy.deepcopy(SEEN)
        yield
        SEEN[:] = saved


    @pytest.mark.usefixtures("restore_test_a_seen")
    def test_polluter():
        SEEN.append("a")


    def test_victim():
        assert SEEN == []
    ''')


def test_another_modules_value_changed_by_a_helper_gets_a_fixture_in_a_new_conftest(
    tmp_path: Path,
) -> None:
    """The example suite's ``register_alias("lb", "pound")``: the fixture goes in the
    conftest.py beside the test (made, here), where other tests can request it too."""
    source = """\
    from clinic.units import register_alias


    def test_polluter():
        register_alias("lb", "pound")
    """
    leaves = state("clinic.units.UNIT_ALIASES", "clinic/units.py", "dict")
    changed, _ = fix({"tests/test_a.py": source}, report(leaves), tmp_path)
    assert changed["tests/test_a.py"] == dedent("""\
    from clinic.units import register_alias
    import pytest


    @pytest.mark.usefixtures("restore_units_unit_aliases")
    def test_polluter():
        register_alias("lb", "pound")
    """)
    assert changed["tests/conftest.py"] == dedent('''\
    """Fixtures written by optikit codemod fix-pollution."""

    import pytest


    @pytest.fixture
    def restore_units_unit_aliases():
        """Puts clinic.units.UNIT_ALIASES back after the test (optikit codemod fix-pollution:
        a test that changes it made another test fail)."""
        import copy
        import clinic.units

        saved = copy.deepcopy(clinic.units.UNIT_ALIASES)
        yield
        clinic.units.UNIT_ALIASES.clear()
        clinic.units.UNIT_ALIASES.update(saved)
    ''')


def test_an_existing_conftest_in_a_nested_package_gets_the_fixture_after_its_own(
    tmp_path: Path,
) -> None:
    """The conftest of the polluter's own directory, not the root's; its fixtures kept."""
    polluter = "tests/unit/test_a.py::test_polluter"
    files = {
        "tests/conftest.py": "ROOT = 1\n",
        "tests/unit/__init__.py": "",
        "tests/unit/conftest.py": """\
        import pytest


        @pytest.fixture
        def patients():
            return []
        """,
        "tests/unit/test_a.py": """\
        import app.config


        def test_polluter(patients):
            app.config.set_debug()
        """,
    }
    leaves = {**state("app.config.DEBUG", "app/config.py", "bool"), "env": {"APP_DEBUG": "1"}}
    changed, _ = fix(files, report(leaves, polluter), tmp_path)
    assert set(changed) == {"tests/unit/conftest.py", "tests/unit/test_a.py"}
    conftest = changed["tests/unit/conftest.py"]
    assert conftest.startswith(dedent(files["tests/unit/conftest.py"]))
    assert "def restore_config_debug():" in conftest
    assert "    app.config.DEBUG = saved\n" in conftest  # rebound: a bool has no contents
    assert "def restore_env_app_debug():" in conftest
    assert '        os.environ["APP_DEBUG"] = saved\n' in conftest
    fixtures = '"restore_config_debug", "restore_env_app_debug"'
    assert (
        f"@pytest.mark.usefixtures({fixtures})\ndef test_polluter(patients):"
        in changed["tests/unit/test_a.py"]
    )


def test_another_modules_attribute_assigned_in_the_body_becomes_setattr(tmp_path: Path) -> None:
    source = """\
    from app import config as settings


    def test_polluter():
        settings.DEBUG = True
        settings.LIMITS["rows"] = 10
    """
    leaves = {
        "state": {
            "app.config.DEBUG": {
                "value": "True",
                "module": "app.config",
                "file": "app/config.py",
                "type": "bool",
            },
            "app.config.LIMITS": {
                "value": "{}",
                "module": "app.config",
                "file": "app/config.py",
                "type": "dict",
            },
        }
    }
    changed, _ = fix({"tests/test_a.py": source}, report(leaves), tmp_path)
    assert changed == {
        "tests/test_a.py": dedent("""\
        from app import config as settings


        def test_polluter(monkeypatch):
            monkeypatch.setattr(settings, "DEBUG", True)
            monkeypatch.setitem(settings.LIMITS, "rows", 10)
        """)
    }


def test_a_dict_held_by_an_object_of_another_module_becomes_setitem(tmp_path: Path) -> None:
    """puppetboard's ``app.app.config["PAGE_TITLE"] = ...``: the audit names the Flask
    app's config by the first of its names, ``puppetboard.core.APP.config``; the test's
    name for it is an alias."""
    source = """\
    from puppetboard import app


    def test_polluter(client):
        app.app.config["PAGE_TITLE"] = "Dev"
        assert app.app.config["PAGE_TITLE"] == "Dev"
    """
    leaves = {
        "state": {
            "puppetboard.core.APP.config": {
                "value": "{...}",
                "module": "puppetboard.core",
                "file": "puppetboard/core.py",
                "type": "dict",
                "aliases": ["puppetboard.app.app.config", "puppetboard.forms.app.config"],
            }
        }
    }
    changed, _ = fix({"tests/test_a.py": source}, report(leaves), tmp_path)
    assert (
        '    monkeypatch.setitem(app.app.config, "PAGE_TITLE", "Dev")\n'
        in (changed["tests/test_a.py"])
    )
    assert "def test_polluter(monkeypatch, client):" in changed["tests/test_a.py"]
    assert "usefixtures" not in changed["tests/test_a.py"]  # undone in the body: no fixture


def test_a_module_attribute_deleted_in_the_body_becomes_delattr(tmp_path: Path) -> None:
    """humanize's tests delete ``i18n.__file__``; the audit records it as deleted."""
    source = """\
    from humanize import i18n


    def test_polluter():
        i18n.__file__ = None
        del i18n.__file__
    """
    leaves = state("humanize.i18n.__file__", "src/humanize/i18n.py", "deleted")
    changed, _ = fix({"tests/test_a.py": source}, report(leaves), tmp_path)
    assert changed["tests/test_a.py"].endswith(
        '    monkeypatch.setattr(i18n, "__file__", None)\n'
        '    monkeypatch.delattr(i18n, "__file__")\n'
    )


def test_two_polluters_of_one_value_share_one_fixture(tmp_path: Path) -> None:
    """humanize: one test sets ``i18n.__file__`` to None, another deletes it; the audit
    types the value differently for each, and the conftest still gets one fixture."""
    source = """\
    import importlib


    def test_polluter():
        i18n = importlib.import_module("humanize.i18n")
        i18n.__file__ = None


    def test_other():
        i18n = importlib.import_module("humanize.i18n")
        del i18n.__file__
    """
    other = "tests/test_a.py::test_other"
    audit = report(state("humanize.i18n.__file__", "src/humanize/i18n.py", "NoneType"))
    audit["tests"][VICTIM]["polluters"].append(other)
    audit["tests"][other] = {
        "classification": "stable",
        "polluters": [],
        "state_setters": [],
        "leaves": state("humanize.i18n.__file__", "src/humanize/i18n.py", "deleted"),
    }
    changed, _ = fix({"tests/test_a.py": source}, audit, tmp_path)
    assert changed["tests/conftest.py"].count("def restore_i18n___file__():") == 1
    assert (
        changed["tests/test_a.py"].count('@pytest.mark.usefixtures("restore_i18n___file__")') == 2
    )


def test_a_unittest_method_takes_no_fixture_argument_so_it_requests_one(tmp_path: Path) -> None:
    source = """\
    import os
    import unittest


    class TestThings(unittest.TestCase):
        def test_polluter(self):
            os.environ["APP_MODE"] = "debug"
    """
    polluter = "tests/test_a.py::TestThings::test_polluter"
    changed, _ = fix(
        {"tests/test_a.py": source}, report({"env": {"APP_MODE": "x"}}, polluter), tmp_path
    )
    assert "def test_polluter(self):" in changed["tests/test_a.py"]
    assert '@pytest.mark.usefixtures("restore_env_app_mode")' in changed["tests/test_a.py"]
    assert "def restore_env_app_mode():" in changed["tests/conftest.py"]


def test_a_brittle_test_gets_what_its_state_setter_left_from_fixtures(tmp_path: Path) -> None:
    """It fails alone and passes after ``test_setup``: the values the audit saw that test
    leave, written out whole, are set by fixtures the brittle test requests (and put back
    after it); a value the audit cut short is not guessed."""
    source = """\
    REGISTRY = {}


    def test_setup():
        REGISTRY["ready"] = True


    def test_needs_setup():
        assert REGISTRY["ready"]
    """
    setter = "tests/test_a.py::test_setup"
    where = {"module": "test_a", "file": "tests/test_a.py"}
    audit = {
        "tests": {
            "tests/test_a.py::test_needs_setup": {
                "classification": "order_dependent",
                "polluters": [],
                "state_setters": [setter],
            },
            setter: {
                "classification": "stable",
                "polluters": [],
                "state_setters": [],
                "leaves": {
                    "state": {
                        "test_a.REGISTRY": {"value": "{'ready': True}", "type": "dict", **where},
                        "test_a.BIG": {"value": "<dict of 300>", "type": "dict", **where},
                    },
                    "env": {"APP_READY": "1"},
                },
            },
        }
    }
    changed, plan = fix({"tests/test_a.py": source}, audit, tmp_path)
    assert plan.left == []
    module = changed["tests/test_a.py"]
    assert (
        "    saved = copy.deepcopy(REGISTRY)\n    REGISTRY.clear()\n"
        "    REGISTRY.update({'ready': True})\n    yield\n"
    ) in module
    assert "BIG" not in module
    assert '@pytest.mark.usefixtures("provide_test_a_registry", "provide_env_app_ready")\n' in (
        module
    )
    assert '    os.environ["APP_READY"] = "1"\n    yield\n' in changed["tests/conftest.py"]
    assert '    REGISTRY["ready"] = True\n' in module  # the setter is not touched


def test_what_cannot_be_put_back_by_value_is_left_with_why(tmp_path: Path) -> None:
    """No evidence, the logging configuration, a file outside tmp dirs, a brittle test."""
    audit = report(
        {
            "files": ["/tmp/out.csv"],
            "state": {
                "logging.root.level": {
                    "value": "Level 45",
                    "module": "logging.root",
                    "type": "logging",
                }
            },
        }
    )
    audit["tests"]["tests/test_b.py::test_needs_setup"] = {
        "classification": "order_dependent",
        "polluters": [],
        "state_setters": ["tests/test_b.py::test_setup"],
    }
    audit["tests"]["tests/test_b.py::test_victim"] = {
        "classification": "order_dependent",
        "polluters": ["tests/test_b.py::test_reloads"],
        "state_setters": [],
    }
    plan = plan_fixes(audit, tmp_path)
    assert plan.fixes == []
    left = dict(plan.left)
    assert "writes /tmp/out.csv outside tmp dirs" in left[POLLUTER]
    assert "replace-tmp" in left[POLLUTER]
    assert "logging.root.level" in left[POLLUTER]
    assert "the audit saw nothing it leaves behind" in left["tests/test_b.py::test_reloads"]
    assert "passes after tests/test_b.py::test_setup" in left["tests/test_b.py::test_needs_setup"]


def test_a_polluter_outside_the_project_is_never_touched(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "test_out.py").write_text("import os\n\ndef test_polluter():\n    os.chdir('/')\n")
    plan = plan_fixes(report({"cwd": "/"}, "../test_out.py::test_polluter"), project)
    assert plan.fixes == []
    assert "outside the project" in dict(plan.left)["../test_out.py::test_polluter"]
