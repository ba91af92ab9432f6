"""The lazy dataset registry: nothing loads until asked, and then once."""

from __future__ import annotations

import textwrap

import pytest

from fixtures_lib import DatasetRegistry, UnknownDatasetError


def must_not_load() -> object:
    raise AssertionError("this loader must never run")


def test_names_and_availability_never_load() -> None:
    registry = DatasetRegistry()
    registry.register("heavy", must_not_load)
    registry.register("offline", must_not_load, available=lambda: False, reason="needs the VPN")
    assert registry.names() == ["heavy", "offline"]
    assert registry.available() == ["heavy"]
    assert not registry.is_loaded("heavy")
    assert "needs the VPN" in registry.unavailable_reason("offline")


def test_get_loads_once_and_only_what_is_asked_for() -> None:
    calls: list[str] = []
    registry = DatasetRegistry()
    registry.register("heavy", must_not_load)

    @registry.register("labs")
    def load_labs() -> list[int]:
        calls.append("labs")
        return [1, 2, 3]

    first = registry.get("labs")
    assert registry.get("labs") is first
    assert calls == ["labs"]
    assert not registry.is_loaded("heavy")


def test_an_unknown_name_is_an_error_that_lists_the_known_ones() -> None:
    registry = DatasetRegistry()
    registry.register("labs", list)
    with pytest.raises(UnknownDatasetError, match=r"no dataset named 'lab' \(registered: labs\)"):
        registry.get("lab")
    with pytest.raises(ValueError, match="already registered"):
        registry.register("labs", list)


def test_an_unavailable_dataset_is_not_loaded() -> None:
    registry = DatasetRegistry()
    registry.register("offline", must_not_load, available=lambda: False)
    with pytest.raises(LookupError, match="not available here"):
        registry.get("offline")


CONFTEST = """
from pathlib import Path

LOG = Path(__file__).parent / "loads.log"


def loader(name):
    def load():
        LOG.open("a").write(name + "\\n")
        return {"name": name}
    return load


def pytest_optikit_datasets(registry):
    registry.register("labs", loader("labs"), cache=True)
    registry.register("visits", loader("visits"))
    registry.register("claims", loader("claims"), available=lambda: False, reason="no claims DB")
"""


def loads(pytester: pytest.Pytester) -> list[str]:
    log = pytester.path / "loads.log"
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return sorted(lines)


def test_get_dataset_loads_lazily_skips_unavailable_and_caches(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        """
        def test_labs(get_dataset):
            assert get_dataset("labs") == {"name": "labs"}

        def test_labs_again(get_dataset):
            assert get_dataset("labs")["name"] == "labs"

        def test_claims(get_dataset):
            get_dataset("claims")
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "-rs")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*dataset 'claims' is not available here: no claims DB*"])
    assert loads(pytester) == ["labs"]  # once per session, and visits never
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2, skipped=1)
    assert loads(pytester) == []  # the second session reads labs from the fixture cache


def test_a_typo_in_a_dataset_name_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile('def test_typo(get_dataset):\n    get_dataset("lab")\n')
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no dataset named 'lab' (registered: claims, labs, visits)*"])


def test_discovered_datasets_is_the_eager_path(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        "def test_all(discovered_datasets):\n"
        '    assert set(discovered_datasets) == {"labs", "visits"}\n'
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=1)
    assert loads(pytester) == ["labs", "visits"]


def test_datasets_come_from_entry_points(pytester: pytest.Pytester) -> None:
    site = pytester.mkdir("site")
    (site / "clinic_data.py").write_text(
        textwrap.dedent(
            """
            def register(registry):
                registry.register("wards", lambda: ["north", "south"])
            """
        )
    )
    dist_info = site / "clinic_data-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: clinic-data\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[optikit.datasets]\nclinic = clinic_data:register\n"
    )
    pytester.makepyfile(
        'def test_wards(get_dataset):\n    assert get_dataset("wards") == ["north", "south"]\n'
    )
    pytester.syspathinsert(site)  # importlib.metadata finds the dist-info on sys.path
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1)
