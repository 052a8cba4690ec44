"""The rows a push writes to Redis: of each entity's rows, the one with the greatest
(timestamp, knowledge time), the order the writer's server-side check and the warehouse's
latest-row query use; so keys_written counts entities (no I/O)."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.online.push import _latest_per_entity

VIEW = SimpleNamespace(join_keys=["shop", "item"], timestamp="at", created_at="known")
"""The view's fields _latest_per_entity reads."""

SCHEMA = pa.schema(
    [("shop", pa.string()), ("item", pa.int64()), ("at", pa.timestamp("us")), ("known", pa.timestamp("us")), ("value", pa.int64())]
)
START = datetime(2024, 2, 1)
ROWS = st.lists(
    st.tuples(
        st.sampled_from(["s1", "s2"]),
        st.integers(0, 2),
        st.integers(0, 4),  # timestamp, in hours
        st.none() | st.integers(0, 6),  # created_at, in hours (null: known at the timestamp)
    ),
    max_size=12,
    # validated_rows refuses rows repeating (join keys, timestamp, knowledge time)
    unique_by=lambda r: (r[0], r[1], r[2], r[2] if r[3] is None else r[3]),
)


@settings(deadline=None)
@given(rows=ROWS)
def test_the_latest_row_of_each_entity_is_kept_in_the_order_pushed(rows):
    at = lambda hours: START + timedelta(hours=hours)  # noqa: E731
    table = pa.Table.from_pylist(
        [
            {"shop": s, "item": i, "at": at(t), "known": None if c is None else at(c), "value": n}
            for n, (s, i, t, c) in enumerate(rows)
        ],
        schema=SCHEMA,
    )
    batch = table.combine_chunks().to_batches()[0] if rows else pa.RecordBatch.from_pylist([], schema=table.schema)
    best: dict = {}
    for n, (s, i, t, c) in enumerate(rows):
        order = (t, t if c is None else c)
        if (s, i) not in best or order > best[(s, i)][0]:
            best[(s, i)] = (order, n)
    assert _latest_per_entity(VIEW, batch)["value"].to_pylist() == sorted(n for _, n in best.values())
