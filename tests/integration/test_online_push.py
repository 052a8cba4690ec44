"""`fs push` and `FeatureStore.push` on the tiny one-view project, against the real Redis and
DuckDB: pushed rows are served at once, never over newer ones, with the sync's ttl; bad rows
write nothing; syncs after a push keep what was pushed, and a push waits for a sync."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore.errors import EXIT_LOCKED, EXIT_USAGE, EXIT_WAREHOUSE, UsageError
from featurestore.online.lock import SyncLock
from tests.online_fixtures import TINY_NOW, TINY_VIEW, online, row, tiny  # noqa: F401

pytestmark = pytest.mark.integration

LANDING = f"{TINY_VIEW}__fs_pushed"
ALL = [f"{TINY_VIEW}:*"]


def pushed(customer: str | None, day: int, **features) -> dict:
    """A row to push: the view's columns without created_at (the push fills in its own)."""
    values = row(customer, day, **features)
    del values["loaded_at"]
    return values


def landing_rows(project) -> list[dict]:
    with duckdb.connect(str(project.database), read_only=True) as con:
        tables = con.execute("select table_name from information_schema.tables").fetchall()
        if (LANDING,) not in tables:
            return []
        return con.sql(f"select * from main.{LANDING} order by customer_id, event_timestamp").to_arrow_table().to_pylist()


def served(store, customer: str) -> tuple[int | None, str | None]:
    """(orders, event timestamp) Redis serves for `customer`."""
    found = store.get_online_features([{"customer_id": customer}], ALL).to_dict()[0]
    return found["values"][f"{TINY_VIEW}:orders"], found["event_timestamps"][TINY_VIEW]


def test_pushed_rows_are_served_at_once_and_appended_to_the_landing_table(tiny, online):
    tiny.set_rows([row("c1", 20, orders=3)])
    store = tiny.store()
    store.sync()
    frame = pa.Table.from_pylist([pushed("c1", 25, orders=7, tier="silver"), pushed("c2", 26, orders=1)])
    summary = store.push(TINY_VIEW, frame)
    assert summary.to_dict() | {"seconds": 0} == {
        "view": TINY_VIEW,
        "redis": online.url,
        "landing": f"demo.main.{LANDING}",
        "generation": 1,
        "rows": 2,
        "keys_written": 2,
        "skipped_older": 0,
        "expired": 0,
        "not_yet_valid": 0,
        "seconds": 0,
    }
    assert served(store, "c1") == (7, "2024-02-25T00:00:00")
    assert served(store, "c2") == (1, "2024-02-26T00:00:00")
    # The same hash a sync writes, with the ttl counted from the project's "now"; created_at
    # is the moment of the push.
    assert online.entity(TINY_VIEW, "customer_id=c1")["tier"] == "silver"
    assert online.entity(TINY_VIEW, "customer_id=c1")["loaded_at"] == TINY_NOW.isoformat(timespec="microseconds")
    # The clock is frozen (clock.now): as in a sync, the key does not expire.
    key = f"{online.prefix}:{TINY_VIEW}:gen1:customer_id=c1"
    assert online.client.pttl(key) == -1
    landed = landing_rows(tiny)
    assert [(r["customer_id"], r["orders"], r["loaded_at"]) for r in landed] == [("c1", 7, TINY_NOW), ("c2", 1, TINY_NOW)]


def test_a_pushed_row_older_than_the_stored_one_is_skipped_and_counted(tiny, online):
    tiny.set_rows([row("c1", 25, orders=5)])
    store = tiny.store()
    store.sync()
    pandas_frame = pa.Table.from_pylist([pushed("c1", 22, orders=99), pushed("c1", 28, orders=8), pushed("c1", 27, orders=9)]).to_pandas()
    summary = store.push(TINY_VIEW, pandas_frame)
    # Day 22 is older than the stored day 25, and day 27 older than day 28 pushed before it.
    assert (summary.keys_written, summary.skipped_older) == (1, 2)
    assert served(store, "c1") == (8, "2024-02-28T00:00:00")
    assert len(landing_rows(tiny)) == 3  # history is history: all three are kept for training sets


def test_rows_past_their_ttl_or_not_yet_valid_are_not_served(tiny, online):
    tiny.set_rows([row("c1", 20)])
    store = tiny.store()
    store.sync()
    # A null created_at: known at the timestamp.
    stale = pushed("c2", 1) | {"event_timestamp": TINY_NOW - timedelta(days=31), "loaded_at": None}
    future = pushed("c3", 1) | {"event_timestamp": TINY_NOW + timedelta(hours=1), "loaded_at": None}
    known_later = pushed("c4", 20) | {"loaded_at": TINY_NOW + timedelta(minutes=5)}
    summary = store.push(TINY_VIEW, [stale, future, known_later])
    assert (summary.keys_written, summary.expired, summary.not_yet_valid) == (0, 1, 2)
    assert [served(store, c) for c in ("c2", "c3", "c4")] == [(None, None)] * 3
    assert len(landing_rows(tiny)) == 3


def test_a_full_sync_after_a_push_keeps_the_pushed_rows_and_an_incremental_one_writes_no_older_row(tiny, online):
    tiny.set_rows([row("c1", 20, orders=1)])
    store = tiny.store()
    store.sync()
    store.push(TINY_VIEW, [pushed("c1", 27, orders=27), pushed("c9", 26, orders=26)])
    watermark = online.meta(TINY_VIEW)["watermark"]
    # A batch row arrives for day 24, older than the pushed day 27, but loaded after the
    # watermark: the sync reads the pushed rows with the view's, and c1's latest is still day 27.
    tiny.add_rows([row("c1", 24, loaded_hour=23, orders=24)])
    incremental = store.sync().views[0]
    assert (incremental.mode, incremental.rows_read, incremental.keys_written) == ("incremental", 2, 2)
    assert served(store, "c1") == (27, "2024-02-27T00:00:00")
    # The pushed rows do not move the watermark: it follows the view's own rows.
    assert online.meta(TINY_VIEW)["watermark"] > watermark
    assert online.meta(TINY_VIEW)["watermark"] == "2024-02-24T23:00:00.000000"
    # A full sync rebuilds from the warehouse: the landing table is read with the view.
    full = store.sync(full=True).views[0]
    assert (full.generation, full.keys_written) == (2, 2)
    assert served(store, "c1") == (27, "2024-02-27T00:00:00")
    assert served(store, "c9") == (26, "2024-02-26T00:00:00")
    assert store.verify_online().mismatches == []


def test_a_push_waits_for_a_running_sync_and_gives_up_with_exit_6(tiny, online, cli, tmp_path):
    tiny.set_rows([row("c1", 20, orders=1)])
    tiny.store().sync()
    rows = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist([pushed("c1", 27, orders=27)]), rows)
    lock_client = online.client
    with SyncLock(lock_client, f"{online.prefix}:sync-lock"):
        code, out, err = cli("push", TINY_VIEW, "--file", str(rows), "--wait", "0.2", "--project-dir", str(tiny.root))
    assert code == EXIT_LOCKED and out == ""
    assert "a sync or push of this project held the lock for over 0.2 s" in err and "nothing was pushed" in err
    assert landing_rows(tiny) == [] and served(tiny.store(), "c1") == (1, "2024-02-20T00:00:00")
    # A sync that ends while the push waits: the push goes ahead.
    sync = SyncLock(lock_client, f"{online.prefix}:sync-lock").__enter__()
    threading.Timer(0.3, sync.__exit__, (None, None, None)).start()
    started = time.monotonic()
    code, out, err = cli("push", TINY_VIEW, "--file", str(rows), "--wait", "10", "--project-dir", str(tiny.root))
    assert (code, err) == (0, "") and time.monotonic() - started >= 0.3
    assert out.startswith("pushed 1 row to customer_stats: 1 key written")


BAD_ROWS = {
    "missing feature": (
        [{k: v for k, v in pushed("c1", 27).items() if k != "spend"}],
        "push to view 'customer_stats': the rows lack column(s) spend (needed: the join keys, the timestamp and every feature of the view)",
    ),
    "unknown column": (
        [pushed("c1", 27) | {"spent": 1.0}],
        "push to view 'customer_stats': 'spent' is not a column of demo.main.customer_stats; did you mean 'spend'?",
    ),
    "text for a number": (
        [pushed("c1", 27) | {"orders": "7"}],
        "push to view 'customer_stats': column 'orders' is str, which does not fit its type int64 (valid: int)",
    ),
    "float for an int": (
        [pushed("c1", 27) | {"orders": 7.5}],
        "push to view 'customer_stats': column 'orders' is float, which does not fit its type int64 (valid: int)",
    ),
    "null key": (
        [pushed("c1", 27), pushed(None, 27)],
        "push to view 'customer_stats': 1 row(s) have a null customer_id (first at row index 1); join keys and the timestamp must not be null",
    ),
    "null timestamp": (
        [pushed("c1", 27) | {"event_timestamp": None}],
        "push to view 'customer_stats': 1 row(s) have a null event_timestamp (first at row index 0); join keys and the timestamp must not be null",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_bad_rows_are_one_line_with_exit_2_and_write_nothing(tiny, online, cli, tmp_path, case):
    tiny.set_rows([row("c1", 20, orders=1)])
    tiny.store().sync()
    rows, message = BAD_ROWS[case]
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    code, out, err = cli("push", TINY_VIEW, "--file", str(path), "--project-dir", str(tiny.root))
    assert (code, out, err) == (EXIT_USAGE, "", f"error: {message}\n")
    assert landing_rows(tiny) == [] and served(tiny.store(), "c1") == (1, "2024-02-20T00:00:00")


def test_non_finite_floats_are_refused_from_every_input_and_write_nothing(tiny, online, cli, tmp_path):
    """NaN and infinities would be served as invalid JSON; a missing value is a null."""
    tiny.set_rows([row("c1", 20, orders=1)])
    store = tiny.store()
    store.sync()
    header = "customer_id,event_timestamp,orders,spend,active,tier,last_order_at\n"
    line = "c1,2024-02-27 10:00:00,12,{},true,gold,2024-02-26 09:00:00\n"
    for text, shown in [("inf", "inf"), ("-inf", "-inf"), ("nan", "nan"), ("NaN", "nan")]:
        path = tmp_path / "rows.csv"
        path.write_text(header + line.format(1.5) + line.format(text).replace("c1", "c2"))
        code, out, err = cli("push", TINY_VIEW, "--file", str(path), "--project-dir", str(tiny.root))
        assert (code, out) == (EXIT_USAGE, ""), text
        assert err == (
            f"error: push to view 'customer_stats': column 'spend' holds {shown} at row index 1; "
            "valid: finite numbers, or null for a missing value\n"
        )
    # JSON through the HTTP push or FeatureStore.push: NaN, Infinity and 1e400 (an infinity).
    for document in ("[1.5, NaN]", "[1.5, Infinity]", "[1.5, 1e400]", "[1.5, -Infinity]"):
        columns = {name: [value, value] for name, value in pushed("c1", 27).items()} | {"spend": json.loads(document)}
        columns["customer_id"] = ["c1", "c2"]
        with pytest.raises(UsageError, match=r"column 'spend' holds (nan|-?inf) at row index 1; valid: finite numbers"):
            store.push(TINY_VIEW, columns)
    arrow = pa.Table.from_pylist([pushed("c1", 27), pushed("c2", 27) | {"spend": float("-inf")}])
    with pytest.raises(UsageError, match="column 'spend' holds -inf at row index 1"):
        store.push(TINY_VIEW, arrow)
    assert landing_rows(tiny) == [] and served(store, "c1") == (1, "2024-02-20T00:00:00")
    assert served(store, "c2") == (None, None)


def test_rows_repeating_their_keys_and_time_are_refused_and_keys_written_counts_keys(tiny, online, cli, tmp_path):
    tiny.set_rows([row("c1", 20, orders=1)])
    store = tiny.store()
    store.sync()
    # Redis would keep the last of the three and the warehouse's latest-row query any one.
    repeated = [pushed("c1", 27, orders=n) for n in (1, 2, 3)] + [pushed("c2", 27), pushed("c2", 27, orders=5)]
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(repeated), path)
    code, out, err = cli("push", TINY_VIEW, "--file", str(path), "--project-dir", str(tiny.root))
    assert (code, out) == (EXIT_USAGE, "")
    assert err == (
        "error: push to view 'customer_stats': 3 rows have customer_id=c1, event_timestamp=2024-02-27T00:00:00 "
        "(and 1 more such repeat(s)); the rows must not repeat their join keys, timestamp and created_at: "
        "push one row per entity and time\n"
    )
    assert landing_rows(tiny) == [] and served(store, "c1") == (1, "2024-02-20T00:00:00")
    # The same entity at two times, the older one pushed first: one key written, the older
    # row counted as skipped; the warehouse and Redis agree.
    summary = store.push(TINY_VIEW, [pushed("c1", 26, orders=26), pushed("c1", 27, orders=27), pushed("c2", 25)])
    assert (summary.rows, summary.keys_written, summary.skipped_older) == (3, 2, 1)
    assert served(store, "c1") == (27, "2024-02-27T00:00:00")
    store.sync(full=True)
    assert store.verify_online().mismatches == []


def test_a_push_waits_for_a_sync_that_holds_the_duckdb_file(tiny, online):
    """A sync holds the lock and the warehouse open; a push queues on the lock instead of
    failing on the DuckDB file (DuckDB allows one writing process at a time)."""
    tiny.set_rows([row("c1", 20, orders=1)])
    store = tiny.store()
    store.sync()
    lock = SyncLock(online.client, f"{online.prefix}:sync-lock").__enter__()
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, sys; c = duckdb.connect({str(tiny.database)!r}); print('open', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    outcome: list = []
    try:
        assert holder.stdout.readline() == "open\n"
        pusher = threading.Thread(target=lambda: outcome.append(_push_or_error(store, [pushed("c1", 27, orders=27)])))
        pusher.start()
        time.sleep(0.5)
        assert outcome == []  # still waiting for the lock
    finally:
        holder.communicate("")  # the "sync" closes the DuckDB file, then releases the lock
        lock.__exit__(None, None, None)
    pusher.join(30)
    assert [getattr(result, "keys_written", result) for result in outcome] == [1]
    assert served(store, "c1") == (27, "2024-02-27T00:00:00")


def _push_or_error(store, rows):
    try:
        return store.push(TINY_VIEW, rows, lock_wait=20)
    except Exception as error:  # the test reports it
        return error


def test_a_missing_duckdb_file_is_reported_and_not_created(tiny, online, cli, tmp_path):
    tiny.set_rows([row("c1", 20, orders=1)])
    tiny.store().sync()
    tiny.database.unlink()
    rows = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist([pushed("c1", 27)]), rows)
    code, out, err = cli("push", TINY_VIEW, "--file", str(rows), "--project-dir", str(tiny.root))
    assert (code, out) == (EXIT_WAREHOUSE, "") and "does not exist yet" in err and err.count("\n") == 1
    assert not tiny.database.exists()


def test_a_csv_file_is_read_with_the_views_types(tiny, online, cli, tmp_path):
    tiny.set_rows([row("c1", 20, orders=1)])
    tiny.store().sync()
    good = tmp_path / "rows.csv"
    good.write_text(
        "customer_id,event_timestamp,orders,spend,active,tier,last_order_at\n"
        "007,2024-02-27 10:00:00,12,1.5,true,gold,2024-02-26 09:00:00\n"
    )
    code, out, err = cli("push", TINY_VIEW, "--file", str(good), "--json", "--project-dir", str(tiny.root))
    assert (code, err) == (0, "") and '"keys_written": 1' in out
    assert served(tiny.store(), "007") == (12, "2024-02-27T10:00:00")  # "007" stays text, as the view has it
    # Time with an offset or Z is converted to UTC, as from a dict of columns; an empty field is null.
    offsets = tmp_path / "offsets.csv"
    offsets.write_text(
        "customer_id,event_timestamp,orders,spend,active,tier,last_order_at\n"
        "c5,2024-02-27T12:00:00+02:00,5,1.5,true,gold,\n"
        "c6,2024-02-27T11:00:00Z,6,1.5,true,gold,2024-02-26T09:00:00-01:00\n"
    )
    code, out, err = cli("push", TINY_VIEW, "--file", str(offsets), "--project-dir", str(tiny.root))
    assert (code, err) == (0, "")
    assert [served(tiny.store(), c) for c in ("c5", "c6")] == [(5, "2024-02-27T10:00:00"), (6, "2024-02-27T11:00:00")]
    assert online.entity(TINY_VIEW, "customer_id=c6")["last_order_at"] == "2024-02-26T10:00:00.000000"
    assert "last_order_at" not in online.entity(TINY_VIEW, "customer_id=c5")
    bad = tmp_path / "bad.csv"
    bad.write_text(good.read_text().replace(",12,", ",twelve,"))
    code, out, err = cli("push", TINY_VIEW, "--file", str(bad), "--project-dir", str(tiny.root))
    assert code == EXIT_USAGE and err.startswith(f"error: cannot read {bad}: ") and "twelve" in err
    assert err.count("\n") == 1


def test_a_view_never_synced_to_this_redis_is_refused(tiny, online):
    tiny.set_rows([row("c1", 20)])
    with pytest.raises(UsageError, match="view 'customer_stats' was never synced to .*; run fs sync first"):
        tiny.store().push(TINY_VIEW, [pushed("c1", 27)])
    assert landing_rows(tiny) == [] and online.keys() == []


ENTITIES = ("c1", "c2")
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("batch"), st.sampled_from(ENTITIES), st.integers(1, 28)),
        st.tuples(st.just("push"), st.sampled_from(ENTITIES), st.integers(1, 28)),
        st.tuples(st.just("sync"), st.booleans()),
    ),
    min_size=1,
    max_size=8,
)


def latest(rows: list[dict]) -> dict[str, tuple[int, str]]:
    """The reference: per entity, (orders, timestamp) of its greatest (timestamp, loaded_at)."""
    best: dict[str, dict] = {}
    for r in rows:
        held = best.get(r["customer_id"])
        if held is None or (r["event_timestamp"], r["loaded_at"]) > (held["event_timestamp"], held["loaded_at"]):
            best[r["customer_id"]] = r
    return {c: (r["orders"], r["event_timestamp"].isoformat()) for c, r in best.items()}


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_pushes_and_syncs_in_any_order_serve_the_latest_row_offered(tiny, online, operations):
    """Whatever the order of batch rows, pushes and (full or incremental) syncs, Redis serves
    per entity the latest of the rows offered so far: batch rows up to the last sync and every
    pushed row. Batch rows are loaded in order (as the incremental sync's contract requires);
    a row's values follow from its day and source, so tied rows are equal."""
    online.delete_all()
    with duckdb.connect(str(tiny.database)) as con:
        con.execute(f"drop table if exists main.{LANDING}")
    batch = [row("c1", 1, orders=100)]
    tiny.set_rows(batch)
    store = tiny.store()
    store.sync()
    offered = list(batch)
    for index, operation in enumerate(operations):
        if operation[0] == "batch":
            _, customer, day = operation
            new = row(customer, day, orders=100 + day) | {"loaded_at": datetime(2024, 2, 29) + timedelta(minutes=index)}
            tiny.add_rows([new])
            batch.append(new)
        elif operation[0] == "push":
            _, customer, day = operation
            new = pushed(customer, day, orders=200 + day)
            store.push(TINY_VIEW, [new])
            offered.append(new | {"loaded_at": TINY_NOW})
        else:
            store.sync(full=operation[1])
            offered = batch + [r for r in offered if r["loaded_at"] == TINY_NOW]
        assert {c: served(store, c) for c in latest(offered)} == latest(offered), operations[: index + 1]
