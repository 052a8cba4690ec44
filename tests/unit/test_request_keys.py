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


@given(number=st.integers(-(2**53), 2**53), spell=spellings)
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
