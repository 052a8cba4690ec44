"""The feature server's response document: fs's statuses and values in Feast's shape (no I/O;
tests/integration/test_serve.py checks real answers)."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

from featurestore.online.reader import EXPIRED, MISSING, PRESENT, OnlineFeatures
from featurestore.serve.responses import dumps as _dumps, response_document


def test_each_status_and_value_as_feast_writes_it():
    rows = [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 4}]
    stamp = datetime(2024, 2, 20, 6, 30, 0, 250)
    result = OnlineFeatures(
        features=["price", "day"],
        entity_rows=rows,
        values=[[Decimal("1.10"), date(2024, 2, 1)], [None, None], [None, None], [None, None]],
        statuses=[[PRESENT, PRESENT], [PRESENT, PRESENT], [EXPIRED, EXPIRED], [MISSING, MISSING]],
        event_timestamps=[{"v": stamp}, {"v": stamp}, {"v": stamp}, {"v": None}],
        feature_views=("v", "v"),
    )
    document = json.loads(_dumps(response_document(result, rows)))
    assert document["metadata"] == {"feature_names": ["id", "price", "day"]}
    ids, price, day = document["results"]
    assert ids["values"] == [1, 2, 3, 4] and ids["statuses"] == ["PRESENT"] * 4
    assert price == {
        "values": ["1.10", None, None, None],
        "statuses": ["PRESENT", "NULL_VALUE", "OUTSIDE_MAX_AGE", "NOT_FOUND"],
        "event_timestamps": ["2024-02-20T06:30:00.000250Z"] * 3 + ["1970-01-01T00:00:00Z"],
    }
    assert day["values"] == ["2024-02-01", None, None, None]
