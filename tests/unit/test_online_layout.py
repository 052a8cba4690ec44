"""The online store's names and encodings, without Redis: keys, value text, schema, rows."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from featurestore.catalog.from_manifest import catalog_from_manifest
from featurestore.cli.app import entity_rows as _entity_rows
from featurestore.errors import ProjectError, UsageError
from featurestore.online.codec import DECODERS, ViewSchema, encode_array, encode_value, logical_type
from featurestore.online.embedded import MAX_SOCKET_PATH, socket_path
from featurestore.online.keys import Keyspace, entity_suffix, entity_suffixes, escape_glob, parse_entity_suffix
from featurestore.online.validity import remaining_lifetimes_ms
from featurestore.online.writer import encode_rows
from tests.manifests import CUSTOMER_COLUMNS, CUSTOMER_META, manifest, model_node

ROUND_TRIPS = [
    (pa.int64(), [0, -1, 2**62, None]),
    (pa.int32(), [7, None]),
    (pa.float64(), [0.1, 1.0, -0.0, 2 / 3, 1e-7, 1e300, 123456789.12345679, float("inf"), None]),
    (pa.float32(), [0.1, 3.5, None]),
    (pa.bool_(), [True, False, None]),
    (pa.string(), ["", "gold", "a:b%c", "žluť 🙂", None]),
    (pa.large_string(), ["x", None]),
    (pa.timestamp("us"), [datetime(2013, 12, 31), datetime(2024, 2, 29, 23, 59, 59, 999999), None]),
    (pa.timestamp("s"), [datetime(2020, 1, 1, 12, 0, 1)]),
    (pa.date32(), [date(2013, 1, 1), None]),
    (pa.decimal128(10, 2), [Decimal("1.50"), Decimal("-0.01"), None]),
]


@pytest.mark.parametrize("arrow_type, values", ROUND_TRIPS, ids=lambda v: str(v) if isinstance(v, pa.DataType) else "")
def test_every_value_reads_back_as_the_offline_frame_has_it(arrow_type, values):
    array = pa.array(values, arrow_type)
    logical = logical_type(arrow_type)
    decode = DECODERS[logical]
    decoded = [None if text is None else decode(text) for text in encode_array(array, logical).to_pylist()]
    offline = array.to_pylist()
    assert [type(v) for v in decoded] == [type(v) for v in offline]
    assert decoded == offline


def test_values_are_readable_text():
    def text(values, arrow_type):
        array = pa.array(values, arrow_type)
        return encode_array(array, logical_type(arrow_type)).to_pylist()

    assert text([1.0, 0.1, -0.0, float("nan")], pa.float64()) == ["1.0", "0.1", "-0.0", "nan"]
    assert text([True, False], pa.bool_()) == ["true", "false"]
    assert text([datetime(2013, 12, 31, 0, 30)], pa.timestamp("us")) == ["2013-12-31T00:30:00.000000"]
    assert text([datetime(2013, 12, 31, 5, 30)], pa.timestamp("us", tz="UTC")) == ["2013-12-31T05:30:00.000000"]
    assert math.isnan(DECODERS["float"]("nan"))


@pytest.mark.parametrize(
    "value, text",
    [
        ("JFK", "JFK"),
        (42, "42"),
        (True, "true"),
        (0.25, "0.25"),
        (datetime(2013, 1, 2, 3, 4, 5), "2013-01-02T03:04:05.000000"),
        (datetime(2013, 1, 2, 5, 0, tzinfo=timezone(timedelta(hours=2))), "2013-01-02T03:00:00.000000"),
        (date(2013, 1, 2), "2013-01-02"),
        (Decimal("1.50"), "1.50"),
    ],
)
def test_python_values_encode_as_the_arrow_columns_do(value, text):
    assert encode_value(value) == text
    if not isinstance(value, datetime) or value.tzinfo is None:
        arrow = pa.array([value])
        assert encode_array(arrow, logical_type(arrow.type)).to_pylist() == [text]


@given(st.lists(st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31)), min_size=2, max_size=20))
def test_timestamp_text_sorts_as_time_does(moments):
    texts = encode_array(pa.array(moments, pa.timestamp("us")), "timestamp").to_pylist()
    assert sorted(texts) == [encode_value(m) for m in sorted(moments)]


def test_key_names():
    space = Keyspace("fs:flight_features")
    assert space.meta_key("route_daily") == "fs:flight_features:route_daily:meta"
    assert space.lock_key() == "fs:flight_features:sync-lock"
    assert space.entity_base("route_daily", 3) + entity_suffix(["origin", "dest"], ["JFK", "LAX"]) == (
        "fs:flight_features:route_daily:gen3:origin=JFK:dest=LAX"
    )
    assert entity_suffix(["id"], ["a:b%c"]) == "id=a%3Ab%25c"
    assert parse_entity_suffix("origin=JFK:dest=a%3Ab%25c") == {"origin": "JFK", "dest": "a:b%c"}
    assert escape_glob("fs:[x]*?") == "fs:\\[x\\]\\*\\?"


@given(st.lists(st.tuples(st.text(max_size=8), st.integers(-(2**63), 2**63 - 1)), min_size=1, max_size=20))
def test_vectorized_keys_equal_the_ones_readers_build(rows):
    texts, numbers = [list(column) for column in zip(*rows)]
    arrays = [pa.array(texts, pa.string()), pa.array(numbers, pa.int64())]
    suffixes = entity_suffixes(["name", "n"], arrays, ["str", "int"]).to_pylist()
    assert suffixes == [entity_suffix(["name", "n"], row) for row in rows]
    assert [parse_entity_suffix(s) for s in suffixes] == [{"name": t, "n": str(n)} for t, n in rows]


def customer_view(columns=CUSTOMER_COLUMNS, meta=CUSTOMER_META):
    return catalog_from_manifest(manifest(model_node("customer_stats", meta, columns))).view("customer_stats")


CUSTOMER_TYPES = {
    "customer_id": pa.int64(),
    "event_timestamp": pa.timestamp("us"),
    "orders_30d": pa.int64(),
    "spend_30d": pa.float64(),
}


def test_schema_records_each_features_type_and_round_trips_as_json():
    schema = ViewSchema.of_view(customer_view(), CUSTOMER_TYPES)
    assert schema.to_json() == (
        '{"join_keys": {"customer_id": "int"}, "timestamp": "event_timestamp", "created_at": null, '
        '"features": {"orders_30d": "int", "spend_30d": "float"}}'
    )
    assert ViewSchema.from_json(schema.to_json()) == schema


def test_a_type_the_online_store_cannot_hold_is_a_project_error():
    with pytest.raises(ProjectError) as raised:
        ViewSchema.of_view(customer_view(), {**CUSTOMER_TYPES, "spend_30d": pa.list_(pa.int64())})
    assert str(raised.value) == (
        "models/customer_stats.yml: model 'customer_stats': column 'spend_30d' has type list<item: int64>, "
        "which the online store cannot hold (valid: a number, text, boolean, date or timestamp); "
        "cast it in the model, or set online: false"
    )
    with pytest.raises(ProjectError, match="column 'event_timestamp' has type string.*valid: timestamp, date"):
        ViewSchema.of_view(customer_view(), {**CUSTOMER_TYPES, "event_timestamp": pa.string()})


def test_rows_are_encoded_as_the_text_redis_holds_with_null_for_no_field():
    schema = ViewSchema.of_view(customer_view(), CUSTOMER_TYPES)
    batch = pa.record_batch(
        {
            "customer_id": pa.array([7, 8]),
            "event_timestamp": pa.array([datetime(2024, 1, 1), datetime(2024, 1, 2, 3, 4, 5, 6)], pa.timestamp("us")),
            "orders_30d": pa.array([3, None]),
            "spend_30d": pa.array([None, 2.5]),
        }
    )
    rows = encode_rows(batch, schema, "fs:x:customer_stats:gen1:", pa.array([1000, 0]))
    assert rows.keys.to_pylist() == ["fs:x:customer_stats:gen1:customer_id=7", "fs:x:customer_stats:gen1:customer_id=8"]
    assert rows.timestamp.to_pylist() == ["2024-01-01T00:00:00.000000", "2024-01-02T03:04:05.000006"]
    assert rows.created_at is None
    assert [f.to_pylist() for f in rows.features] == [["3", None], [None, "2.5"]]
    assert rows.expire_ms.to_pylist() == [1000, 0] and len(rows) == 2


def test_remaining_lifetime_follows_the_training_set_ttl_rule():
    now = datetime(2024, 3, 1, 12)
    ttl = timedelta(days=1)
    stamps = pa.array(
        [now - ttl, now - ttl - timedelta(microseconds=1), now - timedelta(hours=1), now + timedelta(hours=1)],
        pa.timestamp("us"),
    )
    lifetimes, alive = remaining_lifetimes_ms(stamps, ttl, now)
    assert alive.to_pylist() == [True, False, True, True]  # valid while timestamp + ttl >= now
    # Due now: valid through now's millisecond, so the key lives into the next one.
    assert lifetimes.to_pylist()[0] == 1
    assert lifetimes.to_pylist()[2:] == [23 * 3600 * 1000 + 1, 25 * 3600 * 1000 + 1]
    lifetimes, alive = remaining_lifetimes_ms(stamps, None, now)
    assert alive is None and lifetimes.to_pylist() == [0, 0, 0, 0]


def test_entity_options_make_rows():
    assert _entity_rows(["origin=JFK", "carrier=UA"]) == [{"origin": "JFK", "carrier": "UA"}]
    assert _entity_rows(["carrier=UA,AA", "origin=JFK"]) == [
        {"carrier": "UA", "origin": "JFK"},
        {"carrier": "AA", "origin": "JFK"},
    ]
    with pytest.raises(UsageError, match="--entity gives 'carrier' twice; list several values as carrier=a,b"):
        _entity_rows(["carrier=UA", "carrier=AA"])


def test_long_project_paths_put_the_socket_in_the_temp_folder():
    assert socket_path(Path("/srv/project")) == Path("/srv/project/.fs/redis.sock")
    deep = Path("/srv/" + "x" * MAX_SOCKET_PATH)
    assert len(str(socket_path(deep))) < MAX_SOCKET_PATH and socket_path(deep).name.startswith("fs-redis-")


@pytest.mark.parametrize("text", ["x", "0", "-5", "1.5"])
def test_a_bad_lock_lifetime_is_one_clear_error(monkeypatch, text):
    from featurestore.online.lock import lock_seconds

    monkeypatch.setenv("FS_SYNC_LOCK_SECONDS", text)
    with pytest.raises(UsageError) as raised:
        lock_seconds()
    assert str(raised.value) == f"FS_SYNC_LOCK_SECONDS is '{text}'; valid: a whole number of seconds, 1 or more"
