"""`fs sync`: the latest row of every entity of every online view, from the warehouse to Redis.

For each view: read its state in Redis (featurestore.online.state); choose a full or an
incremental sync; stream the latest rows (sql.semantics.latest_values_expression at the project's
"now", since the watermark when incremental; pushed rows in the view's landing table count,
see featurestore.online.push); drop rows with a null join key and rows already
past their ttl; write the rest (featurestore.online.writer: plain commands into a full sync's
fresh generation, a server-side check against the stored row otherwise);
and only then record the watermark - for a full sync, in the same step that switches readers
to the freshly written generation, whose predecessor is then deleted.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

from featurestore.catalog import Catalog, FeatureView
from featurestore.console import Console, plural
from featurestore.engines.base import Warehouse, reading_views
from featurestore.sql.declared_columns import checked_view
from featurestore.errors import FeatureStoreError, ProjectError, SyncIncomplete, WarehouseError
from featurestore.online.codec import ViewSchema
from featurestore.online.cluster_reader import wait_for_readers
from featurestore.online.cluster_writer import view_writer
from featurestore.online.connection import OnlineLocation, online_errors, open_client
from featurestore.online.keys import Keyspace
from featurestore.online.landing import existing_landing
from featurestore.online.lock import SyncLock
from featurestore.online.state import (
    SyncMode,
    ViewState,
    begin_generation,
    read_state,
    record_sync,
    remove_orphans,
    remove_retired,
    remove_view,
    settle,
)
from featurestore.online.tile_sync import aggregation_schema, is_aggregation, with_untiled, write_events
from featurestore.online.validity import SyncClock, remaining_lifetimes_ms
from featurestore.online.writer import ViewWriter, encode_rows
from featurestore.sql.expressions import columns_probe, render
from featurestore.sql.semantics import WATERMARK, latest_values_expression

if TYPE_CHECKING:
    import pyarrow as pa
    import redis

REBATCH_ROWS = 20_000
OFFLINE = "online: false"
"""The reason of a view's result when the sync removed its online data."""
LOCK_WAIT_SECONDS = 30.0
"""How long a sync waits in line behind pushes for the project's lock (a running sync it
does not wait for: it exits 6 at once, as the sync running does the work)."""


@dataclass
class ViewSyncResult:
    """What one view's sync did; `error` says why it failed, if it did."""

    view: str
    mode: SyncMode | None
    reason: str
    generation: int | None
    rows_read: int = 0
    """Latest rows read from the warehouse (one per entity with new rows)."""
    keys_written: int = 0
    skipped_older: int = 0
    """Rows not written because Redis already held a newer one."""
    expired: int = 0
    """Rows not written because their ttl had passed at the project's "now"."""
    null_keys: int = 0
    """Rows not written because a join key is null (no key to serve them under)."""
    removed_keys: int = 0
    """Keys deleted: of retired generations (the one a full sync replaced, one a failed full
    sync left) and of a view whose meta hash had gone."""
    watermark: datetime | None = None
    seconds: float = 0.0
    error: FeatureStoreError | None = None

    @classmethod
    def failed(cls, view: str, error: FeatureStoreError) -> "ViewSyncResult":
        return cls(view, None, "failed", None, error=error)

    def to_dict(self) -> dict:
        return {
            "view": self.view,
            "error": str(self.error) if self.error else None,
            "mode": self.mode.value if self.mode else None,
            "reason": self.reason,
            "generation": self.generation,
            "rows_read": self.rows_read,
            "keys_written": self.keys_written,
            "skipped_older": self.skipped_older,
            "expired": self.expired,
            "null_keys": self.null_keys,
            "removed_keys": self.removed_keys,
            "watermark": self.watermark.isoformat() if self.watermark else None,
            "seconds": round(self.seconds, 3),
        }

    def line(self) -> str:
        if self.error is not None:
            return f"{self.view}: not synced: {self.error}"
        if self.mode is None:
            return f"{self.view}: {OFFLINE}: its online data was removed from Redis ({plural(self.removed_keys, 'key')})"
        return (
            f"{self.view}: {self.mode.value} ({self.reason}), generation {self.generation}: "
            f"{plural(self.rows_read, 'row')} read, {plural(self.keys_written, 'key')} written, "
            f"{self.skipped_older:,} skipped as older, {self.expired:,} expired, in {self.seconds:.1f} s"
        )


@dataclass
class SyncSummary:
    """What `fs sync` did, per view and in total; `to_dict()` is the `--json` document."""

    redis: str
    key_prefix: str
    views: list[ViewSyncResult] = field(default_factory=list)
    seconds: float = 0.0

    def total(self, name: str) -> int:
        return sum(getattr(v, name) for v in self.views)

    @property
    def failed(self) -> dict[str, FeatureStoreError]:
        """View -> why it was not synced."""
        return {v.view: v.error for v in self.views if v.error is not None}

    @property
    def removed_offline(self) -> list[ViewSyncResult]:
        """The views now `online: false` whose online data this sync removed."""
        return [v for v in self.views if v.mode is None and v.error is None]

    def raise_if_failed(self) -> None:
        failed = self.failed
        if failed:
            # The first failure is the cause, so --debug shows the engine's own error.
            raise SyncIncomplete(failed, len(self.views), self) from next(iter(failed.values()))

    def to_dict(self) -> dict:
        totals = ("rows_read", "keys_written", "skipped_older", "expired", "null_keys")
        return {
            "redis": self.redis,
            "key_prefix": self.key_prefix,
            "failed": sorted(self.failed),
            **{name: self.total(name) for name in totals},
            "seconds": round(self.seconds, 3),
            "views": [v.to_dict() for v in self.views],
        }


def run_sync(
    catalog: Catalog,
    open_warehouse: Callable[[], Warehouse],
    location: OnlineLocation,
    console: Console,
    clock: Callable[[], datetime],
    full: bool = False,
    view_names: Sequence[str] | None = None,
    lock_wait: float = LOCK_WAIT_SECONDS,
    clock_moves: bool = True,
) -> SyncSummary:
    """Sync `view_names` (default: every online view) from the warehouse `open_warehouse`
    connects to, into the Redis at `location`.

    A view that fails on its own (not built, a column Redis cannot hold) is recorded in the
    summary with its error and the others are synced; a Redis failure or a lost lock stops
    the whole sync. The caller decides what a failed view means (`raise_if_failed`). The
    project's lock is waited for in line up to `lock_wait` seconds behind pushes; a running
    sync is not waited for (SyncLockedError at once). `clock_moves` is false for a frozen
    clock (feature_store.yml clock.now): keys then do not expire (remaining_lifetimes_ms)."""
    views = catalog.online_views(view_names)
    started = time.perf_counter()
    summary = SyncSummary(redis=location.shown_url, key_prefix=location.keyspace.prefix)
    # No retries: a broken connection fails the sync, and the next run finishes the work.
    client = open_client(location, retries=0, name=f"fs-sync:{location.keyspace.prefix}")
    try:
        lock = SyncLock(client, location.keyspace.lock_key(), role="sync")
        with online_errors(location, "taking the sync lock"), lock.acquire(lock_wait, give_way_to_syncs=True):
            with open_warehouse() as warehouse:
                for view in views:
                    try:
                        with reading_views([view]):
                            checked_view(view, warehouse)
                            result = _sync_view(view, client, location, warehouse, lock, console, SyncClock(clock, clock_moves), full)
                    except (WarehouseError, ProjectError) as error:
                        result = ViewSyncResult.failed(view.name, error)
                    summary.views.append(result)
                    console.info(result.line())
            if not view_names:
                for result in _remove_offline_views(catalog, client, location, lock):
                    summary.views.append(result)
                    console.info(result.line())
    finally:
        client.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _remove_offline_views(
    catalog: Catalog, client: "redis.Redis", location: OnlineLocation, lock: SyncLock
) -> Iterator[ViewSyncResult]:
    """Delete what Redis still holds of views now `online: false`: no sync refreshes it any
    more, so it would only get older (readers refuse such views: Catalog.refuse_offline)."""
    for view in catalog:
        if view.online:
            continue
        with online_errors(location, f"removing the online data of view '{view.name}' (online: false)"):
            removed = remove_view(client, location.keyspace, view.name, lock)
        if removed:
            yield ViewSyncResult(view.name, None, OFFLINE, None, removed_keys=removed)


def _sync_view(
    view: FeatureView,
    client: "redis.Redis",
    location: OnlineLocation,
    warehouse: Warehouse,
    lock: SyncLock,
    console: Console,
    clock: "SyncClock",
    full: bool,
) -> ViewSyncResult:
    started = time.perf_counter()
    keyspace = location.keyspace
    hint = "its watermark was not advanced, so the next fs sync finishes the work"
    valid_under = clock.valid_under(view)
    with online_errors(location, f"syncing view '{view.name}'", hint):
        lock.check()
        result, schema, removed, read_after = _begin(view, client, keyspace, warehouse, lock, full, valid_under)
        base = keyspace.entity_base(view.name, result.generation)
        if is_aggregation(view):
            # The schema recorded says which tile sizes the sync kept (tile_sync.UNTILED_PREFIX).
            result.rows_read, result.keys_written, schema = _write_events(view, schema, client, warehouse, lock, console, clock, base)
        else:
            _write_latest_rows(view, schema, result, read_after, client, warehouse, lock, console, clock, base)
        record_sync(client, keyspace, view.name, result.mode, result.generation, schema, result.watermark, lock, valid_under)
        if result.mode is SyncMode.FULL:  # a cluster waits for reads of the retired generation
            wait_for_readers(client, keyspace.meta_key(view.name), published_at=time.monotonic())
    if result.expired and result.expired == result.rows_read - result.null_keys:
        console.warn(clock.all_expired(view, result.expired))
    published = "the view was published; the next fs sync deletes the keys of its older generation"
    with online_errors(location, f"deleting the older generation of view '{view.name}'", published):
        result.removed_keys = removed + remove_retired(client, keyspace, view.name, lock)
    result.seconds = time.perf_counter() - started
    return result


def _begin(
    view: FeatureView,
    client: "redis.Redis",
    keyspace: "Keyspace",
    warehouse: Warehouse,
    lock: SyncLock,
    full: bool,
    valid_under: str,
) -> tuple[ViewSyncResult, ViewSchema, int, datetime | None]:
    """Settle what earlier syncs left, choose the mode, and start a generation for a full
    sync: the result so far, the schema to write with, the keys removed, and the knowledge
    time after which rows are read (None: all)."""
    settle(client, keyspace, view.name, lock)  # a failed full sync's generation is retired
    state = read_state(client, keyspace, view.name)
    if state.recorded:
        removed = remove_retired(client, keyspace, view.name, lock)
    else:
        removed = remove_orphans(client, keyspace, view.name, lock)
    types = _column_types(warehouse, view)
    schema = aggregation_schema(view, types) if is_aggregation(view) else ViewSchema.of_view(view, types)
    mode, reason = _choose_mode(state, schema, full, valid_under)
    if is_aggregation(view) and mode is SyncMode.INCREMENTAL:
        mode, reason = SyncMode.FULL, "an aggregation view is rebuilt in full"
    if mode is SyncMode.FULL:
        generation = begin_generation(client, keyspace, view.name, state.recorded, lock)
        return ViewSyncResult(view.name, mode, reason, generation), schema, removed, None
    result = ViewSyncResult(view.name, mode, reason, state.generation, watermark=state.watermark)
    read_after = state.watermark
    if state.pushed_since is not None and state.watermark is not None:
        # A push died between its landing append and its Redis writes: its rows are read
        # again, whatever the watermark (docs/online-store.md, "Push").
        read_after = min(state.watermark, state.pushed_since - timedelta(microseconds=1))
    return result, schema, removed, read_after


def _write_latest_rows(
    view: FeatureView,
    schema: ViewSchema,
    result: ViewSyncResult,
    read_after: datetime | None,
    client: "redis.Redis",
    warehouse: Warehouse,
    lock: SyncLock,
    console: Console,
    clock: "SyncClock",
    base: str,
) -> None:
    """Stream the view's latest rows (since the watermark, when incremental) into Redis
    under `base`, counting what was written, skipped and expired into `result`."""
    # Pushed rows a dbt build has not folded into the view yet count as its rows: a full
    # sync must not lose them (the generation it replaces held them).
    latest = latest_values_expression(
        view,
        view.feature_names,
        clock.now(),
        written_after=read_after,
        with_watermark=True,
        pushed=existing_landing(warehouse, view, repair=True),
        newest_first=warehouse.engine.null_safe_hash_join,
    )
    fresh = result.mode is SyncMode.FULL
    with console.progress(f"{view.name}: {result.mode.value} sync") as advance:

        def after_round_trip(rows: int) -> None:
            lock.check()
            advance(rows)

        # A full sync writes a generation no reader uses yet: nothing there to compare with.
        with view_writer(client, schema, fresh, lock, after_round_trip) as writer:
            for batch in rebatched(warehouse.stream_arrow(render(latest, warehouse.dialect))):
                _write_batch(batch, view, schema, base, writer, result, clock)
            writer.finish()
    result.keys_written, result.skipped_older = writer.written, writer.skipped_older


def _write_events(view, schema, client, warehouse, lock, console, clock: "SyncClock", base: str) -> tuple[int, int, ViewSchema]:
    """An aggregation view's events and tiles (featurestore.online.tile_sync)."""
    with console.progress(f"{view.name}: full sync of events and tiles") as advance:

        def after_round_trip(entities: int) -> None:
            lock.check()
            advance(entities)

        return write_events(view, schema, client, warehouse, lock, clock.now(), clock.moves, base, after_round_trip)


def _choose_mode(state: ViewState, schema: ViewSchema, full: bool, valid_under: str) -> tuple[SyncMode, str]:
    if full:
        return SyncMode.FULL, "--full"
    if state.generation is None:
        return SyncMode.FULL, "no earlier sync in this Redis"
    # An aggregation view's recorded schema also says which tile sizes its data left out.
    recorded = state.schema and with_untiled(state.schema, ())
    if recorded != schema:
        if recorded is not None and recorded.differs_only_in_key_format(schema):
            return SyncMode.FULL, "fs's recorded key format changed with this version (a decimal key's scale, a time zone, an unsigned key)"
        return SyncMode.FULL, "its columns or types changed since the last sync"
    # Rows behind the watermark were judged valid or expired under the last sync's ttl and
    # clock: under others, some of them change sides, and only a full sync reads them again.
    if state.valid_under is None:
        return SyncMode.FULL, "the last sync did not record the ttl and clock it judged rows by"
    if state.valid_under != valid_under:
        return SyncMode.FULL, f"the ttl or clock changed since the last sync ({state.valid_under} -> {valid_under})"
    return SyncMode.INCREMENTAL, "rows written after the watermark" if state.watermark else "no watermark yet"


def _column_types(warehouse: "Warehouse", view: FeatureView) -> dict[str, "pa.DataType"]:
    """The Arrow type of each column the sync reads, from a query that returns no rows."""
    reader = warehouse.stream_arrow(render(columns_probe(view, list(view.columns)), warehouse.dialect))
    reader.read_all()  # ends the query (a server-side cursor on some engines)
    return {f.name: f.type for f in reader.schema}


def rebatched(batches: Iterable["pa.RecordBatch"], rows: int = REBATCH_ROWS) -> Iterator["pa.RecordBatch"]:
    """The same rows in batches of at least `rows` (but the last): engines hand out the
    few rows left after the latest-row filter in many tiny batches."""
    import pyarrow as pa

    pending, count = [], 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.concat_batches(pending)
            pending, count = [], 0
    if pending:
        yield pa.concat_batches(pending)


def _write_batch(
    batch: "pa.RecordBatch",
    view: FeatureView,
    schema: ViewSchema,
    base: str,
    writer: ViewWriter,
    result: ViewSyncResult,
    clock: "SyncClock",
) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    result.rows_read += batch.num_rows
    if batch.num_rows == 0:
        return
    newest = pc.max(batch[WATERMARK].cast(pa.timestamp("us"))).as_py()
    result.watermark = max(filter(None, [result.watermark, newest]), default=None)

    rows = batch.filter(functools.reduce(pc.and_, [pc.is_valid(batch[k]) for k in view.join_keys]))
    result.null_keys += batch.num_rows - rows.num_rows
    lifetimes, alive = remaining_lifetimes_ms(rows[view.timestamp], view.ttl, clock.now(), clock.moves)
    if alive is not None:
        result.expired += rows.num_rows - (pc.sum(alive.cast(pa.int64())).as_py() or 0)  # no rows: null
        rows, lifetimes = rows.filter(alive), lifetimes.filter(alive)
    if rows.num_rows:
        writer.write(encode_rows(rows, schema, base, lifetimes))
