"""ttl arithmetic at the bounds: a ttl of up to 36500d with timestamps and a "now" anywhere in
years 1 to 9999 neither crashes nor wraps, in the reader, verify-online and sync."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

import pyarrow as pa
from hypothesis import example, given
from hypothesis import strategies as st

from featurestore.catalog.from_manifest import catalog_from_manifest
from featurestore.catalog.ttl import MAX_TTL
from featurestore.online.reader import EXPIRED, _ViewRead
from featurestore.online.validity import remaining_lifetimes_ms
from featurestore.online.verify import _compare
from tests.manifests import CUSTOMER_COLUMNS, CUSTOMER_META, manifest, model_node

FIRST, LAST = datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999)
instants = st.datetimes(min_value=FIRST, max_value=LAST)
ttls = st.integers(min_value=1, max_value=int(MAX_TTL.total_seconds())).map(lambda s: timedelta(seconds=s))
# The corners: the oldest row read at the latest "now" and the other way round, the maximum
# ttl reaching past year 1 or 9999, and a row that expires exactly now.
CORNERS = [
    (FIRST, LAST, MAX_TTL),
    (LAST, FIRST, MAX_TTL),
    (FIRST, FIRST + MAX_TTL, MAX_TTL),
    (LAST - MAX_TTL, LAST, MAX_TTL),
    (LAST, LAST, MAX_TTL),
    (FIRST, FIRST, MAX_TTL),
]


def view_with_ttl(ttl: timedelta):
    node = model_node("customer_stats", {**CUSTOMER_META, "ttl": f"{int(ttl.total_seconds())}s"}, CUSTOMER_COLUMNS)
    view = catalog_from_manifest(manifest(node)).view("customer_stats")
    assert view.ttl == ttl
    return view


def with_corners(test):
    for timestamp, now, ttl in CORNERS:
        test = example(timestamp=timestamp, now=now, ttl=ttl)(test)
    return test


@given(timestamp=instants, now=instants, ttl=ttls)
@with_corners
def test_sync_lifetimes_at_the_bounds(timestamp, now, ttl):
    lifetimes, alive = remaining_lifetimes_ms(pa.array([timestamp], pa.timestamp("us")), ttl, now)
    # In Python ints, which cannot overflow: timestamp + ttl - now.
    remaining_us = (timestamp - now) // timedelta(microseconds=1) + ttl // timedelta(microseconds=1)
    assert alive.to_pylist() == [remaining_us >= 0]
    # Until the millisecond after the one holding timestamp + ttl, counted from now's.
    # In Python ints from year 1 (timestamp + ttl may pass year 9999).
    due_us = (timestamp - FIRST) // timedelta(microseconds=1) + ttl // timedelta(microseconds=1)
    now_ms = (now - FIRST) // timedelta(milliseconds=1)
    if remaining_us >= 0:
        assert lifetimes.to_pylist() == [due_us // 1000 - now_ms + 1]
    frozen, _ = remaining_lifetimes_ms(pa.array([timestamp], pa.timestamp("us")), ttl, now, clock_moves=False)
    assert frozen.to_pylist() == [0]  # a frozen clock: valid rows do not expire


@given(timestamp=instants, now=instants, ttl=ttls)
@with_corners
def test_reader_expiry_at_the_bounds(timestamp, now, ttl):
    view = view_with_ttl(ttl)
    selection = SimpleNamespace(view=view, features=list(view.features[:1]))
    read = _ViewRead.of(selection, [{"customer_id": "c1"}])
    values, statuses, stamps = read.decode([[timestamp.isoformat(timespec="microseconds"), "1"]], None, now)
    assert stamps == [timestamp]
    assert (statuses[0] == [EXPIRED]) == (now - timestamp > ttl)


@given(timestamp=instants, now=instants, ttl=ttls)
@with_corners
def test_verify_expiry_at_the_bounds(timestamp, now, ttl):
    view = view_with_ttl(ttl)
    online = SimpleNamespace(statuses=[[EXPIRED]], event_timestamps=[{view.name: timestamp}])
    row = {"customer_id": "c1", "event_timestamp": timestamp}
    mismatches = list(_compare(view, row, {"customer_id": "c1"}, online, 0, now))
    # Served as expired: right when the warehouse's row is past its ttl too, wrong otherwise.
    assert [m.problem for m in mismatches] == ([] if now - timestamp > ttl else ["expired online"])
