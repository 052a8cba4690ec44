"""One ttl boundary rule (docs/online-store.md "Expiry"): a value is valid at t while
`timestamp >= t - ttl`, inclusive, at microsecond resolution. The training set, the sync, the
online read and verify-online must agree on every row around the boundary - exactly at it,
and a microsecond and a millisecond either side - against real DuckDB and Redis."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.online_fixtures import TINY_VIEW, online, row, tiny  # noqa: F401 (fixtures)

TTL = timedelta(days=30)  # the tiny view's
US, MS = timedelta(microseconds=1), timedelta(milliseconds=1)
AROUND = {"early_ms": -MS, "early_us": -US, "due": timedelta(0), "late_us": US, "late_ms": MS}
ALL = [f"{TINY_VIEW}:orders"]


def boundary_rows(now: datetime, extra: timedelta) -> dict[str, datetime]:
    """Customer -> timestamp: at now - ttl and around it, and one more at `extra` from it."""
    stamps = {name: now - TTL + delta for name, delta in AROUND.items()}
    stamps["drawn"] = now - TTL + extra
    return stamps


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    now=st.datetimes(min_value=datetime(2024, 3, 1), max_value=datetime(2024, 3, 2)),
    extra=st.integers(min_value=-3000, max_value=3000).map(lambda us: timedelta(microseconds=us)),
)
def test_training_set_sync_reads_and_verify_agree_at_the_ttl_boundary(tiny, online, now, extra):
    stamps = boundary_rows(now, extra)
    # A null created_at: known at the timestamp. orders tells the rows apart.
    tiny.set_rows([{**row(c, 1, orders=i), "event_timestamp": t, "loaded_at": None} for i, (c, t) in enumerate(stamps.items())])
    store = tiny.store(now=now)
    valid = {c: t >= now - TTL for c, t in stamps.items()}  # the contract, in Python

    spine = pa.table({"customer_id": list(stamps), "event_timestamp": pa.array([now] * len(stamps), pa.timestamp("us"))})
    offline = store.training_set(spine, ALL).to_arrow().to_pylist()
    assert {r["customer_id"]: r["orders"] is not None for r in offline} == valid

    result = store.sync(full=True).views[0]
    assert (result.keys_written, result.expired) == (sum(valid.values()), len(stamps) - sum(valid.values()))
    time.sleep(0.01)  # past any key given a millisecond to live
    read = store.get_online_features([{"customer_id": c} for c in stamps], ALL)
    assert {c: s == ["present"] for c, s in zip(stamps, read.statuses)} == valid
    assert store.verify_online().mismatches == []


def test_a_row_due_exactly_at_a_frozen_midnight_clock_stays_served(tiny, online, cli):
    """The reported case: daily rows, a ttl in days and clock.now at midnight."""
    now = datetime(2024, 3, 1)
    tiny.set_rows([{**row("c1", 1, orders=3), "event_timestamp": now - TTL, "loaded_at": None}])
    store = tiny.store(now=now)
    assert store.sync(full=True).views[0].keys_written == 1
    time.sleep(0.01)
    assert store.get_online_features([{"customer_id": "c1"}], ALL).values == [[3]]
    assert store.verify_online().mismatches == []
    # A frozen clock does not move, so the key does not expire on Redis' clock either.
    assert online.client.pttl(online.entity_keys(TINY_VIEW)[0]) == -1
