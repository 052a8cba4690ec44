"""`featurestore.latest` (featurestore/dbt/macros/latest.sql) compiled by real dbt and run on
DuckDB and PostgreSQL: on the built demo it returns what `fs sync` wrote to Redis, read back;
on generated rows (ties, the ttl's boundary to the microsecond, created_at after the
moment, pushed rows) it equals a brute-force reference and fs's own latest-values query as
the sync filters it. Its bad inputs are one compile error each. (Spark: test_spark.py;
the demo on PostgreSQL: test_training_set_postgres.py.)"""

from __future__ import annotations

import dataclasses

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore import FeatureStore
from featurestore.catalog.versions import dbt_ref
from featurestore.sql.expressions import render
from featurestore.sql.landing import landing_relation
from tests.conftest import project_env
from tests.dbt_inline import compile_inline
from featurestore.sql.semantics import WATERMARK
from tests.latest_reference import SHAPES, as_sync_writes, as_table, brute_force, moved, redis_rows, rows_strategy, sync_query, watermark
from tests.online_fixtures import online  # noqa: F401
from tests.pit_fixtures import load_table, postgres

pytestmark = pytest.mark.integration

LANDING_SHAPE = "route_daily"  # the case view whose landing table exists when dbt compiles
# plane_daily is its latest version (v2); plane_daily@v1 is read by ref('plane_daily', v=1).
ONLINE_VIEWS = ["carrier_daily", "plane_daily", "plane_daily@v1", "route_daily", "weather_hourly"]
REFUSED = {
    "not_a_view": "select * from {{ featurestore.latest(ref('stg_flights')) }}",
    "not_a_relation": "select * from {{ featurestore.latest('carrier_daily') }}",
    "aggregation_view": "select * from {{ featurestore.latest(ref('origin_departures')) }}",
}


@dataclasses.dataclass(repr=False)
class Compiled:
    """The compiled SQL (the demo's; per engine, the cases'), the cases' connections and views."""

    demo: dict
    cases: dict
    on: dict
    views: dict

    def __iter__(self):
        return iter((self.demo, self.cases, self.on, self.views))


def latest_of(view: str) -> str:
    return f"select * from {{{{ featurestore.latest({dbt_ref(view)}) }}}}"


@pytest.fixture(scope="module")
def compiled(built_project, postgres_server, tmp_path_factory):
    """The macro compiled by one dbt process: for the demo's views and the bad inputs against
    the built demo; for the case views against `feature_store.duckdb` in a folder of its own
    (the same database name) and against a PostgreSQL schema of the module's own. The cases'
    tables (route_daily's landing table too) exist before dbt looks for them."""
    folder = tmp_path_factory.mktemp("latest_cases")
    cases = folder / "feature_store.duckdb"
    catalog = FeatureStore(project_dir=built_project).catalog()
    pg = postgres()
    schema = pg.target.schema
    try:
        on = {"duckdb": duckdb.connect(str(cases)), "postgres": pg}
        views = {
            "duckdb": {name: moved(catalog.view(name), "feature_store", "main") for name in SHAPES},
            "postgres": {name: moved(catalog.view(name), postgres_server.dbname, schema) for name in SHAPES},
        }
        for name, view in views["duckdb"].items():
            empty = as_table(view, [])  # noqa: F841  (read by DuckDB's replacement scan)
            for table in (name, f"{name}__fs_pushed") if name == LANDING_SHAPE else (name,):
                on["duckdb"].execute(f"create table main.{table} as select * from empty")
                load_table(pg, schema, table, as_table(view, []))
        on["duckdb"].close()  # dbt opens the file next
        pg_env = {**postgres_server.env(), "FS_TARGET": "postgres", "FS_PG_SCHEMA": schema}
        demo, on_duckdb, on_postgres = compile_inline(
            built_project,
            [
                ({}, {**{v: latest_of(v) for v in ONLINE_VIEWS}, **REFUSED}),
                ({"FS_DUCKDB_PATH": str(cases)}, {v: latest_of(v) for v in SHAPES}),
                (pg_env, {v: latest_of(v) for v in SHAPES}),
            ],
            project_env(),
            folder / "dbt",
            forked=True,
        )
        on["duckdb"] = duckdb.connect(str(cases))
        yield Compiled(demo, {"duckdb": on_duckdb, "postgres": on_postgres}, on, views)
    finally:
        on["duckdb"].close()
        pg.execute(f'drop schema if exists "{schema}" cascade')
        pg.close()


def test_latest_is_what_fs_sync_wrote_to_redis(built_project, compiled, cli, online):  # noqa: F811
    demo, _, _, _ = compiled
    code, _, err = cli("sync", "--project-dir", str(built_project))
    assert (code, err) == (0, "")
    catalog = FeatureStore(project_dir=built_project).catalog()
    with duckdb.connect(str(built_project / "feature_store.duckdb"), read_only=True) as con:
        for name in ONLINE_VIEWS:
            view = catalog.view(name)
            got = con.sql(demo[name]["sql"]).to_arrow_table()
            assert got.column_names == list(view.columns)
            served = redis_rows(online, view)
            assert len(served) > 0, name
            assert sorted_by_key(view, got.to_pylist()) == served, name


def test_each_version_is_read_with_its_own_columns(compiled):
    """v2 adds plane__is_widebody: the plain ref (the latest) has it, v1's does not."""
    demo, _, _, _ = compiled
    assert "plane__is_widebody" in demo["plane_daily"]["sql"] and '"plane_daily_v2"' in demo["plane_daily"]["sql"]
    assert "plane__is_widebody" not in demo["plane_daily@v1"]["sql"] and '"plane_daily_v2"' not in demo["plane_daily@v1"]["sql"]


def sorted_by_key(view, rows):
    from tests.latest_reference import sorted_rows

    return sorted_rows(view, rows)


def test_the_demo_analysis_uses_latest_at_the_projects_now(built_project, compiled):
    """analyses/latest_carrier_stats.sql: carrier_daily's macro at clock.now, in the README."""
    demo, _, _, _ = compiled
    text = (built_project / "analyses" / "latest_carrier_stats.sql").read_text()
    assert "featurestore.latest(ref('carrier_daily'))" in text
    assert "cast('2013-12-31 00:30:00' as timestamp)" in demo["carrier_daily"]["sql"]


@pytest.mark.parametrize(
    "name, line",
    [
        ("not_a_view", 'featurestore.latest: "feature_store"."main"."stg_flights" is not a feature view: no model of this project built it with config.meta.feature_store'),
        ("not_a_relation", "featurestore.latest: 'carrier_daily' is not a relation; pass ref() of a feature view, e.g. featurestore.latest(ref('carrier_daily'))"),
        ("aggregation_view", "featurestore.latest: model 'origin_departures' (models/features/origin_departures.yml): an aggregation "
         "view (its features are windowed aggregations at a moment) has no latest row; read them with fs get or fs training-set"),
    ],
)
def test_what_is_not_a_feature_view_is_one_compile_error(compiled, name, line):
    demo, _, _, _ = compiled
    assert "sql" not in demo[name]
    assert [text.strip() for text in demo[name]["error"].splitlines()][2] == line


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
@pytest.mark.parametrize("shape", SHAPES)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_latest_equals_the_reference_and_fs_sync(compiled, engine, shape, data):
    _, on_cases, on, views = compiled
    view = views[engine][shape]
    landing = shape == LANDING_SHAPE  # carrier_daily has none: the macro reads the view alone
    rows = data.draw(rows_strategy(view), label="rows")
    pushed = data.draw(rows_strategy(view), label="pushed") if landing else []
    tables = [(view.relation, rows), *([(landing_relation(view), pushed)] if landing else [])]
    if engine == "duckdb":
        con = on["duckdb"]
        for relation, content in tables:
            generated = as_table(view, content)  # noqa: F841  (read by DuckDB's replacement scan)
            con.execute(f"delete from main.{relation.identifier}")
            con.execute(f"insert into main.{relation.identifier} select * from generated")
        read = lambda sql: con.sql(sql).to_arrow_table()  # noqa: E731
    else:
        pg = on["postgres"]
        for relation, content in tables:
            pg.upload_temp_table("generated", as_table(view, content))
            pg.execute(f'delete from "{relation.schema}"."{relation.identifier}"')
            pg.execute(f'insert into "{relation.schema}"."{relation.identifier}" select * from generated')
        read = pg.read_arrow
    got = sorted_by_key(view, read(on_cases[engine][shape]["sql"]).to_pylist())
    assert got == brute_force(view, rows + pushed)
    synced = read(render(sync_query(view, with_landing=landing, dialect=engine), engine))
    assert got == as_sync_writes(view, synced)
    assert set(synced[WATERMARK].to_pylist()) <= {watermark(view, rows)}
