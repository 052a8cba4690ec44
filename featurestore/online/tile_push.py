"""`fs push` to an aggregation view: each event joins its entity's raw events and updates the
tiles it falls in, at once (the streaming path).

The push holds the project's lock (featurestore.online.push), so no sync or other push writes
the view meanwhile: the tiles an event falls in are read, folded with the pushed events here
(featurestore.online.tiles `tile_updates`, exact in Python), and written back by one script
per entity, which first checks the lock is still the push's (on a single server), then adds
the events, writes the tiles, trims events and tiles older than the longest window and
extends the keys' lifetime: a reader sees an entity before the push or after it, never a
tile without its events.

Which events go to Redis: those valid at now (event time and knowledge time at or before it,
as a sync reads them; a later one is kept in the landing table only, for a later sync) and
inside the longest window (an older one counts in no window any more).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from featurestore.online.cluster import is_cluster
from featurestore.online.codec import ViewSchema, encode_value
from featurestore.online.keys import entity_suffix
from featurestore.online.state import LOCK_LOST
from featurestore.online.tile_sync import layout_of
from featurestore.online.tiles import (
    SECOND_US,
    event_member,
    events_key,
    micros,
    tile_field,
    tile_start,
    tile_updates,
    tiles_key,
)

if TYPE_CHECKING:
    import pyarrow as pa
    import redis

    from featurestore.catalog import FeatureView
    from featurestore.online.lock import SyncLock

# KEYS: the entity's events and tiles (one slot: their hash tag), then the sync lock (not on
# a cluster, where it lives in another slot). ARGV: the lock's value, the lifetime in ms (0:
# none), the least score still in the longest window, the number of members, score/member
# pairs, the number of tiles, field/text pairs, then stale tile fields to delete.
PUSH_SCRIPT = f"""
if #KEYS == 3 and redis.call('GET', KEYS[3]) ~= ARGV[1] then return '{LOCK_LOST}' end
local at = 4
local members = tonumber(ARGV[at])
if members > 0 then redis.call('ZADD', KEYS[1], unpack(ARGV, at + 1, at + 2 * members)) end
at = at + 2 * members + 1
local tiles = tonumber(ARGV[at])
if tiles > 0 then redis.call('HSET', KEYS[2], unpack(ARGV, at + 1, at + 2 * tiles)) end
at = at + 2 * tiles + 1
if at <= #ARGV then redis.call('HDEL', KEYS[2], unpack(ARGV, at, #ARGV)) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
local lifetime = tonumber(ARGV[2])
if lifetime > 0 then
  for _, key in ipairs({{KEYS[1], KEYS[2]}}) do
    local left = redis.call('PTTL', key)
    if left >= 0 and left < lifetime then redis.call('PEXPIRE', key, lifetime) end
    if left == -1 then redis.call('PEXPIRE', key, lifetime) end
  end
end
return members
"""


@dataclass
class PushedEvents:
    """What a push writes to Redis: per entity suffix, its events (ts_us, ts, known, values)."""

    entities: dict[str, list[tuple[int, str, str, list[Any]]]]
    not_yet_valid: int
    expired: int


def plan_events(view: "FeatureView", schema: ViewSchema, rows: "pa.Table", now: datetime) -> PushedEvents:
    """The pushed events Redis takes at `now`, grouped by entity; counting the others."""
    layout = layout_of(view, schema)
    now_us, low = micros(now), micros(now) - layout.longest_us
    entities: dict[str, list] = {}
    not_yet, expired = 0, 0
    keys = list(view.join_keys)
    for row in rows.to_pylist():
        ts = _naive(row[view.timestamp])
        known = row.get(view.created_at) if view.created_at else None
        known = ts if known is None else _naive(known)
        ts_us = micros(ts)
        if ts_us > now_us or micros(known) > now_us:
            not_yet += 1
            continue
        if ts_us <= low:
            expired += 1
            continue
        values = [row[c] for c in layout.columns]
        plain = [v if v is None or isinstance(v, (bool, int, float, str, Decimal)) else encode_value(v) for v in values]
        suffix = entity_suffix(keys, [row[k] for k in keys])
        entities.setdefault(suffix, []).append((ts_us, encode_value(ts), encode_value(known), plain))
    return PushedEvents(entities, not_yet, expired)


def write_pushed(
    client: "redis.Redis", view: "FeatureView", schema: ViewSchema, base: str, pushed: PushedEvents,
    lock: "SyncLock", now: datetime, clock_moves: bool,
) -> int:
    """Write the planned events and their tiles; returns the entities written."""
    layout = layout_of(view, schema)
    now_us = micros(now)
    low = now_us - layout.longest_us
    suffixes = list(pushed.entities)
    if not suffixes:
        return 0
    read = client.pipeline(transaction=False)
    fields_of = {}
    for suffix in suffixes:
        fields = sorted({_field(size, ts_us) for ts_us, *_ in pushed.entities[suffix] for size in layout.sizes_us})
        fields_of[suffix] = fields
        if fields:  # none where the sync left every tile size out (tile_sync._sparse_sizes)
            read.hmget(tiles_key(base, suffix), fields)
        read.hkeys(tiles_key(base, suffix))
    replies = iter(read.execute())
    cluster = is_cluster(client)
    token = os.urandom(6).hex()
    write = client.pipeline(transaction=False)
    for suffix in suffixes:
        stored = dict(zip(fields_of[suffix], next(replies))) if fields_of[suffix] else {}
        existing = next(replies)
        events = pushed.entities[suffix]
        updates = tile_updates(layout, stored, events)
        stale = [f for f in existing if _tile_end_us(f) <= low and f not in updates]
        newest = max(ts_us for ts_us, *_ in events)
        lifetime = max(1, (newest + layout.longest_us - now_us + now_us % 1000) // 1000 + 1) if clock_moves else 0
        members = [w for n, (ts_us, ts, known, values) in enumerate(events)
                   for w in (ts_us, event_member(ts, known, f"p{token}.{n}", [_text(v) for v in values]))]
        keys = [events_key(base, suffix), tiles_key(base, suffix), *([] if cluster else [lock.key])]
        args = [lock.value, lifetime, low + 1, len(events), *members, len(updates),
                *[w for pair in updates.items() for w in pair], *stale]
        write.execute_command("EVAL", PUSH_SCRIPT, len(keys), *keys, *args)
    for outcome in write.execute():
        if outcome == LOCK_LOST:
            raise lock.lost()
    return len(suffixes)


def _naive(value: date) -> datetime:
    """A timestamp (or date) as a naive UTC datetime."""
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    return datetime.fromisoformat(encode_value(value))


def _field(size: int, ts_us: int) -> str:
    return tile_field(size, tile_start(ts_us, size))


def _tile_end_us(field: str) -> int:
    """The end of a tile from its field (`3600s@2024-05-01T13:00:00`)."""
    size, _, start = field.partition("@")
    return micros(datetime.fromisoformat(start)) + int(size.rstrip("s")) * SECOND_US


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return encode_value(value)
