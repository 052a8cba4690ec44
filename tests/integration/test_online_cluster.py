"""The online store on a real Redis Cluster of 3 primaries (tests/cluster_server.py): sync,
push, reads, verify-online and the CLI, with what is stored checked node by node."""

from __future__ import annotations

from datetime import datetime

from featurestore.online.cluster import key_slot
from featurestore.online.cluster_reader import ClusterReader
from tests.cluster_server import on_cluster, redis_cluster_url, tiny_cluster  # noqa: F401  (fixtures)
from tests.online_fixtures import TINY_VIEW, row


def customers(count: int, day: int = 1, **features) -> list[dict]:
    return [row(f"c{i:04d}", day, orders=i, **features) for i in range(count)]


def test_a_full_sync_spreads_entities_over_every_primary_and_reads_them_back(tiny_cluster, on_cluster):
    rows = customers(600)
    tiny_cluster.set_rows(rows)
    summary = tiny_cluster.store().sync()
    assert [v.keys_written for v in summary.views] == [600]

    meta = on_cluster.meta()
    assert meta["generation"] == "1" and meta["last_sync"] == "full"
    # The meta hash and the lock share one slot: the hash tag is the prefix.
    assert key_slot(f"{{{on_cluster.prefix}}}:{TINY_VIEW}:meta".encode()) == key_slot(on_cluster.prefix.encode())
    per_node = on_cluster.keys_per_node()
    assert sum(per_node.values()) == 600 and len(per_node) == 3 and min(per_node.values()) > 100
    assert on_cluster.entity("customer_id=c0042") == {
        "event_timestamp": "2024-02-01T00:00:00.000000",
        "loaded_at": "2024-02-01T06:00:00.000000",
        "orders": "42",
        "spend": "10.5",
        "active": "true",
        "tier": "gold",
        "last_order_at": "2024-01-31T08:15:00.000000",
    }

    store = tiny_cluster.store()
    wanted = [{"customer_id": f"c{i:04d}"} for i in range(0, 600, 3)] + [{"customer_id": "nobody"}]
    online = store.get_online_features(wanted, [f"{TINY_VIEW}:orders", f"{TINY_VIEW}:tier"])
    assert isinstance(store._online_reader(None), ClusterReader)
    assert [list(values) for values in online.values] == [[i, "gold"] for i in range(0, 600, 3)] + [[None, None]]
    assert online.statuses[-1] == ["missing", "missing"]


def test_an_incremental_sync_writes_newer_rows_never_older_ones_and_a_full_one_deletes_the_old_generation(
    tiny_cluster, on_cluster
):
    tiny_cluster.set_rows(customers(300, day=5))
    tiny_cluster.store().sync()
    # Newer rows for the first 100, older ones (loaded later, so past the watermark) for the next 100.
    newer = [row(f"c{i:04d}", 6, orders=1000 + i) for i in range(100)]
    older = [{**row(f"c{i:04d}", 4, orders=-1), "loaded_at": datetime(2024, 2, 5, 23)} for i in range(100, 200)]
    tiny_cluster.add_rows(newer + older)
    summary = tiny_cluster.store().sync()
    (view,) = summary.views
    assert view.mode.value == "incremental" and view.keys_written == 100 and view.skipped_older == 100
    assert on_cluster.entity("customer_id=c0007")["orders"] == "1007"
    assert on_cluster.entity("customer_id=c0107")["orders"] == "107"

    full = tiny_cluster.store().sync(full=True)
    assert full.views[0].keys_written == 300 and full.views[0].removed_keys == 300
    assert on_cluster.meta()["generation"] == "2"
    assert len(on_cluster.entity_keys()) == 300
    assert all(":gen2:" in key for key in on_cluster.entity_keys())


def test_push_on_a_cluster_writes_each_entity_on_its_node(tiny_cluster, on_cluster):
    tiny_cluster.set_rows(customers(50, day=5))
    store = tiny_cluster.store()
    store.sync()
    pushed = [row(f"c{i:04d}", 20, orders=5000 + i) for i in range(0, 50, 2)] + [row("c0001", 1, orders=-1)]
    summary = store.push(TINY_VIEW, pushed)
    assert summary.keys_written == 25 and summary.skipped_older == 1
    online = store.get_online_features([{"customer_id": "c0004"}, {"customer_id": "c0001"}], [f"{TINY_VIEW}:orders"])
    assert [list(values) for values in online.values] == [[5004], [1]]


def test_the_cli_syncs_reads_and_verifies_on_a_cluster(tiny_cluster, on_cluster, cli, monkeypatch):
    tiny_cluster.set_rows(customers(120, day=10))
    monkeypatch.chdir(tiny_cluster.root)
    code, out, err = cli("sync")
    assert code == 0, err
    assert "redis+cluster://" in out + err
    code, out, err = cli("verify-online")
    assert code == 0, out + err
    # A key Redis serves that the warehouse has no row for, on whichever node holds it.
    on_cluster.client.hset(f"{on_cluster.prefix}:{TINY_VIEW}:gen1:customer_id=ghost", mapping={"event_timestamp": "2024-02-10T00:00:00.000000", "orders": "1"})
    code, out, err = cli("verify-online")
    assert code != 0 and "ghost" in out + err


def test_a_cluster_url_whose_nodes_are_all_down_is_one_line(tiny_cluster, cli, monkeypatch):
    from tests.servers import _free_port

    monkeypatch.chdir(tiny_cluster.root)
    url = f"redis+cluster://user:s3cr3t@127.0.0.1:{_free_port()},127.0.0.1:{_free_port()}"
    code, out, err = cli("sync", "--redis-url", url)
    assert code == 5, err
    lines = err.strip().splitlines()
    assert len(lines) <= 2 and lines[0].startswith("error: cannot reach the Redis Cluster at redis+cluster://user:***@127.0.0.1:")
    assert "s3cr3t" not in out + err and "Traceback" not in err


def test_fs_serve_reads_from_a_cluster(tiny_cluster, on_cluster):
    import json
    import os
    import subprocess
    import sys

    from tests.integration.test_serve import free_port, post, wait_until_up

    tiny_cluster.set_rows(customers(40, day=12))
    tiny_cluster.store().sync()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FS_", "DBT_"))}
    env.update(FS_REDIS_URL=on_cluster.url, FS_KEY_PREFIX=on_cluster.prefix)
    command = ["serve", "--project-dir", str(tiny_cluster.root), "--port", str(port), "--workers", "1"]
    process = subprocess.Popen([sys.executable, "-m", "featurestore.cli", *command], env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_up(port, process)
        entities = ["c0003", "c0039", "nobody"]
        status, document = post(port, {"features": [f"{TINY_VIEW}:orders"], "entities": {"customer_id": entities}})
        assert status == 200, json.dumps(document)
        assert document["results"][1]["values"] == [3, 39, None]
        assert document["results"][1]["statuses"] == ["PRESENT", "PRESENT", "NOT_FOUND"]
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_one_reachable_start_up_node_is_enough(tiny_cluster, on_cluster, cli, monkeypatch):
    from tests.servers import _free_port

    tiny_cluster.set_rows(customers(30, day=12))
    monkeypatch.chdir(tiny_cluster.root)
    live = on_cluster.url.split("://", 1)[1].split(",")[0]
    code, out, err = cli("sync", "--redis-url", f"redis+cluster://127.0.0.1:{_free_port()},{live}")
    assert code == 0, err
    assert sum(on_cluster.keys_per_node().values()) == 30


def test_a_slow_read_checks_the_generation_again_and_rereads_when_it_moved(tiny_cluster, on_cluster, monkeypatch):
    from featurestore.online import cluster_reader

    tiny_cluster.set_rows(customers(20, day=12))
    store = tiny_cluster.store()
    store.sync()
    wanted = [{"customer_id": f"c{i:04d}"} for i in range(20)]
    assert [v[0] for v in store.get_online_features(wanted, [f"{TINY_VIEW}:orders"]).values] == list(range(20))

    # Every read counts as slow; a full sync publishes generation 2 right after the entities
    # of generation 1 were read, before the meta hashes are read again.
    monkeypatch.setattr(cluster_reader, "READ_BOUND_SECONDS", 0.0)
    exchange, calls = cluster_reader.ClusterReader._exchange, []

    def rebuilt_meanwhile(self, groups, count):
        replies = exchange(self, groups, count)
        calls.append(len(groups))
        if len(calls) == 1:
            tiny_cluster.set_rows([row(f"c{i:04d}", 13, orders=100 + i) for i in range(20)])
            assert tiny_cluster.store().sync(full=True).views[0].keys_written == 20
        return replies

    monkeypatch.setattr(cluster_reader.ClusterReader, "_exchange", rebuilt_meanwhile)
    online = store.get_online_features(wanted, [f"{TINY_VIEW}:orders"])
    assert [v[0] for v in online.values] == [100 + i for i in range(20)]
    assert calls[:2] == [3, 1]  # the read (metas, entities, metas), then the metas alone


def test_an_aggregation_view_syncs_pushes_and_reads_on_a_cluster(tmp_path, on_cluster):
    from tests.online_windows import MINUTE, NOW, VIEW, event, mismatches, set_events, store_at, write_project

    """Each entity's events and tiles share a hash tag, so its push script runs on one node;
    reads go to every node in one pipeline."""
    root = write_project(tmp_path)
    stores = [f"s{i}" for i in range(30)]
    batch = [event(s, 60 * i + 7, None, i, i / 4, "x") for i, s in enumerate(stores)]
    set_events(root, batch)
    store = store_at(root, NOW)
    store.sync()
    pushed = [event(s, 15 * MINUTE, 0, 100 + i, None, "y") for i, s in enumerate(stores[::3])]
    store.push(VIEW, pushed)
    nodes = {on_cluster.client.cluster_keyslot(k) for k in on_cluster.client.scan_iter(match=f"{on_cluster.prefix}:{VIEW}:gen*", count=1000)}
    assert len(nodes) > 1
    assert mismatches(store, batch + pushed, NOW, stores + ["nobody"]) == []
