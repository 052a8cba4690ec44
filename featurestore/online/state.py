"""What Redis knows about each synced view, kept in a readable hash beside its entities.

`<prefix>:<view>:meta` holds:

    generation          the keyspace readers use: entity keys are <prefix>:<view>:gen<N>:...
    last_generation     the newest generation ever started (a full sync takes the next one)
    pending_generation  a full sync writing a new generation; left behind only if it failed
    watermark           the greatest created_at (or timestamp) of the rows synced so far
    watermark_column    which column the watermark is of
    schema              JSON: join keys, timestamp fields, and each feature's type
    synced_at           when the last sync of the view finished (wall clock, UTC)
    last_sync           full or incremental

Because it lives in Redis, losing Redis (it keeps nothing on disk) also loses the watermark,
and the next sync is complete by itself.

Starting a generation and publishing one are small scripts that first check the meta hash is
what this sync left there. A meta hash that vanished mid-sync (deleted, or evicted under a
maxmemory policy) would otherwise be recreated without `last_generation`, and a later full
sync would take a generation number still in use; and a sync that lost its lock must not
publish over the sync that took it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterable

from featurestore.online.layout import Keyspace, ViewSchema

if TYPE_CHECKING:
    import redis

    from featurestore.online.lock import SyncLock


@dataclass(frozen=True)
class ViewState:
    recorded: bool
    """Whether the view has a meta hash at all; without one, no reader can find its keys."""
    generation: int | None
    pending_generation: int | None
    watermark: datetime | None
    schema: ViewSchema | None


def read_state(client: "redis.Redis", keyspace: Keyspace, view: str) -> ViewState:
    fields = client.hgetall(keyspace.meta_key(view))

    def number(name: str) -> int | None:
        return int(fields[name]) if fields.get(name) else None

    return ViewState(
        recorded=bool(fields),
        generation=number("generation"),
        pending_generation=number("pending_generation"),
        watermark=datetime.fromisoformat(fields["watermark"]) if fields.get("watermark") else None,
        schema=ViewSchema.from_json(fields["schema"]) if fields.get("schema") else None,
    )


class ViewStateChanged(Exception):
    """The view's meta hash is not as this sync left it: nothing was started or published."""


# KEYS: the meta hash. ARGV: 1 if the meta hash should exist, else 0. The next generation is
# past every number the hash knows of, and is marked pending until it is published.
_BEGIN = """
if redis.call('EXISTS', KEYS[1]) ~= tonumber(ARGV[1]) then return -1 end
local highest = 0
for _, field in ipairs({'last_generation', 'generation', 'pending_generation'}) do
  highest = math.max(highest, tonumber(redis.call('HGET', KEYS[1], field) or '0'))
end
redis.call('HSET', KEYS[1], 'last_generation', highest + 1, 'pending_generation', highest + 1)
return highest + 1
"""

# KEYS: the meta hash, the sync lock. ARGV: the lock's value, the field that must hold the
# generation written (pending_generation for a full sync, generation for an incremental one),
# that generation, the fields to delete as a space-separated list, then field/value pairs.
_PUBLISH = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 'lock lost' end
if redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[3] then return 'meta changed' end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
for field in string.gmatch(ARGV[4], '%S+') do redis.call('HDEL', KEYS[1], field) end
return 'published'
"""


def begin_generation(client: "redis.Redis", keyspace: Keyspace, view: str, recorded: bool) -> int:
    """A generation number never used before, marked pending until it is published.

    `recorded` is whether this sync found the view's meta hash; raises ViewStateChanged if
    that is no longer so.
    """
    generation = client.eval(_BEGIN, 1, keyspace.meta_key(view), int(recorded))
    if generation == -1 and recorded:
        raise ViewStateChanged(_changed(keyspace, view, "disappeared"))
    if generation == -1:
        raise ViewStateChanged(
            f"the meta hash {keyspace.meta_key(view)} appeared during the sync, though the sync lock "
            "was held: is another program writing under this key prefix?"
        )
    return generation


def record_sync(
    client: "redis.Redis",
    keyspace: Keyspace,
    view: str,
    mode: str,
    generation: int,
    schema: ViewSchema,
    watermark: datetime | None,
    lock: "SyncLock",
) -> None:
    """Record a finished sync in one atomic step; for a full sync this switches every reader
    to `generation` at once. Raises SyncLockedError if `lock` is no longer held, and
    ViewStateChanged if the meta hash no longer names `generation` as this sync's."""
    fields = {
        "generation": generation,
        "schema": schema.to_json(),
        "watermark_column": schema.created_at or schema.timestamp,
        "synced_at": datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds"),
        "last_sync": mode,
    }
    if watermark is not None:
        fields["watermark"] = watermark.isoformat(timespec="microseconds")
    removed = "pending_generation" + ("" if watermark else " watermark")
    pairs = [word for field, value in fields.items() for word in (field, value)]
    checked = "pending_generation" if mode == "full" else "generation"
    outcome = client.eval(
        _PUBLISH, 2, keyspace.meta_key(view), lock.key, lock.value, checked, generation, removed, *pairs
    )
    if outcome == "lock lost":
        raise lock.lost()
    if outcome != "published":
        raise ViewStateChanged(_changed(keyspace, view, "changed"))


def _changed(keyspace: Keyspace, view: str, how: str) -> str:
    return (
        f"the meta hash {keyspace.meta_key(view)} {how} during the sync (deleted, or evicted by "
        "a maxmemory policy: give fs's Redis noeviction or a volatile-* policy), so nothing was "
        "published for the view"
    )


def remove_generations(client: "redis.Redis", keyspace: Keyspace, view: str, generations: Iterable[int | None]) -> int:
    """Delete every entity key of `view` in `generations` (None is skipped); returns how many."""
    return sum(
        _unlink_matching(client, keyspace.entity_pattern(view, generation))
        for generation in {g for g in generations if g is not None}
    )


def remove_orphans(client: "redis.Redis", keyspace: Keyspace, view: str) -> int:
    """Delete the entity keys of every generation of a view that has no meta hash (it was
    deleted, or evicted by a maxmemory policy). No reader can find them, and generation
    numbers start again at 1 without it, so a new full sync would write over them."""
    return _unlink_matching(client, keyspace.entity_pattern(view))


def _unlink_matching(client: "redis.Redis", pattern: str) -> int:
    removed, batch = 0, []
    for key in client.scan_iter(match=pattern, count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            removed += client.unlink(*batch)
            batch = []
    if batch:
        removed += client.unlink(*batch)
    return removed
