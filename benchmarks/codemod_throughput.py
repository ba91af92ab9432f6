"""The codemods on large test trees nobody here wrote: the tests in the pandas and numpy wheels.

Every codemod runs as a dry run over a copy of ``pandas/tests`` and of numpy's test folders
(mark-slow, mark-serial and rescope with synthetic input naming a few hundred tests and
fixtures). The input is realistic: a parametrized test with a literal list is named by
case, as pytest names it, and only some of its cases are slow or unsafe, so the codemods
mark single cases and write their notes. Checked: no codemod error on any file, every output
parses (the runner re-parses before it would write), and a second pass over the rewritten
tree changes nothing. Throughput: each codemod's wall time, pre-filter and planning
included, against a bare libcst parse-and-print with the same number of processes, measured
side by side: of every file in the tree ("tree"), and of the files the codemod itself parsed
with libcst ("same files"). Target (issue 20): at most 1.3x on the same files.

    python benchmarks/codemod_throughput.py [--jobs 2] [--tests 300] [--tree pandas numpy]
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import libcst as cst
import numpy
import pandas

from codemods.add_marks import MarkTests, Placement
from codemods.fixture_index import build_index
from codemods.mark_serial import plan_mark_serial
from codemods.mark_slow import plan_mark_slow
from codemods.replace_tmp import ReplaceTmp, mentions_tmp
from codemods.rescope import RescopeFixtures, by_file, plan_rescope
from codemods.runner import CommandFactory, FileResult, PerFile, run_codemod


def parse_and_print(path: Path) -> int:
    return len(cst.parse_module(path.read_bytes()).bytes)


def bare(files: list[Path], jobs: int) -> float:
    started = time.perf_counter()
    with ProcessPoolExecutor(jobs) as pool:
        list(pool.map(parse_and_print, files, chunksize=8))
    return time.perf_counter() - started


def test_nodeids(files: list[Path], root: Path, count: int, seed: int) -> dict[str, float]:
    """Real test functions (module level and in classes) picked at random, with a duration
    per node id: a parametrized test with a literal list of plain values by case (ids as
    pytest makes them), about half its cases slow (60 s) and the others fast (0.1 s)."""
    rng = random.Random(seed)
    found: list[tuple[str, ast.FunctionDef]] = []
    for path in files:
        tree = ast.parse(path.read_bytes())
        relative = path.relative_to(root).as_posix()
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                found.append((f"{relative}::{node.name}", node))
            elif isinstance(node, ast.ClassDef):
                found += [
                    (f"{relative}::{node.name}::{item.name}", item)
                    for item in node.body
                    if isinstance(item, ast.FunctionDef) and item.name.startswith("test")
                ]
    durations: dict[str, float] = {}
    for nodeid, function in rng.sample(found, min(count, len(found))):
        cases = _case_ids(function)
        if not cases:
            durations[nodeid] = 60.0
            continue
        for case in cases:
            durations[f"{nodeid}[{case}]"] = rng.choice((60.0, 0.1))
    return durations


def _case_ids(function: ast.FunctionDef) -> list[str]:
    """pytest's ids for one ``@pytest.mark.parametrize`` of plain literal values."""
    marks = [
        d
        for d in function.decorator_list
        if isinstance(d, ast.Call) and ast.unparse(d.func).endswith("mark.parametrize")
    ]
    if len(marks) != 1 or len(marks[0].args) < 2 or marks[0].keywords:
        return []
    try:
        values = ast.literal_eval(marks[0].args[1])
    except (ValueError, SyntaxError, TypeError):
        return []
    ids: list[str] = []
    for value in values if isinstance(values, list | tuple) else ():
        parts = value if isinstance(value, tuple) else (value,)
        if not all(isinstance(v, str | int | float | bool) or v is None for v in parts):
            return []
        ids.append("-".join(str(v) for v in parts))
    return ids if len(set(ids)) == len(ids) and all(i.isascii() for i in ids) else []


def timed(
    plan: Callable[[], tuple[list[Path], CommandFactory]], jobs: int
) -> tuple[float, list[FileResult]]:
    started = time.perf_counter()
    files, factory = plan()
    results = run_codemod(files, factory, jobs=jobs)
    return time.perf_counter() - started, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--tests", type=int, default=300, help="tests named by the synthetic data")
    parser.add_argument(
        "--tree", nargs="+", choices=sorted(TREES), default=sorted(TREES, reverse=True)
    )
    options = parser.parse_args()
    for tree in options.tree:
        measure(tree, options.jobs, options.tests)


def _numpy_tests(target: Path) -> None:
    """numpy's test folders (``numpy/**/tests``), with their package layout."""
    package = Path(numpy.__file__).parent
    for folder in sorted(package.rglob("tests")):
        if folder.is_dir():
            shutil.copytree(
                folder,
                target / folder.relative_to(package),
                ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c", "data"),
            )


TREES: dict[str, Callable[[Path], None]] = {
    "pandas": lambda target: shutil.copytree(
        Path(pandas.__file__).parent / "tests", target, ignore=shutil.ignore_patterns("__pycache__")
    ),
    "numpy": _numpy_tests,
}


def measure(tree: str, jobs: int, count: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        TREES[tree](root / "tests")
        files = sorted((root / "tests").rglob("*.py"))
        print(f"\n{tree}: {len(files)} files, {jobs} processes")
        durations = test_nodeids(files, root, count, seed=1)
        nodeids = sorted(n for n, seconds in durations.items() if seconds > 1)
        cases = sum("[" in n for n in durations)
        print(f"  {len(durations)} node ids ({cases} of them cases), {len(nodeids)} slow")

        def marks(placement: Placement) -> tuple[list[Path], CommandFactory]:
            return sorted(placement.plans), PerFile(MarkTests, placement.plans)

        def rescope() -> tuple[list[Path], CommandFactory]:
            index = build_index(files, jobs)
            candidates = [f for f in index.fixtures if f.scope == "function"]
            promotions, refusals = plan_rescope(index, candidates, "module", root)
            print(
                f"  rescope: {len(candidates)} candidates, "
                f"{len(promotions)} safe, {len(refusals)} refused"
            )
            plans = by_file(promotions)
            return sorted(plans), PerFile(RescopeFixtures, plans)

        codemods: dict[str, Callable[[], tuple[list[Path], CommandFactory]]] = {
            "mark-slow": lambda: marks(plan_mark_slow(durations, root=root, threshold=1.0)),
            "mark-serial": lambda: marks(
                plan_mark_serial(set(nodeids[:100]), root=root, audited=durations)
            ),
            "replace-tmp": lambda: ([f for f in files if mentions_tmp(f.read_bytes())], ReplaceTmp),
            "rescope": rescope,
        }
        baseline = bare(files, jobs)
        print(f"bare libcst parse+print of every file: {baseline:.2f} s")
        print(
            f"{'codemod':12} {'files':>6} {'changed':>8} {'edits':>6} {'errors':>6} "
            f"{'2nd pass':>9} {'time':>8} {'tree':>6} {'same files':>11}"
        )
        for name, plan in codemods.items():
            seconds, results = timed(plan, jobs)
            errors = [r for r in results if r.skipped]
            changed = [r for r in results if r.changed]
            for result in changed:
                result.path.write_bytes(result.new)
            same = bare([r.path for r in results], jobs) if results else 0.0
            _, again = timed(plan, jobs)
            still = sum(r.changed for r in again)
            for result in changed:
                result.path.write_bytes(result.old)
            print(
                f"{name:12} {len(results):6} {len(changed):8} {sum(r.edits for r in changed):6} "
                f"{len(errors):6} {still:9} {seconds:7.2f}s {seconds / baseline:5.2f}x "
                f"{seconds / same if same else 0:7.2f}x ({same:.1f} s)"
            )
            for result in errors[:5]:
                print(f"    {result.path.relative_to(root)}: {result.skipped}")
        baseline_again = bare(files, jobs)
        print(f"bare libcst parse+print again: {baseline_again:.2f} s")


if __name__ == "__main__":
    main()
