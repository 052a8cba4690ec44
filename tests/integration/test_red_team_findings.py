"""Findings of the red-team run (issue 9), each as a test of the behaviour we want.

Every test is a strict xfail until its finding is fixed: it fails today for the reason in its
`reason`, and an unexpected pass (the fix landed) fails the suite until the marker is removed.

Only public entry points are used (FeatureStore, the `fs` CLI, featurestore.errors): the
package's internal modules are being moved.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import redis

from featurestore.errors import (
    EXIT_ONLINE,
    EXIT_PROJECT,
    EXIT_USAGE,
    EXIT_WAREHOUSE,
    UsageError,
)
from tests.conftest import copy_project, project_env, write_manifest_project
from tests.manifests import manifest, model_node
from tests.online_fixtures import (  # noqa: F401
    TINY_COLUMNS,
    TINY_META,
    TINY_NOW,
    TINY_VIEW,
    online,
    row,
    tiny,
)
from tests.servers import start_redis

pytestmark = pytest.mark.integration


def one_error_line(err: str) -> bool:
    return err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def add_target(project: Path, name: str, schema: str) -> None:
    """A second DuckDB target in the copied project's profiles.yml, on the same file."""
    profiles = project / "profiles.yml"
    text = profiles.read_text()
    extra = f'    {name}:\n      type: duckdb\n      path: "feature_store.duckdb"\n      schema: {schema}\n      threads: 2\n'
    marker = "    # A PostgreSQL server"
    assert marker in text
    profiles.write_text(text.replace(marker, extra + marker))


def catalog_names(cli, project: Path) -> list[str]:
    code, out, err = cli("catalog", "--json", "--project-dir", str(project))
    assert code == 0, err
    return [view["name"] for view in json.loads(out)["views"]]


# ---------------------------------------------------------------------------------------------
# Finding 1: spine columns that match internal names case-insensitively


def test_spine_column_named_like_an_internal_one_in_another_case_is_refused(tiny, tmp_path, cli):
    tiny.set_rows([row("c1", 20, orders=1), row("c1", 25, orders=5)])
    out = tmp_path / "t.parquet"
    spine = (
        "select 'c1' as customer_id, timestamp '2024-02-21 12:00:00' as event_timestamp, "
        "timestamp '2024-02-28' as \"__FS_T\""
    )
    code, stdout, err = cli(
        "training-set", "--project-dir", str(tiny.root), "--spine-sql", spine,
        "--features", f"{TINY_VIEW}:orders", "-o", str(out),
    )
    assert (code, stdout) == (EXIT_USAGE, "")
    assert one_error_line(err)
    assert "__FS_T" in err and "reserved" in err and "__fs_" in err
    assert not out.exists()


def test_frame_spine_column_named_like_an_internal_one_in_another_case_is_refused(tiny):
    tiny.set_rows([row("c1", 20, orders=1), row("c2", 20, orders=2), row("c3", 20, orders=3)])
    spine = pd.DataFrame(
        {
            "customer_id": ["c3", "c1", "c2"],
            "event_timestamp": [datetime(2024, 2, 21)] * 3,
            "__Fs_Row": [0, 1, 2],
        }
    )
    with pytest.raises(UsageError, match="reserved"):
        tiny.store().training_set(spine, [f"{TINY_VIEW}:orders"]).to_pandas()


# ---------------------------------------------------------------------------------------------
# Finding 2: a manifest parsed for another target of the same adapter is reused


def test_a_manifest_parsed_for_another_target_is_not_reused(tmp_path, cli, clean_env, built_project):
    project = copy_project(tmp_path / "project", built_project)
    add_target(project, "duckdb_alt", "alt")
    code, _, err = cli("catalog", "--target", "duckdb_alt", "--project-dir", str(project))
    assert code == 0, err
    code, out, err = cli("catalog", "show", "carrier_daily", "--json", "--target", "duckdb", "--project-dir", str(project))
    assert code == 0, err
    assert json.loads(out)["relation"] == "feature_store.main.carrier_daily"


# ---------------------------------------------------------------------------------------------
# Finding 3: a deleted or renamed model stays in the catalog


def add_model_like_carrier_daily(project: Path, name: str) -> None:
    features = project / "models" / "features"
    shutil.copy(features / "carrier_daily.sql", features / f"{name}.sql")
    yml = (features / "carrier_daily.yml").read_text()
    assert "- name: carrier_daily\n" in yml
    (features / f"{name}.yml").write_text(yml.replace("- name: carrier_daily\n", f"- name: {name}\n"))


def test_a_deleted_model_leaves_the_catalog(tmp_path, cli, clean_env, built_project):
    project = copy_project(tmp_path / "project", built_project)
    add_model_like_carrier_daily(project, "extra_daily")
    assert "extra_daily" in catalog_names(cli, project)
    for suffix in (".sql", ".yml"):
        (project / "models" / "features" / f"extra_daily{suffix}").unlink()
    assert catalog_names(cli, project) == ["carrier_daily", "origin_departures", "plane_daily@v1", "plane_daily@v2", "route_daily", "weather_hourly"]


def test_a_renamed_model_is_renamed_in_the_catalog_whatever_the_mtimes(tmp_path, cli, clean_env, built_project):
    project = copy_project(tmp_path / "project", built_project)
    add_model_like_carrier_daily(project, "extra_daily")
    assert "extra_daily" in catalog_names(cli, project)
    features = project / "models" / "features"
    for suffix in (".sql", ".yml"):
        (features / f"extra_daily{suffix}").unlink()
    add_model_like_carrier_daily(project, "other_daily")
    an_hour_ago = time.time() - 3600  # as a `git checkout` or an `mv` across copies may leave them
    for suffix in (".sql", ".yml"):
        os.utime(features / f"other_daily{suffix}", (an_hour_ago, an_hour_ago))
    names = catalog_names(cli, project)
    assert "other_daily" in names and "extra_daily" not in names


# ---------------------------------------------------------------------------------------------
# Finding 4: one unbuilt view stops every sync with the engine's raw error


def views_project(root: Path, built: list[str], unbuilt: list[str] = ()) -> None:
    """Views with the tiny project's columns over demo.duckdb: each of `built` has a table
    holding customer c1, each of `unbuilt` has none."""
    nodes = []
    for name in [*built, *unbuilt]:
        node = model_node(name, TINY_META, list(TINY_COLUMNS), types=TINY_COLUMNS)
        node["database"] = "demo"
        nodes.append(node)
    write_manifest_project(root, manifest(*nodes))
    (root / "feature_store.yml").write_text(f"clock:\n  now: {TINY_NOW.isoformat()}\n")
    columns = ", ".join(f"{c} {t}" for c, t in TINY_COLUMNS.items())
    with duckdb.connect(str(root / "demo.duckdb")) as con:
        for name in built:
            con.execute(f"create table main.{name} ({columns})")
            con.execute(
                f"insert into main.{name} values ('c1', timestamp '2024-02-20', timestamp '2024-02-20 06:00', "
                "1, 10.5, true, 'gold', timestamp '2024-01-31 08:15')"
            )


def test_sync_syncs_the_built_views_and_names_the_unbuilt_one(tmp_path, online, cli):
    views_project(tmp_path, built=["present_view"], unbuilt=["missing_view"])  # missing_view sorts first
    code, out, err = cli("sync", "--project-dir", str(tmp_path))
    assert code == EXIT_WAREHOUSE
    assert len(online.entity_keys("present_view")) == 1
    assert online.entity("present_view", "customer_id=c1")["orders"] == "1"
    lines = [line for line in err.splitlines() if "missing_view" in line]
    assert len(lines) == 1 and "fs build" in lines[0] and "Catalog Error" not in err

    code, out, err = cli("sync", "--json", "--project-dir", str(tmp_path))
    assert code == EXIT_WAREHOUSE
    views = {v["view"]: v for v in json.loads(out)["views"]}
    assert set(views) == {"present_view", "missing_view"}
    assert not views["present_view"].get("error")
    assert "fs build" in views["missing_view"]["error"]

    code, out, err = cli("verify-online", "--project-dir", str(tmp_path))
    assert code == EXIT_WAREHOUSE
    assert one_error_line(err) and "missing_view" in err and "fs build" in err


# ---------------------------------------------------------------------------------------------
# Finding 5: `fs build` skips the meta validation; a misspelt `feature_store` key is silent


def write_dbt_project(root: Path, meta_key: str, meta: dict) -> Path:
    """A one-model dbt project (model `daily`) with `meta_key: meta` under its config.meta."""
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text("name: demo\nprofile: demo\nconfig-version: 2\nversion: '1.0'\n")
    (root / "profiles.yml").write_text(
        "demo:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: demo.duckdb\n      schema: main\n"
    )
    (root / "models" / "daily.sql").write_text(
        "select 'c1' as customer_id, timestamp '2024-02-20' as event_timestamp, 1 as orders\n"
    )
    meta_lines = "".join(f"          {k}: {json.dumps(v)}\n" for k, v in meta.items())
    (root / "models" / "daily.yml").write_text(
        "version: 2\nmodels:\n  - name: daily\n    config:\n      meta:\n"
        f"        {meta_key}:\n{meta_lines}"
        "    columns:\n      - name: customer_id\n      - name: event_timestamp\n      - name: orders\n"
    )
    return root


DAILY_META = {"entity": "customer", "join_keys": ["customer_id"], "timestamp": "event_timestamp"}


def test_build_refuses_invalid_feature_metadata_before_dbt_runs(tmp_path, cli, clean_env):
    project = write_dbt_project(tmp_path / "project", "feature_store", {**DAILY_META, "ttl": "3 days"})
    code, out, err = cli("build", "--project-dir", str(project))
    assert code == EXIT_PROJECT
    assert one_error_line(err)
    assert err.startswith("error: models/daily.yml: model 'daily': ") and "ttl" in err
    database = project / "demo.duckdb"
    if database.exists():
        with duckdb.connect(str(database), read_only=True) as con:
            assert con.execute("select count(*) from information_schema.tables where table_name = 'daily'").fetchone()[0] == 0


def test_a_misspelt_feature_store_key_is_warned_about(tmp_path, cli, clean_env):
    good = model_node("customer_stats", TINY_META, list(TINY_COLUMNS), types=TINY_COLUMNS)
    typo = model_node("order_stats", None, list(TINY_COLUMNS), types=TINY_COLUMNS)
    typo["config"]["meta"]["feature_stor"] = dict(TINY_META)
    write_manifest_project(tmp_path, manifest(good, typo))
    code, out, err = cli("catalog", "--project-dir", str(tmp_path))
    assert code == 0
    assert "customer_stats" in out and "order_stats" not in out
    warning = [line for line in err.splitlines() if "order_stats" in line]
    assert len(warning) == 1
    assert "feature_stor" in warning[0] and "'feature_store'" in warning[0] and "models/order_stats.yml" in warning[0]


# ---------------------------------------------------------------------------------------------
# Helpers for the findings below: `fs` in a subprocess, where what the process prints is the
# point (a password in anything it writes to stderr, its log handlers' lines included; the
# exit code of --debug), and a throwaway Redis server of the test's own. The other findings run
# `fs` in this process (`cli`): its error line is its stderr there too, and an exception fs
# does not turn into one line escapes `cli` and fails the test.


def run_fs(project: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """`python -m featurestore.cli args...` in `project`; returns (exit code, stdout, stderr)."""
    result = subprocess.run(
        [sys.executable, "-m", "featurestore.cli", *args],
        cwd=project, env={**project_env(), **(env or {})}, capture_output=True, text=True, timeout=300,
    )
    return result.returncode, result.stdout, result.stderr


def online_env(online) -> dict[str, str]:
    return {"FS_REDIS_URL": online.url, "FS_KEY_PREFIX": online.prefix}


class PrivateRedis:
    """A Redis server of the test's own (tests/servers.py: the one fs would start), on a free
    port with no persistence; `client` talks to it directly."""

    def __init__(self, folder: Path, password: str | None = None):
        folder.mkdir()
        self.server = start_redis(folder, password)
        self.port = self.server.port
        self.client = redis.Redis(port=self.port, password=password, decode_responses=True)

    def stop(self) -> None:
        self.client.close()
        self.server.stop()


def leaked_parts(secret: str, text: str) -> list[str]:
    """Every part of `secret` of 3 or more characters that `text` contains."""
    return sorted(
        {secret[i:j] for i in range(len(secret)) for j in range(i + 3, len(secret) + 1) if secret[i:j] in text}
    )


# ---------------------------------------------------------------------------------------------
# Finding 7: Redis passwords leak into output


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path / "redis", password="s3cr3t-pw")
    server.client.execute_command("ACL", "SETUSER", "default", ">p@ss")  # a second password
    yield server
    server.stop()


@pytest.mark.parametrize("secret", ["s3cr3t-pw", "p@ss"])
def test_sync_json_does_not_show_the_redis_password(tiny, online, private_redis, secret):
    tiny.set_rows([row("c1", 20), row("c2", 21)])
    port = private_redis.port
    url = f"redis://127.0.0.1:{port}/0?password={secret}" if secret == "s3cr3t-pw" else f"redis://:{secret}@127.0.0.1:{port}/0"
    code, out, err = run_fs(tiny.root, "sync", "--json", "--redis-url", url, env=online_env(online))
    assert (code, err) == (0, ""), err
    assert json.loads(out)["keys_written"] == 2
    assert len(list(private_redis.client.scan_iter(match=f"{online.prefix}:{TINY_VIEW}:gen*"))) == 2
    assert leaked_parts(secret, out + err) == []


UNREACHABLE = (
    "(from --redis-url) while connecting: Error 111 connecting to 127.0.0.1:1. Connection refused.; "
    "start it, or point fs at another with --redis-url or FS_REDIS_URL"
)
VALID = "(valid: redis://host:port/db, rediss://... for TLS, unix:///path/to/redis.sock)"
BAD_URLS = {
    # name: (url, secret, exit code, the error line)
    "password in the query, unreachable": (
        "redis://127.0.0.1:1/0?password=s3cr3t-pw", "s3cr3t-pw", EXIT_ONLINE,
        f"cannot reach Redis at redis://127.0.0.1:1/0?password=*** {UNREACHABLE}",
    ),
    "@ in the password, unreachable": (
        "redis://:p@ss@127.0.0.1:1/0", "p@ss", EXIT_ONLINE, f"cannot reach Redis at redis://:***@127.0.0.1:1/0 {UNREACHABLE}",
    ),
    "malformed scheme": (
        "redis//:s3cr3t-pw@127.0.0.1:1/0", "s3cr3t-pw", EXIT_USAGE,
        f"--redis-url: <malformed URL> is not a Redis URL {VALID}",
    ),
    "not a redis scheme": (
        "http://:s3cr3t-pw@127.0.0.1:1/0", "s3cr3t-pw", EXIT_USAGE,
        f"--redis-url: http://:***@127.0.0.1:1/0 is not a Redis URL {VALID}",
    ),
    "/ in the password": (
        "redis://:k3y/b/s3cr3tp4rt@127.0.0.1:1/0", "k3y/b/s3cr3tp4rt", EXIT_USAGE,
        "--redis-url: redis://:***@127.0.0.1:1/0 has a password holding '/' or '#', which end a URL's host part; "
        f"write them as %2F and %23 {VALID}",
    ),
}


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
@pytest.mark.parametrize("case", BAD_URLS, ids=list(BAD_URLS))
def test_failing_redis_url_does_not_show_the_password(tiny, online, case, debug):
    url, secret, exit_code, line = BAD_URLS[case]
    code, out, err = run_fs(tiny.root, "sync", "--redis-url", url, *(["--debug"] if debug else []), env=online_env(online))
    assert leaked_parts(secret, out + err) == []
    assert code == exit_code
    if debug:  # the traceback, then the same line
        assert "Traceback" in err and err.endswith(f"error: {line}\n")
    else:
        assert err == f"error: {line}\n"


# ---------------------------------------------------------------------------------------------
# Finding 8: a huge ttl crashes instead of being refused


def tiny_with_ttl(root: Path, ttl: str) -> None:
    node = model_node(TINY_VIEW, {**TINY_META, "ttl": ttl}, list(TINY_COLUMNS), types=TINY_COLUMNS)
    node["database"] = "demo"
    write_manifest_project(root, manifest(node))
    (root / "feature_store.yml").write_text(f"clock:\n  now: {TINY_NOW.isoformat()}\n")


@pytest.mark.parametrize("ttl", ["99999999999d", "16000000w", "106000w", "36501d"])
def test_a_ttl_above_the_maximum_is_refused(tiny, online, ttl, cli, monkeypatch):
    tiny_with_ttl(tiny.root, ttl)
    tiny.set_rows([row("c1", 20)])
    monkeypatch.chdir(tiny.root)
    for command in (["catalog"], ["sync", "--full"], ["get", f"{TINY_VIEW}:orders", "-e", "customer_id=c1"], ["verify-online"]):
        code, out, err = cli(*command)
        assert code == EXIT_PROJECT, (command, err[-300:])
        assert one_error_line(err)
        assert err.startswith(f"error: models/{TINY_VIEW}.yml: model '{TINY_VIEW}': ") and ttl in err and "36500d" in err


def test_the_maximum_ttl_works_end_to_end_and_one_day_more_is_refused(tiny, online, cli):
    tiny_with_ttl(tiny.root, "36500d")
    tiny.set_rows([row("c1", 20, orders=4)])
    project = ["--project-dir", str(tiny.root)]
    assert cli("sync", "--full", *project)[0] == 0
    code, out, err = cli("get", f"{TINY_VIEW}:orders", "-e", "customer_id=c1", *project)
    assert (code, err) == (0, "")
    assert json.loads(out)[0]["values"] == {f"{TINY_VIEW}:orders": 4}
    # The clock is frozen (clock.now): no expiry on Redis' clock (tests/unit/test_ttl_bounds.py
    # has the real clock's lifetimes at the bounds).
    assert online.client.ttl(online.entity_keys(TINY_VIEW)[0]) == -1
    assert cli("verify-online", *project)[0] == 0

    tiny_with_ttl(tiny.root, "36501d")
    code, _, err = cli("catalog", *project)
    assert code == EXIT_PROJECT
    assert one_error_line(err) and f"models/{TINY_VIEW}.yml" in err and "36501d" in err and "36500d" in err


# ---------------------------------------------------------------------------------------------
# Finding 9: tracebacks where one line is promised


SPINE_SQL = "select 'c1' as customer_id, timestamp '2024-02-21' as event_timestamp"

BAD_OUTPUTS = {
    # name: (arguments after --features, what to prepare in the project folder, the error line)
    "spine name that does not tokenize": (
        ["--spine", 'x"; drop table y; --', "-o", "out.parquet"], None,
        """spine 'x"; drop table y; --' is neither a file, a dbt model nor a relation name; valid: customer_stats""",
    ),
    "output under a regular file": (
        ["--spine-sql", SPINE_SQL, "-o", "somefile.txt/out.parquet"], "file",
        "output file {root}/somefile.txt/out.parquet cannot be written: {root}/somefile.txt is a file, not a folder",
    ),
    "output is a directory": (
        ["--spine-sql", SPINE_SQL, "-o", "existing_dir.parquet"], "dir",
        "output file {root}/existing_dir.parquet is a folder; give a file name ending .parquet or .csv",
    ),
    "output on a read-only file system": (
        ["--spine-sql", SPINE_SQL, "-o", "/proc/fs-test/out.parquet"], None,
        "output file /proc/fs-test/out.parquet cannot be written: No such file or directory (/proc/fs-test)",
    ),
}


@pytest.mark.parametrize("case", BAD_OUTPUTS, ids=list(BAD_OUTPUTS))
def test_bad_spine_or_output_path_is_one_line_and_exit_2(tiny, online, case, cli, monkeypatch):
    tiny.set_rows([row("c1", 20)])
    args, prepare, line = BAD_OUTPUTS[case]
    if prepare == "file":
        (tiny.root / "somefile.txt").write_text("a file\n")
    if prepare == "dir":
        (tiny.root / "existing_dir.parquet").mkdir()
    before = sorted(p.name for p in tiny.root.iterdir())
    monkeypatch.chdir(tiny.root)  # the relative output paths are the project folder's
    code, out, err = cli("training-set", "--features", f"{TINY_VIEW}:orders", *args)
    assert (code, out) == (EXIT_USAGE, "")
    assert err == f"error: {line.replace('{root}', str(tiny.root))}\n"
    assert sorted(p.name for p in tiny.root.iterdir()) == before


def test_debug_keeps_the_exit_code(tiny, online):
    tiny.set_rows([row("c1", 20)])
    code, _, err = run_fs(tiny.root, "sync", "--redis-url", "redis://127.0.0.1:1/0", env=online_env(online))
    assert code == EXIT_ONLINE and one_error_line(err)
    code, _, err = run_fs(tiny.root, "sync", "--redis-url", "redis://127.0.0.1:1/0", "--debug", env=online_env(online))
    assert code == EXIT_ONLINE
    assert "cannot reach Redis at redis://127.0.0.1:1/0" in err


# ---------------------------------------------------------------------------------------------
# Finding 10: smaller ones


def test_a_dead_runs_partial_file_is_cleaned_by_the_next_run(tiny, online, tmp_path, cli):
    tiny.set_rows([row("c1", 20)])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert not Path("/proc/999999").exists()  # no such process
    stale = out_dir / ".t.parquet.partial-999999"
    stale.write_bytes(b"PAR1 half of a file")
    live = out_dir / ".t.parquet.partial-1"  # pid 1 (init) is always alive: its file stays
    live.write_bytes(b"PAR1 being written")
    other = out_dir / ".u.parquet.partial-999999"  # another output's: not this run's to judge
    other.write_bytes(b"PAR1 half of another file")
    code, _, err = cli(
        "training-set", "--project-dir", str(tiny.root), "--spine-sql", SPINE_SQL,
        "--features", f"{TINY_VIEW}:orders", "-o", str(out_dir / "t.parquet"),
    )
    assert (code, err) == (0, "")
    assert sorted(p.name for p in out_dir.iterdir()) == [live.name, other.name, "t.parquet", "t.parquet.record.json"]


class FlushingProxy:
    """A TCP proxy in front of a Redis server that sends FLUSHDB to the server (on a connection
    of its own) just before it forwards the first command that writes an entity key."""

    def __init__(self, upstream_port: int, trigger: bytes):
        self.upstream_port = upstream_port
        self.trigger = trigger
        self.flushed = threading.Event()
        self._lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, destination: socket.socket, from_client: bool) -> None:
        tail = b""
        try:
            while chunk := source.recv(65536):
                if from_client and not self.flushed.is_set() and self.trigger in tail + chunk:
                    with self._lock:
                        if not self.flushed.is_set():
                            with redis.Redis(port=self.upstream_port) as admin:
                                admin.flushdb()
                            self.flushed.set()
                tail = chunk[-64:]
                destination.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (source, destination):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.server.close()


def test_a_flushdb_during_a_full_sync_is_a_redis_failure(tiny, online, cli):
    tiny.set_rows([row(f"c{i}", 20) for i in range(50)])
    server = PrivateRedis(tiny.root / "redis")
    proxy = FlushingProxy(server.port, trigger=b":customer_id=")
    try:
        code, out, err = cli("sync", "--full", "--redis-url", f"redis://127.0.0.1:{proxy.port}/0", "--project-dir", str(tiny.root))
        assert proxy.flushed.is_set()
    finally:
        proxy.close()
        server.stop()
    assert (code, out) == (EXIT_ONLINE, "")
    assert one_error_line(err)


@pytest.mark.parametrize("name", ["order_stats", "main.order_stats", "customer_stats", "Main.Order_Stats", "demo.main.order_stats"])
def test_output_table_refuses_a_feature_views_table(tmp_path, online, cli, name):
    views_project(tmp_path, built=["customer_stats", "order_stats"])
    table = name.split(".")[-1].lower()
    with duckdb.connect(str(tmp_path / "demo.duckdb"), read_only=True) as con:
        before = con.execute(f"select * from main.{table}").fetchall()
    code, out, err = cli(
        "training-set", "--project-dir", str(tmp_path), "--spine-sql", SPINE_SQL,
        "--features", "customer_stats:orders", "--output-table", name,
    )
    assert (code, out) == (EXIT_USAGE, "")
    assert err == (
        f"error: --output-table {name} is the table of feature view '{table}' (demo.main.{table}), which dbt builds; "
        "give the training set a table of its own\n"
    )
    with duckdb.connect(str(tmp_path / "demo.duckdb"), read_only=True) as con:
        assert con.execute(f"select * from main.{table}").fetchall() == before
