"""Every kind of dbt model as a feature view, on a small dbt-duckdb project the test writes
(not the demo), built by plain `dbt`: a view, an incremental model, an aliased model in a
custom schema, a snapshot (an SCD-2 source, `dbt_valid_from` as the timestamp), a model of an
installed package, and a DATE timestamp. fs reads the relation dbt built for each, and the
training set holds the values a brute-force as-of lookup gives. dbt runs as a user runs it, in
a child process; fs in the test's process (`fs_in_process`, with the child's environment and
folder)."""

from __future__ import annotations

import json
import uuid

from datetime import date, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from tests.generated_project import GeneratedProject, fs_in_process, tables_in

pytestmark = pytest.mark.integration

ORDERS = """
select * from (values
  (1, 'c1', date '2024-01-01', 10, timestamp '2024-01-01 08:00'),
  (2, 'c1', date '2024-01-03', 30, timestamp '2024-01-03 08:00'),
  (3, 'c2', date '2024-01-02', {{ var('c2_amount', 20) }}, timestamp '2024-01-02 08:00')
) as t(order_id, customer_id, order_date, amount, updated_at)
"""


def feature_yaml(name: str, timestamp: str, columns: str, config: str = "", meta: str = "") -> str:
    return (
        f"models:\n  - name: {name}\n    config:\n{config}"
        f"      meta: {{feature_store: {{entity: customer, timestamp: {timestamp}{meta}}}}}\n"
        f"    columns:\n{columns}"
    )


COLUMNS = "      - {name: customer_id}\n      - {name: order_date}\n      - {name: amount, data_type: integer}\n"
FEATURE_SQL = "select customer_id, order_date, amount from {{ ref('orders') }}\n"

CUSTOMERS_RAW = """
{% if var('state', 1) == 1 %}
select 'c1' as customer_id, 'bronze' as tier, timestamp '2024-01-01' as updated_at
{% else %}
select 'c1' as customer_id, 'gold' as tier, timestamp '2024-01-05' as updated_at
{% endif %}
"""
SNAPSHOT_YAML = """
snapshots:
  - name: customer_tiers
    relation: ref('customers_raw')
    config:
      unique_key: customer_id
      strategy: timestamp
      updated_at: updated_at
      meta: {feature_store: {entity: customer, timestamp: dbt_valid_from, features: [tier]}}
    columns:
      - {name: customer_id}
      - {name: tier, data_type: varchar}
      - {name: dbt_valid_from}
"""


def kinds_project(root) -> GeneratedProject:
    project = GeneratedProject(root / "shop", extra_config="packages-install-path: dbt_packages\n")
    project.model("orders", ORDERS, "models:\n  - name: orders\n    config: {materialized: table}\n")
    project.model("spend_view", FEATURE_SQL, feature_yaml("spend_view", "order_date", COLUMNS, "      materialized: view\n", ", freshness: 1d"))
    project.model(
        "spend_incremental",
        FEATURE_SQL.replace("\n", "") + "\n{% if is_incremental() %} where order_date > (select max(order_date) from {{ this }}){% endif %}\n",
        feature_yaml("spend_incremental", "order_date", COLUMNS, "      materialized: incremental\n"),
    )
    project.model(
        "spend_aliased",
        FEATURE_SQL,
        feature_yaml("spend_aliased", "order_date", COLUMNS, "      materialized: table\n      alias: spend_table\n      schema: features\n", ", ttl: 1d"),
    )
    project.model("customers_raw", CUSTOMERS_RAW, "models:\n  - name: customers_raw\n    config: {materialized: table}\n")
    project.file("snapshots/customer_tiers.yml", SNAPSHOT_YAML)
    # A package installed from a local folder, whose model is a feature view.
    package = GeneratedProject(root / "loyalty", name="loyalty")
    package.model(
        "loyalty_points",
        "select 'c1' as customer_id, date '2024-01-02' as points_date, 7 as points\n",
        feature_yaml("loyalty_points", "points_date", "      - {name: customer_id}\n      - {name: points_date}\n      - {name: points}\n", "      materialized: table\n"),
    )
    project.file("packages.yml", "packages:\n  - local: ../loyalty\n")
    project.file("feature_store.yml", f"clock:\n  now: '{NOW.isoformat()}'\n")
    return project


NOW = datetime(2024, 1, 3, 12)
"""The project's clock: c1's newest spend (DATE 2024-01-03) is 12 hours old, and valid for
12 more hours under a 1d ttl; c2's (2024-01-02) expired at midnight."""

SPINE = """select * from (values
  ('c1', timestamp '2023-12-31 00:00'), ('c1', timestamp '2024-01-01 00:00'), ('c1', timestamp '2024-01-02 12:00'),
  ('c1', timestamp '2024-01-04 00:00'), ('c1', timestamp '2024-01-06 00:00'), ('c2', timestamp '2024-01-02 00:00')
) as s(customer_id, event_timestamp)"""
SPINE_ROWS = [
    ("c1", datetime(2023, 12, 31)), ("c1", datetime(2024, 1, 1)), ("c1", datetime(2024, 1, 2, 12)),
    ("c1", datetime(2024, 1, 4)), ("c1", datetime(2024, 1, 6)), ("c2", datetime(2024, 1, 2)),
]


def as_of(rows: list[tuple[str, datetime, object]], key: str, t: datetime, ttl: timedelta | None = None):
    """Brute force: the value of the newest row of `key` at or before `t`, if within ttl."""
    known = [(at, value) for k, at, value in rows if k == key and at <= t]
    if not known or (ttl is not None and max(known)[0] + ttl < t):
        return None
    return max(known)[1]


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


@pytest.fixture(autouse=True)
def fs_here(cli, monkeypatch):
    fs_in_process(cli, monkeypatch)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("kinds")
    project = kinds_project(root)
    database = root / "shop.duckdb"
    project.profiles(project.root, database)
    env = project.env(root)
    project.dbt("deps", env=env)
    project.dbt("build", "--vars", "state: 1", env=env)
    project.dbt("build", "--vars", "state: 2", env=env)  # the snapshot's second version
    return project, env, database


def test_every_kind_reads_the_relation_dbt_built(built):
    project, env, database = built
    out = project.root.parent / "train.parquet"
    features = ["spend_view:amount", "spend_incremental:amount", "spend_aliased:amount", "customer_tiers:tier", "loyalty_points:points"]
    result = project.fs(
        "training-set", "--spine-sql", SPINE, "--full-names", "--features", ",".join(features), "-o", str(out), env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "main_features.spend_table" in tables_in(database)  # the alias in the custom schema
    frame = pq.read_table(out).to_pylist()
    orders = [("c1", midnight(date(2024, 1, 1)), 10), ("c1", midnight(date(2024, 1, 3)), 30), ("c2", midnight(date(2024, 1, 2)), 20)]
    tiers = [("c1", datetime(2024, 1, 1), "bronze"), ("c1", datetime(2024, 1, 5), "gold")]
    points = [("c1", datetime(2024, 1, 2), 7)]
    assert [(r["customer_id"], r["event_timestamp"]) for r in frame] == SPINE_ROWS
    for row, (key, t) in zip(frame, SPINE_ROWS):
        for view in ("spend_view", "spend_incremental"):
            assert row[f"{view}__amount"] == as_of(orders, key, t), (view, key, t)
        # A DATE is midnight UTC of its day: 2024-01-01 with a 1d ttl is valid up to 2024-01-02 00:00.
        assert row["spend_aliased__amount"] == as_of(orders, key, t, timedelta(days=1)), (key, t)
        assert row["customer_tiers__tier"] == as_of(tiers, key, t), (key, t)
        assert row["loyalty_points__points"] == as_of(points, key, t), (key, t)


def test_a_date_timestamp_in_fs_check_is_midnight_of_its_day(built):
    """The user's finding: fs check crashed with a TypeError on a DATE timestamp."""
    project, env, _ = built
    result = project.fs("check", "--view", "spend_view", "--json", env=env)
    assert result.returncode == 0, result.stderr
    freshness = next(r for r in json.loads(result.stdout)["results"] if r["check"] == "freshness")
    assert freshness["newest_timestamp"] == "2024-01-03 00:00:00"
    assert freshness["value"] == (NOW - datetime(2024, 1, 3)) / timedelta(hours=1) == 12.0
    assert freshness["detail"] == "newest order_date 2024-01-03 00:00:00 is 12.0 h old at 2024-01-03 12:00:00"


def test_a_date_timestamp_online_is_midnight_of_its_day(built, redis_url):
    """Synced with the ttl counted from midnight: c1's 2024-01-03 row is valid until 2024-01-04
    00:00 (12 hours after the clock's now), c2's 2024-01-02 row expired and is not written."""
    import redis

    project, env, _ = built
    prefix = f"fs:test_kinds_{uuid.uuid4().hex[:8]}"
    env = {**env, "FS_REDIS_URL": redis_url, "FS_KEY_PREFIX": prefix}
    client = redis.Redis.from_url(redis_url)
    try:
        result = project.fs("sync", env=env)  # every view: the snapshot and the package's too
        assert result.returncode == 0, result.stderr
        keys = sorted(k.decode() for k in client.scan_iter(f"{prefix}:spend_aliased:gen*"))
        assert [k.rsplit(":", 1)[-1] for k in keys] == ["customer_id=c1"]
        stored = {k.decode(): v.decode() for k, v in client.hgetall(keys[0]).items()}
        assert stored["order_date"].startswith("2024-01-03T00:00:00") and stored["amount"] == "30"
        # Under the project's frozen clock (clock.now) time does not pass for readers, so the key
        # does not expire in Redis (online/validity.py); the ttl from midnight decided above which
        # rows were written, and the reader applies it at each read.
        assert client.pttl(keys[0]) == -1
        got = project.fs("get", "spend_aliased:amount", "--entity", "customer_id=c1,c2", env=env)
        assert got.returncode == 0, got.stderr
        rows = json.loads(got.stdout)
        assert [row["values"]["spend_aliased:amount"] for row in rows] == [30, None]
        assert rows[0]["event_timestamps"]["spend_aliased"].startswith("2024-01-03T00:00:00")
        # The snapshot's current version (valid from 2024-01-05, after the clock's now, is not
        # yet known: the 2024-01-01 version is the one served), and the package's view.
        got = project.fs("get", "customer_tiers:tier", "loyalty_points:points", "--entity", "customer_id=c1", env=env)
        assert got.returncode == 0, got.stderr
        assert json.loads(got.stdout)[0]["values"] == {"customer_tiers:tier": "bronze", "loyalty_points:points": 7}
        verify = project.fs("verify-online", env=env)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
