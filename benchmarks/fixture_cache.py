"""What the fixture cache saves, what a hit costs, and whether the size limit holds.

Three measurements, each from real pytest runs on a generated suite that reads its timings
from optikit's own run record (``--track-performance``, per-fixture setup totals):

1. setup time of a 1,000,000-row polars table and an Excel workbook built from it, with the
   cache off (``--no-fixture-cache``) and warm, in alternating pairs; target: warm >= 5x faster;
2. the cost of a warm hit for a small value: a cached fixture's mean setup time minus a plain
   fixture's, over 500 tests each; target: under 2 ms;
3. a fill: 100 MB of values through a cache limited to 50 MB; it must end within its limit.

    python benchmarks/fixture_cache.py [--pairs 2] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from optikit.timing.run_record import read_run_record

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "clinic"

DATA_CONFTEST = """
from fixtures_lib import cached_fixture
from clinic.data import build_patients
from clinic.excel import write_cohort_workbook


@cached_fixture
def big_table():
    return build_patients(rows={rows})


@cached_fixture
def workbook(big_table, tmp_path):
    return write_cohort_workbook(big_table.head(20_000), tmp_path / "cohort.xlsx")
"""

DATA_TESTS = """
def test_rows(big_table):
    assert big_table.height == {rows}


def test_workbook(workbook, big_table):
    assert workbook.stat().st_size > 0
"""

HIT_CONFTEST = """
import pytest
from fixtures_lib import cached_fixture


@cached_fixture
def small_cached():
    return {"threshold": 0.5, "sites": ["north", "south", "east", "west"]}


@pytest.fixture
def small_plain():
    return {"threshold": 0.5, "sites": ["north", "south", "east", "west"]}
"""

FILL_CONFTEST = """
import os
from fixtures_lib import cached_fixture


@cached_fixture(params=range(100))
def megabyte(request):
    return os.urandom(1024 * 1024)
"""


def project(root: Path, conftest: str, tests: str, cache: str = "") -> Path:
    root.mkdir()
    (root / "pyproject.toml").write_text(
        f'[tool.pytest.ini_options]\npythonpath = ["{EXAMPLE}"]\n'
        f'addopts = "-p no:randomly -p no:cacheprovider"\n{cache}'
    )
    (root / "conftest.py").write_text(conftest)
    (root / "test_suite.py").write_text(tests)
    return root


def fixture_seconds(root: Path, *args: str) -> dict[str, dict[str, float]]:
    """Run the suite; per fixture name, total setup seconds and number of setups."""
    data = root / "run.json"
    command = [sys.executable, "-m", "pytest", "-q", "--track-performance"]
    command += [f"--performance-data={data}", "--performance-no-history", *args]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"benchmark suite failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    return {
        fixture["name"]: {"total": fixture["total"], "setups": fixture["setups"]}
        for fixture in read_run_record(data)["fixtures"]
    }


def data_fixtures(scratch: Path, rows: int, pairs: int) -> dict[str, object]:
    root = project(scratch / "data", DATA_CONFTEST.format(rows=rows), DATA_TESTS.format(rows=rows))
    cold = fixture_seconds(root)
    uncached, warm = [], []
    for _ in range(pairs):
        off = fixture_seconds(root, "--no-fixture-cache")
        on = fixture_seconds(root)
        uncached.append(sum(off[name]["total"] for name in ("big_table", "workbook")))
        warm.append(sum(on[name]["total"] for name in ("big_table", "workbook")))
    ratios = [off / on for off, on in zip(uncached, warm, strict=True)]
    return {
        "rows": rows,
        "setups_per_run": {name: cold[name]["setups"] for name in ("big_table", "workbook")},
        "uncached_seconds": round(statistics.median(uncached), 3),
        "cold_cache_seconds": round(cold["big_table"]["total"] + cold["workbook"]["total"], 3),
        "warm_cache_seconds": round(statistics.median(warm), 3),
        "speedup_warm_vs_uncached": round(statistics.median(ratios), 1),
        "target": ">= 5x",
    }


def warm_hit(scratch: Path, tests: int) -> dict[str, object]:
    body = "\n\n".join(
        f"def test_{i}(small_cached, small_plain):\n    assert small_cached == small_plain"
        for i in range(tests)
    )
    root = project(scratch / "hit", HIT_CONFTEST, body + "\n")
    fixture_seconds(root)  # fill
    warm = fixture_seconds(root)
    per_setup = {name: warm[name]["total"] / warm[name]["setups"] for name in warm}
    cost = per_setup["small_cached"] - per_setup["small_plain"]
    return {
        "tests": tests,
        "cached_ms_per_setup": round(per_setup["small_cached"] * 1000, 3),
        "plain_ms_per_setup": round(per_setup["small_plain"] * 1000, 3),
        "hit_overhead_ms": round(cost * 1000, 3),
        "target": "< 2 ms",
    }


def fill(scratch: Path) -> dict[str, object]:
    limit_mb = 50
    root = project(
        scratch / "fill",
        FILL_CONFTEST,
        "def test_megabyte(megabyte):\n    assert len(megabyte) == 1024 * 1024\n",
        cache=f"[tool.optikit.cache]\nsize_limit_mb = {limit_mb}\n",
    )
    fixture_seconds(root)
    from fixtures_lib.cache.store import MB, FixtureStore

    store = FixtureStore(root / "tests" / ".test_cache", limit_mb)
    stats = store.stats()
    store.close()
    return {
        "written_mb": 100,
        "limit_mb": limit_mb,
        "entries_kept": stats.entries,
        "cache_mb_after": round(stats.size_bytes / MB, 2),
        "within_limit": stats.size_bytes <= limit_mb * MB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--hit-tests", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="optikit-cache-bench-") as tmp:
        scratch = Path(tmp)
        results = {
            "data_fixtures": data_fixtures(scratch, args.rows, args.pairs),
            "warm_hit": warm_hit(scratch, args.hit_tests),
            "fill": fill(scratch),
        }
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
