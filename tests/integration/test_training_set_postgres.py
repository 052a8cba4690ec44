"""The same training set on DuckDB (native ASOF) and on PostgreSQL (portable form), over the
real demo feature tables copied into a PostgreSQL schema of the test's own: identical frames."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.catalog import Relation
from featurestore.engines.base import Warehouse
from featurestore import FeatureStore
from featurestore.offline.request import SpineInput, TrainingSetRequest
from featurestore.offline.training_set import prepare_training_set
from featurestore.sql.expressions import render
from tests.online_fixtures import online  # noqa: F401
from tests.pit_fixtures import catalog_of, load_table, postgres

pytestmark = pytest.mark.integration

VIEWS = ["weather_hourly", "carrier_daily", "route_daily"]


def test_duckdb_and_postgres_give_identical_frames(built_project, tmp_path, clean_env):
    store = FeatureStore(project_dir=built_project)
    catalog = store.catalog()
    spine_path = tmp_path / "spine.parquet"
    with duckdb.connect(str(built_project / "feature_store.duckdb"), read_only=True) as con:
        con.execute(
            f"copy (select * from main.flight_delay_labels where flight_id % 97 = 3 order by hash(flight_id)) "
            f"to '{spine_path}' (format parquet)"
        )
        tables = {name: con.sql(f"select * from main.{name}").to_arrow_table() for name in VIEWS}
    features = ("weather_hourly:*", "carrier_daily:*", "route_daily:*")
    # The views' rows copied once, for both kinds of training set (each reads them only).
    with postgres() as pg, store.warehouse() as warehouse:
        schema = pg.target.schema
        try:
            for name, table in tables.items():
                load_table(pg, schema, name, table)
            moved = catalog_of(*[dataclasses.replace(catalog.view(n), relation=Relation(None, schema, n)) for n in VIEWS])
            for as_of in ("knowledge", "event-time"):
                request = TrainingSetRequest(spine=SpineInput(path=spine_path), features=features, as_of=as_of)
                plan = prepare_training_set(request, catalog, warehouse)
                on_duckdb = warehouse.read_arrow(render(plan.expression, "duckdb"))
                pg_plan = prepare_training_set(request, moved, pg)
                on_postgres = pg.read_arrow(render(pg_plan.expression, "postgres"))
                assert on_duckdb.num_rows == pq.read_metadata(spine_path).num_rows > 3000
                assert on_postgres.to_pylist() == on_duckdb.to_pylist(), as_of
        finally:
            pg.execute(f'drop schema if exists "{schema}" cascade')


SAMPLE_SPINE_MODEL = "select * from {{ ref('flight_delay_labels') }} where flight_id % 41 = 5\n"

POSTGRES_BUILD_SELECTION = (
    # The views the tests read, the labels and a spine model of a fortieth of them.
    "+weather_hourly,resource_type:model", "+carrier_daily,resource_type:model", "+route_daily,resource_type:model",
    "+flight_delay_labels,resource_type:model", "labels_sample",
    # One of each data test of fs's dbt package, whose SQL the package writes, on PostgreSQL.
    # The demo's other data tests (the same macros on other columns, dbt's not_null and
    # relationships) run in DuckDB's build: the same SQL on each adapter.
    "featurestore_accepted_range_carrier_daily_carrier__flights__7d__0",
    "featurestore_feature_timestamp_not_in_future_carrier_daily_as_of",
    "featurestore_feature_unique_entity_timestamp_carrier_daily_carrier__as_of",
    "featurestore_feature_created_at_not_before_timestamp_route_daily_known_at__as_of",
)
"""Built with DBT_INDIRECT_SELECTION=empty (tests/integration/test_spark.py's
SPARK_BUILD_SELECTION does the same): otherwise dbt also runs every selected model's data
tests, 42 PostgreSQL queries and about 2 s of CPU, where 4 show what is PostgreSQL's own."""


@pytest.fixture(scope="module")
def postgres_project(tmp_path_factory, postgres_server, built_project):
    """The demo project on the `postgres` target, in schemas of its own, built by real dbt
    (POSTGRES_BUILD_SELECTION: plane_daily left out, the tests do not read it, and it is the
    slowest to build); its dbt package linked as the DuckDB build's is (no `dbt deps`; dbt
    parses in full for this target)."""
    import sys
    import uuid

    from tests.conftest import copy_project, project_env, run_here

    root = copy_project(tmp_path_factory.mktemp("pg") / "project", built_project)
    schema = f"fs_test_{uuid.uuid4().hex[:10]}"
    env = {**project_env(), **postgres_server.env(), "FS_TARGET": "postgres", "FS_PG_SCHEMA": schema, "FS_RAW_SCHEMA": f"{schema}_raw"}
    # A spine model of a fortieth of the flights, for the training set generated as a model.
    (root / "models/labels/labels_sample.sql").write_text(SAMPLE_SPINE_MODEL)
    steps = [
        ([sys.executable, "scripts/load_nycflights13.py", "--project-dir", "."], env),
        # The tests' own builds (--as-model's) run the selected model's data tests as usual.
        ([sys.executable, "-m", "featurestore.cli", "build", "--select", " ".join(POSTGRES_BUILD_SELECTION)],
         {**env, "DBT_INDIRECT_SELECTION": "empty"}),
    ]
    try:
        for step, step_env in steps:  # in this process: the loader and fs are not the point (fs's dbt is a child still)
            result = run_here(step, root, step_env)
            assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        ran = {r["unique_id"].split(".")[2]: r["status"] for r in json.loads((root / "target/run_results.json").read_text())["results"]}
        data_tests = [name for name in POSTGRES_BUILD_SELECTION if name.startswith("featurestore_")]
        assert {name: ran.get(name) for name in data_tests} == dict.fromkeys(data_tests, "pass"), "a data test named is not in the project"
        assert len(ran) == 6 + len(data_tests), sorted(ran)  # the models and those tests only
        yield root, env
    finally:
        with postgres(schema) as pg:
            pg.execute(f'drop schema if exists "{schema}" cascade')
            pg.execute(f'drop schema if exists "{schema}_raw" cascade')


def fs_as_child(cli, monkeypatch, project: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """`fs args...` run in this process (the `cli` fixture) with what a child would have:
    exactly `env`, `project` as the working folder. What fs does and prints is the point of
    these tests, not its process: a child costs a Python start and fs's imports."""
    with monkeypatch.context() as patch:
        for key in [k for k in os.environ if k not in env]:
            patch.delenv(key)
        for key, value in env.items():
            patch.setenv(key, value)
        patch.chdir(project)
        return cli(*args)


def test_cli_training_set_on_the_postgres_target_equals_duckdb(postgres_project, built_project, tmp_path, cli, monkeypatch):
    """`fs training-set` end to end on each target, same spine file: the same file out."""
    from tests.conftest import project_env

    root, pg_env = postgres_project
    spine = tmp_path / "spine.parquet"
    with duckdb.connect(str(built_project / "feature_store.duckdb"), read_only=True) as con:
        con.execute(
            f"copy (select * from main.flight_delay_labels where flight_id % 41 = 5 order by hash(flight_id)) "
            f"to '{spine}' (format parquet)"
        )
    features = "weather_hourly:*,carrier_daily:*,route_daily:*"
    outputs = {}
    for name, project, env in [("postgres", root, pg_env), ("duckdb", built_project, project_env())]:
        out = tmp_path / f"{name}.parquet"
        code, stdout, stderr = fs_as_child(
            cli, monkeypatch, project, env, "training-set", "--spine", str(spine), "--features", features, "-o", str(out)
        )
        assert code == 0, stderr
        assert stdout.startswith(f"{pq.read_metadata(spine).num_rows:,} rows in ")
        outputs[name] = pq.read_table(out)
    assert outputs["postgres"].to_pylist() == outputs["duckdb"].to_pylist()
    # The same rows in a file hash the same whichever engine made them (fs hashes files itself).
    records = {name: json.loads((tmp_path / f"{name}.parquet.record.json").read_text()) for name in outputs}
    assert records["postgres"]["output"]["content_hash"] == records["duckdb"]["output"]["content_hash"]
    assert records["postgres"]["versions"]["engine"]["name"] == "postgres"


def test_a_table_output_on_postgres_is_hashed_in_the_warehouse_and_reproduces(postgres_project, monkeypatch):
    """The record's hashes on PostgreSQL (hashtextextended of each row): the output table's
    equals a hand-written query's, the relation spine is hashed, the record is kept beside the
    table in the warehouse, the reproduction from there is identical until a view's rows
    change (exit 13), and its scratch table is dropped. The spine is the sample model (a
    fortieth of the labels): the hashes are computed in PostgreSQL whatever the row count, and
    the three training sets over all the labels cost about 6 s of the server's CPU."""
    from featurestore.errors import EXIT_REPRODUCED_DATA

    root, env = postgres_project
    for key, value in env.items():
        if key.startswith("FS_"):
            monkeypatch.setenv(key, value)
    store = FeatureStore(project_dir=root)
    result = store.training_set("labels_sample", ["carrier_daily:*"], output_table="train_records")
    schema = env["FS_PG_SCHEMA"]
    with postgres(schema) as pg:
        rows, total = pg.fetch_all(f'select count(*), sum(hashtextextended(t::text, 0)) from "{schema}".train_records t')[0]
        (spine_rows,) = pg.fetch_all(f'select count(*) from "{schema}".labels_sample')[0]
    assert result.record["output"] == {**result.record["output"], "kind": "table", "rows": rows, "content_hash": str(int(total))}
    assert result.record["spine"]["kind"] == "relation" and result.record["spine"]["rows"] == spine_rows
    assert result.record["spine"]["content_hash"] is not None
    # The record beside the table in the warehouse: exactly the file's, and reproducible from there.
    with postgres(schema) as pg:
        kept = pg.fetch_all(f'select record, row_count, output_content_hash from "{schema}".train_records__fs_record')
    assert kept == [(Path(result.summary.record).read_text(), rows, str(int(total)))]
    assert store.reproduce_training_set("table:train_records").identical
    with postgres(schema) as pg:
        pg.execute(f'update "{schema}".carrier_daily set carrier__flights__7d = carrier__flights__7d + 1')
        tables = {r[0] for r in pg.fetch_all("select table_name from information_schema.tables where table_schema = %s", (schema,))}
    assert "train_records__fs_reproduce" not in tables and "train_records__fs_record" in tables
    assert store.reproduce_training_set("train_records").exit_code == EXIT_REPRODUCED_DATA


def test_postgres_numeric_results_arrive_as_doubles():
    """avg(), sum() and round() give numeric in PostgreSQL; it is carried as a double."""
    with postgres() as pg:
        table = pg.read_arrow("select 1.5::numeric as a, avg(x) as b from (values (1), (2)) v(x)")
    assert table.to_pylist() == [{"a": 1.5, "b": 1.5}]


def test_a_cursor_is_planned_for_all_its_rows():
    """fs's reads are server-side cursors it drains: PostgreSQL plans them for every row, not
    for the first tenth (its default for a cursor, which chose nested loops that made the
    --as-model test's training set ten times slower to read than dbt's build of it)."""
    with postgres() as pg:
        assert pg.read_arrow("select current_setting('cursor_tuple_fraction') as f").to_pylist() == [{"f": "1"}]


EXPORTED_EDGES = """
select 'NaN'::float8 as f, '-Infinity'::float8 as g, 1.25::numeric as n, ''::text as empty, null::text as missing,
    E'a,"b"\\nc' as quoted, true as yes, null::bool as maybe, 'ab'::char(4) as padded, date '2024-02-29' as day,
    timestamp '2024-01-01 00:00:00.000001' as ts, timestamptz '2024-01-01 05:00:00.5+02' as tz, 7::int2 as small,
    0.1::float4 as single, 'é ✓'::varchar as unicode
union all
select 1, 2, null, null, '', null, false, false, null, null, null, null, null, null, null
"""


def _comparable(rows: list[dict]) -> list[dict]:
    return [{k: "nan" if v != v else v for k, v in row.items()} for row in rows]  # NaN != NaN


# Text PostgreSQL can hold: no NUL, and no lone surrogate, which UTF-8 cannot encode (the
# driver failed on '\ud800' before any SQL ran).
STORABLE_TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=8)


@settings(max_examples=15, deadline=None)
@given(
    texts=st.lists(st.one_of(st.none(), STORABLE_TEXT), max_size=6),
    numbers=st.lists(st.one_of(st.none(), st.floats(allow_subnormal=False)), min_size=6, max_size=6),
)
def test_a_file_from_postgres_holds_what_the_cursor_reads(tmp_path_factory, texts, numbers):
    """A training set's file on PostgreSQL is written from COPY's CSV, parsed by Arrow: it
    holds the values and types the server-side cursor's rows would give, for text with quotes, commas, line breaks,
    empty strings beside nulls, floats at their limits, and each type fs carries."""
    folder = tmp_path_factory.mktemp("export")
    rows = pa.table({"t": pa.array(texts + [None] * (6 - len(texts)), pa.string()), "x": pa.array(numbers, pa.float64())})
    with postgres() as pg:
        pg.upload_temp_table("generated", rows)
        # One column: PostgreSQL's CSV writes a null row of it as an empty line.
        for sql in (EXPORTED_EDGES, "select * from generated", "select x from generated", "select * from generated where false"):
            for file_format in ("parquet", "csv"):
                copied, fetched = folder / f"copied.{file_format}", folder / f"fetched.{file_format}"
                pg.export(sql, str(copied), file_format)
                Warehouse.export(pg, sql, str(fetched), file_format)  # from the cursor's rows
                if file_format == "csv":
                    assert copied.read_text() == fetched.read_text()
                    continue
                written, expected = pq.read_table(copied), pq.read_table(fetched)
                assert written.schema == expected.schema
                assert _comparable(written.to_pylist()) == _comparable(expected.to_pylist())


def _hints(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("hint:")]


def test_cli_hints_at_the_index_a_view_lacks_once_and_not_once_it_has_it(postgres_project, tmp_path, cli, monkeypatch):
    """`fs training-set` on PostgreSQL: a view that would take the lateral join gets one hint
    line naming the index and its dbt config (exit code 0); with the index made, none, and
    the same rows (now from the lateral join). route_daily's created_at keeps it in the
    portable form whatever its indexes, so it gets no hint."""
    root, env = postgres_project
    spine = tmp_path / "spine.parquet"
    with postgres(env["FS_PG_SCHEMA"]) as pg:
        schema = pg.target.schema
        labels = f'select * from "{schema}".flight_delay_labels where flight_id % 53 = 1 order by flight_id'
        pq.write_table(pg.read_arrow(labels), spine)

    def training_set() -> tuple[str, list[dict]]:
        out = tmp_path / "out.parquet"
        code, _, stderr = fs_as_child(
            cli, monkeypatch, root, env, "training-set", "--spine", str(spine),
            "--features", "weather_hourly:*,carrier_daily:*,route_daily:*", "-o", str(out),
        )
        assert code == 0, stderr
        return stderr, pq.read_table(out).to_pylist()

    stderr, without = training_set()
    assert _hints(stderr) == [
        f"hint: view '{view}' has no index on ({key}, {ts}); with one (config: indexes: [{{columns: ['{key}', '{ts}']}}]) "
        "training sets use a faster plan"
        for view, key, ts in [("weather_hourly", "origin", "observed_at"), ("carrier_daily", "carrier", "as_of")]
    ]
    with postgres(env["FS_PG_SCHEMA"]) as pg:
        pg.execute(f'create index fs_test_carrier on "{schema}".carrier_daily (carrier, as_of)')
        try:
            stderr, with_index = training_set()
        finally:
            pg.execute(f'drop index "{schema}".fs_test_carrier')
    assert _hints(stderr) == [
        "hint: view 'weather_hourly' has no index on (origin, observed_at); with one "
        "(config: indexes: [{columns: ['origin', 'observed_at']}]) training sets use a faster plan"
    ]
    assert with_index == without and len(without) > 100
    # --sql prints the query the run would use, with the same hints.
    code, stdout, stderr = fs_as_child(cli, monkeypatch, root, env, "training-set", "--spine", str(spine), "--features", "carrier_daily:*", "--sql")
    assert code == 0 and "LATERAL" not in stdout and len(_hints(stderr)) == 1


def test_a_dbt_view_is_told_to_be_a_table_with_the_index():
    """A view's relation that is a database view (a dbt model materialised as a view) holds
    no index: the hint says to materialise it as a table with one. fs asks the warehouse
    what the relation is, not dbt's config."""
    from featurestore.engines.engine import RelationIndex
    from featurestore.offline.indexes import index_hint
    from tests.pit_fixtures import feature_view

    with postgres() as pg:
        schema = pg.target.schema
        try:
            pg.execute(f'create schema "{schema}"')
            pg.execute(f'create table "{schema}".rows (carrier text, as_of timestamp, delay double precision)')
            pg.execute(f'create index on "{schema}".rows (carrier, as_of)')
            pg.execute(f'create view "{schema}".carrier_daily as select * from "{schema}".rows')
            view = dataclasses.replace(feature_view("carrier_daily", ("carrier",), {"delay": "double"}, schema), timestamp="as_of")
            state = pg.latest_row_index(view)
            table = pg.latest_row_index(dataclasses.replace(view, relation=Relation(None, schema, "rows")))
        finally:
            pg.execute(f'drop schema if exists "{schema}" cascade')
    assert (state, table) == (RelationIndex.NOT_A_TABLE, RelationIndex.INDEXED)
    assert index_hint(view, state) == (
        "view 'carrier_daily' is not a table, so it has no index on (carrier, as_of); materialised as a table with one "
        "(config: materialized: table, indexes: [{columns: ['carrier', 'as_of']}]) training sets use a faster plan"
    )


def test_latest_macro_on_postgres_is_what_fs_sync_wrote_to_redis(postgres_project, online, tmp_path, monkeypatch):  # noqa: F811
    """featurestore.latest compiled by dbt for the postgres target and run there: per view
    built, the rows `fs sync` from PostgreSQL wrote to Redis, read back."""
    from tests.dbt_inline import compile_inline
    from tests.latest_reference import redis_rows, sorted_rows

    root, pg_env = postgres_project
    views = ["carrier_daily", "route_daily", "weather_hourly"]
    # dbt in a process forked from one that imported it (tests/forked_dbt.py), with the
    # build's partial-parse state and its flags (the target and profiles folder fs gives dbt):
    # nothing changed since the build, so dbt parses nothing (about 2 s of CPU less).
    scratch = tmp_path / "dbt"
    (scratch / "0").mkdir(parents=True)
    shutil.copy2(root / "target" / "partial_parse.msgpack", scratch / "0")
    (compiled,) = compile_inline(
        root, [({}, {v: f"select * from {{{{ featurestore.latest(ref('{v}')) }}}}" for v in views})], pg_env, scratch,
        "--target", "postgres", "--profiles-dir", str(root), forked=True,
    )
    for key, value in pg_env.items():
        if key.startswith("FS_"):
            monkeypatch.setenv(key, value)
    store = FeatureStore(project_dir=root, target="postgres")
    store.sync(views=views)  # into the `online` fixture's prefix
    with store.warehouse() as warehouse:
        for name in views:
            view = store.catalog().view(name)
            served = redis_rows(online, view)
            assert len(served) > 0, name
            assert sorted_rows(view, warehouse.read_arrow(compiled[name]["sql"]).to_pylist()) == served, name
def test_the_training_set_generated_as_a_model_equals_the_cli_on_postgres(postgres_project, tmp_path, monkeypatch):
    """`fs training-set --as-model` on the postgres target, the model built by dbt: its table
    equals `fs training-set`'s output for the same spine model, row for row. (Last in the
    module: the model it adds makes the next command parse the project again.)"""
    root, env = postgres_project
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    store = FeatureStore(project_dir=root)
    features = ["weather_hourly:*", "carrier_daily:*", "route_daily:*"]
    generated = store.training_set_model("labels_sample", features, "models/training/sample_train.sql")
    assert generated.changed and (root / "models/training/sample_train.yml").is_file()
    assert store.build("sample_train").line().startswith("dbt build on target postgres: 1 model built")
    expected = store.training_set("labels_sample", features).to_arrow()
    with postgres(env["FS_PG_SCHEMA"]) as pg:
        built = pg.read_arrow(f'select * from "{pg.target.schema}".sample_train order by flight_id')
    assert built.num_rows == expected.num_rows > 3000
    assert built.to_pylist() == expected.sort_by("flight_id").to_pylist()
