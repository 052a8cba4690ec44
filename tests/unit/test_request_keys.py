"""A read request's join key values, converted to the type the view's key is stored as before
the key is named (featurestore.online.request_keys `key_value`), without Redis: the key text must be
the one a sync writes for the same warehouse value, or the value is refused."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from featurestore.online.codec import encode_array
from featurestore.online.request_keys import KeyTypeError, key_text, key_value

STORED = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_(),
          "date": pa.date32(), "timestamp": pa.timestamp("us")}


def synced_text(value, logical: str) -> str:
    """The key text a sync writes for a warehouse value of the stored type."""
    return encode_array(pa.array([value], STORED[logical]), logical).to_pylist()[0]


@pytest.mark.parametrize(
    "given_value", [1, "1", "01", " 1", "1 ", "+1", "1.0", "1.", "1e0", 1.0, np.int64(1), np.float64(1.0), Decimal("1.00")]
)
def test_an_integer_key_reads_every_exact_spelling_of_the_integer(given_value):
    assert key_value(given_value, "int") == 1 and type(key_value(given_value, "int")) is int
    assert key_text(given_value, "int") == synced_text(1, "int") == "1"


@pytest.mark.parametrize(
    "given_value", ["abc", "", " ", "1.5", 1.5, "0x10", "١", "nan", "inf", float("inf"), True, Decimal("1.5"), "1 2", [1], np.array([1, 2])]
)
def test_an_integer_key_refuses_what_is_no_integer_exactly(given_value):
    with pytest.raises(KeyTypeError):
        key_value(given_value, "int")


@pytest.mark.parametrize("null", [None, float("nan"), np.float64("nan"), Decimal("NaN")])
@pytest.mark.parametrize("logical", ["int", "str", "float", "timestamp", "date"])
def test_a_null_or_nan_key_is_null_as_offline(null, logical):
    """pandas gives NaN for a missing value in a number column; DuckDB reads it as NULL."""
    assert key_value(null, logical) is None
    assert key_text(null, logical) is None


@pytest.mark.parametrize("text", ["01", " 1", "+1", "c1 ", "", "a:b", "ÄÖ"])
def test_a_text_key_is_verbatim(text):
    assert key_text(text, "str") == text


def test_a_number_for_a_text_key_is_its_text():
    assert key_text(7, "str") == "7"


def test_dates_and_timestamps_read_as_their_iso_text():
    moment = datetime(2024, 2, 3, 4, 5, 6, 7)
    assert key_text("2024-02-03", "date") == synced_text(date(2024, 2, 3), "date")
    assert key_text(datetime(2024, 2, 3), "date") == "2024-02-03"
    assert key_text(moment, "timestamp") == synced_text(moment, "timestamp")
    assert key_text(moment.isoformat(), "timestamp") == synced_text(moment, "timestamp")
    aware = moment.replace(tzinfo=timezone(timedelta(hours=2)))
    assert key_text(aware, "timestamp") == synced_text(moment - timedelta(hours=2), "timestamp")
    assert key_text(date(2024, 2, 3), "timestamp") == synced_text(datetime(2024, 2, 3), "timestamp")
    with pytest.raises(KeyTypeError, match="time of day"):
        key_value(moment, "date")
    with pytest.raises(KeyTypeError, match="ISO-8601"):
        key_value("Feb 3", "date")
    with pytest.raises(KeyTypeError, match="ISO-8601"):
        key_value("noon", "timestamp")


def test_booleans_and_floats():
    assert key_text("true", "bool") == key_text(True, "bool") == synced_text(True, "bool")
    assert key_text(" FALSE", "bool") == "false"
    with pytest.raises(KeyTypeError):
        key_value("yes please", "bool")
    assert key_text(" 0.5", "float") == key_text(0.5, "float") == synced_text(0.5, "float")
    assert key_text(2, "float") == synced_text(2.0, "float") == "2.0"
    with pytest.raises(KeyTypeError):
        key_value("half", "float")


spellings = st.sampled_from([
    lambda n: n,
    str,
    lambda n: f"{'-' if n < 0 else '+'}{'0' * 3}{abs(n)}",
    lambda n: f"  {n}\t",
    lambda n: float(n),
    lambda n: f"{n}.0",
    lambda n: np.int64(n),
])


@given(number=st.integers(-(2**53) + 1, 2**53 - 1), spell=spellings)
def test_every_spelling_of_an_integer_names_the_key_a_sync_writes(number, spell):
    assert key_text(spell(number), "int") == synced_text(number, "int")


@given(number=st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()))
def test_a_fraction_is_never_read_as_an_integer_key(number):
    with pytest.raises(KeyTypeError):
        key_value(number, "int")
    with pytest.raises(KeyTypeError):
        key_value(repr(number), "int")


@given(text=st.text())
def test_any_text_is_its_own_key(text):
    assert key_text(text, "str") == text


def test_the_docstring_examples_hold():
    import doctest

    from featurestore.online import request_keys

    assert doctest.testmod(request_keys).failed == 0


def test_a_read_names_each_key_of_a_composite_key_by_its_own_type():
    from featurestore.errors import UsageError
    from featurestore.online.keys import entity_suffix
    from featurestore.online.request_keys import request_suffixes

    rows = [{"origin": "JFK", "day": "007"}, {"origin": " JFK", "day": 7.0}, {"origin": "JFK", "day": None},
            {"origin": "a:b", "day": float("nan")}]
    assert request_suffixes("routes", ["origin", "day"], rows, ("str", "int")) == [
        entity_suffix(["origin", "day"], ["JFK", 7]), entity_suffix(["origin", "day"], [" JFK", 7]), None, None,
    ]
    with pytest.raises(UsageError) as caught:
        request_suffixes("routes", ["origin", "day"], [*rows, {"origin": "JFK", "day": "7.5"}], ("str", "int"))
    assert str(caught.value) == (
        "entity row 5 (origin=JFK, day=7.5): day '7.5' is not an integer (it has a fraction), the type of day in "
        "view 'routes' (valid: whole numbers, as numbers or text such as '7' or '007')"
    )
    with pytest.raises(UsageError, match="entity row 1 .* has no 'day', which view 'routes' needs"):
        request_suffixes("routes", ["origin", "day"], [{"origin": "JFK"}], ("str", "int"))


@pytest.mark.parametrize("scale", [0, 2, 10])
@given(number=st.decimals(allow_nan=False, allow_infinity=False, places=0).map(lambda d: d.scaleb(-3)).filter(lambda d: abs(d) < 10**15))
def test_a_decimal_key_is_named_with_the_views_scale_as_a_sync_names_it(scale, number):
    """The schema records a decimal key's scale; 1.5 names the key `1.50` of a decimal(18,2)."""
    from decimal import localcontext

    arrow_type = pa.decimal128(38, scale)
    with localcontext() as context:
        context.prec = 60
        exact = number == number.quantize(Decimal(1).scaleb(-scale))
    if not exact:
        with pytest.raises(KeyTypeError, match=f"more than {scale} decimals"):
            key_value(number, f"decimal:{scale}")
        return
    synced = encode_array(pa.array([number], arrow_type), "decimal").to_pylist()[0]
    for spelling in (number, str(number), f" {number} ", float(number) if abs(number) < 2**50 and scale == 0 else number):
        assert key_text(spelling, f"decimal:{scale}") == synced


def test_the_schema_records_a_decimal_keys_scale_and_only_then():
    from featurestore.online.codec import ViewSchema

    plain = ViewSchema((("id", "int"),), "ts", None, (("f", "int"),))
    assert "key_scales" not in plain.to_json() and plain.key_types == (("id", "int"),)
    scaled = ViewSchema((("id", "decimal"), ("name", "str")), "ts", None, (), key_scales=(("id", 2),))
    assert ViewSchema.from_json(scaled.to_json()) == scaled
    assert scaled.key_types == (("id", "decimal:2"), ("name", "str"))


# -- a review's regressions: double keys, timestamps with offsets, inexact floats, huge values ----


def sync_key_text(value, logical: str, arrow_type=None) -> str:
    """The key part a sync writes for one warehouse value (keys.entity_suffixes), without `k=`."""
    from featurestore.online.keys import entity_suffixes

    array = pa.array([value], arrow_type or STORED[logical])
    return entity_suffixes(["k"], [array], [logical]).to_pylist()[0].partition("=")[2]


@given(number=st.floats(allow_nan=False))
def test_a_double_keys_read_text_is_the_syncs_text_for_every_double(number):
    """The sync writes Arrow's text (`3e+10`, `1e-7`); a read once wrote Python's repr."""
    assert key_text(number, "float") == sync_key_text(number, "float")
    assert key_text(repr(number), "float") == sync_key_text(number, "float")


@pytest.mark.parametrize("spelling", [1e-7, "1e-7", "0.0000001", 3e10, "3e10", 9007199254740993, "9007199254740993", -0.0, "-0", "-0.0", 0])
def test_double_keys_the_review_found_missing_name_the_synced_key(spelling):
    from featurestore.online.request_keys import request_suffixes

    value = float(spelling) + 0.0
    assert key_text(spelling, "float") == sync_key_text(value, "float")
    assert request_suffixes("v", ["k"], [{"k": spelling}], ("float",)) == [f"k={sync_key_text(value, 'float')}"]


def test_a_sync_names_minus_zero_as_zero_as_duckdb_joins_them():
    assert sync_key_text(-0.0, "float") == sync_key_text(0.0, "float") == key_text(-0.0, "float") == "0.0"


def test_a_timestamp_keys_text_offset_is_dropped_as_duckdbs_cast_to_timestamp_does():
    assert key_text("2024-01-05T11:00:00+01:00", "timestamp") == "2024-01-05T11:00:00.000000"
    assert key_text("2024-01-05 11:00:00Z", "timestamp") == "2024-01-05T11:00:00.000000"
    # a datetime with a zone is a moment: pandas and DuckDB give its UTC time
    aware = datetime(2024, 1, 5, 11, tzinfo=timezone(timedelta(hours=1)))
    assert key_text(aware, "timestamp") == "2024-01-05T10:00:00.000000"


def test_a_timestamptz_keys_offset_is_the_moment():
    assert key_text("2024-01-05T11:00:00+01:00", "timestamp:tz") == "2024-01-05T10:00:00.000000"
    assert key_text("2024-01-05T10:00:00", "timestamp:tz") == "2024-01-05T10:00:00.000000"


def test_the_schema_records_which_timestamp_keys_have_a_zone_and_only_then():
    from featurestore.online.codec import ViewSchema

    zoned = ViewSchema((("at", "timestamp"), ("id", "int")), "ts", None, (), tz_keys=("at",))
    assert ViewSchema.from_json(zoned.to_json()) == zoned
    assert zoned.key_types == (("at", "timestamp:tz"), ("id", "int"))
    assert "tz_keys" not in ViewSchema((("at", "timestamp"),), "ts", None, ()).to_json()


def test_a_sub_microsecond_timestamp_is_refused():
    import pandas as pd

    with pytest.raises(KeyTypeError, match="nanosecond"):
        key_value(pd.Timestamp("2024-01-05T10:00:00.123456789"), "timestamp")
    assert key_text(pd.Timestamp("2024-01-05T10:00:00.123456"), "timestamp") == "2024-01-05T10:00:00.123456"


@pytest.mark.parametrize("number", [2.0**53, -(2.0**53), 2.0**60, 1.2345678901234567e19, np.float64(2.0**53)])
@pytest.mark.parametrize("logical", ["int", "decimal:0", "decimal:10"])
def test_a_float_past_two_to_the_53_is_refused_for_an_exact_key(number, logical):
    with pytest.raises(KeyTypeError, match="2\\^53"):
        key_value(number, logical)
    assert key_text(str(int(number)), "decimal:0") == str(int(number))  # as text it is exact


@pytest.mark.parametrize("text", ["1e5000", "1e1000000", "-1e400", "9" * 5000, "1e99", "1e400", " 1e39"], ids=lambda t: t[:8])
@pytest.mark.parametrize("logical", ["int", "decimal:2", "decimal:0", "float"])
def test_a_huge_number_is_refused_at_once_as_a_key_type_error(text, logical):
    import time

    start = time.process_time()
    if logical == "float":
        assert key_text(text, logical) == sync_key_text(float(text), "float")
    else:
        with pytest.raises(KeyTypeError):
            key_text(text, logical)
    assert time.process_time() - start < 0.5


def test_a_hugeint_keys_largest_value_is_read():
    """DuckDB's HUGEINT reaches a decimal(38, 0) key as 39 digits."""
    text = str(2**127 - 1)
    assert key_text(text, "decimal:0") == text == key_text(2**127 - 1, "decimal:0")


@pytest.mark.parametrize("number", [2**63, -(2**63) - 1, 2**100000, 10**40], ids=["2^63", "-2^63-1", "2^100000", "10^40"])
def test_an_integer_beyond_bigints_range_is_refused(number):
    with pytest.raises(KeyTypeError, match="range"):
        key_text(number, "int")
    with pytest.raises(KeyTypeError, match="range"):
        key_text(str(number) if number.bit_length() < 1000 else "1" + "0" * 40, "int")
    assert key_text(2**63 - 1, "int") == str(2**63 - 1) and key_text(-(2**63), "int") == str(-(2**63))


def test_an_unsigned_bigint_key_reads_up_to_its_own_range():
    from featurestore.online.codec import ViewSchema

    assert key_text(2**64 - 1, "int:u64") == key_text(str(2**64 - 1), "int:u64") == str(2**64 - 1)
    for bad in (2**64, -1, "-1"):
        with pytest.raises(KeyTypeError, match="range"):
            key_text(bad, "int:u64")
    schema = ViewSchema.of_view(
        type("View", (), {"join_keys": ("u", "i"), "timestamp": "ts", "created_at": None, "feature_names": ()})(),
        {"u": pa.uint64(), "i": pa.int64(), "ts": pa.timestamp("us")},
    )
    assert schema.key_types == (("u", "int:u64"), ("i", "int"))
    assert ViewSchema.from_json(schema.to_json()) == schema
    assert "u64_keys" not in ViewSchema((("i", "int"),), "ts", None, ()).to_json()


def test_numpy_booleans_and_datetimes_are_accepted():
    assert key_text(np.True_, "bool") == "true" and key_text(np.False_, "bool") == "false"
    assert key_text(np.datetime64("2024-01-05T10:00:00"), "timestamp") == "2024-01-05T10:00:00.000000"
    assert key_text(np.datetime64("2024-01-05"), "date") == "2024-01-05"
    assert key_text(np.datetime64("2024-01-05T00:00:00.000000000"), "date") == "2024-01-05"


@pytest.mark.parametrize("text", ["2024-01-05T00:00:00", "2024-01-05 00:00:00", " 2024-01-05 00:00:00.000 "])
def test_a_midnight_datetime_text_is_a_date(text):
    assert key_text(text, "date") == "2024-01-05"
    with pytest.raises(KeyTypeError, match="time of day"):
        key_value("2024-01-05T10:00:00", "date")
