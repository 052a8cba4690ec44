"""`featurestore.latest` (featurestore/dbt/macros/latest.sql) compiled by real dbt and run on
DuckDB and PostgreSQL: on the built demo it returns what `fs sync` wrote to Redis, read back;
on generated rows (ties, the ttl's boundary to the microsecond, created_at after the
moment, pushed rows) it equals a brute-force reference and fs's own latest-values query as
the sync filters it. Its bad inputs are one compile error each. (Spark: test_spark.py;
the demo on PostgreSQL: test_training_set_postgres.py.)"""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore import FeatureStore
from featurestore.sql.expressions import render
from featurestore.sql.landing import landing_relation
from tests.conftest import project_env
from tests.dbt_inline import compile_inline
from tests.latest_reference import SHAPES, arrow_schema, as_sync_writes, as_table, brute_force, moved, redis_rows, rows_strategy, sync_query
from tests.online_fixtures import online  # noqa: F401

pytestmark = pytest.mark.integration

ONLINE_VIEWS = ["carrier_daily", "plane_daily", "route_daily", "weather_hourly"]
REFUSED = {
    "not_a_view": "select * from {{ featurestore.latest(ref('stg_flights')) }}",
    "not_a_relation": "select * from {{ featurestore.latest('carrier_daily') }}",
}


def latest_of(view: str) -> str:
    return f"select * from {{{{ featurestore.latest(ref('{view}')) }}}}"


@pytest.fixture(scope="module")
def duckdb_compiled(built_project, tmp_path_factory):
    """The macro compiled for the demo's views and the bad inputs against the built demo,
    and for the case views against `feature_store.duckdb` in a folder of its own (the same
    database name), whose tables (route_daily's landing table too) exist before dbt looks."""
    folder = tmp_path_factory.mktemp("latest_cases")
    cases = folder / "feature_store.duckdb"
    catalog = FeatureStore(project_dir=built_project).catalog()
    views = {name: moved(catalog.view(name), "feature_store", "main") for name in SHAPES}
    with duckdb.connect(str(cases)) as con:
        for name, view in views.items():
            empty = as_table(view, [])  # noqa: F841  (read by DuckDB's replacement scan)
            con.execute(f"create table main.{name} as select * from empty")
            if name == "route_daily":
                con.execute(f"create table main.{name}__fs_pushed as select * from empty")
    demo, on_cases = compile_inline(
        built_project,
        [({}, {**{v: latest_of(v) for v in ONLINE_VIEWS}, **REFUSED}), ({"FS_DUCKDB_PATH": str(cases)}, {v: latest_of(v) for v in SHAPES})],
        project_env(),
        folder / "dbt",
    )
    with duckdb.connect(str(cases)) as con:
        yield demo, on_cases, con, views


def test_latest_is_what_fs_sync_wrote_to_redis(built_project, duckdb_compiled, cli, online):  # noqa: F811
    demo, _, _, _ = duckdb_compiled
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


def sorted_by_key(view, rows):
    from tests.latest_reference import sorted_rows

    return sorted_rows(view, rows)


def test_the_demo_analysis_uses_latest_at_the_projects_now(built_project, duckdb_compiled):
    """analyses/latest_carrier_stats.sql: carrier_daily's macro at clock.now, in the README."""
    demo, _, _, _ = duckdb_compiled
    text = (built_project / "analyses" / "latest_carrier_stats.sql").read_text()
    assert "featurestore.latest(ref('carrier_daily'))" in text
    assert "cast('2013-12-31 00:30:00' as timestamp)" in demo["carrier_daily"]["sql"]


@pytest.mark.parametrize(
    "name, line",
    [
        ("not_a_view", 'featurestore.latest: "feature_store"."main"."stg_flights" is not a feature view: no model of this project built it with config.meta.feature_store'),
        ("not_a_relation", "featurestore.latest: 'carrier_daily' is not a relation; pass ref() of a feature view, e.g. featurestore.latest(ref('carrier_daily'))"),
    ],
)
def test_what_is_not_a_feature_view_is_one_compile_error(duckdb_compiled, name, line):
    demo, _, _, _ = duckdb_compiled
    assert "sql" not in demo[name]
    assert [text.strip() for text in demo[name]["error"].splitlines()][2] == line


@pytest.mark.parametrize("shape", SHAPES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_latest_on_duckdb_equals_the_reference_and_fs_sync(duckdb_compiled, shape, data):
    _, on_cases, con, views = duckdb_compiled
    view = views[shape]
    landing = shape == "route_daily"  # carrier_daily has none: the macro reads the view alone
    rows = data.draw(rows_strategy(view), label="rows")
    pushed = data.draw(rows_strategy(view), label="pushed") if landing else []
    for table, content in [(view.relation.identifier, rows), *([(landing_relation(view).identifier, pushed)] if landing else [])]:
        generated = as_table(view, content)  # noqa: F841  (read by DuckDB's replacement scan)
        con.execute(f"delete from main.{table}")
        con.execute(f"insert into main.{table} select * from generated")
    got = sorted_by_key(view, con.sql(on_cases[shape]["sql"]).to_arrow_table().to_pylist())
    fs_latest = con.sql(render(sync_query(view, with_landing=landing), "duckdb")).to_arrow_table()
    assert got == brute_force(view, rows + pushed)
    assert got == as_sync_writes(view, fs_latest)
