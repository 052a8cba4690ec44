"""The population stability index (PSI) of two histograms over the same bins.

PSI = sum over bins of (r - b) * ln(r / b), where r and b are each bin's share of the recent
and of the baseline values. Shares are smoothed by half a value per bin (Jeffreys' prior), so
an empty bin counts as rare rather than impossible: without it one empty bin of a small
window would score as a huge shift, and the score would hang on an arbitrary epsilon.
"""

from __future__ import annotations

import math
from typing import Sequence

SMOOTHING = 0.5
"""Values added to every bin before shares are taken."""


def shares(counts: Sequence[float]) -> list[float]:
    """Each bin's smoothed share of the values: positive, summing to 1.

    >>> [round(share, 3) for share in shares([3, 0, 1])]
    [0.636, 0.091, 0.273]
    """
    total = sum(counts) + SMOOTHING * len(counts)
    return [(count + SMOOTHING) / total for count in counts]


def population_stability_index(recent: Sequence[float], baseline: Sequence[float]) -> float:
    """PSI of the recent counts against the baseline counts (same bins, same order): 0 for
    the same shares, larger the more they differ; never negative.

    >>> round(population_stability_index([10, 10], [10, 10]), 6)
    0.0
    >>> round(population_stability_index([0, 100], [50, 50]), 2)
    2.63
    """
    if len(recent) != len(baseline) or not recent:
        raise ValueError("PSI compares two histograms over the same, non-empty bins")
    return sum((r - b) * math.log(r / b) for r, b in zip(shares(recent), shares(baseline)))
