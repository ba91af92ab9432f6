"""The nine things ``make real-suites`` does to each real suite, one function each.

Every step works in its own fresh copy of the released source and returns plain figures (a
JSON-able dict). A step that raises becomes a row with its error; the other steps and
projects go on. Steps that need an earlier step's result (the authors' outcomes, the gate's
run record, the audit's report) read it from the project's cache folder, so ``--steps``
can re-run one step alone.
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from corpus import Project, scratch, workdir
from pytest_runs import Run, differences, run

Figures = dict[str, Any]
TRACKED_RUNS = 5
GATE_RUNS = 2
CONFIRM = 3
AUDIT_RUNS = 10
AUDIT_MAX_TIME = "8m"  # the audit stops there with what it knows (its report says "partial")
WORKERS = ["-n", "2"]


def suite_args(project: Project) -> list[str]:
    return [*project.paths, *project.args]


def _saved(project: Project, name: str) -> Path:
    return project.home / "results" / name


def _save(project: Project, name: str, data: Any) -> None:
    path = _saved(project, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def _load(project: Project, name: str, step: str) -> Any:
    path = _saved(project, name)
    if not path.is_file():
        raise RuntimeError(f"needs the {step} step's result ({path}): run --steps {step} first")
    return json.loads(path.read_text())


def _failed(done: Run, what: str) -> RuntimeError:
    return RuntimeError(f"{what} exited {done.exit_code}:\n{done.tail()}")


# 1. The suite as its authors run it ---------------------------------------------------------


def authors(project: Project, progress: Callable[[str], None]) -> Figures:
    work = scratch(project, "authors")
    done = run(project, "plain", work, suite_args(project), log=work / ".reportlog.jsonl")
    if not done.outcomes:
        raise _failed(done, "the suite (no test reported)")
    _save(project, "authors.json", {"outcomes": done.outcomes, "order": done.order})
    return {
        "exit_code": done.exit_code,
        "seconds": done.seconds,
        "tests": len(done.outcomes),
        "outcomes": done.counts(),
    }


# 2. Gate: tracked runs, a baseline, and the gate on unchanged code --------------------------


def _gate_line(output: str) -> str:
    found = re.search(r"^Gate (FAILED|passed).*$", output, re.MULTILINE)
    return found.group(0) if found else ""


def _regression_rows(output: str) -> list[str]:
    """The rows the gate called regressions (one line each: verdict, change, times, name)."""
    return [line.strip() for line in output.splitlines() if line.startswith("  regression")]


def gate(project: Project, progress: Callable[[str], None]) -> Figures:
    work = scratch(project, "gate")
    tracked = [*WORKERS, "--track-performance", *suite_args(project)]
    seconds = []
    for index in range(TRACKED_RUNS):
        progress(f"tracked run {index + 1}/{TRACKED_RUNS}")
        done = run(project, "optikit", work, tracked)
        seconds.append(done.seconds)
        if done.exit_code not in (0, 1):
            raise _failed(done, f"tracked run {index + 1}")
    made = run(project, "optikit", work, ["baseline", "--from-history", "3"], module="optikit")
    if made.exit_code != 0:
        raise _failed(made, "optikit baseline --from-history 3")
    verdicts = []
    for index in range(GATE_RUNS):
        progress(f"unchanged run {index + 1}/{GATE_RUNS} and regression --confirm {CONFIRM}")
        run(project, "optikit", work, tracked)
        judged = run(
            project, "optikit", work, ["regression", "--confirm", str(CONFIRM)], module="optikit"
        )
        verdicts.append(
            {
                "exit_code": judged.exit_code,
                "seconds": judged.seconds,
                "verdict": _gate_line(judged.output) or judged.tail(3),
                "regressions": _regression_rows(judged.output)[:5],
            }
        )
    return {
        "tracked_run_seconds": statistics.median(seconds),
        "false_alarms": sum(v["exit_code"] == 1 for v in verdicts),
        "bad_exits": sum(v["exit_code"] not in (0, 1) for v in verdicts),
        "verdicts": verdicts,
    }


def _copy_of_gate(project: Project, name: str) -> Path:
    """A fresh copy of the gate step's folder (its history, run record and baseline)."""
    gate_work = workdir(project, "gate")
    if not gate_work.is_dir():
        raise RuntimeError("needs the gate step's runs and baseline: run --steps gate first")
    work = workdir(project, name)
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(gate_work, work, symlinks=True)
    return work


SOAK_RUNS = int(os.environ.get("GATE_SOAK_RUNS", "10"))


def soak(project: Project, progress: Callable[[str], None]) -> Figures:
    """Issue 15's measure: ``SOAK_RUNS`` more unchanged tracked runs against the gate step's
    baseline (from 3 runs), each judged with ``--confirm 3``: first the machine as it is,
    then the same number with a CPU hog (one busy-looping process) beside every other run,
    the judging included. Every exit 1 is a false alarm: nothing changed."""
    work = _copy_of_gate(project, "soak")
    tracked = [*WORKERS, "--track-performance", *suite_args(project)]
    figures: Figures = {}
    for variant in ("quiet", "hog"):
        verdicts = []
        for index in range(SOAK_RUNS):
            hogged = variant == "hog" and index % 2 == 0
            progress(
                f"{variant} run {index + 1}/{SOAK_RUNS}{' beside a CPU hog' if hogged else ''}"
            )
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if hogged else None
            try:
                run(project, "optikit", work, tracked)
                judged = run(
                    project, "optikit", work, ["regression", "--confirm", str(CONFIRM)],
                    module="optikit",
                )  # fmt: skip
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
            verdicts.append(
                {
                    "hog": hogged,
                    "exit_code": judged.exit_code,
                    "verdict": _gate_line(judged.output) or judged.tail(3),
                }
            )
        figures[variant] = {
            "runs": len(verdicts),
            "false_alarms": sum(v["exit_code"] == 1 for v in verdicts),
            "bad_exits": sum(v["exit_code"] not in (0, 1) for v in verdicts),
            "alarms": [v["verdict"] for v in verdicts if v["exit_code"] != 0][:5],
        }
    return figures


# 3. Reports -------------------------------------------------------------------------------


def _empty_sections(markdown: str) -> list[str]:
    """Headings followed by nothing (or only by another heading of a deeper level)."""
    empty, heading, body = [], None, False
    for line in [*markdown.splitlines(), "# end"]:
        if line.startswith("#"):
            if heading is not None and not body:
                empty.append(heading)
            heading, body = line.lstrip("# ").strip(), False
        elif line.strip():
            body = True
    return empty


def report(project: Project, progress: Callable[[str], None]) -> Figures:
    work = workdir(project, "gate")
    if not work.is_dir():
        raise RuntimeError("needs the gate step's tracked runs: run --steps gate first")
    figures: Figures = {}
    for fmt, extra in (("html", []), ("markdown", ["--compare-baseline"])):
        target = work / f"report.{fmt}"
        target.unlink(missing_ok=True)
        done = run(
            project, "optikit", work, ["report", "--format", fmt, "-o", str(target), *extra],
            module="optikit",
        )  # fmt: skip
        if done.exit_code != 0 or not target.is_file():
            raise _failed(done, f"optikit report --format {fmt}")
        figures[f"{fmt}_bytes"] = target.stat().st_size
    markdown = (work / "report.markdown").read_text(encoding="utf-8")
    figures["sections"] = sum(line.startswith("#") for line in markdown.splitlines())
    figures["empty_sections"] = _empty_sections(markdown)
    return figures


# 5. The flake audit, against the truth in the manifest -------------------------------------


def _verdict(truth: Any, found: dict[str, Any]) -> str:
    entry = found.get(truth.victim)
    if entry is None:  # the report keeps only tests that failed or left evidence
        return "classified stable"
    named = set(entry["polluters"]) | set(entry["state_setters"])
    wanted = {"brittle": "order_dependent"}.get(truth.kind, truth.kind)
    if entry["classification"] != wanted:
        return f"classified {entry['classification']}"
    if truth.culprits and not set(truth.culprits) & named:
        return f"right class, wrong culprit ({', '.join(sorted(named)) or 'none'})"
    return "found"


def audit(project: Project, progress: Callable[[str], None]) -> Figures:
    work = scratch(project, "audit")
    authors_run = _load(project, "authors.json", "authors")
    arguments = [*project.paths] + (["--", *project.args] if project.args else [])
    command = ["audit-parallel", "--runs", str(AUDIT_RUNS), *WORKERS, "--max-time", AUDIT_MAX_TIME]
    command += arguments
    done = run(project, "optikit", work, command, module="optikit", timeout=3600)
    reports = sorted(work.rglob(".optikit/audit.json"))
    if not reports:
        raise _failed(done, "optikit audit-parallel (no report)")
    data = json.loads(reports[0].read_text())
    shutil.copy(reports[0], _saved(project, "audit.json"))
    found = data["tests"]
    truths = {t.victim: _verdict(t, found) for t in project.truth}
    known = {t.victim for t in project.truth} | {c for t in project.truth for c in t.culprits}
    failing_before = {n for n, o in authors_run["outcomes"].items() if o in ("failed", "error")}
    other = {
        nodeid: entry["classification"]
        for nodeid, entry in found.items()
        if entry["classification"] not in ("stable", "failing") and nodeid not in known
    }
    failing = {n for n, e in found.items() if e["classification"] == "failing"}
    reproduced = [e["reproduced"] for e in found.values() if e["reproduced"]]
    return {
        "exit_code": done.exit_code,
        "seconds": done.seconds,
        "runs": data["runs"],
        "probes": data["probes"],
        "crashes": len(data["crashes"]),
        "crash_reasons": [c["why"] for c in data["crashes"]][:3],
        "partial": data["partial"],
        "truth": truths,
        "found": sum(v == "found" for v in truths.values()),
        "other_findings": other,
        "failing_not_failing_for_authors": sorted(failing - failing_before),
        "phases": data["seconds"],
        "reproducers": f"{sum(r[0] != '0' for r in reproduced)}/{len(reproduced)} reproduced",
        "pollution_tool": _detect_test_pollution(project, work),
        "victim_mode": _victim_mode(project, work, arguments),
    }


def _victim_mode(project: Project, work: Path, arguments: list[str]) -> dict[str, str]:
    """``optikit audit-parallel --victim`` on each order-dependent victim of the truth, to
    set beside detect-test-pollution's figure for the same victim."""
    results = {}
    for truth in project.truth:
        if truth.kind != "order_dependent":
            continue
        command = ["audit-parallel", "--victim", truth.victim, "--runs", "5"]
        command += ["--output", ".optikit/victim.json", *arguments]
        done = run(project, "optikit", work, command, module="optikit", timeout=1200)
        reports = sorted(work.rglob(".optikit/victim.json"))
        data = json.loads(reports[0].read_text()) if reports else {"tests": {}}
        results[truth.victim] = f"{_verdict(truth, data['tests'])} ({done.seconds:.0f} s)"
    return results


def _detect_test_pollution(project: Project, work: Path) -> dict[str, str]:
    """detect-test-pollution's polluter for each order-dependent victim in the truth."""
    results = {}
    for truth in project.truth:
        if truth.kind != "order_dependent":
            continue
        tests = project.paths[0] if project.paths else "tests"
        done = run(
            project,
            "optikit",
            work,
            ["--failing-test", truth.victim, "--tests", tests],
            # Its console script, not `python -m`: run as __main__ it tells its pytest
            # subprocesses `-p __main__`, which loads pytest's own __main__ instead.
            script="detect-test-pollution",
            timeout=1200,
        )
        found = re.search(r"the polluting test is: (\S+)", done.output)
        if found:
            named = found.group(1)
            verdict = "found" if named in truth.culprits else f"named {named}"
        else:
            verdict = f"exit {done.exit_code}: {done.tail(1)}"
        results[truth.victim] = f"{verdict} ({done.seconds:.0f} s)"
    return results


# 4. Codemods on a scratch copy --------------------------------------------------------------


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*.py")
        if ".optikit" not in p.parts
    }


def _slow_threshold(work: Path) -> float | None:
    """Seconds over which about five tests qualify, from the gate's latest run record."""
    records = sorted(work.rglob(".performance_data.json"))
    if not records:
        return None
    durations = sorted(
        (t["duration"] for t in json.loads(records[0].read_text())["tests"]), reverse=True
    )
    if len(durations) < 2:
        return None
    return round(durations[min(4, len(durations) - 2)] * 0.999, 4)


# rescope's candidates: every function-scoped fixture set up twice or more in the run, not
# only the expensive ones (the defaults find none in most of these suites), so the static
# check and --verify meet many real fixtures.
EVERY_FIXTURE = ["--min-setup", "0.000001", "--min-uses", "2"]
CODEMOD_ORDERS = {
    "own order": ["-p", "no:randomly", "-p", "no:xdist"],
    "random 1": ["-p", "no:randomly", "-p", "no:xdist", "--audit-shuffle=101"],
    "random 2": ["-p", "no:randomly", "-p", "no:xdist", "--audit-shuffle=202"],
    "random 3": ["-p", "no:randomly", "-p", "no:xdist", "--audit-shuffle=303"],
    "-n 2": ["-p", "no:randomly", *WORKERS],
}


def _outcomes(project: Project, work: Path, progress: Callable[[str], None]) -> dict[str, Run]:
    """The suite in its own order, three fixed random orders and under ``-n 2``."""
    log = work / ".reportlog.jsonl"
    runs = {}
    for name, options in CODEMOD_ORDERS.items():
        progress(name)
        runs[name] = run(project, "optikit", work, [*options, *suite_args(project)], log=log)
    return runs


def _changed(before: dict[str, Run], after: dict[str, Run]) -> dict[str, list[str]]:
    """Per way of running, the tests whose outcome changed.

    Some ids change on their own from run to run (marshmallow parametrizes with the wall
    clock: ``test_x[04:01:12 2026-12-02]``): ids that differ between the runs before any
    change are compared with their digits masked."""
    unstable = _unstable(before)
    found = {}
    for name in after:
        lines = differences(_stable(before[name], unstable), _stable(after[name], unstable))
        if lines:
            found[name] = lines
    return found


def _unstable(before: dict[str, Run]) -> set[str]:
    return {
        _masked(nodeid)
        for a in before.values()
        for b in before.values()
        for nodeid in a.outcomes.keys() ^ b.outcomes.keys()
    }


def _masked(nodeid: str) -> str:
    return re.sub(r"\d+", "#", nodeid)


def _stable(done: Run, unstable: set[str]) -> dict[str, str]:
    """Outcomes by node id, ids that change on their own masked (their outcomes joined)."""
    outcomes: dict[str, list[str]] = {}
    for nodeid, outcome in done.outcomes.items():
        key = _masked(nodeid) if _masked(nodeid) in unstable else nodeid
        outcomes.setdefault(key, []).append(outcome)
    return {key: ",".join(sorted(values)) for key, values in outcomes.items()}


def _left_alone(output: str) -> int:
    """Rows of the "Left alone" table a codemod printed."""
    return sum(1 for line in output.splitlines() if line.startswith("│ ") and ":" in line[:80])


def codemods(project: Project, progress: Callable[[str], None]) -> Figures:
    """Every codemod applied (rescope with --verify), then the suite's outcomes compared with
    before in its own order, three random orders and under -n 2; and rescope without
    --verify on its own copy: promotions the static check alone made, and what broke."""
    work = _copy_of_gate(project, "codemods")
    static = _copy_of_gate(project, "rescope-static")
    before = _outcomes(project, work, lambda what: progress(f"before, {what}"))
    threshold = _slow_threshold(work)
    plans: list[tuple[str, list[str]]] = [
        ("replace-tmp", []),
        ("rescope", [*EVERY_FIXTURE, "--verify"]),
    ]
    if threshold is not None:
        plans.insert(0, ("mark-slow", ["--threshold", str(threshold)]))
    audit_report = _saved(project, "audit.json")
    if audit_report.is_file():
        (work / ".optikit").mkdir(exist_ok=True)
        shutil.copy(audit_report, work / ".optikit" / "audit.json")
        plans.append(("mark-serial", []))
    figures: Figures = {"mark_slow_threshold": threshold, "codemods": {}}
    for name, options in plans:
        progress(name)
        dry_options = [o for o in options if o != "--verify"]
        dry = run(project, "optikit", work, ["codemod", name, *dry_options], module="optikit")
        digests = _digests(work)
        applied = run(
            project, "optikit", work, ["codemod", name, "--apply", *options], module="optikit"
        )
        changed = sorted(f for f, d in _digests(work).items() if digests.get(f) != d)
        broken = []
        for relative in changed:
            try:
                compile((work / relative).read_bytes(), relative, "exec")
            except SyntaxError as error:
                broken.append(f"{relative}: {error}")
        again = run(project, "optikit", work, ["codemod", name, *dry_options], module="optikit")
        figures["codemods"][name] = {
            "dry_run_exit": dry.exit_code,
            "apply_exit": applied.exit_code,
            "files_changed": len(changed),
            "edits": _edits(applied.output),
            "left_alone": _left_alone(dry.output),
            "unparsable": broken,
            "second_pass_exit": again.exit_code,
            "reverted": applied.output.count("reverted "),
            "note": "" if applied.exit_code in (0, 1) else applied.tail(2),
        }
    after = _outcomes(project, work, lambda what: progress(f"after, {what}"))
    changes = _changed(before, after)
    unstable = _unstable(before)
    renamed = sorted(
        _stable(before["own order"], unstable).keys() ^ _stable(after["own order"], unstable).keys()
    )
    figures["outcomes_before"] = before["own order"].counts()
    figures["outcome_changes"] = {name: lines[:5] for name, lines in changes.items()}
    figures["outcome_changes_count"] = sum(len(lines) for lines in changes.values())
    figures["node_ids_renamed"] = len(renamed) // 2
    progress("rescope without --verify")
    figures["rescope_static"] = _rescope_static(project, static, before)
    return figures


def _rescope_static(project: Project, work: Path, before: dict[str, Run]) -> Figures:
    """rescope --apply without --verify: what the static check alone promoted, and the
    tests that then fail (own order and -n 2) that did not before."""
    applied = run(
        project, "optikit", work, ["codemod", "rescope", "--apply", *EVERY_FIXTURE],
        module="optikit",
    )  # fmt: skip
    log = work / ".reportlog.jsonl"
    broke: list[str] = []
    for name in ("own order", "-n 2"):
        args = [*CODEMOD_ORDERS[name], *suite_args(project)]
        after = run(project, "optikit", work, args, log=log)
        if not after.outcomes:  # marshmallow under -n 2: its workers collect clock-stamped ids
            broke.append(f"{name}: no test reported (exit {after.exit_code}): {after.tail(1)}")
            continue
        lines = _changed(before, {name: after})
        broke += [f"{name}: {line}" for line in lines.get(name, [])]
    return {
        "apply_exit": applied.exit_code,
        "promotions": _edits(applied.output),
        "refused": _left_alone(applied.output),
        "broken": len(broke),
        "broken_examples": broke[:5],
    }


def _edits(output: str) -> int | None:
    """The "edits" figure of a codemod's summary table."""
    rows = [line for line in output.splitlines() if line.startswith("│") and line.count("│") == 5]
    cells = rows[-1].strip("│ ").split("│") if rows else []
    return int(cells[2]) if len(cells) == 4 and cells[2].strip().isdigit() else None


# 6. Installed, no flag: nothing changes ----------------------------------------------------


def noflag(project: Project, progress: Callable[[str], None]) -> Figures:
    authors_run = _load(project, "authors.json", "authors")
    work = scratch(project, "noflag")
    done = run(project, "optikit", work, suite_args(project), log=work / ".reportlog.jsonl")
    order = done.order
    same = order == authors_run["order"]
    first = next(
        (i for i, (a, b) in enumerate(zip(order, authors_run["order"], strict=False)) if a != b),
        None,
    )
    randomly = re.search(r"Using --randomly-seed=\d+", done.output)
    changes = differences(authors_run["outcomes"], done.outcomes)
    return {
        "exit_code": done.exit_code,
        "seconds": done.seconds,
        "same_order": same,
        "first_order_difference": first,
        "reordered_by": randomly.group(0) if randomly else "",
        "outcome_changes_count": len(changes),
        "outcome_changes": changes[:5],
    }


# 7. optikit init on the project as its authors keep it ----------------------------------


def _selected(done: Run) -> int | None:
    """How many tests ``pytest --collect-only`` selected, from its summary line
    (``471 tests collected``, ``2016/33016 tests collected (31000 deselected)``)."""
    if "no tests collected" in done.output:
        return 0
    found = re.findall(r"(\d+)(?:/\d+)? tests? collected", done.output)
    return int(found[-1]) if found else None


def _files(root: Path) -> dict[str, str]:
    """Digests of the project's own files (not its environments or caches)."""
    skip = {".git", ".optikit", "__pycache__", ".venv", "build", "node_modules"}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and not skip & set(p.relative_to(root).parts)
    }


def init(project: Project, progress: Callable[[str], None]) -> Figures:
    """``optikit init`` on a fresh copy: which files it touched, whether it made a Makefile
    the project does not have, and whether the test-fast command it prints, pasted as
    printed, selects what the project's own configuration selects (nothing is marked yet);
    then that the suite still collects with optikit's plugins off (a checkout without
    optikit) under the project's own strictness."""
    work = scratch(project, "init")
    had_makefile = (work / "Makefile").exists()
    before = _files(work)
    done = run(project, "optikit", work, ["init"], module="optikit")
    if done.exit_code != 0:
        raise _failed(done, "optikit init")
    touched = sorted(f for f, d in _files(work).items() if before.get(f) != d)
    printed = {
        line.split(":", 1)[0].strip(): line.split(":", 1)[1].split("  #")[0].strip()
        for line in done.output.splitlines()
        if line.startswith("  test-")
    }
    fast = printed.get("test-fast", "")
    if not fast and had_makefile:  # written into the project's Makefile: as make runs it
        dry = subprocess.run(
            ["make", "--dry-run", "--no-print-directory", "test-fast"],
            cwd=work, capture_output=True, text=True, check=False,
        )  # fmt: skip
        fast = dry.stdout.strip().splitlines()[-1] if dry.returncode == 0 and dry.stdout else ""
    words = shlex.split(fast)
    own = run(project, "optikit", work, ["--collect-only", "-q", *suite_args(project)])
    # `pytest ...` as printed, by the environment's python -m pytest (its pytest script lives
    # in the plain environment this one extends)
    assert not words or words[0] == "pytest", fast
    pasted = run(
        project, "optikit", work, [*words[1:], "--collect-only", "-q", *suite_args(project)]
    ) if words else None  # fmt: skip
    plugins_off = ["-p", "no:optikit", "-p", "no:optikit-fixtures"]
    without = run(
        project, "optikit", work, ["--collect-only", "-q", *plugins_off, *suite_args(project)]
    )
    return {
        "exit_code": done.exit_code,
        "touched": touched,
        "makefile_created": not had_makefile and (work / "Makefile").exists(),
        "test_fast": fast,
        "own_selection": _selected(own),
        "test_fast_selection": _selected(pasted) if pasted else None,
        "collects_without_optikit": without.exit_code == 0,
        "selection_without_optikit": _selected(without),
    }


# 8. optikit cassettes check on LLM cassettes someone else recorded ---------------------


def cassettes(project: Project, progress: Callable[[str], None]) -> Figures:
    """``optikit cassettes check`` as a user runs it, on the cassettes a release ships (gzipped
    ones unzipped first). Those were scrubbed by their authors' own filters, so every finding is
    a false alarm or a real leak: the kinds are kept for a person to read."""
    work = scratch(project, "cassettes")
    folder = work / project.cassettes
    for packed in sorted(folder.rglob("*.yaml.gz")):
        packed.with_suffix("").write_bytes(gzip.decompress(packed.read_bytes()))
        packed.unlink()
    files = sorted(folder.rglob("*.yaml")) + sorted(folder.rglob("*.yml"))
    progress(f"{len(files)} cassettes")
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "optikit", "cassettes", "check", project.cassettes],
        cwd=work, capture_output=True, text=True, check=False,
        env={**os.environ, "COLUMNS": "300"},
    )  # fmt: skip
    seconds = time.perf_counter() - started
    kinds = Counter(
        line.rsplit(": ", 1)[-1] for line in done.stderr.splitlines() if re.match(r".+:\d+: ", line)
    )
    return {
        "files": len(files),
        "megabytes": round(sum(p.stat().st_size for p in files) / 1e6, 1),
        "exit_code": done.returncode,
        "findings": sum(kinds.values()),
        "kinds": dict(kinds.most_common()),
        "verdict": (done.stdout + done.stderr).strip().splitlines()[-1:],
        "seconds": round(seconds, 1),
    }


# 9. fix-pollution -----------------------------------------------------------------------------

FIX_ORDERS = {
    "own order": CODEMOD_ORDERS["own order"],
    **{
        f"random {seed}": ["-p", "no:randomly", "-p", "no:xdist", f"--audit-shuffle={seed}"]
        for seed in range(1, 11)
    },
    "-n 2": CODEMOD_ORDERS["-n 2"],
}


def fix(project: Project, progress: Callable[[str], None]) -> Figures:
    """Issue 21's measure: ``optikit codemod fix-pollution --apply --verify`` on the audit
    step's report, in a fresh copy of the source; each victim after its polluters, and the
    tests that fail in the suite's own order, 10 random orders and under -n 2, before and
    after."""
    report_path = _saved(project, "audit.json")
    if not report_path.is_file():
        raise RuntimeError("needs the audit step's report: run --steps audit first")
    data = json.loads(report_path.read_text())
    victims = {
        n: t["polluters"]
        for n, t in data["tests"].items()
        if t["classification"] == "order_dependent"
    }
    if not victims:
        return {"order_dependent": 0}
    work = scratch(project, "fix")
    (work / ".optikit").mkdir(exist_ok=True)
    shutil.copy(report_path, work / ".optikit" / "audit.json")

    def failures(when: str) -> dict[str, int]:
        counts = {}
        for name, options in FIX_ORDERS.items():
            progress(f"{when}, {name}")
            done = run(project, "optikit", work, [*options, *suite_args(project)], log=log)
            counts[name] = sum(o in ("failed", "error") for o in done.outcomes.values())
        return counts

    def victims_failing() -> list[str]:
        failing = []
        for victim, polluters in sorted(victims.items()):
            sequence = [*polluters, victim, *project.args]
            done = run(project, "optikit", work, [*CODEMOD_ORDERS["own order"], *sequence])
            if done.exit_code != 0:
                failing.append(victim)
        return failing

    log = work / ".reportlog.jsonl"
    before = failures("before")
    failing_before = victims_failing()
    progress("fix-pollution --apply --verify")
    digests = _digests(work)
    applied = run(
        project, "optikit", work, ["codemod", "fix-pollution", "--apply", "--verify"],
        module="optikit", timeout=3600,
    )  # fmt: skip
    changed = sorted(f for f, d in _digests(work).items() if digests.get(f) != d)
    again = run(project, "optikit", work, ["codemod", "fix-pollution"], module="optikit")
    lines = applied.output.splitlines()
    diff_lines = _lines_changed(project.source, work, changed)
    return {
        "order_dependent": len(victims),
        "apply_exit": applied.exit_code,
        "second_pass_exit": again.exit_code,
        "fixed": sum(line.startswith("fixed ") for line in lines),
        "reverted": sum(line.startswith("reverted ") for line in lines),
        "left": [line for line in lines if line.startswith("left ")][:10],
        "verified": next((line for line in lines if line.startswith("verified")), ""),
        "files_changed": changed,
        "lines_changed": diff_lines,
        "victims_failing_after_polluters": {"before": failing_before, "after": victims_failing()},
        "failures_before": before,
        "failures_after": failures("after"),
        "note": "" if applied.exit_code in (0, 1) else applied.tail(3),
    }


def _lines_changed(source: Path, work: Path, changed: list[str]) -> int:
    """Lines added or removed in ``changed`` (paths relative to both folders)."""
    total = 0
    for relative in changed:
        old = (source / relative).read_text().splitlines() if (source / relative).is_file() else []
        new = (work / relative).read_text().splitlines()
        diff = difflib.unified_diff(old, new, lineterm="", n=0)
        total += sum(1 for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---"))
    return total


STEPS: dict[str, Callable[[Project, Callable[[str], None]], Figures]] = {
    "authors": authors,
    "gate": gate,
    "report": report,
    "audit": audit,
    "codemods": codemods,
    "noflag": noflag,
    "init": init,
    "cassettes": cassettes,
    "soak": soak,
    "fix": fix,
}
OPT_IN = frozenset({"soak", "fix"})  # long: only when named in --steps
