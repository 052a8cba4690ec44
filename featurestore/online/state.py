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
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterable

from featurestore.online.layout import Keyspace, ViewSchema

if TYPE_CHECKING:
    import redis


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


def begin_generation(client: "redis.Redis", keyspace: Keyspace, view: str) -> int:
    """A generation number never used before, marked pending until it is published."""
    meta = keyspace.meta_key(view)
    generation = client.hincrby(meta, "last_generation", 1)
    client.hset(meta, "pending_generation", generation)
    return generation


def record_sync(
    client: "redis.Redis",
    keyspace: Keyspace,
    view: str,
    mode: str,
    generation: int,
    schema: ViewSchema,
    watermark: datetime | None,
) -> None:
    """Record a finished sync in one atomic step; for a full sync this switches every reader
    to `generation` at once."""
    fields = {
        "generation": generation,
        "schema": schema.to_json(),
        "watermark_column": schema.created_at or schema.timestamp,
        "synced_at": datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds"),
        "last_sync": mode,
    }
    if watermark is not None:
        fields["watermark"] = watermark.isoformat(timespec="microseconds")
    pipe = client.pipeline(transaction=True)
    pipe.hset(keyspace.meta_key(view), mapping=fields)
    pipe.hdel(keyspace.meta_key(view), "pending_generation", *([] if watermark else ["watermark"]))
    pipe.execute()


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
