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
from featurestore.catalog.ttl import format_ttl
from featurestore.console import Console, plural
from featurestore.engines.base import Warehouse, reading_views
from featurestore.errors import FeatureStoreError, ProjectError, SyncIncomplete, WarehouseError
from featurestore.online.codec import ViewSchema
from featurestore.online.connection import OnlineLocation, checked_out, online_errors, open_client
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
    settle,
)
from featurestore.online.writer import ViewWriter, encode_rows
from featurestore.sql.expressions import columns_probe, render
from featurestore.sql.semantics import WATERMARK, latest_values_expression

if TYPE_CHECKING:
    import pyarrow as pa
    import redis

REBATCH_ROWS = 20_000


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
    clock_moves: bool = True,
) -> SyncSummary:
    """Sync `view_names` (default: every online view) from the warehouse `open_warehouse`
    connects to, into the Redis at `location`.

    A view that fails on its own (not built, a column Redis cannot hold) is recorded in the
    summary with its error and the others are synced; a Redis failure or a lost lock stops
    the whole sync. The caller decides what a failed view means (`raise_if_failed`).
    `clock_moves` is false for a frozen clock (feature_store.yml clock.now): keys then do not
    expire (remaining_lifetimes_ms)."""
    views = catalog.online_views(view_names)
    started = time.perf_counter()
    summary = SyncSummary(redis=location.shown_url, key_prefix=location.keyspace.prefix)
    # No retries: a broken connection fails the sync, and the next run finishes the work.
    client = open_client(location, retries=0, name=f"fs-sync:{location.keyspace.prefix}")
    try:
        with online_errors(location, "taking the sync lock"), SyncLock(client, location.keyspace.lock_key()) as lock:
            with open_warehouse() as warehouse:
                for view in views:
                    try:
                        with reading_views([view]):
                            result = _sync_view(view, client, location, warehouse, lock, console, _Clock(clock, clock_moves), full)
                    except (WarehouseError, ProjectError) as error:
                        result = ViewSyncResult.failed(view.name, error)
                    summary.views.append(result)
                    console.info(result.line())
    finally:
        client.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _sync_view(
    view: FeatureView,
    client: "redis.Redis",
    location: OnlineLocation,
    warehouse: Warehouse,
    lock: SyncLock,
    console: Console,
    clock: "_Clock",
    full: bool,
) -> ViewSyncResult:
    started = time.perf_counter()
    keyspace = location.keyspace
    hint = "its watermark was not advanced, so the next fs sync finishes the work"
    valid_under = clock.valid_under(view)
    with online_errors(location, f"syncing view '{view.name}'", hint):
        lock.check()
        result, schema, removed = _begin(view, client, keyspace, warehouse, lock, full, valid_under)
        _write_latest_rows(view, schema, result, client, warehouse, lock, console, clock, keyspace.entity_base(view.name, result.generation))
        record_sync(client, keyspace, view.name, result.mode, result.generation, schema, result.watermark, lock, valid_under)
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
) -> tuple[ViewSyncResult, ViewSchema, int]:
    """Settle what earlier syncs left, choose the mode, and start a generation for a full
    sync: the result so far, the schema to write with, and the keys removed."""
    settle(client, keyspace, view.name, lock)  # a failed full sync's generation is retired
    state = read_state(client, keyspace, view.name)
    if state.recorded:
        removed = remove_retired(client, keyspace, view.name, lock)
    else:
        removed = remove_orphans(client, keyspace, view.name, lock)
    schema = ViewSchema.of_view(view, _column_types(warehouse, view))
    mode, reason = _choose_mode(state, schema, full, valid_under)
    if mode is SyncMode.FULL:
        generation = begin_generation(client, keyspace, view.name, state.recorded, lock)
        return ViewSyncResult(view.name, mode, reason, generation), schema, removed
    result = ViewSyncResult(view.name, mode, reason, state.generation, watermark=state.watermark)
    return result, schema, removed


def _write_latest_rows(
    view: FeatureView,
    schema: ViewSchema,
    result: ViewSyncResult,
    client: "redis.Redis",
    warehouse: Warehouse,
    lock: SyncLock,
    console: Console,
    clock: "_Clock",
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
        written_after=result.watermark,
        with_watermark=True,
        pushed=existing_landing(warehouse, view),
    )
    fresh = result.mode is SyncMode.FULL
    with console.progress(f"{view.name}: {result.mode.value} sync") as advance:

        def after_round_trip(rows: int) -> None:
            lock.check()
            advance(rows)

        # A full sync writes a generation no reader uses yet: nothing there to compare with.
        with checked_out(client) as connection:
            writer = ViewWriter(client, connection, schema, fresh, lock, after_round_trip)
            for batch in rebatched(warehouse.stream_arrow(render(latest, warehouse.dialect))):
                _write_batch(batch, view, schema, base, writer, result, clock)
            writer.finish()
    result.keys_written, result.skipped_older = writer.written, writer.skipped_older


def _choose_mode(state: ViewState, schema: ViewSchema, full: bool, valid_under: str) -> tuple[SyncMode, str]:
    if full:
        return SyncMode.FULL, "--full"
    if state.generation is None:
        return SyncMode.FULL, "no earlier sync in this Redis"
    if state.schema != schema:
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
    columns = [*view.join_keys, view.timestamp, *([view.created_at] if view.created_at else []), *view.feature_names]
    reader = warehouse.stream_arrow(render(columns_probe(view, columns), warehouse.dialect))
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
    clock: "_Clock",
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
        result.expired += rows.num_rows - pc.sum(alive.cast(pa.int64())).as_py()
        rows, lifetimes = rows.filter(alive), lifetimes.filter(alive)
    if rows.num_rows:
        writer.write(encode_rows(rows, schema, base, lifetimes))


@dataclass(frozen=True)
class _Clock:
    """The project's clock as a sync uses it: `now`, and whether it moves (the real clock) or
    is frozen (feature_store.yml clock.now)."""

    now: Callable[[], datetime]
    moves: bool

    def valid_under(self, view: FeatureView) -> str:
        """The settings that decide which of the view's rows are valid, recorded with the
        watermark (state.Meta.VALID_UNDER). The real clock is the same clock at every sync."""
        clock = "the real clock" if self.moves else f"clock.now {self.now().isoformat()}"
        return f"ttl {format_ttl(view.ttl)}, {clock}"

    def all_expired(self, view: FeatureView, rows: int) -> str:
        """The warning for a sync whose every row was past its ttl."""
        if self.moves:
            fix = "for historical data, set clock.now in feature_store.yml to a time the data covers"
        else:
            fix = "is clock.now in feature_store.yml a time the data covers?"
        return (
            f"view '{view.name}': {plural(rows, 'row')} read, all past the view's ttl "
            f"({format_ttl(view.ttl)}) at now ({self.now().isoformat()}), so none is served; {fix}"
        )


def remaining_lifetimes_ms(
    timestamps: "pa.Array", ttl: timedelta | None, now: datetime, clock_moves: bool = True
) -> tuple["pa.Array", "pa.Array | None"]:
    """Per row, how long its key should live in ms (0 = forever), and which rows are still
    valid at `now` (None when the view has no ttl).

    One rule everywhere (docs/online-store.md "Expiry"): a row is valid at t while
    `timestamp >= t - ttl`, inclusive, at microsecond resolution - the training set's SQL,
    this filter, the reader and verify-online all test exactly that. Redis expiry is only
    the clean-up behind the reader, in whole milliseconds on Redis' own clock counted from
    the write, so it must never come before the reader's answer turns: the key lives until
    the millisecond *after* the one holding timestamp + ttl (a row due exactly now gets
    1 ms more than the rounding, not 1 ms in all). The reader decides within that
    millisecond.

    With a frozen clock (`clock_moves` false: feature_store.yml clock.now) time does not
    pass for the reader, the training set or verify, so a row valid at it stays valid: its
    key does not expire (an expiry on Redis' real clock would drop a value all three still
    serve; daily rows at a midnight clock.now are due exactly then).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if ttl is None:
        return pa.array([0] * len(timestamps), pa.int64()), None
    micros = timestamps.cast(pa.timestamp("us")).cast(pa.int64())
    # Integer division: a float loses microseconds past 2**53 (after year 2255). The checked
    # kernels raise rather than wrap; with ttl at most 100 years no timestamp gets near int64.
    now_us = (now - datetime(1970, 1, 1)) // timedelta(microseconds=1)
    remaining = pc.subtract_checked(pc.add_checked(micros, ttl // timedelta(microseconds=1)), now_us)
    alive = pc.greater_equal(remaining, 0)
    if not clock_moves:
        return pa.array([0] * len(timestamps), pa.int64()), alive
    # Whole ms from now's millisecond to the one after timestamp + ttl's: for a valid row
    # (remaining >= 0) the sum below is not negative, so the integer division floors.
    into_ms = now_us % 1000
    lifetimes = pc.max_element_wise(pc.add(pc.divide(pc.add(remaining, into_ms), 1000), 1), 1)
    return lifetimes, alive
