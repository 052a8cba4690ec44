"""`fs serve`, the HTTP feature server, against the real Redis: a real `fs serve --workers 2`
in a subprocess on a free port, over the tiny project (tests/online_fixtures.py) synced once
for the module. Its answers must be those of `get_online_features`, in Feast's shape."""

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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from featurestore import FeatureStore
from featurestore.errors import UsageError
from featurestore.online.server import MAX_REQUEST_BYTES, feature_server
from tests.conftest import write_manifest_project
from tests.manifests import exposure, manifest, model_node
from tests.online_fixtures import TINY_COLUMNS, TINY_META, TINY_NOW, TINY_VIEW, Online, TinyProject, row

pytestmark = pytest.mark.integration

SERVICE = "churn_model"
ROWS = [
    row("c1", 20, orders=3, spend=12.25, tier="gold"),
    row("c2", 21, orders=7, spend=1.5, tier=None),  # a null feature: NULL_VALUE
    row("c:3", 22, orders=1, spend=0.0, tier="silver"),  # a key that needs escaping
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(port: int, method: str, path: str, body: bytes | None = None, **headers: str) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json", **headers})
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
    env = {"FS_REDIS_URL": redis_url, "FS_KEY_PREFIX": area.prefix}
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
    ],
    ids=["not json", "uneven entities", "features and service", "unknown field"],
)
def test_a_malformed_request_is_400_in_one_line(server, body, message):
    status, document = request(server, "POST", "/get-online-features", body)
    assert status == 400 and message in document["detail"] and "\n" not in document["detail"]


def test_a_request_over_the_limit_is_413_with_or_without_a_length(server):
    big = json.dumps({"features": FEATURES, "entities": {"customer_id": ["c1"] * (MAX_REQUEST_BYTES // 5)}}).encode()
    status, document = request(server, "POST", "/get-online-features", big)
    assert status == 413 and "over 1,048,576 bytes" in document["detail"]

    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    connection.request("POST", "/get-online-features", body=iter([big[i:i + 65536] for i in range(0, len(big), 65536)]), encode_chunked=True)
    response = connection.getresponse()
    assert response.status == 413 and "over 1,048,576 bytes" in json.loads(response.read())["detail"]
    connection.close()


def test_unknown_endpoints_and_methods_say_what_is_served(server):
    assert request(server, "GET", "/features") == (
        404, {"detail": "no endpoint /features (valid: POST /get-online-features, GET /health, GET /openapi.json)"}
    )
    status, document = request(server, "GET", "/get-online-features")
    assert status == 405 and document["detail"].startswith("GET /get-online-features is not served")


def test_health_and_the_openapi_description(server):
    assert request(server, "GET", "/health") == (200, {"status": "ok"})
    status, document = request(server, "GET", "/openapi.json")
    assert status == 200 and set(document["paths"]) == {"/get-online-features", "/health"}


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


def a_read_with_a_bug(*args, **kwargs):
    raise KeyError("secret internals")


def test_a_bug_is_500_in_one_line_without_a_traceback(caplog):
    port, server, thread = serve_in_thread(feature_server(a_read_with_a_bug, lambda: None))
    try:
        status, document = post(port, {"features": FEATURES, "entities": {"customer_id": ["c1"]}})
    finally:
        server.should_exit = True
        thread.join(10)
    assert (status, document) == (500, {"detail": "internal error (KeyError); the server's log has the details"})
    assert "secret internals" in caplog.text  # logged on the server's side
