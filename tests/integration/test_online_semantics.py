"""What a sync puts in the real Redis, and what reads give back, on a tiny one-view project.

The view has every stored type, a created_at and a 30-day ttl; its rows are written straight
into DuckDB so each test can stage exactly the history it needs.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import duckdb
import pytest

from featurestore.errors import UsageError
from tests.online_fixtures import TINY_COLUMNS, TINY_NOW, TINY_VIEW, online, row, tiny  # noqa: F401

pytestmark = pytest.mark.integration

ALL = [f"{TINY_VIEW}:*"]


def warehouse_latest(project, customer: str) -> dict:
    """The offline answer: the row a training set at TINY_NOW picks, as Python values."""
    with duckdb.connect(str(project.database), read_only=True) as con:
        table = con.sql(
            f"select * from main.{TINY_VIEW} where customer_id = '{customer}' "
            "order by event_timestamp desc, coalesce(loaded_at, event_timestamp) desc limit 1"
        ).to_arrow_table()
    return table.to_pylist()[0]


def test_sync_writes_one_readable_hash_per_entity(tiny, online):
    tiny.set_rows(
        [
            row("c1", 20, orders=3, spend=0.1, tier="gold"),
            row("c1", 28, orders=5, spend=1.0, active=False, tier="platinum", last_order_at=datetime(2024, 2, 27, 9, 30, 0, 250)),
            row("c2", 27, orders=2**40, spend=1e-7, tier=None, active=None),
            row("odd:key%", 27, orders=-1, spend=float("inf"), tier="a:b"),
        ]
    )
    summary = tiny.store().sync()
    assert summary.to_dict() | {"seconds": 0, "views": []} == {
        "redis": online.url,
        "key_prefix": online.prefix,
        "failed": [],
        "rows_read": 3,
        "keys_written": 3,
        "skipped_older": 0,
        "expired": 0,
        "null_keys": 0,
        "seconds": 0,
        "views": [],
    }
    assert summary.views[0].mode == "full" and summary.views[0].reason == "no earlier sync in this Redis"
    base = f"{online.prefix}:{TINY_VIEW}:gen1:"
    assert online.entity_keys(TINY_VIEW) == [base + "customer_id=c1", base + "customer_id=c2", base + "customer_id=odd%3Akey%25"]
    assert online.client.hgetall(base + "customer_id=c1") == {
        "event_timestamp": "2024-02-28T00:00:00.000000",
        "loaded_at": "2024-02-28T06:00:00.000000",
        "orders": "5",
        "spend": "1.0",
        "active": "false",
        "tier": "platinum",
        "last_order_at": "2024-02-27T09:30:00.000250",
    }
    # Nulls are absent fields; big ints and tiny floats are exact text.
    assert online.client.hgetall(base + "customer_id=c2") == {
        "event_timestamp": "2024-02-27T00:00:00.000000",
        "loaded_at": "2024-02-27T06:00:00.000000",
        "orders": "1099511627776",
        "spend": "1e-7",
        "last_order_at": "2024-01-31T08:15:00.000000",
    }
    # The project's clock is frozen (clock.now): a value valid at it stays valid, so the key
    # does not expire (test_redis_drops_the_key_when_the_ttl_passes: the real clock).
    assert online.client.pttl(base + "customer_id=c1") == -1
    meta = online.meta(TINY_VIEW)
    assert {k: meta[k] for k in ("generation", "last_generation", "watermark", "watermark_column", "last_sync")} == {
        "generation": "1",
        "last_generation": "1",
        "watermark": "2024-02-28T06:00:00.000000",
        "watermark_column": "loaded_at",
        "last_sync": "full",
    }
    assert json.loads(meta["schema"]) == {
        "join_keys": {"customer_id": "str"},
        "timestamp": "event_timestamp",
        "created_at": "loaded_at",
        "features": {
            "orders": "int",
            "spend": "float",
            "active": "bool",
            "tier": "str",
            "last_order_at": "timestamp",
        },
    }


def test_reads_return_the_offline_values_and_types(tiny, online):
    tiny.set_rows(
        [
            row("c1", 28, orders=5, spend=0.1 + 0.2, active=False, tier="platinum"),
            row("c2", 27, orders=7, spend=float("nan"), tier=None, last_order_at=datetime(2024, 2, 26, 23, 59, 59, 999999)),
            row("odd:key%", 27, tier="a:b"),
        ]
    )
    store = tiny.store()
    store.sync()
    result = store.get_online_features(
        [{"customer_id": "c1"}, {"customer_id": "c2"}, {"customer_id": "nobody"}, {"customer_id": "odd:key%"}, {"customer_id": None}],
        ALL,
    )
    features = [f"{TINY_VIEW}:{name}" for name in ("orders", "spend", "active", "tier", "last_order_at")]
    assert result.features == features
    for index, customer in enumerate(["c1", "c2"]):
        offline = warehouse_latest(tiny, customer)
        online_values = dict(zip([f.split(":")[1] for f in features], result.values[index]))
        for name, value in online_values.items():
            expected = offline[name]
            assert type(value) is type(expected), (name, value, expected)
            assert value == expected or (value != value and expected != expected), (name, value, expected)
        assert result.event_timestamps[index] == {TINY_VIEW: offline["event_timestamp"]}
    assert result.statuses[0] == ["present"] * 5
    assert result.values[1][3] is None and result.statuses[1][3] == "present"  # a null value is present
    assert result.statuses[2] == ["missing"] * 5 and result.values[2] == [None] * 5
    assert result.values[3][3] == "a:b" and result.statuses[3] == ["present"] * 5
    assert result.statuses[4] == ["missing"] * 5  # a null key has no value, as offline
    as_json = result.to_dict()[0]
    assert as_json["entity"] == {"customer_id": "c1"}
    assert as_json["values"][f"{TINY_VIEW}:last_order_at"] == "2024-01-31T08:15:00"
    assert as_json["event_timestamps"] == {TINY_VIEW: "2024-02-28T00:00:00"}
    frame = result.to_pandas()
    assert list(frame.columns) == ["customer_id", *features] and len(frame) == 5


def test_a_missing_join_key_is_a_usage_error(tiny, online):
    tiny.set_rows([row("c1", 28)])
    store = tiny.store()
    store.sync()
    with pytest.raises(UsageError) as raised:
        store.get_online_features([{"customer_id": "c1"}, {"customer": "c2"}], ALL)
    assert str(raised.value) == (
        "entity row 2 (customer=c2) has no 'customer_id', which view 'customer_stats' needs "
        "(its join keys: customer_id)"
    )


def test_incremental_sync_reads_only_rows_written_after_the_watermark(tiny, online):
    tiny.set_rows([row("c1", 20, orders=1), row("c2", 20, orders=2)])
    store = tiny.store()
    store.sync()
    again = store.sync().views[0]
    assert (again.mode, again.rows_read, again.keys_written) == ("incremental", 0, 0)

    # A late-arriving row for an older day (written later, so after the watermark).
    tiny.add_rows([row("c3", 19, loaded_hour=None, loaded_at=datetime(2024, 2, 21, 3), orders=3), row("c1", 21, orders=11)])
    result = store.sync().views[0]
    assert (result.mode, result.rows_read, result.keys_written, result.skipped_older) == ("incremental", 2, 2, 0)
    assert result.watermark == datetime(2024, 2, 21, 6)
    assert online.meta(TINY_VIEW)["watermark"] == "2024-02-21T06:00:00.000000"
    assert online.entity(TINY_VIEW, "customer_id=c3")["orders"] == "3"
    assert online.entity(TINY_VIEW, "customer_id=c1")["orders"] == "11"
    assert online.entity(TINY_VIEW, "customer_id=c2")["orders"] == "2"


def test_an_older_row_arriving_later_never_replaces_a_newer_one(tiny, online):
    tiny.set_rows([row("c1", 25, orders=25)])
    store = tiny.store()
    store.sync()
    # A correction of day 24, loaded after day 25's row: newer knowledge, older event.
    tiny.add_rows([row("c1", 24, loaded_at=datetime(2024, 2, 26), orders=24)])
    result = store.sync().views[0]
    assert (result.rows_read, result.keys_written, result.skipped_older) == (1, 0, 1)
    assert online.entity(TINY_VIEW, "customer_id=c1")["orders"] == "25"
    # The same event time known later wins (a restatement), and a feature now null loses its field.
    tiny.add_rows([row("c1", 25, loaded_at=datetime(2024, 2, 27), orders=26, tier=None)])
    result = store.sync().views[0]
    assert (result.keys_written, result.skipped_older) == (1, 0)
    stored = online.entity(TINY_VIEW, "customer_id=c1")
    assert stored["orders"] == "26" and "tier" not in stored and stored["loaded_at"] == "2024-02-27T00:00:00.000000"
    assert store.verify_online().mismatches == []


def test_a_value_past_its_ttl_is_neither_written_nor_served(tiny, online):
    # ttl 30d, now 2024-03-01 12:00: a row of 2024-01-31 00:00 expired 12 hours ago.
    tiny.set_rows([{**row("old", 1), "event_timestamp": datetime(2024, 1, 31), "loaded_at": datetime(2024, 1, 31, 1)}, row("c1", 28)])
    store = tiny.store()
    result = store.sync().views[0]
    assert (result.rows_read, result.keys_written, result.expired) == (2, 1, 1)
    assert [k.rsplit(":", 1)[1] for k in online.entity_keys(TINY_VIEW)] == ["customer_id=c1"]
    assert store.get_online_features([{"customer_id": "old"}], ALL).statuses[0] == ["missing"] * 5

    # Later on the project's clock, c1's row (2024-02-28) is past its ttl: not served.
    later = tiny.store(now=datetime(2024, 3, 30, 0, 0, 1))
    read = later.get_online_features([{"customer_id": "c1"}], ALL)
    assert read.statuses[0] == ["expired"] * 5 and read.values[0] == [None] * 5
    assert read.event_timestamps[0] == {TINY_VIEW: datetime(2024, 2, 28)}
    assert later.verify_online().mismatches == []  # offline says null too


def test_redis_drops_the_key_when_the_ttl_passes(tiny, online):
    from featurestore import FeatureStore

    (tiny.root / "feature_store.yml").write_text("")  # the real clock
    store = FeatureStore(project_dir=tiny.root)
    store.catalog()  # read before the clock starts: the sync below is all that runs
    # The row's ttl runs out 3 s from now.
    due = datetime.utcnow() - timedelta(days=30) + timedelta(seconds=3)
    tiny.set_rows([{**row("c1", 28), "event_timestamp": due, "loaded_at": None}])
    started = time.monotonic()
    store.sync()
    (key,) = online.entity_keys(TINY_VIEW)
    assert 0 < online.client.pttl(key) <= 3001  # until the millisecond after timestamp + ttl
    assert store.get_online_features([{"customer_id": "c1"}], ALL).statuses[0] == ["present"] * 5
    time.sleep(max(0.0, 3.1 - (time.monotonic() - started)))
    assert online.client.exists(key) == 0
    assert store.get_online_features([{"customer_id": "c1"}], ALL).statuses[0] == ["missing"] * 5


def test_full_sync_switches_to_a_fresh_generation_and_removes_the_old(tiny, online):
    tiny.set_rows([row("c1", 20), row("c2", 20)])
    store = tiny.store()
    store.sync()
    tiny.set_rows([row("c1", 21, orders=9)])  # c2 is gone from the warehouse
    result = store.sync(full=True).views[0]
    assert (result.mode, result.generation, result.keys_written, result.removed_keys) == ("full", 2, 1, 2)
    assert online.entity_keys(TINY_VIEW) == [f"{online.prefix}:{TINY_VIEW}:gen2:customer_id=c1"]
    assert online.meta(TINY_VIEW)["generation"] == "2"
    assert store.get_online_features([{"customer_id": "c2"}], ALL).statuses[0] == ["missing"] * 5


def test_keys_that_outlived_their_meta_hash_are_removed_before_a_generation_number_comes_round(tiny, online):
    tiny.set_rows([row("c1", 20, orders=1, tier="gold"), row("c2", 20)])
    store = tiny.store()
    store.sync()
    store.sync(full=True)
    online.client.delete(f"{online.prefix}:{TINY_VIEW}:meta")  # evicted, say, by a maxmemory policy
    for customer in ("c1", "c9"):  # as if keys of generation 1 had been left behind
        online.client.hset(
            f"{online.prefix}:{TINY_VIEW}:gen1:customer_id={customer}",
            mapping={"event_timestamp": "2024-02-20T00:00:00.000000", "orders": "9", "tier": "gold"},
        )
    tiny.set_rows([row("c1", 21, orders=7, tier=None)])
    result = store.sync().views[0]
    assert (result.mode, result.generation, result.removed_keys) == ("full", 1, 4)  # c1, c2 of gen2; c1, c9 of gen1
    assert online.entity_keys(TINY_VIEW) == [f"{online.prefix}:{TINY_VIEW}:gen1:customer_id=c1"]
    stored = online.entity(TINY_VIEW, "customer_id=c1")
    assert stored["orders"] == "7" and "tier" not in stored
    assert store.verify_online().mismatches == []


def test_a_changed_schema_rebuilds_the_view_in_full(tiny, online):
    tiny.set_rows([row("c1", 20, orders=4)])
    store = tiny.store()
    store.sync()
    types = {**TINY_COLUMNS, "orders": "double"}
    tiny.set_rows([row("c1", 20, orders=4.5)], types=types)
    from tests.online_fixtures import write_tiny_manifest

    write_tiny_manifest(tiny.root, types)
    store = tiny.store()
    result = store.sync().views[0]
    assert (result.mode, result.reason, result.generation) == ("full", "its columns or types changed since the last sync", 2)
    assert store.get_online_features([{"customer_id": "c1"}], [f"{TINY_VIEW}:orders"]).values == [[4.5]]


def test_rows_with_a_null_key_are_counted_not_written(tiny, online):
    tiny.set_rows([row(None, 20), row("c1", 20)])
    result = tiny.store().sync().views[0]
    assert (result.rows_read, result.null_keys, result.keys_written) == (2, 1, 1)


def test_a_batch_of_only_null_keys_in_a_view_with_a_ttl_is_counted_not_a_crash(tiny, online):
    """The tiny view has a ttl: a sync whose rows all have a null key kept no row to apply it to
    (the sum of no rows is null), which was a TypeError traceback."""
    tiny.set_rows([row(None, 20)])
    result = tiny.store().sync().views[0]
    assert (result.rows_read, result.null_keys, result.expired, result.keys_written) == (1, 1, 0, 0)
