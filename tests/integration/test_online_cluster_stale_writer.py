"""A sync stopped past its lock's expiry, on a Redis Cluster (docs/online-store.md, "Redis
Cluster"): no entity write on a node can check the lock held on another, so what must hold is
that the stalled sync publishes nothing, readers never see its generation, it stops at its
next round trip once it sees the lock lost, and whatever it wrote meanwhile is deleted by the
next full sync. (The single server's version, tests/integration/test_stale_writer.py, also
asserts that not one key is written after the lock was lost.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from featurestore.errors import EXIT_LOCKED, EXIT_ONLINE
from tests.cluster_server import on_cluster, redis_cluster_url, tiny_cluster  # noqa: F401  (fixtures)
from tests.conftest import project_env
from tests.online_fixtures import TINY_VIEW, row

pytestmark = pytest.mark.integration

ENTITIES = 200_000
LOCK_SECONDS = 2


def start_sync(project, area) -> subprocess.Popen:
    environment = {
        **project_env(),
        "FS_REDIS_URL": area.url,
        "FS_KEY_PREFIX": area.prefix,
        "FS_SYNC_LOCK_SECONDS": str(LOCK_SECONDS),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "featurestore.cli", "sync", "--full", "--project-dir", str(project.root)],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_sync_resumed_after_its_lock_expired_publishes_nothing_and_its_keys_are_swept(tiny_cluster, on_cluster):
    tiny_cluster.set_rows([row(f"c{i:06d}", 20, orders=1) for i in range(ENTITIES)])
    gen1 = f"{on_cluster.prefix}:{TINY_VIEW}:gen1:*"
    stale = start_sync(tiny_cluster, on_cluster)
    try:
        wait_for(lambda: on_cluster.meta().get("pending_generation") == "1"
                 and any(True for _ in on_cluster.client.scan_iter(match=gen1, count=1000)), seconds=60)  # fmt: skip
        os.kill(stale.pid, signal.SIGSTOP)
        time.sleep(LOCK_SECONDS + 1)  # its lock expires: nothing renews it
        fresh = start_sync(tiny_cluster, on_cluster)
        assert fresh.wait(120) == 0, fresh.stderr.read()
        assert on_cluster.meta()["generation"] == "2" and "retired" not in on_cluster.meta()
    finally:
        os.kill(stale.pid, signal.SIGCONT)
    code = stale.wait(60)
    error = stale.stderr.read()
    assert code in (EXIT_ONLINE, EXIT_LOCKED), error
    assert error.startswith("error: ") and error.count("\n") == 1 and "lock" in error

    # Readers are on generation 2, whole; generation 1 was never published.
    meta = on_cluster.meta()
    assert meta["generation"] == "2" and "pending_generation" not in meta
    assert tiny_cluster.store().verify_online(sample=500).mismatches == []
    # The next full sync deletes every key of a generation not in use, the stalled one's too.
    assert tiny_cluster.store().sync(full=True).views[0].keys_written == ENTITIES
    keys = on_cluster.entity_keys()
    assert len(keys) == ENTITIES and all(":gen3:" in key for key in keys)
