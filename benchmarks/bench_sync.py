"""Online store benchmark: `fs sync --full` against a hand-written pipelined HSET loop, and
online reads, on the contract's reference shape (100k entities x 100 days, about 9M rows).

    python benchmarks/bench_sync.py [--redis-url redis://127.0.0.1:6379/0] [--write-docs]

Takes the reference feature file from benchmarks/reference_data.py (made with DuckDB once,
shared with the training-set benchmark), builds the tiny dbt project in
benchmarks/online_project (a view over that file, adding a created_at), then in one run:

1. the latest row per entity, hand-written DuckDB SQL only (what both writers must read);
2. `FeatureStore.sync(full=True)`: the same rows through fs (expiry, watermark, a fresh
   generation written with plain HSETs, then switched to);
3. the reference: the same hand-written query, then one `HSET` per row, pipelined 10,000 at a
   time, into the same Redis;
4. the next day: a new row for every entity lands in the view; `FeatureStore.sync()` is then
   incremental and writes each row over the stored one through the server-side compare,
   against the same hand-written loop over that day's rows;
5. `get_online_features` for one entity (p50, p99 over many calls) and for 1,000 entities in
   one call, the latter also after `gc.freeze()`, and against a hand-written redis-py pipeline
   of the same HMGETs on the reference loop's hashes.

Every key it writes is under a prefix of its own and deleted at the end. `--write-docs`
replaces the "## Online store (issue 4)" section of docs/benchmarks.md with the table.

    python benchmarks/bench_sync.py --ties [--repeat 3] [--write-docs]

compares instead full syncs of the view with the uniqueness test (entity_daily) and of the
same rows without it (entity_daily_untested, where fs breaks ties on every column), each
against hand-written loops in the same run, the rounds alternating: with the test, the query
above; without it, `arg_max` of each column by the timestamp (fast, but any of tied rows
may win, each column its own) and the deterministic deduplication the contract asks for
(`QUALIFY row_number()` over the whole tie order). Wall and CPU seconds of this process
(DuckDB's threads included; the Redis server's own work in neither). `--write-docs` then
replaces the "## Sync without the uniqueness test (issue 24)" section.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

from reference_data import DATA, feature_file  # the reference shape, shared with bench_training_set

HERE = Path(__file__).resolve().parent
PROJECT = HERE / "online_project"
DOCS = HERE.parent / "docs" / "benchmarks.md"
SECTION = "## Online store (issue 4)"
TIES_SECTION = "## Sync without the uniqueness test (issue 24)"
FILES = HERE / "data" / "online_view_files"  # the view reads every parquet file in it
NEXT_DAY = "2024-04-10"
NEXT_NOW = datetime(2024, 4, 11)  # the project's clock once the next day's rows are known

# Hand-written: the latest row of each entity, as anyone would write it for DuckDB.
REFERENCE_SQL = """
select entity_id, event_timestamp, created_at, v1_spend, v1_clicks, v1_active
from main.entity_daily
qualify row_number() over (partition by entity_id order by event_timestamp desc, created_at desc) = 1
"""

# Hand-written for the view without the test: the newest value of each column by timestamp,
# as the issue measured it (fast, but among tied rows any may win, each column its own) ...
ARG_MAX_SQL = """
select entity_id, max(event_timestamp) as event_timestamp, arg_max(created_at, event_timestamp) as created_at,
    arg_max(v1_spend, event_timestamp) as v1_spend, arg_max(v1_clicks, event_timestamp) as v1_clicks,
    arg_max(v1_active, event_timestamp) as v1_active
from main.entity_daily_untested
group by entity_id
"""
# ... and deduplicated the deterministic way the contract asks for (the same row on every engine).
DEDUP_SQL = """
select entity_id, event_timestamp, created_at, v1_spend, v1_clicks, v1_active
from main.entity_daily_untested
qualify row_number() over (partition by entity_id order by event_timestamp desc, created_at desc,
    v1_spend desc nulls last, v1_clicks desc nulls last, v1_active desc nulls last) = 1
"""


def build_project(parquet: Path) -> None:
    """Build the view over a folder holding (a link to) `parquet`: a file added to the folder
    later is new rows in the view, for the incremental sync."""
    from featurestore import FeatureStore

    FILES.mkdir(parents=True, exist_ok=True)
    for old in FILES.iterdir():
        old.unlink()
    (FILES / "base.parquet").symlink_to(parquet)
    os.environ["FS_BENCH_PARQUET"] = str(FILES / "*.parquet")
    print("dbt build of benchmarks/online_project ...", file=sys.stderr)
    FeatureStore(project_dir=PROJECT, profiles_dir=PROJECT).build()


def timed(function) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def add_next_day(entities: int) -> int:
    """A row of 2024-04-10 for every entity, in a new file of the view: what an incremental
    sync the next day reads (everything after the watermark) and writes over every key."""
    import duckdb

    with duckdb.connect() as con:
        con.execute(
            f"""copy (
                select range as entity_id, timestamp '{NEXT_DAY}' as event_timestamp,
                    (hash(range, 'next') % 10000) / 100.0 as v1_spend,
                    cast(hash(range, 'next', 1) % 50 as bigint) as v1_clicks,
                    hash(range, 'next', 2) % 3 = 0 as v1_active
                from range({entities})
            ) to '{FILES / "next_day.parquet"}' (format parquet)"""
        )
    return entities


def reference_rows(database: str, sql: str = REFERENCE_SQL):
    import duckdb

    with duckdb.connect(database, read_only=True) as con:
        return con.sql(sql).to_arrow_table()


def fs_latest_sql(store) -> str:
    """The latest-rows query `fs sync --full` runs, as text."""
    from featurestore.sql.expressions import render
    from featurestore.sql.semantics import latest_values_expression

    view = store.catalog().view("entity_daily")
    return render(latest_values_expression(view, view.feature_names, store.now(), with_watermark=True), "duckdb")


def reference_sync(client, database: str, prefix: str, sql: str = REFERENCE_SQL, view: str = "entity_daily") -> int:
    """The hand-written loop: read the latest rows, HSET each, 10,000 per round trip."""
    table = reference_rows(database, sql)
    columns = {name: table[name].to_pylist() for name in table.column_names}
    features = ["created_at", "v1_spend", "v1_clicks", "v1_active"]
    pipe = client.pipeline(transaction=False)
    for i, entity in enumerate(columns["entity_id"]):
        mapping = {"event_timestamp": columns["event_timestamp"][i].isoformat()}
        for name in features:
            value = columns[name][i]
            if isinstance(value, bool):
                mapping[name] = "true" if value else "false"
            elif value is not None:
                mapping[name] = value.isoformat() if name == "created_at" else value
        pipe.hset(f"{prefix}:{view}:entity_id={entity}", mapping=mapping)
        if len(pipe) == 10_000:
            pipe.execute()
    pipe.execute()
    return table.num_rows


def delete_prefix(client, prefix: str) -> None:
    batch = []
    for key in client.scan_iter(match=prefix + ":*", count=5000):
        batch.append(key)
        if len(batch) == 5000:
            client.unlink(*batch)
            batch = []
    if batch:
        client.unlink(*batch)


def hmget_microseconds(client) -> int:
    """The server's microseconds in HMGET so far (INFO commandstats): what reads cost Redis."""
    return client.info("commandstats").get("cmdstat_hmget", {"usec": 0})["usec"]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def read_latencies(store, entity_ids: list[int], calls: int, per_call: int) -> list[float]:
    features = ["entity_daily:*"]
    rng = random.Random(7)
    store.get_online_features([{"entity_id": entity_ids[0]}], features)  # connect, load the script
    samples = []
    for _ in range(calls):
        rows = [{"entity_id": rng.choice(entity_ids)} for _ in range(per_call)]
        started = time.perf_counter()
        result = store.get_online_features(rows, features)
        samples.append(time.perf_counter() - started)
        assert result.statuses[0][0] == "present", result.to_dict()[0]
    return samples


def reference_read_latencies(client, prefix: str, entity_ids: list[int], calls: int, per_call: int) -> list[float]:
    """The hand-written read: the reference loop's hashes, one HMGET each in a redis-py
    pipeline; values stay text, with no generation check, types or statuses."""
    fields = ["event_timestamp", "v1_spend", "v1_clicks", "v1_active"]
    rng = random.Random(7)
    samples = []
    for _ in range(calls):
        keys = [f"{prefix}:entity_daily:entity_id={rng.choice(entity_ids)}" for _ in range(per_call)]
        started = time.perf_counter()
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, fields)
        replies = pipe.execute()
        samples.append(time.perf_counter() - started)
        assert replies[0][0] is not None, keys[0]
    return samples


def verified(store, view: str, sample: int = 1000) -> None:
    """`verify-online --sample` of one view (the others may not be synced in this run): its
    parity check reads the latest rows with the plain ranking of every row, not the sync's."""
    from featurestore.online.verify import verify_views

    class OneView:
        def online_views(self):
            return store.catalog().online_views([view])

    report = verify_views(OneView(), store.warehouse, store._online_reader(None), store.now, sample)
    assert not report.mismatches and report.checked[view] == sample, report.to_dict()["mismatches"][:3]


def cpu_timed(function) -> tuple[float, float, object]:
    """Wall and CPU seconds of this process (every thread: DuckDB's too) and the result."""
    started, cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - started, time.process_time() - cpu, result


def every_row_ranked(function):
    """`function` run with the sync's latest-rows query as it was before issue 24: a window
    ranking every row of the view by the whole tie order (the same winner)."""
    from featurestore.online import sync

    planned = sync.latest_values_expression
    sync.latest_values_expression = lambda *args, **options: planned(*args, **{**options, "newest_first": False})
    try:
        return function()
    finally:
        sync.latest_values_expression = planned


def ties(args, store, client, database: str, prefix: str, rows: int) -> str:
    """Full syncs with and without the uniqueness test against hand-written loops, alternating."""
    cases = {
        "hand-written: latest rows by `QUALIFY row_number()` over timestamp and created_at + `HSET` loop": (
            lambda: reference_sync(client, database, f"{prefix}:ref", REFERENCE_SQL)),
        "`fs sync --full`, the view with the uniqueness test": (
            lambda: store.sync(full=True, views=["entity_daily"]).total("keys_written")),
        "hand-written: `arg_max` of each column by timestamp + `HSET` loop": (
            lambda: reference_sync(client, database, f"{prefix}:argmax", ARG_MAX_SQL, "entity_daily_untested")),
        "hand-written: deduplicated by the whole tie order (`QUALIFY row_number()`) + `HSET` loop": (
            lambda: reference_sync(client, database, f"{prefix}:dedup", DEDUP_SQL, "entity_daily_untested")),
        "`fs sync --full`, the same rows without the test": (
            lambda: store.sync(full=True, views=["entity_daily_untested"]).total("keys_written")),
        "`fs sync --full` without the test, every row ranked (the plan before issue 24)": (
            lambda: every_row_ranked(lambda: store.sync(full=True, views=["entity_daily_untested"]).total("keys_written"))),
    }
    for sql in (REFERENCE_SQL, ARG_MAX_SQL, DEDUP_SQL):
        reference_rows(database, sql)  # warm the file cache
    walls: dict[str, list[float]] = {label: [] for label in cases}
    cpus: dict[str, list[float]] = {label: [] for label in cases}
    for _ in range(args.repeat):
        for label, run in cases.items():
            wall, cpu, written = cpu_timed(run)
            assert written == args.entities, (label, written)
            walls[label].append(wall)
            cpus[label].append(cpu)
    verified(store, "entity_daily")
    verified(store, "entity_daily_untested")
    wall = {label: statistics.median(v) for label, v in walls.items()}
    cpu = {label: statistics.median(v) for label, v in cpus.items()}
    labels = list(cases)
    base_of = {labels[1]: labels[0], labels[4]: labels[2], labels[5]: labels[2]}
    lines = [
        f"| case | wall s, median of {args.repeat} | CPU s, median | fs / hand-written: wall, CPU |",
        "| --- | --- | --- | --- |",
    ]
    for label in labels:
        base = base_of.get(label)
        ratio = f"**{wall[label] / wall[base]:.2f}x**, {cpu[label] / cpu[base]:.2f}x" if base else ""
        lines.append(f"| {label} | {wall[label]:.2f} | {cpu[label]:.2f} | {ratio} |")
    dedup = labels[3]
    lines.append(
        f"| `fs sync --full` without the test / the deterministic deduplication | "
        f"**{wall[labels[4]] / wall[dedup]:.2f}x**, {cpu[labels[4]] / cpu[dedup]:.2f}x | | |"
    )
    machine = f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, Redis {client.info('server')['redis_version']}"
    return (
        f"{TIES_SECTION}\n\n`python benchmarks/bench_sync.py --ties --repeat {args.repeat}`, {time.strftime('%Y-%m-%d')}, "
        f"{machine}, 1-minute load average {os.getloadavg()[0]:.1f} at the end. {rows:,} feature rows, "
        f"{args.entities:,} keys per sync into an empty generation; each round runs every case once, in the "
        "table's order, in one process against one Redis. `verify-online --sample 1000` of both views after "
        "the rounds: 0 mismatches (its parity query ranks every row, not the sync's plan).\n\n"
        + "\n".join(lines) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=os.environ.get("FS_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--write-docs", action="store_true", help=f"write the table into {DOCS.name}")
    parser.add_argument("--ties", action="store_true", help="full syncs with and without the uniqueness test only")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of --ties")
    args = parser.parse_args()

    import duckdb
    import redis

    from featurestore import FeatureStore

    parquet = feature_file(1, args.entities, args.days)
    build_project(parquet)
    database = str(DATA / "online_bench.duckdb")
    rows = duckdb.sql(f"select count(*) from read_parquet('{parquet}')").fetchall()[0][0]
    prefix = f"fsbench:{os.getpid()}"
    os.environ["FS_KEY_PREFIX"] = f"{prefix}:fs"
    os.environ["FS_REDIS_URL"] = args.redis_url
    client = redis.Redis.from_url(args.redis_url, decode_responses=True)
    store = FeatureStore(project_dir=PROJECT, profiles_dir=PROJECT)
    store.catalog()
    if args.ties:
        try:
            text = ties(args, store, client, database, prefix, rows)
        finally:
            delete_prefix(client, prefix)
        print(text)
        if args.write_docs:
            write_section(text, TIES_SECTION)
        return
    try:
        reference_rows(database)  # warm the file cache: every measured run reads it warm
        query_seconds, latest = timed(lambda: reference_rows(database).num_rows)
        fs_query_seconds, _ = timed(lambda: reference_rows(database, fs_latest_sql(store)))
        sync_seconds, summary = timed(lambda: store.sync(full=True, views=["entity_daily"]))
        loop_seconds, loop_rows = timed(lambda: reference_sync(client, database, f"{prefix}:ref"))
        assert summary.total("keys_written") == loop_rows == latest, (summary.to_dict(), loop_rows, latest)
        again_seconds, _ = timed(lambda: store.sync(full=True, views=["entity_daily"]))
        verified(store, "entity_daily")

        # The next day: every entity has a new row; the sync writes it over the stored one,
        # compared on the server, in the generation readers use.
        updated = add_next_day(args.entities)
        store.now = lambda: NEXT_NOW
        incremental_seconds, incremental = timed(lambda: store.sync(views=["entity_daily"]))
        next_loop_seconds, next_loop_rows = timed(lambda: reference_sync(client, database, f"{prefix}:next"))
        view = incremental.views[0]
        assert (view.mode, view.rows_read, view.keys_written) == ("incremental", updated, updated), view.to_dict()
        assert next_loop_rows == updated
        verified(store, "entity_daily")

        entity_ids = list(range(args.entities))
        one = read_latencies(store, entity_ids, calls=5000, per_call=1)
        by_hand = reference_read_latencies(client, f"{prefix}:ref", entity_ids, calls=100, per_call=1000)
        before = hmget_microseconds(client)
        thousand = read_latencies(store, entity_ids, calls=100, per_call=1000)
        server_ms = (hmget_microseconds(client) - before) / len(thousand) / 1000
        # What a service that calls gc.freeze() after start-up sees (docs/online-store.md):
        # Python's full collection passes no longer walk everything the process imported.
        gc.collect()
        gc.freeze()
        frozen = read_latencies(store, entity_ids, calls=100, per_call=1000)
        gc.unfreeze()
    finally:
        delete_prefix(client, prefix)
        (FILES / "next_day.parquet").unlink(missing_ok=True)

    ratio = sync_seconds / loop_seconds
    table = "\n".join(
        [
            "| measure | result | target |",
            "| --- | --- | --- |",
            f"| feature rows (parquet) / latest rows = keys | {rows:,} / {latest:,} | |",
            f"| latest rows, hand-written DuckDB query only | {query_seconds:.2f} s | |",
            f"| latest rows, the query fs generates only (plus the watermark) | {fs_query_seconds:.2f} s | |",
            f"| hand-written: that query + pipelined `HSET` loop | {loop_seconds:.2f} s | |",
            f"| `fs sync --full` (first: empty Redis) | {sync_seconds:.2f} s ({latest / sync_seconds:,.0f} keys/s) | |",
            f"| `fs sync --full` / hand-written loop | **{ratio:.2f}x** | within 2x |",
            f"| `fs sync --full` again (replaces a generation of {latest:,} keys) | {again_seconds:.2f} s | |",
            f"| `fs sync` next day, incremental: {updated:,} new rows over stored keys, compared on the server "
            f"| {incremental_seconds:.2f} s ({updated / incremental_seconds:,.0f} keys/s) | |",
            f"| hand-written: the same day's latest rows + pipelined `HSET` loop | {next_loop_seconds:.2f} s | |",
            f"| incremental `fs sync` / hand-written loop | **{incremental_seconds / next_loop_seconds:.2f}x** | |",
            "| `verify-online --sample 1000`, after each sync | 0 mismatches | 0 |",
            f"| read, 1 entity, all 3 features: p50 / p99 ({len(one):,} calls) | "
            f"{percentile(one, 0.5) * 1e3:.3f} / {percentile(one, 0.99) * 1e3:.3f} ms | p50 < 0.25 ms |",
            f"| read, 1,000 entities in one call: p50 / p99 ({len(thousand)} calls) | "
            f"{percentile(thousand, 0.5) * 1e3:.1f} / {percentile(thousand, 0.99) * 1e3:.1f} ms | < 15 ms |",
            f"| of which Redis runs the HMGETs (server time, mean) | {server_ms:.1f} ms | |",
            f"| read, 1,000 entities, after `gc.freeze()`: p50 / p99 ({len(frozen)} calls) | "
            f"{percentile(frozen, 0.5) * 1e3:.1f} / {percentile(frozen, 0.99) * 1e3:.1f} ms | |",
            f"| hand-written: the same HMGETs in a redis-py pipeline, text only: p50 / p99 | "
            f"{percentile(by_hand, 0.5) * 1e3:.1f} / {percentile(by_hand, 0.99) * 1e3:.1f} ms | |",
        ]
    )
    machine = (
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, Redis "
        f"{client.info('server')['redis_version']} at {args.redis_url.split('@')[-1]}"
    )
    text = (
        f"{SECTION}\n\n`python benchmarks/bench_sync.py`, {time.strftime('%Y-%m-%d')}, {machine}. "
        "One run of each, in the same process and against the same Redis, so the ratio holds "
        "on a noisy machine better than the seconds do. Both writers read the warehouse first; "
        "the view declares dbt's feature_unique_entity_timestamp test, so fs orders each entity's rows by "
        "timestamp alone (without it, it breaks ties on every column, which costs about 2x in the query). "
        "A read pipelines one HMGET per entity and view; its p99 is Python's full garbage collection "
        "passes in this process, which has imported dbt, DuckDB, pyarrow and pandas (a row below shows "
        "the same reads once the process called `gc.freeze()`). "
        f"Mean one-entity read: {statistics.mean(one) * 1e3:.3f} ms.\n\n"
        f"{table}\n"
    )
    print(text)
    if args.write_docs:
        write_section(text)


def write_section(text: str, section: str = SECTION) -> None:
    """Replace (or add) a benchmark's section of docs/benchmarks.md, keeping the others."""
    existing = DOCS.read_text() if DOCS.is_file() else "# Benchmarks\n"
    start = existing.find(section)
    if start < 0:
        updated = existing.rstrip("\n") + "\n\n" + text
    else:
        end = existing.find("\n## ", start + len(section))
        updated = existing[:start] + text + (existing[end:] if end >= 0 else "")
    DOCS.write_text(updated)


if __name__ == "__main__":
    main()
