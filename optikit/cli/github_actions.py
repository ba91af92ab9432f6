"""The GitHub Actions workflow that ``optikit init --github-actions`` writes and docs/ci.md
shows (the docs site includes it from here, so the two cannot differ)."""

from __future__ import annotations

WORKFLOW_PATH = ".github/workflows/optikit.yml"

WORKFLOW = """\
# Written by `optikit init --github-actions`. Every push and pull request runs the suite with
# timings on and gates it against the committed baseline (make one with
# `optikit baseline --from-history 5` after a few tracked runs, then commit it); every night
# the flake audit runs. Both write their verdict into the job summary.
name: optikit

on:
  push:
  pull_request:
  schedule:
    - cron: "17 3 * * *"

jobs:
  tests:
    if: github.event_name != 'schedule'
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - run: pip install -e . pytest-optikit  # and whatever else your tests need
      # The timing history lives in {history_db}; carry it from run to run.
      - uses: actions/cache@v4
        with:
          path: {history_db}
          key: optikit-history-${{{{ github.ref_name }}}}-${{{{ github.run_id }}}}
          restore-keys: |
            optikit-history-${{{{ github.ref_name }}}}-
            optikit-history-
      - run: pytest -n auto --track-performance
      # Suspects are re-run 3 times beside stable reference tests: noise does not fail CI.
      - run: optikit regression --confirm 3
      - if: always()
        run: optikit report --compare-baseline  # appended to the job summary

  flake-audit:
    if: github.event_name == 'schedule'
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - run: pip install -e . pytest-optikit
      - run: >-
          optikit audit-parallel --runs 50 --fail-on-flaky --format markdown
          >> "$GITHUB_STEP_SUMMARY"
"""


def workflow(history_db: str = ".optikit/history.db") -> str:
    """The workflow, carrying the project's own history file between runs."""
    return WORKFLOW.format(history_db=history_db)
