"""How sure an audit can be: failure rates with Wilson intervals, and what clean runs prove."""

from __future__ import annotations

import math

Z95 = 1.959964


def wilson(failures: int, runs: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a failure rate (95% by default); sound at 0 and at n."""
    if runs == 0:
        return 0.0, 1.0
    rate = failures / runs
    denominator = 1 + z * z / runs
    centre = (rate + z * z / (2 * runs)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / runs + z * z / (4 * runs * runs)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def clean_bound(runs: int, confidence: float = 0.95) -> float:
    """The per-run failure rate that ``runs`` clean runs rule out at this confidence:
    below ``1 - (1 - confidence) ** (1 / runs)`` (about 3/runs, the rule of three)."""
    return 1.0 if runs == 0 else 1 - (1 - confidence) ** (1 / runs)
