"""Online reads name the Redis key by the view's join-key type, not by the request value's
Python type (a review found `fs get -e customer_id=01` reading the text key "01" of an integer
view: missing on a plain view, and 0 `present` on an aggregation view where the training set
has 15).

Every read path names its keys with featurestore.online.request_keys `request_suffixes`, which
converts each value with `key_value`: the Python API,
`fs get`, `fs serve`'s /get-online-features, plain and aggregation views. Real Redis, real
DuckDB, the training set as the reference.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore.errors import UsageError
from tests.integration.test_online_skew import http_read
from tests.online_fixtures import TINY_COLUMNS, TINY_NOW, TINY_VIEW, TinyProject, online, row, tiny, write_tiny_manifest  # noqa: F401
from tests import online_windows
from tests.online_windows import NOW, VIEW, event, set_events, store_at, write_project

pytestmark = pytest.mark.integration

INT_KEYED = {**TINY_COLUMNS, "customer_id": "bigint"}
ORDERS = f"{TINY_VIEW}:orders"
CUSTOMERS = [1, 2, 7, 10, 123456789012]
SPELLINGS = ["01", " 1", "+1", "1 ", "1.0", 1.0, np.int64(1), np.float64(1.0)]


@pytest.fixture
def int_keyed(tmp_path, online):
    """The tiny view keyed by a BIGINT, customer n with orders n * 10, synced."""
    write_tiny_manifest(tmp_path, INT_KEYED)
    tiny = TinyProject(tmp_path)
    tiny.set_rows([row(c, 20, orders=c * 10) for c in CUSTOMERS], types=INT_KEYED)
    store = tiny.store()
    store.sync()
    return store


def training_orders(store, customers) -> list:
    spine = pd.DataFrame({"customer_id": customers, "event_timestamp": [TINY_NOW] * len(customers)})
    return store.training_set(spine, [ORDERS]).to_pandas()["orders"].tolist()


@pytest.mark.parametrize("spelling", SPELLINGS, ids=repr)
def test_every_exact_spelling_of_an_integer_key_reads_its_value(int_keyed, spelling):
    found = int_keyed.get_online_features([{"customer_id": spelling}], [ORDERS])
    assert (found.values, found.statuses) == ([[10]], [["present"]])
    assert training_orders(int_keyed, [1]) == [10]


@pytest.mark.parametrize("bad", ["abc", "1.5", 1.5, "", True], ids=repr)
def test_a_value_that_is_no_integer_is_refused_naming_key_view_and_type(int_keyed, bad):
    with pytest.raises(UsageError) as caught:
        int_keyed.get_online_features([{"customer_id": 1}, {"customer_id": bad}], [ORDERS])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"entity row 2 (customer_id={bad}): ")
    assert "customer_id" in message and TINY_VIEW in message and "integer" in message


def test_a_nan_key_reads_missing_as_a_null_does(int_keyed):
    """What a pandas integer column holding a NaN gives: floats, and NaN for the gap."""
    keys = pd.Series([1, None], dtype="float64").tolist()
    found = int_keyed.get_online_features([{"customer_id": k} for k in keys], [ORDERS])
    assert (found.values, found.statuses) == ([[10], [None]], [["present"], ["missing"]])


def test_a_text_key_stays_verbatim(tiny):
    tiny.set_rows([row("01", 20, orders=1), row(" c1", 20, orders=2), row("c1", 20, orders=3)])
    store = tiny.store()
    store.sync()
    found = store.get_online_features([{"customer_id": k} for k in ["01", "1", " c1", "c1", "c1 "]], [ORDERS])
    assert found.values == [[1], [None], [2], [3], [None]]


def test_fs_get_reads_and_echoes_the_key_looked_up_or_exits_2(int_keyed, cli):
    code, out, err = cli("get", ORDERS, "-e", "customer_id=01", "--project-dir", str(int_keyed.project.root))
    assert (code, err) == (0, "")
    (answer,) = json.loads(out)
    assert answer["entity"] == {"customer_id": 1}
    assert (answer["values"], answer["statuses"]) == ({ORDERS: 10}, {ORDERS: "present"})

    code, out, err = cli("get", ORDERS, "-e", "customer_id=abc", "--project-dir", str(int_keyed.project.root))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "customer_id" in err and "integer" in err


def test_http_reads_convert_keys_and_refuse_with_400(int_keyed):
    status, document = http_read(int_keyed, {"features": [ORDERS], "entities": {"customer_id": ["01", 1.0, 7]}})
    assert status == 200, document
    assert document["results"][1]["values"] == [10, 10, 70]
    assert document["results"][1]["statuses"] == ["PRESENT"] * 3
    status, document = http_read(int_keyed, {"features": [ORDERS], "entities": {"customer_id": [1, "abc"]}})
    assert status == 400 and "integer" in document["detail"] and "\n" not in document["detail"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_online_equals_the_training_set_for_every_spelling_of_integer_keys(int_keyed, data):
    """The training set matches the integer key; so does every exact spelling online."""
    expected = dict(zip(CUSTOMERS + [5], training_orders(int_keyed, CUSTOMERS + [5])))
    customers = data.draw(st.lists(st.sampled_from(sorted(expected)), min_size=1, max_size=6))
    spell = st.sampled_from([
        lambda n: n, str, float, lambda n: f" +{n:03d} ", lambda n: f"{n}.0", lambda n: np.int64(n),
    ])
    keys = [data.draw(spell)(c) for c in customers]
    found = int_keyed.get_online_features([{"customer_id": k} for k in keys], [ORDERS])
    want = [None if pd.isna(expected[c]) else int(expected[c]) for c in customers]
    assert [v for (v,) in found.values] == want
    assert [s for (s,) in found.statuses] == ["missing" if w is None else "present" for w in want]


@pytest.mark.parametrize(
    "sql_type, stored, spellings",
    [
        ("decimal(9,2)", Decimal("1.5"), [Decimal("1.5"), Decimal("1.50"), "1.5", " 1.500", 1.5]),
        ("date", date(2024, 1, 2), [date(2024, 1, 2), "2024-01-02", datetime(2024, 1, 2)]),
        ("timestamp", datetime(2024, 1, 2, 3), [datetime(2024, 1, 2, 3), "2024-01-02 03:00:00", "2024-01-02T03:00:00+02:00",
                                                datetime(2024, 1, 2, 5, tzinfo=timezone(timedelta(hours=2)))]),
        ("double", 2.5, [2.5, "2.5", "2.50"]),
    ],
)
def test_other_key_types_read_every_spelling_of_the_stored_value(tmp_path, online, sql_type, stored, spellings):
    types = {**TINY_COLUMNS, "customer_id": sql_type}
    write_tiny_manifest(tmp_path, types)
    project = TinyProject(tmp_path)
    project.set_rows([row(stored, 20, orders=5)], types=types)
    store = project.store()
    store.sync()
    found = store.get_online_features([{"customer_id": s} for s in spellings], [ORDERS])
    assert found.values == [[5]] * len(spellings)
    assert found.with_typed_keys().entity_rows == [{"customer_id": stored}] * len(spellings)
    with pytest.raises(UsageError, match="entity row 1 "):
        store.get_online_features([{"customer_id": "nonsense"}], [ORDERS])


# -- aggregation views ------------------------------------------------------------------------


@pytest.fixture
def int_events(tmp_path, online, monkeypatch):
    """The aggregation view keyed by a BIGINT store: store 1 has 13 events in the last hour."""
    monkeypatch.setitem(online_windows.TYPES, "store", "bigint")
    root = write_project(tmp_path)
    set_events(root, [event(1, 60 * i + 30, None, i, 0.5, "x") for i in range(13)] + [event(2, 30, None, 1, 1.0, "y")])
    store = store_at(root, NOW)
    store.sync()
    return store


COUNT = f"{VIEW}:store__amount_count__1h"


def test_an_aggregation_view_reads_the_integer_key_for_its_text(int_events):
    found = int_events.get_online_features([{"store": k} for k in [1, "01", " 1", 1.0]], [COUNT])
    assert found.values == [[13]] * 4 and found.statuses == [["present"]] * 4
    spine = pd.DataFrame({"store": [1], "event_timestamp": [NOW]})
    assert int_events.training_set(spine, [COUNT]).to_pandas()["store__amount_count__1h"].tolist() == [13]


def test_an_aggregation_view_refuses_a_key_that_is_no_integer(int_events):
    """Never 0 `present` for a key that cannot exist."""
    for bad in ["abc", 1.5]:
        with pytest.raises(UsageError, match="integer"):
            int_events.get_online_features([{"store": bad}], [COUNT])
    with pytest.raises(UsageError, match="integer"):
        int_events.get_online_features([{"store": "abc"}], [COUNT, f"{VIEW}:store__price_max__2d"])


# -- a review's regressions: doubles spelt as the sync spells them, timestamps with offsets -----

DOUBLES = [1e-7, 3e10, 9007199254740992.0, -0.0, 0.1, 1e20, 5e-324, 1.7976931348623157e308, 123456789.0, 1e15, 1e16, -2.5]
"""Stored keys of a DOUBLE view: Arrow's text for most differs from Python's repr (`3e+10`,
`1e-7`), and the warehouse's -0.0 is the key 0.0 offline (DuckDB's join matches them)."""


def keyed_by(tmp_path, sql_type: str, keys: list, **extra) -> "FeatureStore":  # noqa: F821
    types = {**TINY_COLUMNS, "customer_id": sql_type}
    write_tiny_manifest(tmp_path, types)
    project = TinyProject(tmp_path)
    project.set_rows([row(k, 20, orders=i + 1) for i, k in enumerate(keys)], types=types)
    store = project.store()
    store.sync()
    return store


@pytest.fixture
def double_keyed(tmp_path, online):
    return keyed_by(tmp_path, "double", DOUBLES)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_online_equals_the_training_set_for_double_keys(double_keyed, data):
    """A read's key text for a double is the sync's (one function), for every spelling."""
    numbers = data.draw(st.lists(st.sampled_from(DOUBLES + [0.0, 2.0**53 + 1, 7.25]), min_size=1, max_size=5))
    spell = st.sampled_from([lambda x: x, repr, lambda x: f" {x!r} ", np.float64, lambda x: Decimal(repr(x)), str])
    keys = [data.draw(spell)(x) for x in numbers]
    found = double_keyed.get_online_features([{"customer_id": k} for k in keys], [ORDERS])
    expected = training_orders(double_keyed, [float(x) for x in numbers])
    want = [None if pd.isna(e) else int(e) for e in expected]
    assert [v for (v,) in found.values] == want
    assert None not in want[:1] or numbers[0] not in DOUBLES


@pytest.mark.parametrize("spelling", ["1e-7", "-0", "-0.0", 0.0, "9007199254740993", "3e10"])
def test_double_keys_the_review_read_missing_are_present(double_keyed, spelling):
    found = double_keyed.get_online_features([{"customer_id": spelling}], [ORDERS])
    assert found.statuses == [["present"]]
    assert found.values == [training_orders(double_keyed, [float(spelling)])]


def test_a_timestamp_keys_text_with_an_offset_reads_what_the_training_set_casts_it_to(tmp_path, online):
    store = keyed_by(tmp_path, "timestamp", [datetime(2024, 1, 5, 10), datetime(2024, 1, 5, 11)])
    text = "2024-01-05T11:00:00+01:00"
    spine = pd.DataFrame({"customer_id": [text], "event_timestamp": [TINY_NOW]})
    offline = store.training_set(spine, [ORDERS]).to_pandas()["orders"].tolist()
    assert offline == [2]  # DuckDB's cast to TIMESTAMP keeps 11:00 and drops the offset
    assert store.get_online_features([{"customer_id": text}], [ORDERS]).values == [[2]]


def test_a_timestamptz_keys_offset_is_the_moment_online_and_offline(tmp_path, online):
    utc = timezone.utc
    store = keyed_by(tmp_path, "timestamptz", [datetime(2024, 1, 5, 10, tzinfo=utc), datetime(2024, 1, 5, 11, tzinfo=utc)])
    text = "2024-01-05T11:00:00+01:00"
    spine = pd.DataFrame({"customer_id": [text], "event_timestamp": [TINY_NOW]})
    assert store.training_set(spine, [ORDERS]).to_pandas()["orders"].tolist() == [1]
    assert store.get_online_features([{"customer_id": text}], [ORDERS]).values == [[1]]


@pytest.mark.parametrize("bad", ["1e5000", "1e1000000", 2**70, 2.0**60, "1" + "0" * 5000])
def test_a_huge_or_inexact_integer_key_is_one_line_refusal(int_keyed, bad):
    with pytest.raises(UsageError) as caught:
        int_keyed.get_online_features([{"customer_id": bad}], [ORDERS])
    assert "\n" not in str(caught.value) and "integer" in str(caught.value)


def test_fs_get_refuses_a_huge_decimal_key_with_exit_2(tmp_path, online, cli):
    store = keyed_by(tmp_path, "decimal(9,2)", [Decimal("1.50")])
    for bad in ["1e99", "1e400", "1e1000000"]:
        code, out, err = cli("get", ORDERS, "-e", f"customer_id={bad}", "--project-dir", str(store.project.root))
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    status, document = http_read(store, {"features": [ORDERS], "entities": {"customer_id": ["1e1000000"]}})
    assert status == 400 and "decimal" in document["detail"]


def test_a_push_before_the_first_sync_of_this_version_says_fs_key_format_changed(tmp_path, online):
    """A decimal key's view synced by an fs that recorded no key scale: the user changed nothing."""
    store = keyed_by(tmp_path, "decimal(9,2)", [Decimal("1.50")])
    meta = f"{online.prefix}:{TINY_VIEW}:meta"
    recorded = json.loads(online.client.hget(meta, "schema"))
    recorded.pop("key_scales")
    online.client.hset(meta, "schema", json.dumps(recorded))
    with pytest.raises(UsageError) as caught:
        store.push(TINY_VIEW, [row(Decimal("1.50"), 21, orders=9)])
    message = str(caught.value)
    assert "changed its columns" not in message and "key format" in message and "fs sync" in message


def test_a_bigint_key_refuses_what_bigint_cannot_hold_and_a_ubigint_key_reads_its_range(int_keyed, tmp_path):
    """The training set refuses a spine key BIGINT cannot hold: the read refuses it, not missing."""
    with pytest.raises(UsageError, match="range"):
        int_keyed.get_online_features([{"customer_id": str(2**63)}], [ORDERS])
    store = keyed_by(tmp_path / "u", "ubigint", [str(2**64 - 1), "5"])  # as text: Arrow infers int64 otherwise
    found = store.get_online_features([{"customer_id": k} for k in [2**64 - 1, str(2**64 - 1), "05"]], [ORDERS])
    assert found.values == [[1], [1], [2]]
    with pytest.raises(UsageError, match="range"):
        store.get_online_features([{"customer_id": -1}], [ORDERS])
