"""``@cached_fixture`` in real pytest runs: what rebuilds, what is reused, and what survives damage.

Every cached fixture here appends a line to ``builds.log`` when it really runs, so a test can
count builds instead of guessing from timings.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas  # noqa: F401  # imported once here: pytester's in-process runs cannot re-import numpy
import polars  # noqa: F401
import pytest

from fixtures_lib.cache.store import FixtureStore

CONFTEST = """
from pathlib import Path

import polars as pl
from fixtures_lib import cached_fixture

LOG = Path(__file__).parent / "builds.log"


def built(name):
    with LOG.open("a") as log:
        log.write(name + "\\n")


@cached_fixture(inputs=["data/*.csv"], version="1")
def table():
    built("table")
    return pl.DataFrame({"n": list(range(1000))})


@cached_fixture(params=[2, 3])
def power(request):
    built(f"power{request.param}")
    return {"base": 10, "exponent": request.param}
"""

TESTS = """
def test_table(table):
    assert table.height == 1000


def test_power(power):
    assert power["base"] ** power["exponent"] in (100, 1000)
"""


def builds(pytester: pytest.Pytester) -> list[str]:
    log = pytester.path / "builds.log"
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return sorted(lines)


def run(pytester: pytest.Pytester, *args: str, fresh_process: bool = False) -> pytest.RunResult:
    """In-process by default (fast); pandas needs a fresh process, as its Parquet engine
    cannot be imported a second time into one interpreter."""
    runner = pytester.runpytest_subprocess if fresh_process else pytester.runpytest
    result = runner("-p", "no:randomly", *args)
    assert result.ret == 0, result.stdout.str()
    return result


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_values=TESTS)
    (pytester.path / "data").mkdir()
    (pytester.path / "data" / "a.csv").write_text("n\n1\n")
    return pytester


def test_second_run_builds_nothing(project: pytest.Pytester) -> None:
    first = run(project)
    assert builds(project) == ["power2", "power3", "table"]
    first.stdout.fnmatch_lines(["*optikit fixture cache*", "conftest.table*0 hits, 1 miss*"])
    second = run(project)
    assert builds(project) == []
    second.stdout.fnmatch_lines(["conftest.power*2 hits, 0 misses*"])


@pytest.mark.parametrize(
    ("change", "rebuilt"),
    [
        ("source", ["table"]),
        ("version", ["table"]),
        ("input file", ["table"]),
        ("new input file", ["table"]),
        ("param", ["power4"]),
    ],
)
def test_a_changed_input_rebuilds_only_what_depends_on_it(
    project: pytest.Pytester, change: str, rebuilt: list[str]
) -> None:
    run(project)
    builds(project)
    conftest = project.path / "conftest.py"
    if change == "source":
        conftest.write_text(conftest.read_text().replace("range(1000)", "range(0, 1000)"))
    elif change == "version":
        conftest.write_text(conftest.read_text().replace('version="1"', 'version="2"'))
    elif change == "input file":
        (project.path / "data" / "a.csv").write_text("n\n2\n")
    elif change == "new input file":
        (project.path / "data" / "b.csv").write_text("n\n3\n")
    else:
        conftest.write_text(conftest.read_text().replace("params=[2, 3]", "params=[2, 3, 4]"))
        (project.path / "test_values.py").write_text(
            TESTS.replace("(100, 1000)", "(100, 1000, 10000)")
        )
    run(project)
    assert builds(project) == rebuilt


def test_key_function_and_cached_inputs_are_part_of_the_key(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest(
        """
        import os
        from pathlib import Path
        from fixtures_lib import cached_fixture

        LOG = Path(__file__).parent / "builds.log"

        @cached_fixture(key=lambda request: os.environ.get("REGION", "eu"))
        def region_rows():
            LOG.open("a").write("rows\\n")
            return [os.environ.get("REGION", "eu")] * 3

        @cached_fixture
        def summary(region_rows, tmp_path):
            LOG.open("a").write("summary\\n")
            path = tmp_path / "summary.txt"
            path.write_text(",".join(region_rows))
            return path
        """
    )
    pytester.makepyfile(
        """
        import os

        def test_summary(summary):
            assert summary.read_text().startswith(os.environ.get("REGION", "eu"))
            assert summary.name == "summary.txt"
        """
    )
    run(pytester)
    assert builds(pytester) == ["rows", "summary"]
    run(pytester)
    assert builds(pytester) == []
    monkeypatch.setenv("REGION", "us")
    run(pytester)
    assert builds(pytester) == ["rows", "summary"]  # summary's input changed, so it rebuilt too


def test_a_file_value_is_restored_as_a_fresh_copy(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from fixtures_lib import cached_fixture

        @cached_fixture
        def report(tmp_path):
            path = tmp_path / "report.bin"
            path.write_bytes(bytes(range(256)) * 400)
            return path
        """
    )
    pytester.makepyfile(
        """
        def test_first(report):
            assert report.read_bytes() == bytes(range(256)) * 400
            report.write_bytes(b"scribbled on")

        def test_second(report):
            assert report.name == "report.bin"
            assert report.read_bytes() == bytes(range(256)) * 400
        """
    )
    run(pytester)
    run(pytester).stdout.fnmatch_lines(["conftest.report*2 hits, 0 misses*"])


def test_generator_fixture_tears_down_what_it_set_up(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from pathlib import Path
        from fixtures_lib import cached_fixture

        LOG = Path(__file__).parent / "builds.log"

        @cached_fixture
        def resource():
            LOG.open("a").write("setup\\n")
            yield 42
            LOG.open("a").write("teardown\\n")
        """
    )
    pytester.makepyfile("def test_it(resource):\n    assert resource == 42\n")
    run(pytester)
    assert builds(pytester) == ["setup", "teardown"]
    run(pytester)
    assert builds(pytester) == []  # a hit sets nothing up, so there is nothing to tear down


@pytest.mark.parametrize("switch", ["env", "option"])
def test_switches_bypass_the_cache(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, switch: str
) -> None:
    run(project)
    builds(project)
    if switch == "env":
        monkeypatch.setenv("DISABLE_TEST_CACHE", "1")
        result = run(project)
    else:
        result = run(project, "--no-fixture-cache")
    assert builds(project) == ["power2", "power3", "table"]
    assert "optikit fixture cache" not in result.stdout.str()


def test_refresh_rebuilds_each_key_once_per_run(project: pytest.Pytester) -> None:
    project.makepyfile(test_more="def test_again(table):\n    assert table.height == 1000\n")
    run(project)
    builds(project)
    run(project, "--refresh-fixture-cache")
    assert builds(project) == ["power2", "power3", "table"]  # table is used twice, built once
    run(project)
    assert builds(project) == []


def damage(pytester: pytest.Pytester, fixture: str, how: str) -> None:
    store = FixtureStore(pytester.path / "tests" / ".test_cache", 500)
    keys = [key for key in store.entry_keys() if key.startswith(f"conftest.{fixture}:")]
    assert keys, list(store.entry_keys())
    for key in keys:
        blob = store.read(key)
        assert blob is not None
        if how == "truncate":
            store.entries.set(key, blob[: len(blob) * 2 // 3])
        else:
            store.entries.set(key, b"not a header at all")
    store.close()


VALUES = {
    "polars": "pl.DataFrame({'n': list(range(5000))})",
    "pandas": "pd.DataFrame({'n': list(range(5000))})",
    "file": "write(tmp_path)",
    "pickle": "{'n': list(range(5000))}",
}


@pytest.mark.parametrize("how", ["truncate", "header"])
@pytest.mark.parametrize("kind", sorted(VALUES))
def test_an_unreadable_entry_is_dropped_and_rebuilt(
    pytester: pytest.Pytester, kind: str, how: str
) -> None:
    pytester.makeconftest(
        f"""
        from pathlib import Path
        import pandas as pd
        import polars as pl
        from fixtures_lib import cached_fixture

        LOG = Path(__file__).parent / "builds.log"

        def write(directory):
            path = directory / "values.bin"
            path.write_bytes(bytes(range(256)) * 200)
            return path

        @cached_fixture
        def value(tmp_path):
            LOG.open("a").write("built\\n")
            return {VALUES[kind]}
        """
    )
    pytester.makepyfile(
        """
        def test_value(value):
            assert value is not None
        """
    )
    fresh = kind == "pandas"
    run(pytester, fresh_process=fresh)
    damage(pytester, "value", how)
    result = run(pytester, fresh_process=fresh)
    assert builds(pytester) == ["built", "built"]
    result.stdout.fnmatch_lines(["conftest.value*1 unreadable entry rebuilt*"])
    run(pytester, fresh_process=fresh).stdout.fnmatch_lines(["conftest.value*1 hit, 0 misses*"])


def test_a_changed_pickled_class_is_rebuilt(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(models="class Point:\n    x = 1\n\ndef make():\n    return Point()\n")
    pytester.makeconftest(
        """
        import models
        from fixtures_lib import cached_fixture

        @cached_fixture
        def point():
            return models.make()
        """
    )
    pytester.makepyfile(test_point="def test_point(point):\n    assert point.x == 1\n")
    pytester.syspathinsert()
    assert pytester.runpytest_subprocess("-p", "no:randomly").ret == 0
    models = pytester.path / "models.py"
    models.write_text("class Spot:\n    x = 1\n\ndef make():\n    return Spot()\n")
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["conftest.point*1 unreadable entry rebuilt*"])


def test_parallel_workers_build_each_key_once(project: pytest.Pytester) -> None:
    slow_build = (
        '    built("table")\n    sum(range(3_000_000))  # long enough for both workers to ask\n'
    )
    conftest = project.path / "conftest.py"
    conftest.write_text(conftest.read_text().replace('    built("table")\n', slow_build))
    for index in range(6):
        project.makepyfile(**{f"test_many_{index}": TESTS})
    result = project.runpytest_subprocess("-p", "no:randomly", "-n", "2")
    assert result.ret == 0, result.stdout.str()
    assert builds(project) == ["power2", "power3", "table"]
    result.stdout.fnmatch_lines(["conftest.table*6 hits, 1 miss*"])


def test_the_cache_stays_within_its_size_limit(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.optikit.cache]\nsize_limit_mb = 1\n")
    pytester.makeconftest(
        """
        import os
        from fixtures_lib import cached_fixture

        @cached_fixture(params=range(20))
        def blob(request):
            return os.urandom(100_000)
        """
    )
    pytester.makepyfile("def test_blob(blob):\n    assert len(blob) == 100_000\n")
    run(pytester)  # 2 MB written into a 1 MB cache
    store = FixtureStore(pytester.path / "tests" / ".test_cache", 1)
    stats = store.stats()
    store.close()
    assert stats.size_bytes <= 1024 * 1024
    assert 0 < stats.entries < 20


def test_a_value_larger_than_the_whole_cache_is_not_stored(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.optikit.cache]\nsize_limit_mb = 0.5\n")
    pytester.makeconftest(
        textwrap.dedent(
            """
            from fixtures_lib import cached_fixture

            @cached_fixture
            def huge():
                return b"x" * 1_000_000
            """
        )
    )
    pytester.makepyfile("def test_huge(huge):\n    assert len(huge) == 1_000_000\n")
    run(pytester)
    run(pytester).stdout.fnmatch_lines(["conftest.huge*0 hits, 1 miss*"])


def test_without_any_cached_fixture_nothing_is_written(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = run(pytester)
    assert "optikit fixture cache" not in result.stdout.str()
    assert not Path(pytester.path / "tests" / ".test_cache").exists()


def test_eviction_keeps_the_recently_used(tmp_path: Path) -> None:
    from fixtures_lib.cache.store import Header

    store = FixtureStore(tmp_path, size_limit_mb=1)
    header = Header("pickle", 1.0, "run", 0.0)
    for index in range(4):
        assert store.write(f"f:{index}", header, bytes(200_000))
    assert store.read("f:0") is not None  # used: now the most recent
    for index in range(4, 8):
        store.write(f"f:{index}", header, bytes(200_000))
    kept = set(store.entry_keys())
    store.close()
    assert "f:0" in kept
    assert "f:1" not in kept
    assert "f:7" in kept


def test_a_registered_serializer_takes_precedence(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from fixtures_lib import Serializer, cached_fixture, register_serializer

        class Celsius(float):
            pass

        register_serializer(
            Serializer(
                name="celsius-text",
                handles=lambda value: isinstance(value, Celsius),
                dump=lambda value: repr(float(value)).encode(),
                load=lambda data, scratch: Celsius(bytes(data).decode()),
            )
        )

        @cached_fixture
        def temperature():
            return Celsius(21.5)
        """
    )
    pytester.makepyfile(
        "def test_temperature(temperature):\n"
        "    assert type(temperature).__name__ == 'Celsius'\n"
        "    assert temperature == 21.5\n"
    )
    assert pytester.runpytest_subprocess("-p", "no:randomly").ret == 0
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["conftest.temperature*1 hit, 0 misses*"])
    store = FixtureStore(pytester.path / "tests" / ".test_cache", 500)
    (key,) = store.entry_keys()
    blob = store.read(key)
    store.close()
    assert blob is not None
    assert b'"serializer":"celsius-text"' in blob
    assert blob.endswith(b"21.5")


def test_a_cache_too_damaged_to_open_runs_uncached_with_a_warning(
    project: pytest.Pytester,
) -> None:
    entries = project.path / "tests" / ".test_cache" / "entries"
    entries.mkdir(parents=True)
    (entries / "cache.db").write_bytes(b"not a database" * 1000)
    result = run(project)
    assert builds(project) == ["power2", "power3", "table"]
    result.stdout.fnmatch_lines(
        ["*FixtureCacheWarning: fixture cache: cannot open*optikit cache clear*"]
    )


def test_a_cached_dataframe_comes_back_as_built(tmp_path: Path) -> None:
    """A cached value must behave like a fresh one: a polars frame read back from Parquet
    came in many chunks per column (its row groups), and sample() on it was 4x slower, so
    the demo's warm cache made a test slower. Same shape, dtypes and layout as built."""
    import numpy as np
    import pandas as pd
    import polars as pl

    from fixtures_lib.cache.serializers import for_value

    built = pl.DataFrame({"age": np.arange(2_000_000), "weight": np.linspace(0, 1, 2_000_000)})
    serializer = for_value(built)
    loaded = serializer.load(memoryview(serializer.dump(built)), lambda: tmp_path)
    assert loaded.n_chunks("all") == built.n_chunks("all") == [1, 1]
    assert loaded.schema == built.schema
    assert loaded.equals(built)

    frame = pd.DataFrame(
        {"n": np.arange(10), "s": list("abcdefghij"), "c": pd.Categorical(list("aabbccddee"))}
    )
    serializer = for_value(frame)
    back = serializer.load(memoryview(serializer.dump(frame)), lambda: tmp_path)
    assert back.dtypes.to_dict() == frame.dtypes.to_dict()
    assert back.index.equals(frame.index)
    assert back.equals(frame)
