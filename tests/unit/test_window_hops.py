"""The hop of sql/window_hops.py: a divisor of every window, fine enough for the longest."""

from __future__ import annotations

import pytest

from featurestore.catalog import WindowedAggregation
from featurestore.catalog.ttl import parse_ttl
from featurestore.sql.window_hops import MIN_HOPS_PER_WINDOW, hop_size

SECOND = 1_000_000


def windows(*texts: str) -> list[WindowedAggregation]:
    return [WindowedAggregation(f"f{i}", "x", "sum", parse_ttl(t), t) for i, t in enumerate(texts)]


@pytest.mark.parametrize("texts, hop", [
    (("1h", "24h", "7d", "28d"), 3600 * SECOND),  # the windows' divisor: 672 hops to 28 days
    (("7d",), 7 * 3600 * SECOND),  # one window: its 24th
    (("5m", "10m"), 25 * SECOND),  # 10 minutes' 24th, which divides 5 minutes too
    (("90m", "1d"), 1800 * SECOND),
])
def test_the_hop_divides_every_window_and_the_longest_spans_enough_of_them(texts, hop):
    aggregations = windows(*texts)
    assert hop_size(aggregations) == hop
    assert all(a.window_us % hop == 0 for a in aggregations)
    assert max(a.window_us for a in aggregations) >= MIN_HOPS_PER_WINDOW * hop
