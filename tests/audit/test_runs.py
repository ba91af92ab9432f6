"""How the audit starts pytest: the project's own configuration holds in every probe."""

from __future__ import annotations

from pathlib import Path

from optikit.audit.classify import REST
from optikit.audit.runs import Pytest, RunSpec


def test_a_probe_keeps_the_projects_addopts(tmp_path: Path) -> None:
    """The order file lives in /tmp; given to pytest as a separate token it made pytest look
    for the config from there, find none, and run the suite without its addopts (aiohttp's
    `-m "not dev_mode"`): tests the project deselects then failed in probes."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "setup.cfg").write_text(
        '[tool:pytest]\naddopts = -m "not dev_mode"\nmarkers =\n    dev_mode: only in dev\n'
    )
    (project / "test_a.py").write_text(
        "import pytest\n\n\ndef test_kept():\n    pass\n\n\n"
        "@pytest.mark.dev_mode\ndef test_deselected():\n    assert False\n"
    )
    pytest = Pytest(project, ("test_a.py",))
    probe = pytest.run(RunSpec(None, 1, 0, (REST,)))
    assert probe.outcomes() == {"test_a.py::test_kept": "passed"}
    alone = pytest.run(RunSpec(None, 1, 0, ("test_a.py::test_deselected",)))
    assert alone.outcomes() == {}
