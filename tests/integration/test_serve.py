"""`fs serve`, the HTTP feature server, against the real Redis and DuckDB: a real `fs serve
--workers 2` in a subprocess on a free port, over the tiny project (tests/online_fixtures.py)
synced once for the module. Its answers must be those of `get_online_features`, in Feast's
shape; what it is pushed must be what `FeatureStore.push` writes (pushes use entities of
their own, p*, which the read tests do not ask for)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from featurestore import FeatureStore
from featurestore.errors import UsageError
from featurestore.online.lock import SyncLock
from featurestore.serve.app import feature_server
from featurestore.serve.limits import MAX_REQUEST_BYTES
from tests.conftest import write_manifest_project
from tests.manifests import exposure, manifest, model_node
from tests.online_fixtures import TINY_COLUMNS, TINY_META, TINY_NOW, TINY_VIEW, Online, TinyProject, row
from tests.servers import start_redis

pytestmark = pytest.mark.integration

SERVICE = "churn_model"
TOKEN = "test-token-0123456789abcdef"
"""The server's token (FS_SERVE_TOKEN), which `request` sends."""
ROWS = [
    row("c1", 20, orders=3, spend=12.25, tier="gold"),
    row("c2", 21, orders=7, spend=1.5, tier=None),  # a null feature: NULL_VALUE
    row("c:3", 22, orders=1, spend=0.0, tier="silver"),  # a key that needs escaping
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str | None] | None = None) -> tuple[int, dict]:
    """The status and JSON answer; `headers` add to (or, with None, remove) the defaults."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        sent = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}", **(headers or {})}
        connection.request(method, path, body=body, headers={k: v for k, v in sent.items() if v is not None})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def post(port: int, document: dict) -> tuple[int, dict]:
    return request(port, "POST", "/get-online-features", json.dumps(document).encode())


def wait_until_up(port: int, process: subprocess.Popen | None = None, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"fs serve exited with {process.returncode}: {process.stderr.read()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port} after {seconds} s")


@dataclass
class Served:
    root: Path
    env: dict[str, str]
    """FS_REDIS_URL and the key prefix of the module's own."""
    store: FeatureStore
    """An in-process store reading the same Redis under the same prefix."""


@pytest.fixture(scope="module")
def project(tmp_path_factory, redis_url):
    """The tiny project with a feature service, synced once into a prefix of its own."""
    root = tmp_path_factory.mktemp("serve")
    node = model_node(TINY_VIEW, TINY_META, list(TINY_COLUMNS), types=TINY_COLUMNS)
    node["database"] = "demo"
    service = exposure(SERVICE, [f"{TINY_VIEW}:orders", f"{TINY_VIEW}:tier"], [TINY_VIEW])
    write_manifest_project(root, manifest(node, exposures=[service]))
    (root / "feature_store.yml").write_text(f"clock:\n  now: {TINY_NOW.isoformat()}\n")
    area = Online(redis_url, f"fs-test:{uuid.uuid4().hex[:12]}")
    env = {"FS_REDIS_URL": redis_url, "FS_KEY_PREFIX": area.prefix, "FS_SERVE_TOKEN": TOKEN}
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith(("FS_", "DBT_"))]:
            patch.delenv(key)
        for key, value in env.items():
            patch.setenv(key, value)
        tiny = TinyProject(root)
        tiny.set_rows(ROWS)
        store = tiny.store()
        store.sync()
        store.ping_online()  # the store's reader is made here, with the module's prefix
    yield Served(root, env, store)
    area.delete_all()


@pytest.fixture(scope="module")
def server(project):
    """A real `fs serve --workers 2` on a free port; its port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FS_", "DBT_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "featurestore.cli", "serve", "--project-dir", str(project.root), "--port", str(port), "--workers", "2"],
        env={**env, **project.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_up(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


ENTITIES = {"customer_id": ["c1", "c2", "c:3", "nobody"]}
FEATURES = [f"{TINY_VIEW}:orders", f"{TINY_VIEW}:spend", f"{TINY_VIEW}:tier", f"{TINY_VIEW}:last_order_at"]


def jsonable(value):
    return value.isoformat() if isinstance(value, datetime) else value


def test_values_are_those_of_get_online_features_in_feasts_shape(server, project):
    status, document = post(server, {"features": FEATURES, "entities": ENTITIES})
    assert status == 200, document

    rows = [{"customer_id": c} for c in ENTITIES["customer_id"]]
    expected = project.store.get_online_features(rows, FEATURES, bare_names=True)
    assert document["metadata"]["feature_names"] == ["customer_id", "orders", "spend", "tier", "last_order_at"]
    key, *columns = document["results"]
    assert key == {"values": ENTITIES["customer_id"], "statuses": ["PRESENT"] * 4, "event_timestamps": ["1970-01-01T00:00:00Z"] * 4}
    assert [[column["values"][i] for column in columns] for i in range(4)] == [
        [jsonable(v) for v in values] for values in expected.values
    ]
    assert [column["values"] for column in columns][:3] == [[3, 7, 1, None], [12.25, 1.5, 0.0, None], ["gold", None, "silver", None]]
    assert [column["statuses"] for column in columns][2] == ["PRESENT", "NULL_VALUE", "PRESENT", "NOT_FOUND"]
    assert columns[0]["event_timestamps"] == [
        "2024-02-20T00:00:00Z", "2024-02-21T00:00:00Z", "2024-02-22T00:00:00Z", "1970-01-01T00:00:00Z"
    ]


def test_a_feature_service_and_full_feature_names(server):
    status, document = post(server, {"feature_service": SERVICE, "entities": {"customer_id": ["c1"]}, "full_feature_names": True})
    assert status == 200, document
    assert document["metadata"]["feature_names"] == ["customer_id", f"{TINY_VIEW}__orders", f"{TINY_VIEW}__tier"]
    assert [column["values"] for column in document["results"]] == [["c1"], [3], ["gold"]]


@pytest.mark.parametrize(
    "body, features, entity_rows",
    [
        ({"features": [f"{TINY_VIEW}:order"], "entities": {"customer_id": ["c1"]}}, [f"{TINY_VIEW}:order"], [{"customer_id": "c1"}]),
        ({"features": ["nope:orders"], "entities": {"customer_id": ["c1"]}}, ["nope:orders"], [{"customer_id": "c1"}]),
        ({"features": [f"{TINY_VIEW}:orders"], "entities": {"customer": ["c1"]}}, [f"{TINY_VIEW}:orders"], [{"customer": "c1"}]),
    ],
    ids=["unknown feature", "unknown view", "missing join key"],
)
def test_unknown_features_and_missing_keys_are_400_with_the_clis_line(server, project, body, features, entity_rows):
    with pytest.raises(UsageError) as raised:
        project.store.get_online_features(entity_rows, features, bare_names=True)
    assert post(server, body) == (400, {"detail": str(raised.value)})


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{not json", "the request body is not JSON"),
        (b'{"features": ["a:b"], "entities": {"customer_id": ["c1", "c2"], "other": ["x"]}}', "customer_id has 2, other has 1"),
        (b'{"features": ["a:b"], "feature_service": "s", "entities": {"customer_id": ["c1"]}}', 'not both or neither'),
        (b'{"features": ["a:b"], "entity": {"customer_id": ["c1"]}}', "unknown request field 'entity'"),
        (b'{"features": ["a:b"], "entities": {"customer_id": [{"a": 1}]}}', '"customer_id" holds an object at row 0'),
    ],
    ids=["not json", "uneven entities", "features and service", "unknown field", "object as a key"],
)
def test_a_malformed_request_is_400_in_one_line(server, body, message):
    status, document = request(server, "POST", "/get-online-features", body)
    assert status == 400 and message in document["detail"] and "\n" not in document["detail"]


@pytest.mark.parametrize("path", ["/get-online-features", "/push"])
def test_json_nested_past_pythons_recursion_limit_is_400_in_one_line(server, path):
    body = b'{"features": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert request(server, "POST", path, body) == (
        400, {"detail": "the request body is not JSON fs reads: it nests arrays or objects too deeply"}
    )


def test_empty_entity_lists_still_name_the_join_keys(server):
    status, document = post(server, {"features": FEATURES, "entities": {"customer_id": []}})
    assert status == 200, document
    assert document["metadata"]["feature_names"] == ["customer_id", *(f.split(":")[1] for f in FEATURES)]
    assert document["results"][0] == {"values": [], "statuses": [], "event_timestamps": []}


def test_a_request_over_the_limit_is_413_with_or_without_a_length(server):
    big = json.dumps({"features": FEATURES, "entities": {"customer_id": ["c1"] * (MAX_REQUEST_BYTES // 5)}}).encode()
    status, document = request(server, "POST", "/get-online-features", big)
    assert status == 413 and "over 1,048,576 bytes" in document["detail"]

    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    connection.request("POST", "/get-online-features", body=iter([big[i:i + 65536] for i in range(0, len(big), 65536)]), encode_chunked=True,
                       headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 413 and "over 1,048,576 bytes" in json.loads(response.read())["detail"]
    connection.close()


def test_unknown_endpoints_and_methods_say_what_is_served(server):
    assert request(server, "GET", "/features") == (
        404, {"detail": "no endpoint /features (valid: POST /get-online-features, POST /push, GET /health, GET /openapi.json)"}
    )
    status, document = request(server, "GET", "/get-online-features")
    assert status == 405 and document["detail"].startswith("GET /get-online-features is not served")


def test_health_and_the_openapi_description(server):
    assert request(server, "GET", "/health") == (200, {"status": "ok"})
    status, document = request(server, "GET", "/openapi.json")
    assert status == 200 and set(document["paths"]) == {"/get-online-features", "/push", "/health"}


def serve_in_thread(app) -> tuple[int, "object", threading.Thread]:
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until_up(port)
    return port, server, thread


def test_health_is_503_while_redis_is_down_and_reads_too(project):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    port, server, thread = serve_in_thread(project.store.feature_server(redis_url=dead))
    try:
        status, document = request(port, "GET", "/health")
        assert status == 503 and document["detail"].startswith(f"cannot reach Redis at {dead}")
        status, document = post(port, {"features": FEATURES, "entities": {"customer_id": ["c1"]}})
        assert status == 503 and "cannot reach Redis" in document["detail"]
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_workers_redis_url_from_the_environment_is_named_so(project, monkeypatch):
    """`fs serve --workers N`: each worker opens the store from the parent's spec, with no
    FS_REDIS_URL in its environment; its 503 still names FS_REDIS_URL, as one worker's does,
    not --redis-url."""
    from featurestore.serve.guard import AccessPolicy
    from featurestore.serve.limits import RequestLimits
    from featurestore.serve.run import worker_spec
    from featurestore.store import STORE_SPEC_ENV, worker_app

    dead = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setenv("FS_REDIS_URL", dead)
    policy, limits = AccessPolicy.from_environment("127.0.0.1"), RequestLimits.from_environment()
    with worker_spec(project.store._worker_settings(None), policy, limits) as path:
        assert "FS_REDIS_URL" not in os.environ  # removed before the workers start
        monkeypatch.setenv(STORE_SPEC_ENV, str(path))
        app = worker_app()
    port, server, thread = serve_in_thread(app)
    try:
        status, document = request(port, "GET", "/health")
        assert status == 503 and document["detail"].startswith(f"cannot reach Redis at {dead} (from FS_REDIS_URL)")
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def throwaway_redis(tmp_path):
    """A Redis server of this test's own (tests/servers.py) on a free port, which the test may
    stop; its URL and process."""
    server = start_redis(tmp_path)
    yield server.url, server.process
    server.stop()


def test_redis_gone_after_start_is_503_with_the_clis_line_not_500(project, throwaway_redis):
    from featurestore.errors import OnlineStoreError

    url, redis_process = throwaway_redis
    project.store.sync(redis_url=url)
    body = {"features": FEATURES, "entities": {"customer_id": ["c1"]}}
    port, server, thread = serve_in_thread(project.store.feature_server(redis_url=url))
    try:
        # Up and answering, but no read yet: the server's first read takes its connection.
        assert request(port, "GET", "/health") == (200, {"status": "ok"})
        redis_process.terminate()
        redis_process.wait(timeout=30)
        with pytest.raises(OnlineStoreError) as raised:
            project.store.get_online_features([{"customer_id": "c1"}], FEATURES, redis_url=url)
        assert "lost the connection to Redis" in str(raised.value) or "cannot reach Redis" in str(raised.value)
        assert post(port, body) == (503, {"detail": str(raised.value)})  # fs get's line
        assert request(port, "GET", "/health")[0] == 503
    finally:
        server.should_exit = True
        thread.join(10)


def a_read_with_a_bug(*args, **kwargs):
    raise KeyError("secret internals")


def test_a_bug_is_500_in_one_line_without_a_traceback(caplog):
    port, server, thread = serve_in_thread(feature_server(a_read_with_a_bug, lambda: None, a_read_with_a_bug))
    try:
        status, document = post(port, {"features": FEATURES, "entities": {"customer_id": ["c1"]}})
    finally:
        server.should_exit = True
        thread.join(10)
    assert (status, document) == (500, {"detail": "internal error (KeyError); the server's log has the details"})
    assert "secret internals" in caplog.text  # logged on the server's side


# -- POST /push ------------------------------------------------------------------------------
LANDING = f"{TINY_VIEW}__fs_pushed"


def columns(customer: str, timestamp: str, **features) -> dict[str, list]:
    """A push's `df`: one row of customer_stats as JSON gives it (timestamps as ISO text)."""
    values = {"orders": 1, "spend": 10.5, "active": True, "tier": "gold", "last_order_at": "2024-01-31T08:15:00"} | features
    return {"customer_id": [customer], "event_timestamp": [timestamp], **{k: [v] for k, v in values.items()}}


def push(port: int, document: dict) -> tuple[int, dict]:
    return request(port, "POST", "/push", json.dumps(document).encode())


def read_one(port: int, customer: str) -> dict[str, tuple]:
    """Per feature: (value, event timestamp) the server reads for `customer`."""
    status, document = post(port, {"features": [f"{TINY_VIEW}:orders", f"{TINY_VIEW}:last_order_at"], "entities": {"customer_id": [customer]}})
    assert status == 200, document
    names = document["metadata"]["feature_names"][1:]
    return {name: (column["values"][0], column["event_timestamps"][0]) for name, column in zip(names, document["results"][1:])}


def written(project: Served, customer: str) -> tuple[list[str], list[tuple]]:
    """The Redis keys and landing-table rows (customer, orders) of `customer`."""
    online = Online(project.env["FS_REDIS_URL"], project.env["FS_KEY_PREFIX"])
    keys = [k for k in online.keys(f"{TINY_VIEW}:gen*") if k.endswith(f":customer_id={customer}")]
    online.client.close()
    with duckdb.connect(str(project.root / "demo.duckdb"), read_only=True) as con:
        if not con.execute("select 1 from information_schema.tables where table_name = ?", [LANDING]).fetchall():
            return keys, []
        rows = con.execute(f"select customer_id, orders from main.{LANDING} where customer_id = ? order by event_timestamp", [customer])
        return keys, rows.fetchall()


def test_a_push_is_read_at_once_and_an_older_one_is_skipped(server, project):
    # Feast's body; a UTC offset is converted to fs's naive UTC.
    body = {"push_source_name": TINY_VIEW, "df": columns("p1", "2024-02-27T10:00:00Z", orders=42, last_order_at="2024-02-26T09:00:00+02:00"),
            "to": "online_and_offline", "allow_registry_cache": True}
    status, summary = push(server, body)
    assert status == 200, summary
    assert summary | {"seconds": 0} == {
        "view": TINY_VIEW, "redis": project.env["FS_REDIS_URL"], "landing": f"demo.main.{LANDING}", "generation": 1,
        "rows": 1, "keys_written": 1, "skipped_older": 0, "expired": 0, "not_yet_valid": 0, "seconds": 0,
    }
    expected = {"orders": (42, "2024-02-27T10:00:00Z"), "last_order_at": ("2024-02-26T07:00:00", "2024-02-27T10:00:00Z")}
    assert read_one(server, "p1") == expected  # --workers 2: whichever worker reads, Redis has it

    status, summary = push(server, {"push_source_name": TINY_VIEW, "df": columns("p1", "2024-02-26T00:00:00", orders=7)})
    assert status == 200 and (summary["keys_written"], summary["skipped_older"]) == (0, 1)
    assert read_one(server, "p1") == expected
    assert written(project, "p1")[1] == [("p1", 7), ("p1", 42)]  # both are history for training sets


BAD_PUSHES = {
    "text for a number": columns("p2", "2024-02-27T10:00:00", orders="7"),
    "a missing feature": {k: v for k, v in columns("p2", "2024-02-27T10:00:00").items() if k != "spend"},
    "a timestamp that is not one": columns("p2", "yesterday"),
    "uneven columns": columns("p2", "2024-02-27T10:00:00") | {"orders": [1, 2]},
}


@pytest.mark.parametrize("case", list(BAD_PUSHES))
def test_bad_rows_are_400_with_the_clis_line_and_write_nothing(server, project, monkeypatch, case):
    df = BAD_PUSHES[case]
    for key, value in project.env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(UsageError) as raised:
        project.store.push(TINY_VIEW, df)  # what fs push says for these rows
    assert push(server, {"push_source_name": TINY_VIEW, "df": df}) == (400, {"detail": str(raised.value)})
    assert written(project, "p2") == ([], [])


@pytest.mark.parametrize(
    "body, message",
    [
        ({"push_source_name": TINY_VIEW, "df": columns("p3", "2024-02-27T10:00:00"), "to": "offline"},
         '"to": "offline" is not supported: fs writes every push both to the online store and to the view\'s landing table '
         'in the warehouse (valid: leave "to" out, or "online_and_offline")'),
        ({"push_source_name": TINY_VIEW, "df": columns("p3", "2024-02-27T10:00:00"), "to": "online"}, '"to": "online" is not supported'),
        ({"push_source_name": "customer_stat", "df": columns("p3", "2024-02-27T10:00:00")}, "did you mean 'customer_stats'?"),
        ({"push_source_name": TINY_VIEW, "rows": columns("p3", "2024-02-27T10:00:00")}, "unknown push field 'rows'"),
        ({"push_source_name": TINY_VIEW, "df": [{"customer_id": "p3"}]}, '"df" must map each column to a list of values'),
    ],
    ids=["to offline", "to online", "unknown view", "unknown field", "df of rows"],
)
def test_a_push_body_fs_cannot_do_is_400_in_one_line(server, project, body, message):
    status, document = push(server, body)
    assert status == 400 and message in document["detail"] and "\n" not in document["detail"]
    assert written(project, "p3") == ([], [])


def test_a_busy_warehouse_is_503_and_writes_nothing(server, project):
    with duckdb.connect(str(project.root / "demo.duckdb")):  # a writer of its own, as dbt would be
        status, document = push(server, {"push_source_name": TINY_VIEW, "df": columns("p4", "2024-02-27T10:00:00")})
    assert status == 503 and "is locked by" in document["detail"] and f"(PID {os.getpid()})" in document["detail"]
    assert written(project, "p4") == ([], [])


def test_a_push_waits_for_a_sync_off_the_event_loop_then_is_503(project, monkeypatch):
    for key, value in project.env.items():
        monkeypatch.setenv(key, value)
    online = Online(project.env["FS_REDIS_URL"], project.env["FS_KEY_PREFIX"])
    port, server, thread = serve_in_thread(project.store.feature_server(push_lock_wait=1.0))
    try:
        with SyncLock(online.client, f"{online.prefix}:sync-lock"), ThreadPoolExecutor(1) as pool:
            pushing = pool.submit(push, port, {"push_source_name": TINY_VIEW, "df": columns("p5", "2024-02-27T10:00:00")})
            time.sleep(0.1)  # the push is waiting for the lock held here
            # A read is answered while the push waits: the push does not hold the event loop.
            assert read_one(port, "c1")["orders"][0] == 3 and not pushing.done()
            status, document = pushing.result()
    finally:
        server.should_exit = True
        thread.join(10)
        online.client.close()
    assert status == 503 and "a sync or push of this project held the lock for over 1 s" in document["detail"]
    assert "nothing was pushed" in document["detail"]
    assert written(project, "p5") == ([], [])
