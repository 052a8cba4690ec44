"""Faults of a Redis Cluster under fs: a primary killed mid-sync, slots migrated while a full
sync writes, a replica promoted under a reader. Each test starts a cluster of its own
(tests/cluster_server.py), as it kills nodes or moves slots.

The faults strike at a chosen moment of the sync: after its writer has read the replies of
its first round trips (the writer sends 50 rows a round trip here, so a sync of a thousand
rows has many), in the same process, between two round trips.
"""

from __future__ import annotations

import time
import uuid

import pytest

from featurestore.online.cluster import key_slot
from featurestore.online.cluster_writer import NodeWriter
from featurestore.online.writer import ViewWriter
from tests.cluster_server import LocalCluster, _wait, start_cluster, wait_for_failover
from tests.online_fixtures import TINY_COLUMNS, TINY_VIEW, TinyProject, row, write_tiny_manifest

ROWS = 1000


@pytest.fixture
def project(tmp_path, clean_env, monkeypatch):
    prefix = f"fs-test:{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("FS_KEY_PREFIX", prefix)
    monkeypatch.setenv("FS_SYNC_LOCK_SECONDS", "2")
    monkeypatch.setattr(ViewWriter, "rows_per_round_trip", 50)
    write_tiny_manifest(tmp_path, TINY_COLUMNS)
    tiny = TinyProject(tmp_path)
    tiny.set_rows([row(f"c{i:04d}", 3, orders=i) for i in range(ROWS)])
    tiny.prefix = prefix
    monkeypatch.chdir(tmp_path)
    return tiny


def cluster_with(monkeypatch, replicas_each: int) -> LocalCluster:
    cluster = start_cluster(3, replicas_each)
    monkeypatch.setenv("FS_REDIS_URL", cluster.url)
    return cluster


def strike_after(monkeypatch, round_trips: int, fault) -> list[int]:
    """Run `fault()` once, when the writers have read the replies of `round_trips` round trips."""
    seen = [0]
    collect = NodeWriter._collect_oldest

    def counting(self):
        collect(self)
        seen[0] += 1
        if seen[0] == round_trips:
            fault()

    monkeypatch.setattr(NodeWriter, "_collect_oldest", counting)
    return seen


def all_orders(project) -> list:
    store = project.store()
    online = store.get_online_features([{"customer_id": f"c{i:04d}"} for i in range(ROWS)], [f"{TINY_VIEW}:orders"])
    return [values[0] for values in online.values]


def meta_node_port(cluster: LocalCluster, prefix: str) -> int:
    slot = key_slot(f"{{{prefix}}}".encode())
    share = 16384 // 3
    return cluster.primaries[min(slot // share, 2)].port


def test_a_primary_killed_mid_sync_fails_the_sync_publishes_nothing_and_the_next_sync_completes(project, cli, monkeypatch):
    cluster = cluster_with(monkeypatch, replicas_each=1)
    try:
        lock_port = meta_node_port(cluster, project.prefix)
        victim = next(node for node in cluster.primaries if node.port != lock_port)
        strike_after(monkeypatch, 3, victim.kill)
        code, out, err = cli("sync")
        assert code == 5, out + err
        assert err.startswith("error: lost the connection to Redis at redis+cluster://") and "Traceback" not in err
        meta = cluster_client(cluster).hgetall(f"{{{project.prefix}}}:{TINY_VIEW}:meta")
        assert "generation" not in meta and meta["pending_generation"] == "1"  # nothing published

        monkeypatch.undo()  # no more faults, and 10,000 rows a round trip again
        monkeypatch.setenv("FS_KEY_PREFIX", project.prefix)
        monkeypatch.setenv("FS_REDIS_URL", cluster.url)
        monkeypatch.setenv("FS_SYNC_LOCK_SECONDS", "2")
        monkeypatch.chdir(project.root)
        wait_for_failover(cluster, victim)
        code, out, err = cli("sync")
        assert code == 0, out + err
        meta = cluster_client(cluster).hgetall(f"{{{project.prefix}}}:{TINY_VIEW}:meta")
        assert meta["generation"] == "2" and "pending_generation" not in meta
        assert all_orders(project) == list(range(ROWS))
    finally:
        cluster.stop()


def test_slots_migrated_during_a_full_sync_are_followed_and_every_row_lands(project, cli, monkeypatch):
    cluster = cluster_with(monkeypatch, replicas_each=0)
    try:
        ids = {node.port: node.client().execute_command("CLUSTER", "MYID") for node in cluster.primaries}
        share = 16384 // 3

        def owner(slot):
            return cluster.primaries[min(slot // share, 2)]

        base = f"{project.prefix}:{TINY_VIEW}:gen1:customer_id="
        chosen: dict[str, int] = {}

        def choose_unwritten() -> None:
            """Two entities not written yet, in different slots: the one whose slot is moved
            whole gets MOVED when written, the other's slot is left migrating (ASK)."""
            client = cluster_client(cluster)
            unwritten = [i for i in range(ROWS) if not client.exists(f"{base}c{i:04d}")]
            chosen["moved"] = unwritten[0]
            chosen["asking"] = next(i for i in unwritten if slot_of(i) != slot_of(unwritten[0]))

        def slot_of(i: int) -> int:
            return key_slot(f"{base}c{i:04d}".encode())

        def migrate(slot, finish):
            source = owner(slot)
            target = next(node for node in cluster.primaries if node is not source)
            target.client().execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source.port])
            source.client().execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target.port])
            keys = source.client().execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000)
            if keys:
                source.client().execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
            if finish:
                for node in cluster.primaries:
                    node.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[target.port])
            return source, target

        through_cluster = []
        resend = NodeWriter._write_through_cluster
        monkeypatch.setattr(
            NodeWriter, "_write_through_cluster", lambda self, *a: (through_cluster.append(a[1:]), resend(self, *a))
        )
        moves = []
        def fault() -> None:
            choose_unwritten()
            moves.extend([migrate(slot_of(chosen["moved"]), True), migrate(slot_of(chosen["asking"]), False)])

        strike_after(monkeypatch, 4, fault)
        code, out, err = cli("sync", "--full")
        assert code == 0, out + err
        assert moves, "the slots were never migrated"
        assert through_cluster, "no write was redirected: the test moved no slot the sync still wrote to"
        (_, moved_to), (asking_from, asking_to) = moves
        for node in cluster.primaries:  # finish the second migration
            node.client().execute_command("CLUSTER", "SETSLOT", slot_of(chosen["asking"]), "NODE", ids[asking_to.port])
        moved, asking = chosen["moved"], chosen["asking"]
        assert moved_to.client().hgetall(f"{base}c{moved:04d}")["orders"] == str(moved)
        assert asking_to.client().hgetall(f"{base}c{asking:04d}")["orders"] == str(asking)
        assert all_orders(project) == list(range(ROWS))
        keys = sum(node.client().dbsize() for node in cluster.primaries)
        assert keys == ROWS + 1  # the entities and the meta hash (the lock is released)
    finally:
        cluster.stop()


def test_reads_continue_after_a_replica_is_promoted(project, cli, monkeypatch):
    cluster = cluster_with(monkeypatch, replicas_each=1)
    try:
        assert cli("sync")[0] == 0
        store = project.store()
        wanted = [{"customer_id": f"c{i:04d}"} for i in range(0, ROWS, 7)]
        before = store.get_online_features(wanted, [f"{TINY_VIEW}:orders"]).values
        assert [v[0] for v in before] == list(range(0, ROWS, 7))
        lock_port = meta_node_port(cluster, project.prefix)
        _wait(lambda: all(node.client().info("replication")["master_repl_offset"] > 0 for node in cluster.replicas), "replication")
        time.sleep(0.5)  # the replicas have every write (WAIT would say so; the writes are long done)
        victim = next(node for node in cluster.primaries if node.port != lock_port)
        victim.kill()
        wait_for_failover(cluster, victim)
        after = store.get_online_features(wanted, [f"{TINY_VIEW}:orders"]).values  # the same reader, its connections broken
        assert after == before
    finally:
        cluster.stop()


def cluster_client(cluster: LocalCluster):
    from featurestore.online.cluster import cluster_client as client

    return client(cluster.url, 1, "fs-test")
