"""Faults against the real Redis: unreachable, connection lost mid-sync, two syncs at once, a
lock lost and a meta hash lost mid-sync."""

from __future__ import annotations

import re
import threading
import time

import pyarrow as pa
import pytest
import redis

from featurestore.errors import (
    EXIT_LOCKED,
    EXIT_ONLINE,
    EXIT_PROJECT,
    EXIT_USAGE,
    OnlineStoreError,
    ProjectError,
    SyncIncomplete,
    SyncLockedError,
)
from featurestore.online import sync as sync_module
from featurestore.online import writer
from featurestore.online.keys import Keyspace
from featurestore.online.lock import SyncLock
from featurestore.online.state import ViewStateChanged, begin_generation, remove_orphans, remove_retired
from tests.online_fixtures import TINY_VIEW, online, row, tiny  # noqa: F401

pytestmark = pytest.mark.integration

ENTITIES = 3000


def many_rows(day: int, orders: int) -> list[dict]:
    return [row(f"c{i:05d}", day, orders=orders) for i in range(ENTITIES)]


def kill_sync_connection_after(monkeypatch, online, round_trips: int) -> list[int]:
    """Once `round_trips` round trips were sent, CLIENT KILL the sync's writing connection
    from another connection, just before the next one is sent."""
    monkeypatch.setattr(writer.ViewWriter, "rows_per_round_trip", 200)
    sent: list[int] = []
    original = writer.ViewWriter._send

    def send(self, round_trip):
        if len(sent) == round_trips:
            host, port = self.connection._sock.getsockname()[:2]  # the server's view of this client
            assert online.client.client_kill_filter(addr=f"{host}:{port}") == 1
        sent.append(round_trip.rows)
        original(self, round_trip)

    monkeypatch.setattr(writer.ViewWriter, "_send", send)
    return sent


def test_unreachable_redis_is_one_clear_line_and_nothing_is_written(tiny, online, cli, monkeypatch):
    tiny.set_rows([row("c1", 20)])
    code, out, err = cli("sync", "--redis-url", "redis://127.0.0.1:1/0", "--project-dir", str(tiny.root))
    assert (code, out) == (EXIT_ONLINE, "")
    assert err == (
        "error: cannot reach Redis at redis://127.0.0.1:1/0 (from --redis-url) while connecting: "
        "Error 111 connecting to 127.0.0.1:1. Connection refused.; start it, or point fs at "
        "another with --redis-url or FS_REDIS_URL\n"
    )
    monkeypatch.setenv("FS_REDIS_URL", "redis://:secret@127.0.0.1:1/0")
    code, _, err = cli("get", f"{TINY_VIEW}:orders", "-e", "customer_id=c1", "--project-dir", str(tiny.root))
    assert code == EXIT_ONLINE
    assert err.startswith("error: cannot reach Redis at redis://:***@127.0.0.1:1/0 (from FS_REDIS_URL) while connecting")
    assert online.keys() == []
    code, _, err = cli("sync", "--redis-url", "localhost:6379", "--project-dir", str(tiny.root))
    assert (code, err) == (
        EXIT_USAGE,
        "error: --redis-url: <malformed URL> is not a Redis URL (valid: redis://host:port/db, "
        "rediss://... for TLS, unix:///path/to/redis.sock)\n",
    )


def test_connection_lost_on_the_first_sync_leaves_no_watermark_and_the_next_run_converges(
    tiny, online, cli, monkeypatch
):
    tiny.set_rows(many_rows(20, orders=1))
    sent = kill_sync_connection_after(monkeypatch, online, round_trips=3)
    code, _, err = cli("sync", "--project-dir", str(tiny.root))
    assert code == EXIT_ONLINE
    assert err.startswith(f"error: lost the connection to Redis at {online.url} (from FS_REDIS_URL) while syncing view '{TINY_VIEW}': ")
    assert err.endswith("; its watermark was not advanced, so the next fs sync finishes the work\n")
    # The write that fails is the fourth round trip's, or the fifth's when the third's replies
    # had arrived before the kill: either way the sync stopped there.
    assert len(sent) in (4, 5)
    meta = online.meta(TINY_VIEW)
    assert "generation" not in meta and "watermark" not in meta and meta["pending_generation"] == "1"
    assert 0 < len(online.entity_keys(TINY_VIEW)) < ENTITIES  # half-written, and invisible to readers
    assert online.client.get(f"{online.prefix}:sync-lock") is None  # released on the way out

    store = tiny.store()
    result = store.sync().views[0]
    assert (result.mode, result.generation, result.keys_written) == ("full", 2, ENTITIES)
    assert len(online.entity_keys(TINY_VIEW)) == ENTITIES  # the broken generation 1 is gone
    assert all(":gen2:" in key for key in online.entity_keys(TINY_VIEW))
    assert "pending_generation" not in online.meta(TINY_VIEW)
    assert store.verify_online().mismatches == []


def test_connection_lost_during_an_incremental_sync_keeps_the_watermark(tiny, online, monkeypatch):
    tiny.set_rows(many_rows(20, orders=1))
    store = tiny.store()
    store.sync()
    watermark = online.meta(TINY_VIEW)["watermark"]
    tiny.add_rows(many_rows(21, orders=2))
    kill_sync_connection_after(monkeypatch, online, round_trips=2)
    with pytest.raises(OnlineStoreError):
        store.sync()
    assert online.meta(TINY_VIEW)["watermark"] == watermark
    stored = [online.client.hget(k, "orders") for k in online.entity_keys(TINY_VIEW)]
    assert stored.count("2") > 0 and stored.count("1") > 0  # some rows made it, not all

    result = store.sync().views[0]
    assert (result.mode, result.rows_read, result.keys_written) == ("incremental", ENTITIES, ENTITIES)
    assert {online.client.hget(k, "orders") for k in online.entity_keys(TINY_VIEW)} == {"2"}
    assert online.meta(TINY_VIEW)["watermark"] == "2024-02-21T06:00:00.000000"
    assert store.verify_online().mismatches == []


def test_a_second_sync_refuses_while_one_runs(tiny, online, cli):
    tiny.set_rows([row("c1", 20)])
    with SyncLock(online.client, f"{online.prefix}:sync-lock"):  # a sync in another process
        code, out, err = cli("sync", "--project-dir", str(tiny.root))
        assert (code, out) == (EXIT_LOCKED, "")
        assert err.startswith(f"error: another fs sync of this project is running (lock {online.prefix}:sync-lock, held by ")
        assert " pid " in err and err.endswith("try again when it ends; if it died, its lock expires within 60 s\n")
        assert online.entity_keys(TINY_VIEW) == []
    code, _, _ = cli("sync", "--project-dir", str(tiny.root))
    assert code == 0 and len(online.entity_keys(TINY_VIEW)) == 1


def test_two_syncs_started_together_one_runs_one_refuses(tiny, online, monkeypatch):
    tiny.set_rows(many_rows(20, orders=1))
    started, release = threading.Event(), threading.Event()
    original = writer.ViewWriter._send

    def slow_send(self, round_trip):
        started.set()
        release.wait(10)
        original(self, round_trip)

    monkeypatch.setattr(writer.ViewWriter, "_send", slow_send)
    outcome = {}

    def first():
        outcome["first"] = tiny.store().sync()

    runner = threading.Thread(target=first)
    runner.start()
    assert started.wait(10)
    with pytest.raises(SyncLockedError) as raised:
        tiny.store().sync()
    release.set()
    runner.join(10)
    assert raised.value.exit_code == EXIT_LOCKED and raised.value.lock_key == f"{online.prefix}:sync-lock"
    assert outcome["first"].total("keys_written") == ENTITIES
    assert online.client.get(f"{online.prefix}:sync-lock") is None


def test_a_dead_holders_lock_expires_and_a_late_release_frees_nothing(online):
    key = f"{online.prefix}:sync-lock"
    online.client.set(key, "elsewhere pid 99 since 2024-03-01T00:00:00+00:00 token 00", px=500)  # it died
    with pytest.raises(SyncLockedError) as raised:
        SyncLock(online.client, key).__enter__()
    assert raised.value.holder == "elsewhere pid 99 since 2024-03-01T00:00:00+00:00"
    time.sleep(0.6)
    with SyncLock(online.client, key) as lock:
        assert online.client.get(key) == lock.value and 55_000 < online.client.pttl(key) <= 60_000
        online.client.set(key, "a sync that took over an expired lock")
    assert online.client.get(key) == "a sync that took over an expired lock"


def before_the_first_round_trip(monkeypatch, action) -> None:
    """Run `action` once, just before the sync sends its first rows."""
    original, done = writer.ViewWriter._send, []

    def send(self, round_trip):
        if not done:
            done.append(action())
        original(self, round_trip)

    monkeypatch.setattr(writer.ViewWriter, "_send", send)


@pytest.mark.parametrize("full", [True, False], ids=["full", "incremental"])
def test_a_meta_hash_lost_during_a_sync_publishes_nothing_and_the_next_sync_rebuilds(tiny, online, monkeypatch, full):
    tiny.set_rows([row("c1", 20, orders=1, tier="gold"), row("c2", 20, orders=2)])
    store = tiny.store()
    store.sync()
    tiny.add_rows([row("c1", 21, orders=3, tier=None)])
    meta_key = f"{online.prefix}:{TINY_VIEW}:meta"
    with monkeypatch.context() as patched:
        before_the_first_round_trip(patched, lambda: online.client.delete(meta_key))  # evicted, say
        with pytest.raises(OnlineStoreError) as raised:
            store.sync(full=full)
    assert str(raised.value) == (
        f"while syncing view '{TINY_VIEW}' in Redis at {online.url}: the meta hash {meta_key} "
        "changed during the sync (deleted, or evicted by a maxmemory policy: give fs's Redis noeviction "
        "or a volatile-* policy), so nothing was published for the view; its watermark was not advanced, "
        "so the next fs sync finishes the work"
    )
    assert online.meta(TINY_VIEW) == {}  # not brought back half-filled, without last_generation

    result = store.sync().views[0]  # every key of the view is an orphan now: removed, then rebuilt
    assert (result.mode, result.generation, result.keys_written) == ("full", 1, 2)
    assert online.entity_keys(TINY_VIEW) == [f"{online.prefix}:{TINY_VIEW}:gen1:customer_id={c}" for c in ("c1", "c2")]
    assert online.entity(TINY_VIEW, "customer_id=c1") == {
        "event_timestamp": "2024-02-21T00:00:00.000000",
        "loaded_at": "2024-02-21T06:00:00.000000",
        "orders": "3",
        "spend": "10.5",
        "active": "true",
        "last_order_at": "2024-01-31T08:15:00.000000",
    }
    assert store.verify_online().mismatches == []


def test_a_sync_that_lost_its_lock_publishes_nothing(tiny, online, monkeypatch):
    tiny.set_rows([row("c1", 20, orders=1)])
    store = tiny.store()
    store.sync()
    published = online.meta(TINY_VIEW)
    tiny.add_rows([row("c1", 21, orders=2)])
    lock_key, other = f"{online.prefix}:sync-lock", "elsewhere pid 7 since 2024-03-01T00:00:00+00:00 token 01"
    with monkeypatch.context() as patched:
        # The lock expired (say the process was stopped for a minute) and another sync took it.
        before_the_first_round_trip(patched, lambda: online.client.set(lock_key, other))
        with pytest.raises(SyncLockedError) as raised:
            store.sync(full=True)
    assert str(raised.value).startswith(
        f"this sync lost its lock (it was not renewed in time) and stopped (lock {lock_key}, held by elsewhere pid 7"
    )
    meta = online.meta(TINY_VIEW)
    assert (meta["generation"], meta["watermark"], meta["pending_generation"]) == ("1", published["watermark"], "2")
    assert online.client.get(lock_key) == other  # the other sync's lock is left alone
    assert online.keys(f"{TINY_VIEW}:gen2:*") == []  # Redis refused its first round trip
    online.client.delete(lock_key)  # the other sync ends

    result = store.sync().views[0]
    assert (result.mode, result.generation, result.keys_written, result.removed_keys) == ("incremental", 1, 1, 0)
    assert online.entity(TINY_VIEW, "customer_id=c1")["orders"] == "2"
    assert "pending_generation" not in online.meta(TINY_VIEW)


def test_a_new_generation_is_past_every_number_the_meta_hash_names(online):
    keyspace = Keyspace(online.prefix)
    with SyncLock(online.client, keyspace.lock_key()) as lock:
        online.client.hset(keyspace.meta_key("v"), mapping={"generation": 3, "pending_generation": 5})  # no last_generation
        assert begin_generation(online.client, keyspace, "v", True, lock) == 6
        assert online.client.hmget(keyspace.meta_key("v"), ["last_generation", "pending_generation"]) == ["6", "6"]
        online.client.hset(keyspace.meta_key("u"), mapping={"generation": 7, "pending_generation": 5, "last_generation": 3})
        assert begin_generation(online.client, keyspace, "u", True, lock) == 8
        with pytest.raises(ViewStateChanged, match=r"the meta hash .*:w:meta changed during the sync \(deleted, or evicted"):
            begin_generation(online.client, keyspace, "w", True, lock)
        assert online.client.exists(keyspace.meta_key("w")) == 0
        with pytest.raises(ViewStateChanged, match=r"the meta hash .*:v:meta appeared during the sync, though the sync lock"):
            begin_generation(online.client, keyspace, "v", False, lock)


def test_a_full_sync_publishes_only_the_generation_it_began(tiny, online, monkeypatch):
    tiny.set_rows([row("c1", 20, orders=1)])
    store = tiny.store()
    store.sync()
    meta_key = f"{online.prefix}:{TINY_VIEW}:meta"
    with monkeypatch.context() as patched:  # as if another writer had begun generation 9
        before_the_first_round_trip(patched, lambda: online.client.hset(meta_key, "pending_generation", 9))
        with pytest.raises(OnlineStoreError, match="changed during the sync"):
            store.sync(full=True)
    assert online.meta(TINY_VIEW)["generation"] == "1"
    assert store.get_online_features([{"customer_id": "c1"}], [f"{TINY_VIEW}:orders"]).values == [[1]]


def test_a_sync_that_lost_its_lock_deletes_nothing(tiny, online):
    tiny.set_rows([row("c1", 20, orders=1), row("c2", 20, orders=2)])
    store = tiny.store()
    store.sync()
    store.sync(full=True)  # generation 2; generation 1 is retired and deleted
    keyspace = Keyspace(online.prefix)
    online.client.hset(keyspace.meta_key(TINY_VIEW), "retired", "2")  # as if something had retired the live one
    stalled = SyncLock(online.client, keyspace.lock_key()).__enter__()
    online.client.set(keyspace.lock_key(), "elsewhere pid 7 since 2024-03-01T00:00:00+00:00 token 01")  # taken over
    with pytest.raises(SyncLockedError, match="this sync lost its lock"):
        remove_retired(online.client, keyspace, TINY_VIEW, stalled)
    online.client.delete(keyspace.meta_key(TINY_VIEW))
    with pytest.raises(SyncLockedError, match="this sync lost its lock"):
        remove_orphans(online.client, keyspace, TINY_VIEW, stalled)
    stalled.__exit__(None, None, None)
    assert len(online.entity_keys(TINY_VIEW)) == 2

    online.client.delete(keyspace.lock_key())
    with SyncLock(online.client, keyspace.lock_key()) as lock:  # with the lock, still never the live generation
        online.client.hset(keyspace.meta_key(TINY_VIEW), mapping={"generation": 2, "retired": "2"})
        with pytest.raises(ViewStateChanged, match="names generation 2 as in use again"):
            remove_retired(online.client, keyspace, TINY_VIEW, lock)
        with pytest.raises(ViewStateChanged, match="appeared while fs deleted the keys a lost one had left"):
            remove_orphans(online.client, keyspace, TINY_VIEW, lock)  # the view has a meta hash: no orphans
    assert len(online.entity_keys(TINY_VIEW)) == 2


def test_an_old_generation_whose_deletion_failed_is_deleted_by_the_next_sync(tiny, online, cli, monkeypatch):
    tiny.set_rows([row(f"c{i}", 20) for i in range(5)])
    store = tiny.store()
    store.sync()
    real_remove = sync_module.remove_retired
    calls = []

    def fails_after_publishing(client, keyspace, view, lock):
        calls.append(online.meta(TINY_VIEW).get("generation"))
        if len(calls) == 2:  # the second call is the one after the publish
            raise redis.ConnectionError("Connection closed by server.")
        return real_remove(client, keyspace, view, lock)

    monkeypatch.setattr(sync_module, "remove_retired", fails_after_publishing)
    code, _, err = cli("sync", "--full", "--project-dir", str(tiny.root))
    assert code == EXIT_ONLINE and calls == ["1", "2"]
    assert err == (
        f"error: lost the connection to Redis at {online.url} (from FS_REDIS_URL) while deleting the "
        f"older generation of view '{TINY_VIEW}': Connection closed by server.; the view was published; the "
        "next fs sync deletes the keys of its older generation\n"
    )
    assert online.meta(TINY_VIEW)["retired"] == "1" and len(online.entity_keys(TINY_VIEW)) == 10
    monkeypatch.setattr(sync_module, "remove_retired", real_remove)

    result = store.sync().views[0]
    assert (result.mode, result.removed_keys) == ("incremental", 5)
    assert "retired" not in online.meta(TINY_VIEW)
    assert all(":gen2:" in key for key in online.entity_keys(TINY_VIEW)) and len(online.entity_keys(TINY_VIEW)) == 5


def test_rows_too_large_for_one_arrow_array_go_in_smaller_round_trips(tiny, online, monkeypatch):
    tiny.set_rows([row(f"c{i}", 20, orders=i) for i in range(10)])
    store = tiny.store()
    frame_rows, sizes = writer.ViewWriter._plain_commands, []

    def at_most(limit: int):
        def frame(self, rows, start, stop):
            if stop - start > limit:  # as pyarrow says when a string array would pass 2 GiB
                raise pa.ArrowCapacityError("array cannot contain more than 2147483646 bytes")
            sizes.append(stop - start)
            return frame_rows(self, rows, start, stop)

        return frame

    monkeypatch.setattr(writer.ViewWriter, "_plain_commands", at_most(3))
    assert store.sync().views[0].keys_written == 10
    assert sizes == [2, 3, 2, 3]  # halved until each part fits, in order
    assert store.verify_online().mismatches == []

    monkeypatch.setattr(writer.ViewWriter, "_plain_commands", at_most(0))
    with pytest.raises(SyncIncomplete) as raised:  # the view failed, with this ProjectError:
        store.sync(full=True)
    assert isinstance(raised.value.failed[TINY_VIEW], ProjectError) and raised.value.exit_code == EXIT_PROJECT
    assert re.fullmatch(
        f"the row of {re.escape(online.prefix)}:{TINY_VIEW}:gen2:customer_id=c[0-9] is over 2 GiB as text, more "
        r"than Redis takes in one value \(512 MB\); set online: false on its view, or leave the large column out",
        str(raised.value),
    )


@pytest.mark.parametrize("key, shown", [("timeout", "5"), ("passwd", "***")])
def test_an_unknown_option_in_the_redis_url_is_one_line(tiny, online, cli, key, shown):
    # redis-py raises TypeError for it when the first connection is made.
    url = f"redis://:s3cr3t@127.0.0.1:1/0?{key}=5"
    code, out, err = cli("sync", "--redis-url", url, "--project-dir", str(tiny.root))
    assert (code, out) == (EXIT_USAGE, "")
    assert err == (
        f"error: --redis-url: redis://:***@127.0.0.1:1/0?{key}={shown}: unknown option '{key}' in the query string "
        "(valid: redis-py's URL options, such as db, socket_timeout or health_check_interval)\n"
    )
