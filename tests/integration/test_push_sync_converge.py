"""Pushes and syncs converge (issue 20, items 4, 5, 6 and 10), on the tiny project with the
real Redis and DuckDB: a push only to a view whose model folds pushed rows in; rows after the
project's now are checked before anything is committed, and a retried push appends nothing
twice; a push killed (SIGKILL) between its landing append and its Redis writes is repaired by
the next plain `fs sync`; syncs wait their turn behind pushes, which name themselves, and
complete under a steady stream of pushes through `fs serve`."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from featurestore.errors import EXIT_LOCKED, EXIT_USAGE
from tests.conftest import write_manifest_project
from tests.manifests import manifest, model_node
from tests.online_fixtures import TINY_COLUMNS, TINY_META, TINY_NOW, TINY_VIEW, online, row, tiny  # noqa: F401

pytestmark = pytest.mark.integration

LANDING = f"{TINY_VIEW}__fs_pushed"
TOKEN = "converge-token-0123456789abcdef"


def pushed(customer: str, moment: datetime, loaded: datetime | None = None, **features) -> dict:
    """A row to push at `moment`; created_at (loaded_at) is the push's own unless given."""
    values = row(customer, 1, **features) | {"event_timestamp": moment}
    del values["loaded_at"]
    return values | ({"loaded_at": loaded} if loaded else {})


def landing_rows(tiny) -> list[tuple]:
    with duckdb.connect(str(tiny.database), read_only=True) as con:
        if (LANDING,) not in con.execute("select table_name from information_schema.tables").fetchall():
            return []
        return con.execute(f"select customer_id, event_timestamp, orders from main.{LANDING} order by all").fetchall()


def write_manifest_with_macros(tiny, macros: list[str]) -> None:
    node = model_node(TINY_VIEW, TINY_META, list(TINY_COLUMNS), types=TINY_COLUMNS)
    node["database"] = "demo"
    node["depends_on"]["macros"] = macros  # as dbt lists the macros a model calls
    write_manifest_project(tiny.root, manifest(node))


# -- item 4 ----------------------------------------------------------------------------------
def test_a_push_to_a_view_whose_model_does_not_fold_pushed_rows_in_is_refused(tiny, online, cli, tmp_path):
    tiny.set_rows([row("c1", 20)])
    write_manifest_with_macros(tiny, ["macro.featurestore.feature_store_double"])
    tiny.store().sync()
    rows = tmp_path / "rows.csv"
    rows.write_text("customer_id,event_timestamp,orders,spend,active,tier,last_order_at\nc1,2024-02-25,5,1.5,true,gold,2024-02-24\n")
    code, out, err = cli("push", TINY_VIEW, "--file", str(rows), "--project-dir", str(tiny.root))
    assert (code, out) == (EXIT_USAGE, "")
    assert err == (
        f"error: view '{TINY_VIEW}' cannot take pushes: its model (models/{TINY_VIEW}.sql) does not call "
        "featurestore.feature_store_with_pushed_rows (fs's dbt package), so the next dbt build would drop the pushed "
        "rows from training sets "
        "while Redis serves them (docs/online-store.md, \"Push\"); nothing was pushed\n"
    )
    assert landing_rows(tiny) == [] and online.entity(TINY_VIEW, "customer_id=c1")["orders"] == "1"

    write_manifest_with_macros(tiny, ["macro.featurestore.feature_store_with_pushed_rows"])
    code, out, err = cli("push", TINY_VIEW, "--file", str(rows), "--project-dir", str(tiny.root))
    assert (code, err) == (0, "") and online.entity(TINY_VIEW, "customer_id=c1")["orders"] == "5"


# -- item 5 ----------------------------------------------------------------------------------
def test_rows_after_now_to_a_ttl_view_are_kept_once_however_often_the_push_is_retried(tiny, online):
    tiny.set_rows([row("c1", 20)])
    store = tiny.store()
    store.sync()
    skewed = [pushed(f"s{i}", TINY_NOW + timedelta(minutes=1), orders=i) for i in range(3)]  # a minute of clock skew
    for attempt in range(3):  # a client retrying
        summary = store.push(TINY_VIEW, pa.Table.from_pylist(skewed))
        assert (summary.rows, summary.keys_written, summary.not_yet_valid, summary.expired) == (3, 0, 3, 0), attempt
    assert landing_rows(tiny) == [(f"s{i}", TINY_NOW + timedelta(minutes=1), i) for i in range(3)]
    assert online.keys(f"{TINY_VIEW}:gen*:customer_id=s*") == []


def test_a_retried_push_appends_nothing_twice_but_a_new_value_is_appended(tiny, online):
    tiny.set_rows([row("c1", 20)])
    store = tiny.store()
    store.sync()
    first = [pushed("r1", datetime(2024, 2, 25), orders=4), pushed("r2", datetime(2024, 2, 25), orders=5)]
    store.push(TINY_VIEW, pa.Table.from_pylist(first))
    store.push(TINY_VIEW, pa.Table.from_pylist(first))  # the answer was lost: pushed again
    store.push(TINY_VIEW, pa.Table.from_pylist([pushed("r1", datetime(2024, 2, 26), orders=6)]))
    assert landing_rows(tiny) == [
        ("r1", datetime(2024, 2, 25), 4), ("r1", datetime(2024, 2, 26), 6), ("r2", datetime(2024, 2, 25), 5)
    ]


# -- item 6 ----------------------------------------------------------------------------------
KILLED_PUSH = textwrap.dedent("""
    import os, signal, sys
    import pyarrow as pa
    from datetime import datetime
    from featurestore import FeatureStore
    from featurestore.online.writer import ViewWriter

    def killed(*args, **kwargs):  # kill -9 once the rows are in the landing table
        os.kill(os.getpid(), signal.SIGKILL)

    ViewWriter.write = killed
    rows = [{"customer_id": f"k{i}", "event_timestamp": datetime(2024, 2, 19), "loaded_at": datetime(2024, 2, 19, 1),
             "orders": i, "spend": 1.0, "active": True, "tier": "t", "last_order_at": datetime(2024, 2, 18)} for i in range(200)]
    FeatureStore(project_dir=sys.argv[1]).push("customer_stats", pa.Table.from_pylist(rows))
""")


def test_a_push_killed_between_the_landing_table_and_redis_is_repaired_by_the_next_plain_sync(tiny, online, monkeypatch):
    tiny.set_rows([row("c1", 20)])  # watermark: 2024-02-20 06:00, after the pushed rows' created_at
    store = tiny.store()
    store.sync()
    env = {**os.environ, "FS_SYNC_LOCK_SECONDS": "1"}
    killed = subprocess.run([sys.executable, "-c", KILLED_PUSH, str(tiny.root)], env=env, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(landing_rows(tiny)) == 200 and online.keys(f"{TINY_VIEW}:gen*:customer_id=k*") == []
    deadline = time.monotonic() + 10
    while online.client.exists(f"{online.prefix}:sync-lock") and time.monotonic() < deadline:
        time.sleep(0.1)  # the dead push's lock expires

    result = store.sync().views[0]  # what cron runs: no --full
    assert (result.mode, result.rows_read) == ("incremental", 201)  # c1 too: it was loaded after the killed push's rows
    assert len(online.keys(f"{TINY_VIEW}:gen*:customer_id=k*")) == 200
    assert store.verify_online().mismatches == []
    assert online.entity(TINY_VIEW, "customer_id=k7")["orders"] == "7"
    assert "pushed_since" not in online.meta(TINY_VIEW)  # repaired: the next sync reads from its watermark
    assert store.sync().views[0].rows_read == 0


# -- item 10 ---------------------------------------------------------------------------------
def test_a_sync_waits_for_a_push_and_names_it_when_the_wait_is_over(tiny, online, cli):
    tiny.set_rows([row("c1", 20)])
    holder = "push on elsewhere pid 7 since 2024-03-01T00:00:00+00:00"
    online.client.set(f"{online.prefix}:sync-lock", f"{holder} token 01", px=60_000)
    started = time.monotonic()
    code, out, err = cli("sync", "--wait", "0.5", "--project-dir", str(tiny.root))
    assert (code, out) == (EXIT_LOCKED, "") and time.monotonic() - started >= 0.5
    assert err.startswith(
        f"error: a push to this project held the lock for over 0.5 s (lock {online.prefix}:sync-lock, held by {holder}); "
        "try again when it ends; if it died, its lock expires within "
    )
    online.client.set(f"{online.prefix}:sync-lock", f"{holder} token 02", px=1000)  # a push ending within the wait
    code, _, err = cli("sync", "--project-dir", str(tiny.root))
    assert (code, err) == (0, "") and len(online.entity_keys(TINY_VIEW)) == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_syncs_complete_under_a_steady_stream_of_pushes_through_fs_serve(tiny, online, monkeypatch):
    import uvicorn

    tiny.set_rows([row(f"c{i}", 20) for i in range(20)])
    monkeypatch.setenv("FS_SERVE_TOKEN", TOKEN)
    store = tiny.store()
    store.sync()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(tiny.store().feature_server(), host="127.0.0.1", port=port, log_level="critical"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)

    stop, pushes, failures = threading.Event(), [0, 0], []

    def pusher(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        moment = datetime(2024, 2, 21)
        while not stop.is_set() and pushes[index] < 2000:  # bounded in count as in time
            moment += timedelta(seconds=1)
            df = {"customer_id": [f"c{index}"], "event_timestamp": [moment.isoformat()], "orders": [pushes[index]],
                  "spend": [1.0], "active": [True], "tier": ["t"], "last_order_at": ["2024-02-20T00:00:00"]}
            body = json.dumps({"push_source_name": TINY_VIEW, "df": df}).encode()
            connection.request("POST", "/push", body, {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
            response = connection.getresponse()
            answer = response.read()
            if response.status != 200:
                failures.append(answer)
            pushes[index] += 1

    threads = [threading.Thread(target=pusher, args=(i,)) for i in range(2)]
    try:
        for thread in threads:
            thread.start()
        while sum(pushes) < 10:  # the stream is flowing
            time.sleep(0.05)
        started = time.monotonic()
        results = [store.sync().views[0] for _ in range(4)]  # each waits its turn (30 s at most)
        synced_in = time.monotonic() - started
        during = sum(pushes)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
        server.should_exit = True
    assert [r.error for r in results] == [None] * 4 and synced_in < 60
    assert sum(pushes) > during > 10 and failures == []  # pushes went on between the syncs
    assert store.verify_online().mismatches == []
    assert online.entity(TINY_VIEW, "customer_id=c0")["orders"] == str(pushes[0] - 1)
