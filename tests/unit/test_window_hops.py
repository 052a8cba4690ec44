"""The hop of sql/window_hops.py: a divisor of every window, fine enough for the longest."""

from __future__ import annotations

import pytest

from featurestore.catalog import WindowedAggregation
from featurestore.catalog.ttl import parse_ttl
from featurestore.sql.window_hops import MAX_HOPS_PER_WINDOW, MIN_HOPS_PER_WINDOW, hop_size

SECOND = 1_000_000


def windows(*texts: str) -> list[WindowedAggregation]:
    return [WindowedAggregation(f"f{i}", "x", "sum", parse_ttl(t), t) for i, t in enumerate(texts)]


@pytest.mark.parametrize("texts, hop", [
    (("1h", "24h", "7d", "28d"), 3600 * SECOND),  # the windows' divisor: 672 hops to 28 days
    (("7d",), 7 * 3600 * SECOND),  # one window: its 24th
    (("5m", "10m"), 25 * SECOND),  # 10 minutes' 24th, which divides 5 minutes too
    (("90m", "1d"), 2700 * SECOND),  # 45m: 32 to the day, 2 to 90m
    # A longest window whose 24th does not divide it: the coarsest divisor of the windows that
    # still gives 24 hops (25 of 144.04 s), not the divisor of both (2 microseconds).
    (("1h1s",), 144_040_000),
])
def test_the_hop_divides_every_window_and_the_longest_spans_enough_of_them(texts, hop):
    aggregations = windows(*texts)
    assert hop_size(aggregations) == hop
    assert all(a.window_us % hop == 0 for a in aggregations)
    assert max(a.window_us for a in aggregations) >= MIN_HOPS_PER_WINDOW * hop


@pytest.mark.parametrize("texts", [("13s", "1d"), ("1d", "1d1s"), ("5m", "28d")])
def test_windows_whose_only_fitting_hop_is_too_fine_have_none(texts):
    """The longest window would span more than MAX_HOPS_PER_WINDOW hops (partials about as
    many as the events): no hop, and sql/windows.py keeps the view on frames."""
    assert hop_size(windows(*texts)) is None
    assert hop_size(windows("1h", "28d")) == 3600 * SECOND  # 672 hops, the measured plan's
    assert 672 <= MAX_HOPS_PER_WINDOW < 8064
