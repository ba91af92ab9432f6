"""The generated section of ``docs/real-suites.md``: one table per step across projects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from optikit.report.markdown import update_docs

DOCS = Path(__file__).resolve().parent.parent.parent / "docs" / "real-suites.md"
START, END = "<!-- real-suites:start -->", "<!-- real-suites:end -->"


def _cell(value: Any) -> str:
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _step(entry: dict[str, Any], name: str) -> dict[str, Any] | None:
    return entry.get("steps", {}).get(name)


def _rows(results: dict[str, Any], name: str, render: Any) -> list[list[Any]]:
    rows = []
    for project, entry in sorted(results["projects"].items()):
        figures = _step(entry, name)
        if entry.get("setup_error"):
            rows.append([project, f"setup failed: {entry['setup_error'][:200]}"])
        elif figures is None:
            continue
        elif "error" in figures:
            rows.append([project, f"step failed: {figures['error'][:300]}"])
        else:
            rows.append([project, *render(figures)])
    return rows


def _codemod(figures: dict[str, Any], name: str) -> str:
    result = figures["codemods"].get(name)
    if result is None:
        return "-"
    text = f"{result['files_changed']} files, apply exit {result['apply_exit']}"
    if result.get("edits") is not None:
        text += f", {result['edits']} edits"
    if result.get("left_alone"):
        text += f", {result['left_alone']} left alone"
    if result.get("reverted"):
        text += f", {result['reverted']} reverted"
    if result["unparsable"]:
        text += f", {len(result['unparsable'])} unparsable"
    if result["second_pass_exit"] != 0:
        text += f", second pass exit {result['second_pass_exit']}"
    return text


def _first_changes(changes: Any) -> str:
    """The first two changed outcomes (a list in older results, per way of running now)."""
    if isinstance(changes, dict):
        return "; ".join(f"{name}: {lines[:2]}" for name, lines in list(changes.items())[:2])
    return str(changes[:2])


def _static(figures: dict[str, Any] | None) -> str:
    if not figures:
        return "-"
    text = f"{figures['promotions']} promoted, {figures['broken']} tests broke"
    return text + (f" ({figures['broken_examples'][:1]})" if figures["broken"] else "")


def _failure_counts(figures: dict[str, Any]) -> str:
    if "failures_before" not in figures:
        return "-"

    def counts(by_order: dict[str, int]) -> str:
        random = sum(v for k, v in by_order.items() if k.startswith("random"))
        return f"{by_order['own order']} / {random} / {by_order['-n 2']}"

    return f"{counts(figures['failures_before'])} -> {counts(figures['failures_after'])}"


def markdown(results: dict[str, Any]) -> str:
    projects = results["projects"]
    lines = [
        f"Figures of optikit `{results.get('optikit_commit', '?')}` on "
        f"{results.get('machine', '?')}, updated {results.get('updated_at', '?')}.",
        "",
        "### The suites as their authors run them",
        "",
    ]
    lines += _table(
        ["project", "version", "covers", "tests", "outcomes", "exit", "wall s"],
        [
            [
                name,
                entry["version"],
                entry["covers"],
                *(
                    [
                        f["tests"],
                        " ".join(f"{k} {v}" for k, v in f["outcomes"].items()),
                        f["exit_code"],
                        f["seconds"],
                    ]
                    if (f := _step(entry, "authors")) and "error" not in f
                    else [
                        "-",
                        (f or {}).get("error", entry.get("setup_error", "not run"))[:200],
                        "-",
                        "-",
                    ]
                ),
            ]
            for name, entry in sorted(projects.items())
        ],
    )
    lines += ["### Gate: false alarms on unchanged code (must be 0)", ""]
    lines += _table(
        ["project", "tracked run s", "false alarms", "verdicts", "flagged"],
        _rows(
            results,
            "gate",
            lambda f: [
                f["tracked_run_seconds"],
                f"{f['false_alarms']} of {len(f['verdicts'])}",
                " / ".join(v["verdict"][:160] for v in f["verdicts"]),
                " / ".join(
                    "; ".join(v["regressions"][:2]) for v in f["verdicts"] if v["regressions"]
                ),
            ],
        ),
    )
    lines += ["### Reports", ""]
    lines += _table(
        ["project", "html bytes", "markdown bytes", "sections", "empty sections"],
        _rows(
            results,
            "report",
            lambda f: [
                f["html_bytes"],
                f["markdown_bytes"],
                f["sections"],
                f["empty_sections"] or "none",
            ],
        ),
    )
    lines += ["### Audit (`--runs 10 -n 2`) against the truth in the manifest", ""]
    lines += _table(
        [
            "project",
            "wall s",
            "runs",
            "probes",
            "crashes",
            "truth found",
            "each truth",
            "other findings",
            "reproducers",
            "detect-test-pollution",
            "--victim",
        ],
        _rows(
            results,
            "audit",
            lambda f: [
                f["seconds"],
                f["runs"],
                f["probes"],
                f"{f['crashes']} {f['crash_reasons'][:1]}" if f["crashes"] else 0,
                f"{f['found']} of {len(f['truth'])}",
                "; ".join(f"{k}: {v}" for k, v in f["truth"].items()) or "-",
                "; ".join(f"{k}: {v}" for k, v in list(f["other_findings"].items())[:4])
                + (f" (+{len(f['other_findings']) - 4})" if len(f["other_findings"]) > 4 else "")
                or "none",
                f.get("reproducers", "-"),
                "; ".join(f"{k}: {v}" for k, v in f["pollution_tool"].items()) or "-",
                "; ".join(f"{k}: {v}" for k, v in f.get("victim_mode", {}).items()) or "-",
            ],
        ),
    )
    lines += [
        "### Codemods on a scratch copy (dry run, --apply, parse, second pass, suite again)",
        "",
        "Outcome changes: own order, three random orders and `-n 2`, each against the same "
        "run before the codemods. rescope static: `rescope --apply` without `--verify` on "
        "its own copy (promotions, tests that then fail in own order or `-n 2`).",
        "",
    ]
    lines += _table(
        [
            "project",
            "mark-slow",
            "replace-tmp",
            "rescope --verify",
            "mark-serial",
            "outcome changes",
            "ids renamed",
            "rescope static",
        ],
        _rows(
            results,
            "codemods",
            lambda f: [
                *(_codemod(f, n) for n in ("mark-slow", "replace-tmp", "rescope", "mark-serial")),
                f"{f['outcome_changes_count']}: {_first_changes(f['outcome_changes'])}"
                if f["outcome_changes_count"]
                else 0,
                f.get("node_ids_renamed", "-"),
                _static(f.get("rescope_static")),
            ],
        ),
    )
    lines += [
        "### Gate soak: unchanged tracked runs judged with `--confirm 3` (`STEPS=soak`)",
        "",
        "After the gate step's baseline: runs with the machine as it is, then as many with a "
        "CPU hog beside every other run. Every failure is a false alarm.",
        "",
    ]
    lines += _table(
        ["project", "false alarms, quiet", "false alarms, hog beside half", "alarms"],
        _rows(
            results,
            "soak",
            lambda f: [
                f"{f['quiet']['false_alarms']} of {f['quiet']['runs']}",
                f"{f['hog']['false_alarms']} of {f['hog']['runs']}",
                "; ".join((f["quiet"]["alarms"] + f["hog"]["alarms"])[:2]) or "-",
            ],
        ),
    )
    lines += [
        "### fix-pollution on the audit's order-dependent findings (`STEPS=audit,fix`)",
        "",
        "`optikit codemod fix-pollution --apply --verify` in a fresh copy; tests failing in the "
        "own order, 10 random orders (`--audit-shuffle=1..10`) and under -n 2, before -> after.",
        "",
    ]
    lines += _table(
        ["project", "victims", "polluters fixed", "reverted", "left", "lines changed",
         "victims failing after polluters", "failures, own / random (sum) / -n 2"],
        _rows(
            results,
            "fix",
            lambda f: [
                f["order_dependent"],
                f.get("fixed", 0),
                f.get("reverted", 0),
                len(f.get("left", [])),
                f.get("lines_changed", 0),
                f"{len(f['victims_failing_after_polluters']['before'])} -> "
                f"{len(f['victims_failing_after_polluters']['after'])}"
                if "victims_failing_after_polluters" in f
                else "-",
                _failure_counts(f),
            ],
        ),
    )  # fmt: skip
    lines += ["### Installed, no flag: order and outcomes against the run without optikit", ""]
    lines += _table(
        ["project", "same order", "reordered by", "outcome changes", "wall s"],
        _rows(
            results,
            "noflag",
            lambda f: [
                f["same_order"],
                f["reordered_by"] or "-",
                f"{f['outcome_changes_count']}: {f['outcome_changes'][:2]}"
                if f["outcome_changes_count"]
                else 0,
                f["seconds"],
            ],
        ),
    )
    lines += ["### `optikit init` on the project as its authors keep it", ""]
    lines += _table(
        [
            "project",
            "files touched",
            "Makefile made",
            "test-fast selects (own)",
            "collects without optikit",
        ],
        _rows(
            results,
            "init",
            lambda f: [
                ", ".join(f["touched"]),
                f["makefile_created"],
                f"{f['test_fast_selection']} ({f['own_selection']})",
                f"{f['collects_without_optikit']} ({f['selection_without_optikit']})",
            ],
        ),
    )
    lines += ["### `optikit cassettes check` on LLM cassettes others recorded (findings: 0)", ""]
    lines += _table(
        ["project", "cassettes", "MB", "exit", "findings", "seconds"],
        _rows(
            results,
            "cassettes",
            lambda f: [
                f["files"],
                f["megabytes"],
                f["exit_code"],
                ", ".join(f"{k}: {v}" for k, v in f["kinds"].items()) or 0,
                f["seconds"],
            ],
        ),
    )
    return "\n".join(lines)


def write_docs(results: dict[str, Any]) -> None:
    update_docs(DOCS, markdown(results), START, END)
