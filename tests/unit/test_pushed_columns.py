"""Columns of plain values pushed to a view (the `df` of `POST /push`, or a dict given to
`FeatureStore.push`): text is read by the view's column types, as a CSV file's text is (no
I/O; tests/integration/test_serve.py pushes through the server)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.errors import UsageError
from featurestore.online.pushed_rows import load_rows

TYPES = {"at": pa.timestamp("us"), "day": pa.date32(), "price": pa.decimal128(12, 2), "code": pa.string(), "n": pa.int64()}

MOMENTS = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1))
OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))


def iso(moment: datetime, zulu: bool) -> str:
    """ISO-8601 as clients write it: Python's isoformat, or JavaScript's toISOString (Z)."""
    text = moment.isoformat()
    return text.replace("+00:00", "Z") if zulu else text


@settings(deadline=None)  # the first Arrow cast of a process is slow
@given(moments=st.lists(MOMENTS, min_size=1, max_size=5), offset=st.none() | OFFSETS, zulu=st.booleans())
def test_timestamp_text_is_the_same_instant_in_naive_utc(moments, offset, zulu):
    """Text without an offset is UTC already; with one (or Z), it is converted to UTC."""
    given_moments = [m.replace(tzinfo=offset) for m in moments]
    table = load_rows({"at": [iso(m, zulu) for m in given_moments]}, TYPES)
    utc = [m if offset is None else m.astimezone(timezone.utc).replace(tzinfo=None) for m in given_moments]
    assert table["at"].cast(pa.timestamp("us")).to_pylist() == utc


@settings(deadline=None)
@given(days=st.lists(st.dates(min_value=date(1, 1, 1)) | st.none(), min_size=1, max_size=5))
def test_date_text_is_the_date(days):
    table = load_rows({"day": [d and d.isoformat() for d in days]}, TYPES)
    assert table["day"].to_pylist() == days


@settings(deadline=None)
@given(prices=st.lists(st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False), min_size=1, max_size=5))
def test_decimal_text_is_the_exact_decimal(prices):
    table = load_rows({"price": [str(p) for p in prices]}, TYPES)
    assert table["price"].to_pylist() == [p.quantize(Decimal("0.01")) for p in prices]


def test_other_text_and_values_keep_their_own_type():
    """Text for a text column stays text ('007'); numbers and nulls are typed by their values,
    and validated_rows then checks them against the view, as any other pushed frame."""
    table = load_rows({"code": ["007", None], "n": [1, None], "other": [1.5, 2]}, TYPES)
    assert table.to_pylist() == [{"code": "007", "n": 1, "other": 1.5}, {"code": None, "n": None, "other": 2.0}]
    assert load_rows({"n": ["7"]}, TYPES)["n"].type == pa.string()  # refused by validated_rows, naming the type


@pytest.mark.parametrize(
    "columns, message",
    [
        ({"at": ["2024-02-27T10:00:00Z", "2024-02-27T10:00:00"]},
         "the rows' column 'at' does not read as timestamp[us]: Failed to parse string: '2024-02-27T10:00:00Z' as a scalar "
         "of type timestamp[us]: expected no zone offset. (valid: ISO-8601 text such as 2024-02-27T10:00:00 (UTC) or "
         "2024-02-27T12:00:00+02:00, all with or all without an offset)"),
        ({"day": ["27/02/2024"]}, "the rows' column 'day' does not read as date32[day]: Failed to parse string: '27/02/2024'"),
        ({"price": ["1.255"]}, "the rows' column 'price' does not read as decimal128(12, 2)"),
        ({"n": [1, "a"]}, "the rows' column 'n' does not hold values of one type"),
        ({"n": [2**70]}, "the rows' column 'n' does not hold values of one type: Python int too large"),
        ({"n": 1}, 'the rows\' columns: "n" must be a list of values, one per row'),
        ({"n": [1], "code": []}, "the rows' columns: every column needs one value per row, but n has 1, code has 0"),
    ],
    ids=["mixed offsets", "not iso date", "decimal losing digits", "mixed kinds", "int over 64 bits", "not a list", "uneven"],
)
def test_bad_columns_are_one_line_naming_the_column(columns, message):
    with pytest.raises(UsageError) as raised:
        load_rows(columns, TYPES)
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)
