"""The lines ``pytest --track-performance`` ends with: where the time went, at a glance.

What ``--durations`` users look for, from the run record just written: the slowest tests,
the fixtures that cost most in total, and collection's share of the wall time. Node ids are
printed whole, one per line, so a CI log can be searched for them.
"""

from __future__ import annotations

import heapq

from optikit.timing.run_record import RunRecord

COLLECTION_WORTH_SAYING = 0.2  # of the wall time: below this, collection is not the story


def summary_lines(record: RunRecord, count: int) -> list[str]:
    if count <= 0:
        return []
    lines = []
    tests = heapq.nlargest(count, record["tests"], key=lambda t: t["duration"])
    if tests:
        lines.append(f"slowest {len(tests)} tests (setup + call + teardown):")
        lines += [f"  {t['duration']:8.3f} s  {t['nodeid']}" for t in tests]
    fixtures = heapq.nlargest(count, record["fixtures"], key=lambda f: f["total"])
    fixtures = [f for f in fixtures if f["total"] > 0]
    if fixtures:
        lines.append(f"costliest {len(fixtures)} fixtures (total setup time):")
        lines += [
            f"  {f['total']:8.3f} s  {f['name']} ({f['scope']} scope, {f['setups']} setups)"
            for f in fixtures
        ]
    wall, collection = record.get("wall_time"), record.get("collection_time")
    if wall and collection is not None and collection / wall >= COLLECTION_WORTH_SAYING:
        lines.append(
            f"collection took {collection:.2f} s of {wall:.2f} s ({collection / wall:.0%})"
        )
    return lines
