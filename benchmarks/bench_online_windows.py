"""Aggregation views online (issue 22): reads, pushes and syncs of tiles against a plain view
of the same rows, in one run.

    python benchmarks/bench_online_windows.py [--redis-url redis://127.0.0.1:6379/0]
        [--entities 20000] [--events-per-entity 50] [--write-docs]

Two views over the same DuckDB table of events (no dbt run: a hand-written manifest, as the
tests use): `events_windows`, an aggregation view per shop with 4 windows x 3 functions
(count, avg, max over 5m, 1h, 1d, 7d), and `events_plain`, a plain view of the same rows
keyed by event id, so both syncs write every row. Events spread over the last 7 days.

1. read: `get_online_features` of one entity, the 12 aggregation features against the plain
   view's feature (p50 over many calls taking turns, entities drawn at random); then the
   same with the clock moving (each read at a new instant, as a service's clock is);
2. push: `FeatureStore.push` of one event to each view (p50; a push also appends to the
   view's landing table in DuckDB, for the next dbt build);
3. sync: `FeatureStore.sync(full=True)` of each view (best of three, taking turns): the aggregation view
   writes every event of the last 7 days and its tiles, the plain view every row's hash.

Keys go under a prefix of their own and are deleted at the end. `--write-docs` replaces the
"## Aggregation views online (issue 22)" section of docs/benchmarks.md with the table.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DOCS = REPO / "docs" / "benchmarks.md"
SECTION = "## Aggregation views online (issue 22)"
NOW = datetime(2024, 5, 1, 12, 0)
TYPES = {"event_id": "bigint", "shop": "varchar", "ts": "timestamp", "amount": "double"}
WINDOWS = {"column": "amount", "function": ["count", "avg", "max"], "windows": ["5m", "1h", "1d", "7d"]}


def write_project(root: Path, entities: int, per_entity: int) -> None:
    import duckdb
    import numpy as np
    import pyarrow as pa

    sys.path.insert(0, str(REPO))
    from tests.conftest import write_manifest_project
    from tests.manifests import manifest, model_node

    # The plain view holds the same rows, each an entity of its own: its sync writes as many
    # rows as the aggregation view's.
    plain = model_node("events_plain", {"entity": "event", "join_keys": ["event_id"], "timestamp": "ts"}, list(TYPES), types=TYPES)
    meta = {"entity": "shop", "join_keys": ["shop"], "timestamp": "ts", "aggregations": [WINDOWS]}
    windows = model_node("events_windows", meta, [c for c in TYPES if c != "event_id"], types=TYPES)
    for node in (plain, windows):
        node["database"] = "bench"
    profiles = "demo:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: bench.duckdb\n"
    write_manifest_project(root, manifest(plain, windows), profiles)
    (root / "feature_store.yml").write_text(f"clock:\n  now: {NOW.isoformat()}\n")
    rng = np.random.default_rng(7)
    n = entities * per_entity
    seconds = rng.integers(0, 7 * 86400, n)
    table = pa.table({
        "event_id": pa.array(np.arange(n)),
        "shop": pa.array([f"s{i:06d}" for i in range(entities)]).take(pa.array(np.repeat(np.arange(entities), per_entity))),
        "ts": pa.array(np.datetime64(NOW.isoformat()) - seconds.astype("timedelta64[s]")).cast(pa.timestamp("us")),
        "amount": pa.array(rng.normal(50, 20, n).round(2)),
    })
    with duckdb.connect(str(root / "bench.duckdb")) as con:
        con.register("events", table)
        for view in ("events_plain", "events_windows"):
            con.execute(f"create or replace table main.{view} as select * from events")


def p50_us(first, second, calls: int) -> tuple[float, float]:
    """The p50 of each action in µs, the two taking turns, so that a busy moment of the
    machine (or of a shared Redis) weighs on both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(calls):
        for action, kept in zip((first, second), times):
            started = time.perf_counter()
            action()
            kept.append(time.perf_counter() - started)
    return statistics.median(times[0]) * 1e6, statistics.median(times[1]) * 1e6


def run(redis_url: str, entities: int, per_entity: int) -> list[tuple[str, float, float, float, str]]:
    import os

    import redis

    from featurestore import FeatureStore

    prefix = f"fs-bench-windows:{uuid.uuid4().hex[:8]}"
    os.environ["FS_REDIS_URL"], os.environ["FS_KEY_PREFIX"] = redis_url, prefix
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_project(root, entities, per_entity)
        store = FeatureStore(project_dir=root)
        try:
            # 3. sync (first, so the others have something to read); best of three, taking turns.
            window_syncs, plain_syncs = [], []
            for _ in range(3):
                window_syncs.append(_timed(lambda: store.sync(full=True, views=["events_windows"])))
                plain_syncs.append(_timed(lambda: store.sync(full=True, views=["events_plain"])))
            window_sync, plain_sync = min(window_syncs), min(plain_syncs)
            # 1. read
            names = [f"s{i:06d}" for i in range(entities)]
            features = [f"events_windows:{a}" for a in _aggregation_names()]
            events = entities * per_entity
            window_read, plain_read = p50_us(
                lambda: store.get_online_features([{"shop": random.choice(names)}], features),
                lambda: store.get_online_features([{"event_id": random.randrange(events)}], ["events_plain:amount"]),
                3000,
            )
            # The same reads with the clock moving, as a service's is: each read at a new t,
            # so no plan cached for the instant (the benchmark's project freezes its clock).
            moving = FeatureStore(project_dir=root)
            started = time.perf_counter()
            moving.now = lambda: NOW + timedelta(seconds=time.perf_counter() - started)  # type: ignore[method-assign]
            moving_read, moving_plain = p50_us(
                lambda: moving.get_online_features([{"shop": random.choice(names)}], features),
                lambda: moving.get_online_features([{"event_id": random.randrange(events)}], ["events_plain:amount"]),
                3000,
            )
            check = store.get_online_features([{"shop": names[0]}], [features[3]]).values[0]
            assert check == [per_entity], check  # the 7d count: every event
            # 2. push
            def event():
                return {"shop": random.choice(names), "ts": NOW - timedelta(seconds=random.randint(0, 3600)), "amount": 1.5}

            window_push, plain_push = p50_us(
                lambda: store.push("events_windows", [event()]),
                lambda: store.push("events_plain", [{**event(), "event_id": random.randrange(events)}]),
                30,
            )
            print(f"sync {window_sync:.2f} / {plain_sync:.2f} s, read {window_read:.0f} / {plain_read:.0f} µs, "
                  f"read, clock moving {moving_read:.0f} / {moving_plain:.0f} µs, "
                  f"push {window_push:.0f} / {plain_push:.0f} µs", file=sys.stderr)
        finally:
            client = redis.Redis.from_url(redis_url)
            for key in client.scan_iter(match=f"{prefix}:*", count=5000):
                client.delete(key)
            client.delete(f"{{{prefix}}}:sync-lock")
    shape = f"{entities:,} entities x {per_entity} events"
    rows.append(("one-entity read, 4 windows x 3 functions (p50)", window_read, plain_read, 2.0, "µs"))
    rows.append(("the same read, the clock moving (p50)", moving_read, moving_plain, 2.0, "µs"))
    rows.append(("push of one event (p50)", window_push / 1000, plain_push / 1000, 2.0, "ms"))
    rows.append((f"full sync, {shape}", window_sync, plain_sync, 1.5, "s"))
    return rows


def _aggregation_names() -> list[str]:
    return [f"shop__amount_{f}__{w}" for f in WINDOWS["function"] for w in WINDOWS["windows"]]


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def table(rows) -> str:
    lines = ["| measurement | aggregation view | plain view | ratio | goal |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, windows, plain, goal, unit in rows:
        lines.append(f"| {name} | {windows:,.2f} {unit} | {plain:,.2f} {unit} | {windows / plain:.2f}x | <= {goal}x |")
    return "\n".join(lines)


NOTES = """Measured on the shared 2-core machine while other work ran (load 14 to 18 in these runs,
up to 39 in earlier ones), so the times move between runs; each ratio is of two reads taking
turns in one run. Before (the base of branch winread, run alternately with it in the same
session): read 2.25x and 2.26x (186.70 / 82.82 µs, 177.10 / 78.51 µs), the clock moving
2.68x and 2.67x; this branch, three runs: read 1.79x each time (the table is the last), the
clock moving 2.12x, 2.12x, 2.11x. Push and sync are not changed here; their ratios move with
the load (sync 0.57x to 1.16x in these runs).

**Read: within its goal with the project's clock frozen (1.79x; 2.29x in the last table,
2.25x in this session's runs of the base); 2.11x with the clock moving (2.67x before), not
yet within it.** The reader's CPU, not Redis, was most of the gap: 178 µs of client CPU per
read against 54 µs for the plain read (process time, same run; about 137 µs now). What moved
it: the windows' event ranges all end at t, so the 5m, 1h and 1d windows' events were three
ZRANGEBYSCOREs of the same events; a read now asks for each run of touching ranges once and
slices it per window by time (4 commands per read instead of 6), parses each member once, and
folds a window's events with builtins in the order `add_value` takes (same bits: a test holds
them equal); a selection's layout, a plan's steps and its request bytes are made once, not
per read. With the clock moving (a service's case, and a row new in this table: every read at
a new t), the plan was made again at every read, 95 µs of a 230 µs read; now what does not
move with t is cached apart, and a plan is kept per grain of the layout (the gcd of its
windows and tile sizes, 5 min here) and moved to each read's t (between two multiples of the
grain only the bounds t - w and t move; a test holds a moved plan equal to one made at that
instant). What the moving clock still costs over the frozen one: the 7d window's far edge is
a second range (t - 7d cuts a 12 h tile, where the frozen 12:00 falls on a tile's edge), so a
second command, and the ranges' bounds framed at each read.

**Sync: within its goal since the sync leaves sparse tile sizes out** (branch winperf; not
changed here). Of the aggregation view's 1.28 s before that (a run timing its parts), the
events' sorted sets took 0.29 s and the tiles about 1.0 s: one Arrow pass over every event per
tile size, whatever the number of tile fields. At this density (50 events per shop over 7
days) the 15 s, 5 min and 1 h tiles hold about one event each; a sync keeps a tile size only
where its tiles hold 2 events or more on average, records the others in the view's schema,
and their windows read their events (docs/online-store.md). Here that leaves one of the four
sizes (12 h, for the 7d window).

**Folding on the server (Lua) does not pay.** A script doing the least of it for this view
(HMGET of the 14 tiles and `cjson.decode` of each, one ZRANGEBYSCORE WITHSCORES, count, sum and
max per window, returned as text) against the pipeline of plain commands, taking turns on one
connection (load 37): 111 and 116 µs against 61 and 67 µs for the round trip; Redis's own
time per call 90 µs for the script against 2 µs per HMGET and 8 µs per ZRANGEBYSCORE. The
script would add about 50 µs to the round trip to save the reader's fold, about 40 µs of CPU
(and it could not stay exact: Lua's numbers are doubles, so no exact int sums past 2^53 nor
decimals, and its string order is the server's locale's).
"""


def write_docs(text: str, command: str) -> None:
    body = (
        f"{SECTION}\n\n`{command}` (one run, both views from the same DuckDB table of events, the same "
        "Redis; a push includes its append to the landing table). The aggregation view has 4 windows x "
        "3 functions (count, avg, max over 5m, 1h, 1d, 7d); the plain view one feature.\n\n" + text + "\n\n" + NOTES
    )
    docs = DOCS.read_text()
    if SECTION in docs:
        start = docs.index(SECTION)
        end = docs.find("\n## ", start + len(SECTION))
        docs = docs[:start] + body + (docs[end:] if end != -1 else "")
    else:
        docs = docs.rstrip("\n") + "\n\n" + body
    DOCS.write_text(docs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--events-per-entity", type=int, default=50)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    rows = run(args.redis_url, args.entities, args.events_per_entity)
    text = table(rows)
    print(text)
    if args.write_docs:
        command = f"python benchmarks/bench_online_windows.py --entities {args.entities} --events-per-entity {args.events_per_entity}"
        write_docs(text, command)


if __name__ == "__main__":
    main()
