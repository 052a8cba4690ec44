"""`fs serve` under hostile traffic (issue 20): who may push, what a browser page of another
origin may do, the Host header, strict JSON both ways, bounded work and slow bodies, and a
health that says when Redis holds no sync. Real `fs serve` processes on free ports over the
tiny project (tests/online_fixtures.py), real Redis and DuckDB; everything through HTTP, as
a client (or an attacker's page) sees it."""

from __future__ import annotations

import http.client
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from tests.conftest import write_manifest_project
from tests.manifests import manifest, model_node
from tests.online_fixtures import TINY_COLUMNS, TINY_META, TINY_NOW, TINY_VIEW, Online, TinyProject, row

pytestmark = pytest.mark.integration

TOKEN = "guard-token-" + uuid.uuid4().hex
LANDING = f"{TINY_VIEW}__fs_pushed"
ROWS = [
    row("c1", 20, orders=3, spend=12.25),
    row("nan", 20, spend=float("nan")),  # a double column may hold NaN and infinities
    row("inf", 20, spend=float("inf")),
    row("-inf", 20, spend=float("-inf")),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def strict_json(text: bytes):
    """JSON as a strict client reads it: NaN or Infinity is an error, as in JavaScript."""
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def call(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """(status, strict JSON answer, headers); `headers` replace the defaults (JSON + token)
    where given, None removing one."""
    sent = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}", **(headers or {})}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers={k: v for k, v in sent.items() if v is not None})
        response = connection.getresponse()
        return response.status, strict_json(response.read() or b"null"), dict(response.getheaders())
    finally:
        connection.close()


def read(port: int, entities: dict, headers: dict | None = None):
    body = json.dumps({"features": [f"{TINY_VIEW}:orders", f"{TINY_VIEW}:spend"], "entities": entities}).encode()
    return call(port, "POST", "/get-online-features", body, headers)


def push_body(customer: str, **features) -> bytes:
    values = {"orders": 1, "spend": 10.5, "active": True, "tier": "gold", "last_order_at": "2024-01-31T08:15:00"} | features
    df = {"customer_id": [customer], "event_timestamp": ["2024-02-27T10:00:00"], **{k: [v] for k, v in values.items()}}
    return json.dumps({"push_source_name": TINY_VIEW, "df": df}).encode()


def start_server(root: Path, env: dict[str, str], workers: int) -> tuple[int, subprocess.Popen]:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FS_", "DBT_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "featurestore.cli", "serve", "--project-dir", str(root), "--port", str(port), "--workers", str(workers)],
        env={**clean, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"fs serve exited with {process.returncode}: {process.stderr.read()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return port, process
        except OSError:
            time.sleep(0.1)
    raise AssertionError("fs serve did not start")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


class Project:
    def __init__(self, root: Path, online: Online, env: dict[str, str]):
        self.root, self.online, self.env = root, online, env

    def written(self, customer: str) -> tuple[list[str], list[tuple]]:
        keys = [k for k in self.online.keys(f"{TINY_VIEW}:gen*") if k.endswith(f":customer_id={customer}")]
        with duckdb.connect(str(self.root / "demo.duckdb"), read_only=True) as con:
            if not con.execute("select 1 from information_schema.tables where table_name = ?", [LANDING]).fetchall():
                return keys, []
            return keys, con.execute(f"select customer_id from main.{LANDING} where customer_id = ?", [customer]).fetchall()


@pytest.fixture(scope="module")
def project(tmp_path_factory, redis_url):
    """The tiny project with NaN and infinite doubles, synced once into a prefix of its own."""
    root = tmp_path_factory.mktemp("guard")
    node = model_node(TINY_VIEW, TINY_META, list(TINY_COLUMNS), types=TINY_COLUMNS)
    node["database"] = "demo"
    write_manifest_project(root, manifest(node))
    (root / "feature_store.yml").write_text(f"clock:\n  now: {TINY_NOW.isoformat()}\n")
    online = Online(redis_url, f"fs-test:{uuid.uuid4().hex[:12]}")
    env = {"FS_REDIS_URL": redis_url, "FS_KEY_PREFIX": online.prefix}
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith(("FS_", "DBT_"))]:
            patch.delenv(key)
        for key, value in env.items():
            patch.setenv(key, value)
        tiny = TinyProject(root)
        tiny.set_rows(ROWS)
        tiny.store().sync()
    yield Project(root, online, env)
    online.delete_all()
    online.client.close()


@pytest.fixture(scope="module")
def server(project):
    """`fs serve --workers 2` with a token, and bodies that must arrive within 1 s."""
    port, process = start_server(project.root, {**project.env, "FS_SERVE_TOKEN": TOKEN, "FS_SERVE_BODY_SECONDS": "1"}, 2)
    yield port, process
    stop(process)


@pytest.fixture(scope="module")
def open_server(project):
    """`fs serve` with no token, one worker, on a prefix nothing was synced to (a Redis that
    restarted empty), taking up to 200,000 entities per read."""
    env = {**project.env, "FS_KEY_PREFIX": f"{project.online.prefix}-empty", "FS_SERVE_MAX_ENTITIES": "200000"}
    port, process = start_server(project.root, env, 1)
    yield port
    stop(process)


# -- who may push ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "authorization, said",
    [(None, "the request has no Authorization header"),
     ("Bearer wrong-token-0123456789", "the request has a token that is not this server's"),
     (f"Basic {TOKEN}", "the request has a token that is not this server's")],
    ids=["no token", "a wrong token", "another scheme"],
)
def test_a_push_without_the_servers_token_is_401_and_writes_nothing(server, project, authorization, said):
    status, document, headers = call(server[0], "POST", "/push", push_body("g1"), {"Authorization": authorization})
    assert status == 401 and headers.get("www-authenticate") == "Bearer"
    assert document == {"detail": f"a push needs this server's token: {said} (send Authorization: Bearer <token>)"}
    assert project.written("g1") == ([], [])


def test_a_push_with_the_token_is_written(server, project):
    status, document, _ = call(server[0], "POST", "/push", push_body("g2"))
    assert status == 200 and document["keys_written"] == 1, document
    assert project.written("g2") == ([f"{project.online.prefix}:{TINY_VIEW}:gen1:customer_id=g2"], [("g2",)])


def test_a_server_without_a_token_refuses_every_push_and_says_how_to_set_one(open_server, project):
    status, document, _ = call(open_server, "POST", "/push", push_body("g3"), {"Authorization": None})
    assert (status, document) == (403, {"detail": (
        "this server takes no pushes: it has no token; set FS_SERVE_TOKEN_FILE (a file holding the token) or "
        "FS_SERVE_TOKEN where fs serve starts, and send the header Authorization: Bearer <token>"
    )})
    assert project.written("g3") == ([], [])


def test_the_browsers_no_cors_text_plain_push_of_another_origin_is_refused(server, project):
    # What a page of another origin could send with fetch(url, {mode: "no-cors", body}):
    # text/plain, an Origin, Sec-Fetch-Site cross-site (and no token, which it cannot know).
    browser = {"Content-Type": "text/plain;charset=UTF-8", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    for headers in [browser, {**browser, "Authorization": None}, {**browser, "Content-Type": "application/json"},
                    {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}]:
        status, document, _ = call(server[0], "POST", "/push", push_body("g4"), headers)
        assert status == 403 and "is refused: fs serve answers services, not web pages" in document["detail"], headers
    status, document, _ = read(server[0], {"customer_id": ["c1"]}, {"Origin": "https://evil.example"})
    assert status == 403  # reads too: a page must not read features either
    assert project.written("g4") == ([], [])


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
def test_a_body_declared_as_anything_but_json_is_415(server, project, content_type):
    status, document, _ = call(server[0], "POST", "/push", push_body("g5"), {"Content-Type": content_type})
    assert (status, document) == (415, {"detail": f"the request's Content-Type is {content_type.split(';')[0]}; fs serve reads only application/json"})
    assert read(server[0], {"customer_id": ["c1"]}, {"Content-Type": content_type})[0] == 415
    assert project.written("g5") == ([], [])


def test_a_body_without_a_content_type_is_read_as_json_as_feasts_remote_store_sends_it(server):
    # Feast's remote online store posts its JSON with requests' data=, which sends no Content-Type.
    status, document, _ = read(server[0], {"customer_id": ["c1"]}, {"Content-Type": None})
    assert status == 200 and document["results"][1]["values"] == [3]


def test_a_host_header_not_this_loopback_servers_is_403_against_dns_rebinding(server):
    port = server[0]
    status, document, _ = call(port, "GET", "/health", headers={"Host": f"rebound.evil.example:{port}"})
    assert status == 403 and document["detail"].startswith(f"the Host header names 'rebound.evil.example:{port}', not this server")
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost"):
        assert call(port, "GET", "/health", headers={"Host": host})[0] == 200, host


def test_the_token_is_in_no_workers_environment_or_command_line(server):
    _, process = server
    children = [int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(int(p)) == process.pid]
    assert len(children) >= 2  # uvicorn's two workers
    for pid in [process.pid, *children]:
        assert TOKEN.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
    for pid in children:  # the parent was started with it in its environment; no worker was
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert TOKEN.encode() not in environ and b"FS_SERVE_TOKEN=" not in environ and b"FS_REDIS_URL=" not in environ


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


# -- strict JSON both ways -------------------------------------------------------------------
def test_nan_and_infinite_doubles_are_strict_json_text_as_protobuf_writes_them(server):
    status, document, _ = read(server[0], {"customer_id": ["c1", "nan", "inf", "-inf"]})
    assert status == 200  # strict_json read the answer
    assert document["results"][2] == {
        "values": [12.25, "NaN", "Infinity", "-Infinity"],
        "statuses": ["PRESENT"] * 4,
        "event_timestamps": ["2024-02-20T00:00:00Z"] * 4,
    }


def test_fs_get_writes_nan_and_infinities_as_strict_json_too(project, cli, monkeypatch):
    for key, value in project.env.items():
        monkeypatch.setenv(key, value)
    code, out, _ = cli("get", f"{TINY_VIEW}:spend", "--entity", "customer_id=nan,inf,-inf", "--project-dir", str(project.root))
    assert code == 0
    document = strict_json(out.encode())  # a strict reader takes it
    assert json.dumps(document).count('"NaN"') == 1 and '"Infinity"' in out and '"-Infinity"' in out, out


@pytest.mark.parametrize(
    "entities, message",
    [
        (b'{"customer_id": [NaN]}', "the request body holds NaN, which is not a JSON number"),
        (b'{"customer_id": [Infinity]}', "the request body holds Infinity, which is not a JSON number"),
        (b'{"customer_id": [-Infinity]}', "the request body holds -Infinity, which is not a JSON number"),
        (b'{"customer_id": [1e400]}', "the request body holds the number 1e400, past a double's range"),
        (b'{"customer_id": ["\\ud800"]}', 'the request body holds the text "\\ud800", with half of a UTF-16 surrogate pair'),
        (b'{"customer_\\udfff": ["c1"]}', 'the request body holds the text "customer_\\udfff", with half of a UTF-16 surrogate pair'),
    ],
    ids=["NaN", "Infinity", "-Infinity", "1e400", "lone high surrogate", "lone low surrogate in a key"],
)
def test_json_that_is_not_json_or_not_text_is_400_in_one_line(server, entities, message):
    body = b'{"features": ["' + TINY_VIEW.encode() + b':orders"], "entities": ' + entities + b"}"
    status, document, _ = call(server[0], "POST", "/get-online-features", body)
    assert status == 400 and document["detail"].startswith(message) and "\n" not in document["detail"]


def test_pushed_text_with_a_lone_surrogate_is_400_and_writes_nothing(server, project):
    body = push_body("g6").replace(b'"gold"', b'"go\\ud800ld"')
    status, document, _ = call(server[0], "POST", "/push", body)
    assert status == 400 and "half of a UTF-16 surrogate pair" in document["detail"]
    assert project.written("g6") == ([], [])


# -- bounded work ----------------------------------------------------------------------------
def test_a_read_of_more_entities_than_the_limit_is_413(server):
    status, document, _ = read(server[0], {"customer_id": [str(i % 10) for i in range(10_001)]})
    assert (status, document) == (413, {"detail": (
        "the request asks for 10,001 entities; this server answers at most 10,000 per request (FS_SERVE_MAX_ENTITIES): split it"
    )})


def test_health_answers_within_a_second_while_a_big_read_runs(open_server):
    # 200,000 one-digit keys (within 1 MiB, the fixture's limit): the most work one read may
    # ask of the server's one worker. /health is asked again and again from the moment the
    # read's body is sent until its answer comes, so the test holds on a machine fast enough
    # to finish the read within any fixed sleep (a 0.5 s sleep failed so on a quiet machine).
    body = json.dumps({"features": [f"{TINY_VIEW}:orders", f"{TINY_VIEW}:spend"],
                       "entities": {"customer_id": [str(i % 10) for i in range(200_000)]}}).encode()
    sent, answered, answers = threading.Event(), threading.Event(), []

    def big_read():
        connection = http.client.HTTPConnection("127.0.0.1", open_server, timeout=120)
        try:
            connection.request("POST", "/get-online-features", body=body, headers={"Content-Type": "application/json"})
            sent.set()
            response = connection.getresponse()
            answers.append(response.status)
            response.read()
        finally:
            answered.set()
            connection.close()

    reading = threading.Thread(target=big_read)
    reading.start()
    assert sent.wait(60), "the big read's body was never sent"
    waits = []  # each /health answered while the read was still unanswered
    while not answered.is_set():
        started = time.monotonic()
        status, _, _ = call(open_server, "GET", "/health")
        if not answered.is_set():
            waits.append(time.monotonic() - started)
            assert status in (200, 503)
    reading.join(120)
    assert answers == [200]
    assert waits, "no /health was answered while the big read ran: /health waited for it, or the read took less than one /health"
    assert max(waits) < 1.0, f"/health waited {max(waits):.2f} s behind the big read"


def test_a_body_that_does_not_arrive_is_408_after_the_limit(server):
    with socket.create_connection(("127.0.0.1", server[0]), timeout=10) as connection:
        connection.sendall(
            b"POST /get-online-features HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{\"features\""
        )
        started, answer = time.monotonic(), b""
        while chunk := connection.recv(4096):  # until the server closes the connection
            answer += chunk
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ") and b"did not arrive within 1 s" in answer
    assert waited < 5


# -- health ----------------------------------------------------------------------------------
def test_health_is_503_and_reads_say_so_when_redis_holds_no_sync(open_server, project):
    status, document, _ = call(open_server, "GET", "/health")
    assert (status, document) == (503, {"detail": (
        f"no sync has been published for view {TINY_VIEW} in this Redis (restarted empty, or never synced): run fs sync"
    )})
    status, document, headers = read(open_server, {"customer_id": ["c1"]}, {"Authorization": None})
    assert status == 200 and document["results"][1]["statuses"] == ["NOT_FOUND"]
    assert headers.get("x-fs-never-synced") == TINY_VIEW


def test_health_is_200_where_every_view_was_synced(server):
    assert call(server[0], "GET", "/health")[:2] == (200, {"status": "ok"})


def test_nan_values_were_synced_as_stored(project):
    # the reference: what the warehouse holds is what the server wrote as text
    with duckdb.connect(str(project.root / "demo.duckdb"), read_only=True) as con:
        spends = dict(con.execute(f"select customer_id, spend from main.{TINY_VIEW}").fetchall())
    assert math.isnan(spends["nan"]) and spends["inf"] == math.inf and spends["-inf"] == -math.inf
    assert datetime(2024, 2, 20) < TINY_NOW


def test_fs_serve_refuses_to_start_with_a_token_it_cannot_use_and_never_prints_it(project, cli, monkeypatch):
    for key, value in project.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FS_SERVE_TOKEN", "hunter2")
    code, out, err = cli("serve", "--project-dir", str(project.root), "--port", "1")
    assert (code, out) == (2, "") and "hunter2" not in err
    assert err.startswith("error: the token in FS_SERVE_TOKEN is not one fs serve takes: give at least 16 printable ASCII characters")
