"""Writing one view's latest rows into Redis: framed at C speed, pipelined, never older over newer.

How a row is written depends on the generation it goes to:

* **A fresh generation** (a full sync): no key of it exists yet (its number was never used,
  and a view whose meta hash is lost has its orphaned keys removed first: see
  featurestore.online.state), no reader uses it, and the sync lock keeps every other writer
  out. There is nothing to compare with, so each row is a plain `HSET` and, for a view with a
  ttl, `PEXPIRE`.
* **The generation readers use** (an incremental sync): each row is checked against the
  stored one on the server, by a Lua script (WRITE_SCRIPT) that takes many rows per call, so
  nothing can slip between the check and the write.

Rows go out `rows_per_round_trip` at a time on one connection, framed by
featurestore.online.resp. One round trip stays in flight: the replies of the last one are read
only after the next one is sent, so the server works while fs frames rows and the warehouse
computes the next batch. A reply that is an error fails the write; the connection is then
dropped (featurestore.online.connection.checked_out), never reused with replies unread.

**Every round trip checks the sync lock on the server**, atomically with its writes: a sync
stopped past its lock's expiry (a paused process, a long GC, a stalled VM) must not write a
single key once another sync may have retired its generation. The write script checks the
lock first in each call. A fresh generation's plain commands go in a MULTI/EXEC that WATCHes
the lock and the sync's fence key; GUARD_SCRIPT, run after the WATCH, touches the fence when
the lock is not the sync's, and a touched (or changed, or expired) watched key makes EXEC
refuse the whole round trip. (A background flag, as the renewal thread keeps, is seconds too
late.)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Iterator, Union

from featurestore.errors import ProjectError
from featurestore.online import resp
from featurestore.online.codec import ViewSchema, encode_array
from featurestore.online.keys import entity_suffixes
from featurestore.online.state import LOCK_LOST

if TYPE_CHECKING:
    import pyarrow as pa
    import redis
    from redis.connection import Connection

    from featurestore.online.lock import SyncLock

# KEYS: the sync lock, then the entity hashes. ARGV: the lock's value, the number of features,
# the timestamp field, the created_at field ("" without one), the feature names; then for
# each key, in order: the remaining lifetime in ms (0 = none), the event timestamp, the
# created_at ("" = none), a 0/1 flag per feature (1 = not null), and one value per feature.
# Returns LOCK_LOST, writing nothing, when the lock is not the sync's.
#
# A stored row wins when its (timestamp, knowledge time) is greater, the knowledge time being
# created_at or, where that is null, the timestamp: the order the warehouse query picks the
# latest row in. Text order is time order because every timestamp has the same width. An
# equal row is written again (a re-run). The hash is replaced whole, so a feature that became
# null loses its field.
WRITE_SCRIPT = f"""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return '{LOCK_LOST}' end
local nfeatures = tonumber(ARGV[2])
local ts_field, created_field = ARGV[3], ARGV[4]
local width = 4 + nfeatures
local header = 4 + nfeatures
local written, skipped = 0, 0
for i = 2, #KEYS do
  local key = KEYS[i]
  local at = header + (i - 2) * width
  local ts, created = ARGV[at + 2], ARGV[at + 3]
  local stored = redis.call('HMGET', key, ts_field, created_field)
  local older = false
  if stored[1] then
    local known, stored_known = created ~= '' and created or ts, stored[2] or stored[1]
    older = ts < stored[1] or (ts == stored[1] and known < stored_known)
  end
  if older then
    skipped = skipped + 1
  else
    local fields = {{ts_field, ts}}
    if created ~= '' then
      fields[3] = created_field
      fields[4] = created
    end
    local present = ARGV[at + 4]
    for j = 1, nfeatures do
      if string.byte(present, j) == 49 then
        fields[#fields + 1] = ARGV[4 + j]
        fields[#fields + 1] = ARGV[at + 4 + j]
      end
    end
    if stored[1] then
      redis.call('DEL', key)
    end
    redis.call('HSET', key, unpack(fields))
    local lifetime = tonumber(ARGV[at + 1])
    if lifetime > 0 then
      redis.call('PEXPIRE', key, lifetime)
    end
    written = written + 1
  end
end
return {{written, skipped}}
"""

# KEYS: the sync lock, the sync's fence key. ARGV: the lock's value.
GUARD_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  redis.call('SET', KEYS[2], '1', 'PX', 60000)
end
return 1
"""

@dataclass(frozen=True)
class EncodedRows:
    """Rows of one view as the text Redis will hold, one Arrow array entry per row."""

    keys: "pa.Array"
    timestamp: "pa.Array"
    created_at: "pa.Array | None"
    """None for a view without created_at; null where a row has none."""
    features: list["pa.Array"]
    """In the order of the schema's features; null where the value is null (no field)."""
    expire_ms: "pa.Array"
    """How long each key should live, in ms; 0 for ever."""

    def __len__(self) -> int:
        return len(self.keys)


def encode_rows(
    batch: "pa.RecordBatch", schema: ViewSchema, base: str, expire_ms: "pa.Array"
) -> EncodedRows:
    """Encode the rows of `batch` (join keys not null), their keys starting with `base`."""
    import pyarrow.compute as pc

    suffixes = entity_suffixes(
        [k for k, _ in schema.join_keys], [batch[k] for k, _ in schema.join_keys], [t for _, t in schema.join_keys]
    )
    return EncodedRows(
        keys=pc.binary_join_element_wise(base, suffixes, ""),
        timestamp=encode_array(batch[schema.timestamp], "timestamp"),
        created_at=encode_array(batch[schema.created_at], "timestamp") if schema.created_at else None,
        features=[encode_array(batch[name], logical) for name, logical in schema.features],
        expire_ms=expire_ms,
    )


SCRIPT_ROW_WORDS = 4
"""Arguments of each row before its feature values: lifetime, timestamp, created_at, flags."""

Payload = list[Union[bytes, memoryview]]


@dataclass(frozen=True)
class _RoundTrip:
    payload: Payload
    rows: int
    replies: int
    retries: int = 0


MAX_REFUSALS = 5
"""Times a round trip refused while the lock is still the sync's is sent again: the renewal
thread renews the lock every LOCK_SECONDS / 3, far less often than round trips go."""


class ViewWriter:
    """Writes encoded rows of one view on one connection; counts what was written and what
    was older. Call `finish()` after the last `write()`: it reads the last replies."""

    rows_per_round_trip = 10_000
    rows_per_script_call = 500
    """Rows per call of the script: enough to pay little per call, few enough that one call
    holds the server for about a millisecond."""

    def __init__(
        self,
        client: "redis.Redis",
        connection: "Connection",
        schema: ViewSchema,
        fresh: bool,
        lock: "SyncLock",
        after_round_trip: Callable[[int], None] = lambda rows: None,
    ):
        self.connection = connection
        self.schema = schema
        self.fresh = fresh
        self.lock = lock
        self.after_round_trip = after_round_trip
        self.written = 0
        self.skipped_older = 0
        self._in_flight: deque[_RoundTrip] = deque()
        if fresh:
            self._frame = self._plain_commands
            # EVAL with the script's text, not EVALSHA: after a SCRIPT FLUSH, EVALSHA would
            # fail, touch nothing, and let the queued writes through whoever holds the lock.
            self._fence = (
                resp.command(("WATCH", lock.key, lock.fence_key))
                + resp.command(("EVAL", GUARD_SCRIPT, "2", lock.key, lock.fence_key, lock.value))
                + resp.command(("MULTI",)),
                resp.command(("EXEC",)),
            )
        else:
            self._frame = self._script_calls
            sha = client.script_load(WRITE_SCRIPT)
            header = [lock.value, str(len(schema.features)), schema.timestamp, schema.created_at or "", *schema.feature_names]
            self._script_words = (
                resp.bulk(sha), resp.bulk(lock.key), b"".join(resp.bulk(word) for word in header), len(header)
            )

    def write(self, rows: EncodedRows) -> None:
        step = self.rows_per_round_trip
        for start in range(0, len(rows), step):
            for round_trip in self._framed(rows, start, min(start + step, len(rows))):
                self._send(round_trip)

    def _framed(self, rows: EncodedRows, start: int, stop: int) -> Iterator[_RoundTrip]:
        """Rows `start` to `stop` framed; in smaller round trips where their text is too
        large for one Arrow string array (2 GiB: only with features of many kB each)."""
        import pyarrow as pa

        try:
            round_trip = self._frame(rows, start, stop)
        except pa.ArrowCapacityError:
            if stop - start == 1:
                raise ProjectError(
                    f"the row of {rows.keys[start]} is over 2 GiB as text, more than Redis takes in one "
                    "value (512 MB); set online: false on its view, or leave the large column out"
                ) from None
            middle = (start + stop) // 2
            yield from self._framed(rows, start, middle)
            yield from self._framed(rows, middle, stop)
            return
        yield round_trip

    def finish(self) -> None:
        while self._in_flight:
            self._collect_oldest()

    def _send(self, round_trip: _RoundTrip) -> None:
        payload = round_trip.payload
        if self.fresh:
            head, tail = self._fence
            payload = [head, *payload, tail]
        # No health check: with replies in flight, a PING's answer would be one of them.
        self.connection.send_packed_command(payload, check_health=False)
        self._in_flight.append(round_trip)
        while len(self._in_flight) > 1:
            self._collect_oldest()

    def _collect_oldest(self) -> None:
        """Read the replies of the oldest round trip in flight; raise if the server refused
        its writes because the lock is no longer the sync's."""
        round_trip = self._in_flight.popleft()
        read = self.connection.read_response  # raises on an error reply
        if self.fresh:
            # WATCH, the guard and MULTI; a QUEUED per command; then EXEC: None if refused.
            for _ in range(3 + round_trip.replies):
                read()
            executed = read()
            if executed is None:
                self._refused(round_trip)
                return
            failed = next((reply for reply in executed if isinstance(reply, Exception)), None)
            if failed is not None:
                raise failed
            self.written += round_trip.rows
        else:
            for reply in [read() for _ in range(round_trip.replies)]:
                if reply == LOCK_LOST:
                    raise self.lock.lost()
                written, skipped = reply
                self.written += written
                self.skipped_older += skipped
        self.after_round_trip(round_trip.rows)

    def _refused(self, round_trip: _RoundTrip) -> None:
        """EXEC refused a fresh generation's round trip: a watched key changed. When the lock
        is still the sync's, that was its own renewal, and the round trip (plain writes of
        keys no other round trip touches) is sent again; else the sync stops."""
        if round_trip.retries >= MAX_REFUSALS or not self.lock.held():
            raise self.lock.lost()
        self._send(replace(round_trip, retries=round_trip.retries + 1))

    def _plain_commands(self, rows: EncodedRows, start: int, stop: int) -> _RoundTrip:
        """`HSET` of the non-null fields, and `PEXPIRE` where the row has a lifetime."""
        import pyarrow as pa
        import pyarrow.compute as pc

        key = resp.bulk_strings(rows.keys[start:stop])
        fields = [(self.schema.timestamp, rows.timestamp[start:stop])]
        if rows.created_at is not None:
            fields.append((self.schema.created_at, rows.created_at[start:stop]))
        fields.extend((name, texts[start:stop]) for name, texts in zip(self.schema.feature_names, rows.features))
        words = pa.scalar(2, pa.int64())  # HSET and the key
        pairs = []
        for name, texts in fields:  # a null is no field: its pair is left out, and not counted
            words = pc.add(words, pc.multiply(pc.is_valid(texts).cast(pa.int64()), 2))
            pairs.append(resp.concat(resp.bulk(name), resp.bulk_strings(texts)).fill_null(""))
        expire_ms = rows.expire_ms[start:stop]
        lives = pc.greater(expire_ms, 0)
        pexpire = resp.concat(resp.command_head(3, "PEXPIRE"), key, resp.bulk_strings(expire_ms.cast(pa.string())))
        framed = resp.concat(
            "*", words.cast(pa.string()), "\r\n", resp.bulk("HSET"), key, *pairs, pc.if_else(lives, pexpire, "")
        )
        commands = (stop - start) + pc.sum(lives.cast(pa.int64())).as_py()
        return _RoundTrip([resp.RowBytes(framed).span(0, stop - start)], stop - start, commands)

    def _declared_keys(self, count: int, lock_key: bytes) -> bytes:
        """EVALSHA's key count and first key (the lock's; the `count` entity keys follow)."""
        return resp.bulk(str(count + 1)) + lock_key

    def _script_calls(self, rows: EncodedRows, start: int, stop: int) -> _RoundTrip:
        """`EVALSHA` of the write script, `rows_per_script_call` rows a call."""
        import pyarrow as pa
        import pyarrow.compute as pc

        n = stop - start
        empty = resp.bulk("")
        features = [texts[start:stop] for texts in rows.features]
        flags = [pc.if_else(pc.is_valid(texts), "1", "0") for texts in features]
        values = resp.concat(
            resp.bulk_strings(rows.expire_ms[start:stop].cast(pa.string())),
            resp.bulk_strings(rows.timestamp[start:stop]),
            resp.bulk_strings(rows.created_at[start:stop].fill_null("")) if rows.created_at is not None else empty,
            resp.bulk_strings(resp.concat(*flags)) if flags else empty,
            *[resp.bulk_strings(texts.fill_null("")) for texts in features],
        )
        keys, values = resp.RowBytes(resp.bulk_strings(rows.keys[start:stop])), resp.RowBytes(values)
        sha, lock_key, header, header_words = self._script_words
        payload: Payload = []
        for first in range(0, n, self.rows_per_script_call):
            last = min(first + self.rows_per_script_call, n)
            count = last - first
            words = 4 + count + header_words + count * (SCRIPT_ROW_WORDS + len(features))
            head = resp.command_head(words, "EVALSHA") + sha + self._declared_keys(count, lock_key)
            payload += [head, keys.span(first, last), header, values.span(first, last)]
        return _RoundTrip(payload, n, -(-n // self.rows_per_script_call))
