"""Issue 19's done-when, as a user does it: a dbt-duckdb project this repository does not
contain (tests/user_project.py writes it), with nothing copied by hand. fs init, a feature view
scaffolded from the built model, plain dbt build with the project's own profiles, then every fs
command a user runs next, with results checked against the data.

The fs commands run in the test's process (`UserProject.fs_here`: the project's exact
environment and folder, stdout, stderr and the exit code as a child's), so fs's dbt children
are forked from a process that imported dbt (`forked_dbt_child`); `fs serve` is a child
process of its own (`python -m featurestore.cli`, with fs's own dbt child), a server the test
asks over HTTP."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
import redis

from tests.servers import _free_port
from tests.user_project import CLOCK_NOW, CUSTOMERS, UserProject, customer_daily

pytestmark = pytest.mark.integration

SPINE = [
    ("alice", datetime(2024, 1, 10, 12, 0)),  # between two rows
    ("bob", datetime(2024, 2, 1, 0, 0)),  # exactly at a row's timestamp: inclusive
    ("carol", datetime(2023, 12, 1)),  # before the data: no value
    ("dave", datetime(2024, 2, 1)),  # an unknown customer: no value
]


def tree(root: Path, names: list[str]) -> dict[str, bytes]:
    """Every file under `names` in `root`, with its bytes."""
    files = {}
    for name in names:
        path = root / name
        for file in [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()):
            files[file.relative_to(root).as_posix()] = file.read_bytes()
    return files


def as_of_lookup(customer: str, at: datetime) -> tuple[int, float] | tuple[None, None]:
    """The brute-force point-in-time answer: the row with the greatest as_of <= at."""
    rows = customer_daily()
    known = [as_of for (c, as_of) in rows if c == customer and as_of <= at]
    return rows[(customer, max(known))] if known else (None, None)


def test_a_new_users_project_from_fs_init_to_fs_serve(tmp_path, redis_url):
    project = UserProject.shop(tmp_path / "shop")

    init = project.fs_here("init")
    assert "changed: fs_packages/featurestore: copied the featurestore dbt package" in init.stdout
    assert "adapter 'duckdb': fs runs on duckdb with what it installs by default" in init.stdout
    assert "fs new view MODEL" in init.stdout
    assert (project.root / "dbt_packages" / "featurestore" / "macros" / "test_feature_unique_entity_timestamp.sql").is_file()
    assert ".fs/" in project.read(".gitignore").splitlines()
    written = tree(project.root, ["fs_packages", "packages.yml", "feature_store.yml", ".gitignore"])
    again = project.fs_here("init")
    assert "nothing to change" in again.stdout and "changed:" not in again.stdout
    assert tree(project.root, ["fs_packages", "packages.yml", "feature_store.yml", ".gitignore"]) == written

    project.dbt("build")
    new = project.fs_here("new", "view", "customer_daily", "--entity", "customer", "--join-key", "customer_id")
    assert new.stdout.startswith("wrote models/features/customer_daily.yml: feature view customer_daily, keys (customer_id), timestamp as_of, 2 features")

    prefix = f"fs-test:{uuid.uuid4().hex[:12]}:shop"
    settings = project.read("feature_store.yml")
    project.write("feature_store.yml", settings + f'online:\n  redis_url: "{redis_url}"\n  key_prefix: "{prefix}"\nclock:\n  now: "{CLOCK_NOW.isoformat()}"\n')
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        walk_through(project, client, prefix)
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def walk_through(project: UserProject, client: redis.Redis, prefix: str) -> None:
    build = project.dbt("build")
    results = json.loads(project.read("target/run_results.json"))["results"]
    tests = {r["unique_id"].split(".")[2]: r["status"] for r in results if r["unique_id"].startswith("test.")}
    assert tests["featurestore_feature_unique_entity_timestamp_customer_daily_customer_id__as_of"] == "pass", build.stdout
    assert set(tests.values()) == {"pass"}, tests

    spine = project.write("spine.csv", "customer_id,event_timestamp\n" + "".join(f"{c},{t.isoformat(sep=' ')}\n" for c, t in SPINE))
    training = project.fs_here("training-set", "--spine", str(spine), "--features", "customer_daily:*", "-o", "train.parquet")
    assert training.stdout.startswith("4 rows"), training.stdout
    rows = duckdb.sql(f"select customer_id, event_timestamp, orders_1d, amount_1d from '{project.root / 'train.parquet'}'").fetchall()
    assert rows == [(c, t, *as_of_lookup(c, t)) for c, t in SPINE]

    sync = project.fs_here("sync")
    assert "3 keys written" in sync.stdout, sync.stdout
    assert len([k for k in client.scan_iter(match=f"{prefix}:customer_daily:gen*")]) == len(CUSTOMERS)

    got = json.loads(project.fs_here("get", "customer_daily:*", "--entity", "customer_id=alice,zed").stdout)
    orders, amount = as_of_lookup("alice", CLOCK_NOW)
    assert got[0]["values"] == {"customer_daily:orders_1d": orders, "customer_daily:amount_1d": amount}
    assert got[1]["statuses"] == {"customer_daily:orders_1d": "missing", "customer_daily:amount_1d": "missing"}

    assert "Redis agrees with the warehouse" in project.fs_here("verify-online").stdout
    assert "all ok" in project.fs_here("check").stdout
    project.fs_here("docs")
    assert "customer_daily" in project.read("target/fs-docs/index.html")
    served = serve_one_request(project)
    assert served["results"][1]["values"] == [orders]


def serve_one_request(project: UserProject) -> dict:
    """Start fs serve, ask it for alice's orders once it answers, stop it."""
    port = _free_port()
    server = project.popen("serve", "--port", str(port))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/health")
                health = connection.getresponse()
                health.read()
                if health.status == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline, "fs serve did not answer /health within 60 s"
            time.sleep(0.2)
        body = json.dumps({"features": ["customer_daily:orders_1d"], "entities": {"customer_id": ["alice"]}})
        connection.request("POST", "/get-online-features", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200
        return json.loads(response.read())
    finally:
        server.terminate()
        server.wait(timeout=30)
