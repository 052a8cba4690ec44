"""Commands framed by fs are, byte for byte, what redis-py's own packer sends (no Redis needed)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.connection import Connection

from featurestore.online import resp
from featurestore.online.codec import ViewSchema
from featurestore.online.writer import ViewWriter, encode_rows

# Text that is hard to frame: empty (max_size allows 0), CR LF, the key separators, non-ASCII of every width.
texts = st.text(alphabet=st.sampled_from(["a", "Z", "0", ":", "%", "=", "\r", "\n", "é", "€", "𝄞", " "]), max_size=12)


def packed(*words) -> bytes:
    """What redis-py sends for one command."""
    return b"".join(Connection().pack_command(*words))


@settings(deadline=None)
@given(st.lists(texts, max_size=20), st.lists(texts, min_size=1, max_size=4))
def test_hmget_commands_are_what_redis_py_sends(keys, fields):
    assert resp.hmget_commands(keys, fields) == b"".join(packed("HMGET", key, *fields) for key in keys)


@settings(deadline=None)
@given(st.lists(st.one_of(texts, st.none()), max_size=30))
def test_bulk_strings_frame_every_text_and_keep_nulls(values):
    framed = resp.bulk_strings(pa.array(values, pa.string())).to_pylist()
    assert framed == [None if v is None else resp.bulk(v).decode() for v in values]
    filled = resp.bulk_strings(pa.array([v or "" for v in values], pa.string()))
    rows = resp.RowBytes(filled)
    assert bytes(rows.span(0, len(values))) == b"".join(resp.bulk(v or "") for v in values)
    if len(values) > 2:
        assert bytes(rows.span(1, 2)) == resp.bulk(values[1] or "")


SCHEMA = ViewSchema(
    join_keys=(("customer_id", "str"),),
    timestamp="event_timestamp",
    created_at="loaded_at",
    features=(("orders", "int"), ("spend", "float"), ("tier", "str")),
)

rows_strategy = st.lists(
    st.tuples(
        texts,  # the entity
        st.integers(0, 10**6),  # seconds after 2024-01-01: the event timestamp
        st.one_of(st.none(), st.integers(0, 10**6)),  # created_at
        st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
        st.one_of(st.none(), st.floats(allow_nan=False)),
        st.one_of(st.none(), texts),
        st.integers(0, 10**9),  # lifetime in ms; 0 = no expiry
    ),
    min_size=1,
    max_size=40,
)


class ScriptLoader:
    """Stands in for the client in one place only: the write script's digest."""

    def script_load(self, script: str) -> str:
        return "f" * 40


class Lock:
    """Stands in for the sync lock: its key, value and fence key."""

    key, value, fence_key = "fs:t:sync-lock", "host pid 1 token 00", "fs:t:sync-lock:fence:00"


LOCK = Lock()


def encoded(rows):
    start = datetime(2024, 1, 1)
    batch = pa.record_batch(
        {
            "customer_id": pa.array([r[0] for r in rows], pa.string()),
            "event_timestamp": pa.array([start + timedelta(seconds=r[1]) for r in rows], pa.timestamp("us")),
            "loaded_at": pa.array([None if r[2] is None else start + timedelta(seconds=r[2]) for r in rows], pa.timestamp("us")),
            "orders": pa.array([r[3] for r in rows], pa.int64()),
            "spend": pa.array([r[4] for r in rows], pa.float64()),
            "tier": pa.array([r[5] for r in rows], pa.string()),
        }
    )
    return encode_rows(batch, SCHEMA, "fs:t:customer_stats:gen4:", pa.array([r[6] for r in rows], pa.int64()))


def as_text(rows, start: int, stop: int):
    """Rows `start` to `stop`: each one's key, fields as text (null = absent) and lifetime,
    in Python; and the field names."""
    keys = rows.keys.to_pylist()[start:stop]
    columns = [rows.timestamp, rows.created_at, *rows.features]
    names = [SCHEMA.timestamp, SCHEMA.created_at, *SCHEMA.feature_names]
    values = list(zip(*(c.to_pylist() for c in columns)))[start:stop]
    return keys, names, values, rows.expire_ms.to_pylist()[start:stop]


def a_slice(data, rows) -> tuple[int, int]:
    """Some run of the rows: the writer frames a batch a round trip at a time."""
    start = data.draw(st.integers(0, len(rows) - 1), label="start")
    return start, data.draw(st.integers(start + 1, len(rows)), label="stop")


@settings(max_examples=60, deadline=None)  # the first Arrow compute call of a process is slow
@given(rows_strategy, st.data())
def test_a_fresh_generation_is_written_with_hset_and_pexpire(rows, data):
    rows = encoded(rows)
    start, stop = a_slice(data, rows)
    writer = ViewWriter(client=ScriptLoader(), connection=None, schema=SCHEMA, fresh=True, lock=LOCK)
    round_trip = writer._plain_commands(rows, start, stop)
    expected, replies = [], 0
    keys, names, values, lifetimes = as_text(rows, start, stop)
    for key, row, lifetime in zip(keys, values, lifetimes):
        fields = [word for name, value in zip(names, row) if value is not None for word in (name, value)]
        expected.append(packed("HSET", key, *fields))
        replies += 1
        if lifetime:
            expected.append(packed("PEXPIRE", key, str(lifetime)))
            replies += 1
    assert b"".join(round_trip.payload) == b"".join(expected)
    assert (round_trip.rows, round_trip.replies) == (stop - start, replies)




@settings(max_examples=60, deadline=None)
@given(rows_strategy, st.integers(1, 7), st.data())
def test_checked_rows_are_evalsha_calls_of_the_write_script(rows, per_call, data):
    rows = encoded(rows)
    start, stop = a_slice(data, rows)
    writer = ViewWriter(client=ScriptLoader(), connection=None, schema=SCHEMA, fresh=False, lock=LOCK)
    writer.rows_per_script_call = per_call
    round_trip = writer._script_calls(rows, start, stop)
    header = [LOCK.value, "3", SCHEMA.timestamp, SCHEMA.created_at, *SCHEMA.feature_names]
    keys, _, values, lifetimes = as_text(rows, start, stop)
    expected = []
    for first in range(0, len(keys), per_call):
        calls = range(first, min(first + per_call, len(keys)))
        arguments = []
        for i in calls:
            timestamp, created, *features = values[i]
            present = "".join("0" if v is None else "1" for v in features)
            arguments += [str(lifetimes[i]), timestamp, created or "", present, *(v or "" for v in features)]
        expected.append(
            packed("EVALSHA", "f" * 40, str(len(calls) + 1), LOCK.key, *(keys[i] for i in calls), *header, *arguments)
        )
    assert b"".join(round_trip.payload) == b"".join(expected)
    assert (round_trip.rows, round_trip.replies) == (stop - start, len(expected))
