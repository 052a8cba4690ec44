"""Aggregation views online: events and tiles in a real Redis, exact at the read's instant.

Each test has its own key prefix (`online`). The parity test checks every function on random
events, pushes and read times against a brute-force reference over the same events
(tests/online_windows.py). The Redis Cluster test is in test_online_cluster.py, beside the
cluster it shares.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore import FeatureStore
from featurestore.online import tile_sync
from tests.online_fixtures import online  # noqa: F401  (fixture)
from tests.online_windows import (
    MINUTE,
    NOW,
    SOME,
    VIEW,
    event,
    mismatches,
    offline_mismatches,
    set_events,
    store_at,
    write_project,
)


@pytest.fixture(autouse=True)
def every_tile_size(monkeypatch):
    """The few events of these tests would leave every tile size out (tile_sync's rule keeps a
    size where its tiles hold 2 events on average): the tests read tiles, so they keep every
    size; the parity test also draws the real rule."""
    monkeypatch.setattr(tile_sync, "EVENTS_PER_TILE", 0)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return write_project(tmp_path_factory.mktemp("windows"))


# Times on a minute grid and on 15-second marks, so events fall exactly on window and tile
# edges; prices on quarters, whose sums are exact.
events_strategy = st.lists(
    st.builds(
        event,
        st.sampled_from(["a", "b", "c:d"]),
        st.one_of(st.integers(0, 4 * 24 * 60).map(lambda m: m * MINUTE), st.integers(0, 3 * 24 * 3600)),
        st.one_of(st.none(), st.integers(0, 2 * 3600)),
        st.one_of(st.none(), st.integers(-50, 50)),
        st.one_of(st.none(), st.integers(-400, 400).map(lambda q: q / 4)),
        st.one_of(st.none(), st.sampled_from(["x", "y|z", "%w", ""])),
    ),
    max_size=40,
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batch=events_strategy,
    pushed=events_strategy,
    later=st.lists(st.one_of(st.integers(0, 3 * 24 * 60).map(lambda m: m * MINUTE), st.integers(0, 3 * 24 * 3600)), min_size=1, max_size=4),
    events_per_tile=st.sampled_from([0, 1, 2, 4]),
)
def test_online_value_equals_the_reference_at_every_read_time(project, online, batch, pushed, later, events_per_tile):
    """Events of the warehouse known by the sync, then pushed events, read at now and later:
    every function of every window equals the brute-force value at the read's instant, with
    every tile size kept (0) or the sparse ones left out (read from events)."""
    tile_sync.EVENTS_PER_TILE = events_per_tile  # the autouse fixture restores it
    online.delete_all()
    known = [e for e in batch if (e["loaded_at"] or e["ts"]) <= NOW]
    set_events(project, known)
    store = store_at(project, NOW)
    store.sync(views=[VIEW])
    in_redis = [e for e in pushed if (e["loaded_at"] or e["ts"]) <= NOW]
    if pushed:
        summary = store.push(VIEW, pushed)
        assert summary.not_yet_valid == len(pushed) - len(in_redis)
    events = known + in_redis
    wrong = mismatches(store, events, NOW, ["a", "b", "c:d", "never"])
    times = [NOW] + [NOW + timedelta(seconds=seconds) for seconds in later]
    for t in times[1:]:
        store.now = lambda t=t: t
        wrong += mismatches(store, events, t, ["a", "b", "c:d"])
    assert wrong == []


def test_online_values_equal_the_training_set_at_the_same_instants(tmp_path, online):
    """fs's offline SQL (a training set on DuckDB) and Redis at the same instants, on random
    events (fixed seed) synced, then pushed, then folded into the view as a build would."""
    import random

    root = write_project(tmp_path, [  # fewer features than the other tests: a training set's SQL grows with them
        {"column": "amount", "function": ["count", "sum", "avg", "min", "max", "stddev", "last"], "windows": ["1h", "1d"]},
        {"column": "price", "function": ["sum", "avg", "stddev"], "windows": ["90m"]},
        {"column": "item", "function": ["last", "count"], "windows": ["3d"]},
        {"column": "*", "function": "count", "windows": ["10m"]},
    ])
    rng = random.Random(22)
    stores = ["a", "b", "c:d", "e"]

    def random_event(seconds_back: int) -> dict:
        return event(rng.choice(stores), seconds_back, rng.choice([None, 0, rng.randint(0, 3600)]),
                     rng.choice([None, rng.randint(-50, 50)]), rng.choice([None, rng.randint(-400, 400) / 4]),
                     rng.choice([None, "x", "y|z", ""]))

    batch = [random_event(rng.choice([rng.randint(0, 3 * 86400), 60 * rng.randint(0, 4 * 1440)])) for _ in range(150)]
    known = [e for e in batch if (e["loaded_at"] or e["ts"]) <= NOW]
    set_events(root, known)
    store = store_at(root, NOW)
    store.sync()
    pushed = [e for e in (random_event(rng.randint(0, 86400)) for _ in range(30)) if (e["loaded_at"] or e["ts"]) <= NOW]
    store.push(VIEW, pushed)
    times = [NOW, NOW + timedelta(minutes=7), NOW + timedelta(hours=5, seconds=30), NOW + timedelta(days=2)]
    assert offline_mismatches(store, root, pushed, times, [*stores, "never"]) == []


def test_sync_get_and_verify_online_from_the_cli(tmp_path, online, cli):
    """fs sync, fs get and fs verify-online on an aggregation view; a tile changed in Redis
    is found by verify-online (exit 7, one line)."""
    root = write_project(tmp_path)
    set_events(root, SOME)
    assert cli("sync", "--project-dir", str(root))[0] == 0
    features = [f"{VIEW}:store__amount_count__1h", f"{VIEW}:store__amount_sum__1d", f"{VIEW}:store__count__10m",
                f"{VIEW}:store__price_avg__2d", f"{VIEW}:store__item_last__1d"]
    code, out, err = cli("get", *features, "--entity", "store=a", "--project-dir", str(root))
    assert (code, err) == (0, "")
    values = json.loads(out)[0]["values"]
    assert values == {features[0]: 2, features[1]: 7, features[2]: 1, features[3]: (1.5 + 2.25) / 2, features[4]: "x"}
    assert cli("verify-online", "--project-dir", str(root))[0] == 0

    generation = online.meta(VIEW)["generation"]
    tiles = f"{online.prefix}:{VIEW}:gen{generation}:{{store=a}}:tiles"
    # Every tile of the 1d window's size: a read takes the tiles wholly inside the window and
    # the edge tiles' raw events, so one tile picked by the hash's order (which differs between
    # Redis and Valkey) may be an edge tile that no read looks at.
    for field in [f for f in online.client.hkeys(tiles) if f.startswith("7200s@")]:
        data = json.loads(online.client.hget(tiles, field))
        data[0] += 5
        online.client.hset(tiles, field, json.dumps(data))
    code, out, err = cli("verify-online", "--project-dir", str(root))
    assert code == 7
    assert err.splitlines()[-1].startswith("error: ") and "between Redis and the warehouse in store_events" in err


def test_bad_pushes_exit_2_with_one_line_and_write_nothing(tmp_path, online, cli):
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = write_project(tmp_path)
    set_events(root, SOME)
    store_at(root, NOW).sync()
    keys_before = {k: online.client.dump(k) for k in online.keys()}
    where = "error: push to view 'store_events': "
    cases = {
        "no event time": ([{"store": "a", "amount": 1, "price": 1.0, "item": "x"}],
                          where + "the rows lack column(s) ts (needed: the join keys, the timestamp and every aggregated column)"),
        "null event time": ([{"store": "a", "ts": None, "amount": 1, "price": 1.0, "item": "x"}],
                            where + "1 row(s) have a null ts (first at row index 0); join keys and the timestamp must not be null"),
        "no aggregated column": ([{"store": "a", "ts": NOW, "amount": 1, "item": "x"}],
                                 where + "the rows lack column(s) price (needed: the join keys, the timestamp and every aggregated column)"),
    }
    for name, (rows, expected) in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path)
        code, out, err = cli("push", VIEW, "--file", str(path), "--project-dir", str(root))
        assert (code, err.strip()) == (2, expected), name
    assert {k: online.client.dump(k) for k in online.keys()} == keys_before


def test_a_push_of_events_may_carry_the_event_models_other_columns(tmp_path, online, cli):
    """An event model has columns no aggregation reads (an order's id): a push may carry them,
    as for any view, to the landing table the next build folds in; a column the model does
    not have is still refused, naming the relation."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = write_project(tmp_path, aggregations=[{"column": "amount", "function": "sum", "windows": ["1d"]}])
    set_events(root, SOME)
    with duckdb.connect(str(root / "demo.duckdb")) as con:
        con.execute(f"alter table main.{VIEW} add column order_id integer")
    store_at(root, NOW).sync()
    path = tmp_path / "events.parquet"
    pq.write_table(pa.Table.from_pylist([{"order_id": 9001, "store": "a", "ts": NOW - timedelta(minutes=1), "amount": 5}]), path)
    code, out, err = cli("push", VIEW, "--file", str(path), "--project-dir", str(root))
    assert (code, err) == (0, ""), err
    with duckdb.connect(str(root / "demo.duckdb"), read_only=True) as con:
        assert con.execute(f"select order_id, amount from main.{VIEW}__fs_pushed").fetchall() == [(9001, 5)]
    code, out, err = cli("get", f"{VIEW}:store__amount_sum__1d", "--entity", "store=a", "--project-dir", str(root))
    assert json.loads(out)[0]["values"] == {f"{VIEW}:store__amount_sum__1d": 3 + 4 + 5}

    pq.write_table(pa.Table.from_pylist([{"order_no": 9002, "store": "a", "ts": NOW, "amount": 5}]), path)
    code, out, err = cli("push", VIEW, "--file", str(path), "--project-dir", str(root))
    assert (code, err) == (2, f"error: push to view '{VIEW}': 'order_no' is not a column of demo.main.{VIEW}; did you mean 'order_id'?\n")


def test_push_trims_old_events_and_tiles_and_keys_expire_a_window_after_the_newest(tmp_path, online):
    """Under the real clock: keys live until their newest event leaves the longest window; a
    push drops events and tiles no window can count any more."""
    root = write_project(tmp_path, [{"column": "amount", "function": ["count", "sum"], "windows": ["1m", "2m"]}], now=None)
    now = datetime.utcnow().replace(microsecond=0)
    old, recent = now - timedelta(seconds=100), now - timedelta(seconds=10)
    set_events(root, [{"store": "a", "ts": old, "amount": 1}, {"store": "a", "ts": recent, "amount": 2}])
    FeatureStore(project_dir=root).sync()
    generation = online.meta(VIEW)["generation"]
    events = f"{online.prefix}:{VIEW}:gen{generation}:{{store=a}}:events"
    tiles = events.replace(":events", ":tiles")
    for key in (events, tiles):  # recent + 2 minutes - now: 110 s
        assert 100_000 < online.client.pttl(key) <= 111_000
    assert online.client.zcard(events) == 2

    later = now + timedelta(seconds=30)  # old is 130 s back: outside the 2m window
    store = store_at(root, later)
    store.push(VIEW, [{"store": "a", "ts": later, "amount": 4}])
    assert [m.split("|")[0] for m in online.client.zrange(events, 0, -1)] == [
        recent.isoformat(timespec="microseconds"), later.isoformat(timespec="microseconds")]
    assert all(not f.endswith(old.replace(second=0).isoformat()) for f in online.client.hkeys(tiles))
    found = store.get_online_features([{"store": "a"}], [f"{VIEW}:*"]).to_dict()[0]["values"]
    assert found == {f"{VIEW}:store__amount_count__1m": 2, f"{VIEW}:store__amount_count__2m": 2,
                     f"{VIEW}:store__amount_sum__1m": 6, f"{VIEW}:store__amount_sum__2m": 6}


def test_fs_serve_answers_aggregation_features_and_takes_pushed_events(tmp_path, online):
    import os
    import subprocess
    import sys

    from tests.integration.test_serve import TOKEN, free_port, post, request, wait_until_up

    root = write_project(tmp_path)
    set_events(root, SOME)
    store_at(root, NOW).sync()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FS_", "DBT_"))}
    env.update(FS_REDIS_URL=online.url, FS_KEY_PREFIX=online.prefix, FS_SERVE_TOKEN=TOKEN)
    command = ["serve", "--project-dir", str(root), "--port", str(port), "--workers", "1"]
    process = subprocess.Popen([sys.executable, "-m", "featurestore.cli", *command], env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_up(port, process)
        features = [f"{VIEW}:store__amount_count__1h", f"{VIEW}:store__price_max__2d"]
        status, document = post(port, {"features": features, "entities": {"store": ["a", "b", "nobody"]}})
        assert status == 200, document
        assert [r["values"] for r in document["results"][1:]] == [[2, 0, 0], [2.25, 0.5, None]]
        assert document["results"][1]["statuses"] == ["PRESENT"] * 3
        # POST /push of a raw event moves the windows at once (the streaming path).
        event_at = (NOW - timedelta(minutes=1)).isoformat() + "Z"
        df = {"store": ["b"], "ts": [event_at], "amount": [7], "price": [9.75], "item": ["q"]}
        status, document = request(port, "POST", "/push", json.dumps({"push_source_name": VIEW, "df": df}).encode())
        assert status == 200, document
        status, document = post(port, {"features": features, "entities": {"store": ["b"]}})
        assert [r["values"] for r in document["results"][1:]] == [[1], [9.75]]
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize("now", [datetime(2024, 3, 1, 12), datetime(9000, 3, 1, 12), datetime(1000, 3, 1, 12)])
def test_reads_are_exact_to_the_microsecond_where_redis_scores_are_not(tmp_path, online, now):
    """A Redis score is a double: past 2**53 microseconds from 1970 (before 1684, after 2255)
    neighbouring microseconds share one, so a range asked for by score alone took events
    beside a window's edge or left some out (9000: 9 events counted of 22). Events a
    microsecond apart around t - 1h and t, read at t and a few microseconds later."""
    root = write_project(tmp_path, [{"column": "amount", "function": ["count", "sum"], "windows": ["1h"]}], now=now)
    edge = now - timedelta(hours=1)
    events = [{"store": "a", "ts": edge + timedelta(microseconds=k), "loaded_at": None, "amount": 1 + k, "price": None, "item": None}
              for k in range(-20, 21)]
    events += [{"store": "a", "ts": now - timedelta(microseconds=k), "loaded_at": None, "amount": 100, "price": None, "item": None}
               for k in range(5)]
    set_events(root, events)
    store = store_at(root, now)
    store.sync(views=[VIEW])
    wrong = []
    for t in (now, now + timedelta(microseconds=3), now + timedelta(microseconds=17)):
        store.now = lambda t=t: t
        wrong += mismatches(store, events, t, ["a"])
    assert wrong == []
