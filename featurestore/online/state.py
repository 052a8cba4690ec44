"""What Redis knows about each synced view, kept in a readable hash beside its entities, and
the life of a view's generations.

`<prefix>:<view>:meta` holds:

    generation          the keyspace readers use: entity keys are <prefix>:<view>:gen<N>:...
    last_generation     the newest generation ever started (a full sync takes the next one)
    pending_generation  a full sync writing a new generation; left behind only if it failed
    retired             generations no reader uses any more, whose keys are still to delete
    watermark           the greatest created_at (or timestamp) of the rows synced so far
    watermark_column    which column the watermark is of
    valid_under         the ttl and clock the watermark's rows were judged valid under: when
                        either changes, rows behind the watermark may change from expired to
                        valid (or back), so the next sync is full (online/sync.py)
    schema              JSON: join keys, timestamp fields, and each feature's type
    synced_at           when the last sync of the view finished (wall clock, UTC)
    last_sync           full or incremental
    pushed_since        set by a push before it appends rows to the landing table, cleared
                        once they are in Redis: the least knowledge time of rows that may be
                        in the landing table but not in Redis (a push killed in between), from
                        which the next sync reads, whatever its watermark

Because it lives in Redis, losing Redis (it keeps nothing on disk) also loses the watermark,
and the next sync is complete by itself.

A generation is started (`begin_generation`), written, published (`record_sync`) and, once
readers were switched away from it, retired and deleted (`remove_retired`). Every step that
changes the meta hash or deletes keys is a small script that first checks the sync still
holds its lock, and that the meta hash is as the sync expects:

- a sync stalled past its lock's expiry must not start, publish or delete anything over the
  sync that took the lock;
- a meta hash that vanished mid-sync (deleted, or evicted under a maxmemory policy) must not
  be brought back without `last_generation`, or a later full sync would take a generation
  number still in use - and a full sync writes its generation with plain HSETs, trusting it
  to be empty;
- the generation readers use is never deleted.

A retired generation stays listed until its keys are gone, so a cleanup that failed (a lost
connection, a killed process) is finished by the next sync. A view without a meta hash has
its remaining keys deleted as orphans before it starts again at generation 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from string import Template
from typing import TYPE_CHECKING, Iterator

from featurestore.online.cluster import is_cluster
from featurestore.online.codec import ViewSchema
from featurestore.online.connection import ViewStateChanged
from featurestore.online.keys import Keyspace

if TYPE_CHECKING:
    import redis

    from featurestore.online.connection import OnlineLocation
    from featurestore.online.lock import SyncLock

UNLINK_BATCH = 1000
"""Keys per guarded UNLINK: one script call takes them all as arguments."""
SCAN_COUNT = 5000


class SyncMode(str, Enum):
    FULL = "full"
    """Every entity into a fresh generation, which readers then switch to at once."""
    INCREMENTAL = "incremental"
    """The rows written since the watermark, into the generation readers use."""


class Meta:
    """The fields of a view's meta hash (see the module's docstring)."""

    GENERATION = "generation"
    LAST_GENERATION = "last_generation"
    PENDING_GENERATION = "pending_generation"
    RETIRED = "retired"
    WATERMARK = "watermark"
    WATERMARK_COLUMN = "watermark_column"
    VALID_UNDER = "valid_under"
    SCHEMA = "schema"
    SYNCED_AT = "synced_at"
    LAST_SYNC = "last_sync"
    PUSHED_SINCE = "pushed_since"


def _lua(template: str) -> str:
    """A script with the meta hash's field names filled in (`$generation`, ...)."""
    return Template(template).substitute(
        {name.lower(): value for name, value in vars(Meta).items() if name.isupper()}
    )


@dataclass(frozen=True)
class ViewState:
    recorded: bool
    """Whether the view has a meta hash at all; without one, no reader can find its keys."""
    generation: int | None
    pending_generation: int | None
    watermark: datetime | None
    schema: ViewSchema | None
    pushed_since: datetime | None = None
    """Rows from this knowledge time on may be in the landing table and not in Redis."""
    valid_under: str | None = None
    """Meta.VALID_UNDER as the last sync recorded it (None from an fs that did not)."""


def read_state(client: "redis.Redis", keyspace: Keyspace, view: str) -> ViewState:
    fields = client.hgetall(keyspace.meta_key(view))

    def number(name: str) -> int | None:
        return int(fields[name]) if fields.get(name) else None

    return ViewState(
        recorded=bool(fields),
        generation=number(Meta.GENERATION),
        pending_generation=number(Meta.PENDING_GENERATION),
        watermark=datetime.fromisoformat(fields[Meta.WATERMARK]) if fields.get(Meta.WATERMARK) else None,
        schema=ViewSchema.from_json(fields[Meta.SCHEMA]) if fields.get(Meta.SCHEMA) else None,
        pushed_since=datetime.fromisoformat(fields[Meta.PUSHED_SINCE]) if fields.get(Meta.PUSHED_SINCE) else None,
        valid_under=fields.get(Meta.VALID_UNDER),
    )


def unpublished_views(client: "redis.Redis", location: "OnlineLocation", views: list[str]) -> list[str]:
    """The views of `views` with no published generation in Redis (never synced, or a Redis
    that restarted empty), in one round trip; raises OnlineStoreError unless Redis answers."""
    from featurestore.online.connection import online_errors

    with online_errors(location, "checking that it answers"):
        pipeline = client.pipeline(transaction=False)
        for view in views:
            pipeline.hexists(location.keyspace.meta_key(view), Meta.GENERATION)
        published = pipeline.execute() if views else [client.ping()]
    return [view for view, found in zip(views, published) if not found]


def scan_entity_keys(client: "redis.Redis", keyspace: Keyspace, view: str, generation: int | None = None) -> Iterator[str]:
    """Every entity key of one generation of `view` in Redis, or of every generation."""
    return client.scan_iter(match=keyspace.entity_pattern(view, generation), count=SCAN_COUNT)


# Every script takes KEYS = (the meta hash, the sync lock, ...) and ARGV = (the lock's value,
# ...), and returns LOCK_LOST when the lock is not this sync's.
LOCK_LOST = "lock lost"
_HEAD = f"""
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return '{LOCK_LOST}' end
local function retire(generation)
  local listed = redis.call('HGET', KEYS[1], '$retired')
  redis.call('HSET', KEYS[1], '$retired', listed and (listed .. ' ' .. generation) or generation)
end
"""

# A failed full sync left its generation pending: retire it (this sync holds the lock, so no
# one is writing it any more). Does nothing to a view without a meta hash.
_SETTLE = _lua(_HEAD + """
local pending = redis.call('HGET', KEYS[1], '$pending_generation')
if pending then
  retire(pending)
  redis.call('HDEL', KEYS[1], '$pending_generation')
end
return 'settled'
""")

# ARGV[2]: 1 if the meta hash should exist, else 0. The next generation is past every number
# the hash knows of, and is marked pending until it is published.
_BEGIN = _lua(_HEAD + """
if redis.call('EXISTS', KEYS[1]) ~= tonumber(ARGV[2]) then return 'meta changed' end
local highest = 0
for _, field in ipairs({'$last_generation', '$generation', '$pending_generation'}) do
  highest = math.max(highest, tonumber(redis.call('HGET', KEYS[1], field) or '0'))
end
redis.call('HSET', KEYS[1], '$last_generation', highest + 1, '$pending_generation', highest + 1)
return tostring(highest + 1)
""")

# ARGV[2]: the field that must hold the generation written (pending_generation for a full
# sync, generation for an incremental one); ARGV[3]: that generation; ARGV[4]: the fields to
# delete, space-separated; then field/value pairs to set. A full sync retires the generation
# readers used until now.
_PUBLISH = _lua(_HEAD + """
if redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[3] then return 'meta changed' end
local previous = redis.call('HGET', KEYS[1], '$generation')
if ARGV[2] == '$pending_generation' and previous and previous ~= ARGV[3] then retire(previous) end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
for field in string.gmatch(ARGV[4], '%S+') do redis.call('HDEL', KEYS[1], field) end
return 'published'
""")

# KEYS[3...]: keys to delete. ARGV[2]: their generation, or '' for orphans of a view that
# must have no meta hash. Never deletes keys of the generation readers use or of the one
# being written.
_UNLINK = _lua(_HEAD + """
if ARGV[2] == '' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return 'meta changed' end
else
  local fields = redis.call('HMGET', KEYS[1], '$generation', '$pending_generation')
  if fields[1] == ARGV[2] or fields[2] == ARGV[2] then return 'meta changed' end
end
if #KEYS == 2 then return '0' end
return tostring(redis.call('UNLINK', unpack(KEYS, 3)))
""")

# ARGV[2]: a retired generation whose keys are all deleted: no longer listed.
_FORGET = _lua(_HEAD + """
local kept = {}
for generation in string.gmatch(redis.call('HGET', KEYS[1], '$retired') or '', '%S+') do
  if generation ~= ARGV[2] then kept[#kept + 1] = generation end
end
if #kept == 0 then redis.call('HDEL', KEYS[1], '$retired')
else redis.call('HSET', KEYS[1], '$retired', table.concat(kept, ' ')) end
return 'forgotten'
""")


# Deletes the meta hash; returns how many keys were deleted (0 or 1).
_DROP = _lua(_HEAD + """
return tostring(redis.call('DEL', KEYS[1]))
""")


# ARGV[2]: a knowledge time (ISO text, which sorts as time): the view's pushed_since becomes
# the lesser of it and what it was. Returns what it was ('' for nothing).
_MARK_PUSHED = _lua(_HEAD + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'meta changed' end
local before = redis.call('HGET', KEYS[1], '$pushed_since') or ''
if before == '' or ARGV[2] < before then redis.call('HSET', KEYS[1], '$pushed_since', ARGV[2]) end
return before
""")
_CLEAR_PUSHED = _lua(_HEAD + """
if redis.call('HGET', KEYS[1], '$pushed_since') == ARGV[2] then redis.call('HDEL', KEYS[1], '$pushed_since') end
return 'cleared'
""")


def mark_pushed(client: "redis.Redis", keyspace: Keyspace, view: str, since: datetime, lock: "SyncLock") -> bool:
    """Before a push appends rows known from `since` on to the landing table: the next sync
    reads from there. Returns whether an earlier push had left a mark (it died unfinished)."""
    outcome = _run(client, _MARK_PUSHED, keyspace, view, lock, since.isoformat(timespec="microseconds"))
    if outcome == "meta changed":
        raise ViewStateChanged(_vanished(keyspace, view))
    return outcome != ""


def clear_pushed(client: "redis.Redis", keyspace: Keyspace, view: str, since: datetime, lock: "SyncLock") -> None:
    """After a push wrote its rows to Redis: its mark is no longer needed."""
    _run(client, _CLEAR_PUSHED, keyspace, view, lock, since.isoformat(timespec="microseconds"))


def _run(client: "redis.Redis", script: str, keyspace: Keyspace, view: str, lock: "SyncLock", *args, keys=()) -> str:
    """Run a guarded script; raises SyncLockedError when the lock was lost."""
    outcome = client.eval(script, 2 + len(keys), keyspace.meta_key(view), lock.key, *keys, lock.value, *args)
    if outcome == LOCK_LOST:
        raise lock.lost()
    return outcome


def settle(client: "redis.Redis", keyspace: Keyspace, view: str, lock: "SyncLock") -> None:
    """Retire the generation a failed full sync left pending."""
    _run(client, _SETTLE, keyspace, view, lock)


def begin_generation(client: "redis.Redis", keyspace: Keyspace, view: str, recorded: bool, lock: "SyncLock") -> int:
    """A generation number never used before, marked pending until it is published.

    `recorded` is whether this sync found the view's meta hash; raises ViewStateChanged if
    that is no longer so.
    """
    outcome = _run(client, _BEGIN, keyspace, view, lock, int(recorded))
    if outcome != "meta changed":
        return int(outcome)
    if recorded:
        raise ViewStateChanged(_vanished(keyspace, view))
    raise ViewStateChanged(
        f"the meta hash {keyspace.meta_key(view)} appeared during the sync, though the sync lock "
        "was held: is another program writing under this key prefix?"
    )


def record_sync(
    client: "redis.Redis",
    keyspace: Keyspace,
    view: str,
    mode: SyncMode,
    generation: int,
    schema: ViewSchema,
    watermark: datetime | None,
    lock: "SyncLock",
    valid_under: str = "",
) -> None:
    """Record a finished sync in one atomic step; for a full sync this switches every reader
    to `generation` at once, and retires the one they used. Raises SyncLockedError if `lock`
    is no longer held, and ViewStateChanged if the meta hash no longer names `generation` as
    this sync's."""
    mode = SyncMode(mode)
    fields = {
        Meta.GENERATION: generation,
        Meta.SCHEMA: schema.to_json(),
        Meta.WATERMARK_COLUMN: schema.created_at or schema.timestamp,
        Meta.SYNCED_AT: datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds"),
        Meta.LAST_SYNC: mode.value,
        Meta.VALID_UNDER: valid_under,
    }
    if watermark is not None:
        fields[Meta.WATERMARK] = watermark.isoformat(timespec="microseconds")
    # The rows a killed push left in the landing table were read by this sync.
    removed = [Meta.PENDING_GENERATION, Meta.PUSHED_SINCE, *([] if watermark else [Meta.WATERMARK])]
    pairs = [word for field, value in fields.items() for word in (field, value)]
    checked = Meta.PENDING_GENERATION if mode is SyncMode.FULL else Meta.GENERATION
    if _run(client, _PUBLISH, keyspace, view, lock, checked, generation, " ".join(removed), *pairs) != "published":
        raise ViewStateChanged(_vanished(keyspace, view))


def remove_retired(client: "redis.Redis", keyspace: Keyspace, view: str, lock: "SyncLock") -> int:
    """Delete the keys of every retired generation of `view`; returns how many."""
    removed = 0
    retired = (client.hget(keyspace.meta_key(view), Meta.RETIRED) or "").split()
    if retired and is_cluster(client):
        removed = _sweep_on_cluster(client, keyspace, view, lock)
        for generation in retired:
            _run(client, _FORGET, keyspace, view, lock, generation)
        return removed
    for generation in retired:
        removed += _unlink_matching(client, keyspace, view, lock, keyspace.entity_pattern(view, int(generation)), generation)
        _run(client, _FORGET, keyspace, view, lock, generation)
    return removed


def remove_orphans(client: "redis.Redis", keyspace: Keyspace, view: str, lock: "SyncLock") -> int:
    """Delete the entity keys of every generation of a view that has no meta hash (it was
    deleted, or evicted by a maxmemory policy). No reader can find them, and generation
    numbers start again at 1 without it, so a new full sync would write over them."""
    return _unlink_matching(client, keyspace, view, lock, keyspace.entity_pattern(view), "")


def remove_view(client: "redis.Redis", keyspace: Keyspace, view: str, lock: "SyncLock") -> int:
    """Delete everything Redis holds of `view` (a view now `online: false`): its meta hash
    first, so readers find no generation at once, then every entity key; returns how many
    keys. 0 when it has no meta hash (nothing of it was ever synced here, or it is gone)."""
    if _run(client, _DROP, keyspace, view, lock) == "0":
        return 0
    return 1 + remove_orphans(client, keyspace, view, lock)


def _unlink_matching(
    client: "redis.Redis", keyspace: Keyspace, view: str, lock: "SyncLock", pattern: str, generation: str
) -> int:
    removed = 0
    for batch in _batches(client.scan_iter(match=pattern, count=SCAN_COUNT), UNLINK_BATCH):
        removed += _unlink(client, keyspace, view, lock, batch, generation)
    return removed


def _sweep_on_cluster(client: "redis.Redis", keyspace: Keyspace, view: str, lock: "SyncLock") -> int:
    """On a cluster, delete the keys of every generation of `view` neither in use nor being
    written, in one scan of each node (a scan reads every key whatever its pattern, so this
    costs what one retired generation's does). That includes keys a writer stalled past its
    lock left in a generation already retired and forgotten: on a cluster no entity write
    can check the lock atomically (docs/online-store.md)."""
    live = {g for g in client.hmget(keyspace.meta_key(view), Meta.GENERATION, Meta.PENDING_GENERATION) if g}
    stem = len(keyspace.entity_base(view, 0)) - 2  # up to and with "gen"
    removed = 0
    for batch in _batches(client.scan_iter(match=keyspace.entity_pattern(view), count=SCAN_COUNT), UNLINK_BATCH):
        dead: dict[str, list[str]] = {}
        for key in batch:
            generation = key[stem:].split(":", 1)[0]
            if generation not in live:
                dead.setdefault(generation, []).append(key)
        for generation, keys in dead.items():
            removed += _unlink(client, keyspace, view, lock, keys, generation)
    return removed


def _unlink(client: "redis.Redis", keyspace: Keyspace, view: str, lock: "SyncLock", batch: list[str], generation: str) -> int:
    """Delete `batch`, keys of `generation` (or orphans: ''), once the guard script agreed."""
    cluster = is_cluster(client)
    # A script's keys share a slot on a cluster: there the script checks alone, and the
    # keys go after it (no other sync runs between: this one holds the lock).
    outcome = _run(client, _UNLINK, keyspace, view, lock, generation, keys=() if cluster else batch)
    if cluster and outcome == "0":
        outcome = str(client.unlink(*batch))
    if outcome == "meta changed" and generation:
        raise ViewStateChanged(
            f"the meta hash {keyspace.meta_key(view)} names generation {generation} as in use "
            "again, though it was retired: is another program writing under this key prefix?"
        )
    if outcome == "meta changed":
        raise ViewStateChanged(
            f"the meta hash {keyspace.meta_key(view)} appeared while fs deleted the keys a lost "
            "one had left, though the sync lock was held: is another program writing under this key prefix?"
        )
    return int(outcome)


def _batches(keys: Iterator[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for key in keys:
        batch.append(key)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _vanished(keyspace: Keyspace, view: str) -> str:
    return (
        f"the meta hash {keyspace.meta_key(view)} changed during the sync (deleted, or evicted by "
        "a maxmemory policy: give fs's Redis noeviction or a volatile-* policy), so nothing was "
        "published for the view"
    )
