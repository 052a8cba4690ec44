"""Names as PostgreSQL stores what dbt built: a real `dbt build` of a model whose YAML names
columns in mixed case (folded to lower case by PostgreSQL, as the model's SQL leaves them
unquoted), one kept in case by `quote: true`, and names that only work quoted (a keyword, a
space, quote marks), in a mixed-case schema and model; then `fs training-set`, `fs sync`,
`fs get` and `fs verify-online` on the real server."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from featurestore.catalog import FeatureSelection
from featurestore.engines.engine import PLAIN_NAME
from featurestore.sql.expressions import column, identifier, relation_table, render
from tests.online_fixtures import online  # noqa: F401
from tests.pit_fixtures import duckdb_memory, feature_view, postgres

pytestmark = pytest.mark.integration

VIEW = "Airport_Stats"
MODEL_SQL = '''
with final as (
select * from (values
  ('JFK', timestamp '2024-01-01', 1.5, 10, 100, 1000, 'x'),
  ('JFK', timestamp '2024-01-02', 2.5, 20, 200, 2000, 'y'),
  ('LGA', timestamp '2024-01-01', 0.5, 30, 300, 3000, 'z')
) as t(Airport, Event_TS, Airport__AvgDelay__1d, "Quoted_Feature", "order", "avg delay", "it's ""x""")
)
-- pushes reach the next build (columns by position: the landing table is made like the view)
{{ featurestore.feature_store_with_pushed_rows('final', columns=['*']) }}
'''
MODEL_YAML = """
models:
  - name: Airport_Stats
    description: Airport delays, named in every case.
    config:
      meta:
        feature_store: {entity: airport, join_keys: [Airport], timestamp: Event_TS, ttl: 2d}
      materialized: table
      indexes: [{columns: [Airport, Event_TS]}]
    columns:
      - {name: Airport, data_type: text}
      - {name: Event_TS, data_type: timestamp}
      - {name: Airport__AvgDelay__1d, data_type: numeric}
      - {name: Quoted_Feature, data_type: integer, quote: true}
      - {name: order, data_type: integer}
      - {name: avg delay, data_type: integer}
      - {name: "it's \\"x\\"", data_type: text}
"""
FEATURES = ["Airport__AvgDelay__1d", "Quoted_Feature", "order", "avg delay", 'it\'s "x"']
JFK_LATEST = dict(zip(FEATURES, [2.5, 20, 200, 2000, "y"]))
NOW = datetime(2024, 1, 2, 12)


@pytest.fixture(scope="module")
def case_project(tmp_path_factory, postgres_server):
    """The tiny project, built by `fs build` (a real dbt run) into a schema of its own."""
    import sys

    from tests.conftest import project_env, run_here

    pg = postgres_server
    root = tmp_path_factory.mktemp("case") / "project"
    (root / "models").mkdir(parents=True)
    schema = f"Fs_Case_{uuid.uuid4().hex[:8]}"
    (root / "dbt_project.yml").write_text("name: case_demo\nprofile: case_demo\nconfig-version: 2\n")
    (root / "profiles.yml").write_text(
        f"case_demo:\n  target: pg\n  outputs:\n    pg:\n      type: postgres\n      host: '{pg.host}'\n"
        f"      port: {pg.port}\n      user: {pg.user}\n      password: '{pg.password}'\n"
        f"      dbname: {pg.dbname}\n      schema: {schema}\n      threads: 1\n"
    )
    (root / "feature_store.yml").write_text(f"clock:\n  now: {NOW.isoformat()}\n")
    (root / "models" / f"{VIEW}.sql").write_text(MODEL_SQL)
    (root / "models" / f"{VIEW}.yml").write_text(MODEL_YAML)
    # The dbt package fs ships, whose macro a model that takes pushes calls, linked as `dbt
    # deps` links it (a dbt process less; fs build would run dbt deps for it first).
    shipped = Path(__file__).parents[2] / "featurestore" / "dbt"
    (root / "packages.yml").write_text(f"packages:\n  - local: {shipped}\n")
    (root / "dbt_packages").mkdir()
    (root / "dbt_packages" / "featurestore").symlink_to(shipped)
    # fs in this process (its dbt is a child still): the process is not the point here.
    build = run_here([sys.executable, "-m", "featurestore.cli", "build"], root, project_env())
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    try:
        yield root
    finally:
        with postgres(schema) as warehouse:
            warehouse.execute(f'drop schema if exists "{schema}" cascade')


def test_training_set_reads_the_columns_postgres_folded(case_project, cli, tmp_path):
    spine = tmp_path / "spine.parquet"
    pq.write_table(
        pa.table(
            {
                "Airport": ["JFK", "JFK", "LGA", "EWR", "LGA"],
                "event_timestamp": [datetime(2024, 1, 1, 12), datetime(2024, 1, 3), datetime(2023, 12, 31), NOW, NOW],
            }
        ),
        spine,
    )
    out = tmp_path / "out.parquet"
    code, stdout, stderr = cli(
        "training-set", "--project-dir", str(case_project), "--spine", str(spine),
        "--features", f"{VIEW}:*", "-o", str(out),
    )
    # No index hint: the index dbt made on (Airport, Event_TS) is found under the folded
    # names. The model declares no uniqueness test, so the one hint is the tie-break's.
    assert code == 0, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"hint: view '{VIEW}' has no test fs can rely on"), stderr
    rows = pq.read_table(out).to_pylist()
    assert list(rows[0]) == ["Airport", "event_timestamp", *FEATURES]
    values = [[row[f] for f in FEATURES] for row in rows]
    assert values == [
        [1.5, 10, 100, 1000, "x"],
        list(JFK_LATEST.values()),
        [None] * 5,  # before LGA's first row
        [None] * 5,  # no such airport
        [0.5, 30, 300, 3000, "z"],
    ]
    code, stdout, stderr = cli(
        "training-set", "--project-dir", str(case_project), "--spine", str(spine), "--features", f"{VIEW}:*", "--sql"
    )
    assert code == 0 and "LEFT JOIN LATERAL" in stdout, stderr
    assert "has no index" not in stderr, stderr


def test_sync_get_and_verify_read_the_columns_postgres_folded(case_project, cli, online):
    code, stdout, stderr = cli("sync", "--json", "--project-dir", str(case_project))
    assert (code, stderr) == (0, ""), stderr
    assert json.loads(stdout)["keys_written"] == 2
    code, stdout, stderr = cli("get", f"{VIEW}:*", "--entity", "Airport=JFK", "--project-dir", str(case_project))
    assert (code, stderr) == (0, ""), stderr
    [got] = json.loads(stdout)
    assert got["values"] == {f"{VIEW}:{f}": value for f, value in JFK_LATEST.items()}
    code, stdout, stderr = cli("verify-online", "--project-dir", str(case_project))
    assert (code, stderr) == (0, ""), stderr


# Names of every sort: mixed case, SQL keywords, spaces, quote marks, non-ASCII letters.
names = st.one_of(
    st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,10}", fullmatch=True),
    st.sampled_from(["order", "Select", "user", "Group", "avg delay", 'say "hi"', "it's", "Mixed Case", "Größe"]),
    st.text(st.sampled_from("aB _'\"é1"), min_size=1, max_size=8).filter(lambda n: n.strip() == n and n.strip()),
)


@pytest.fixture(scope="module", params=["postgres", "duckdb"])
def probe_warehouse(request):
    with (postgres() if request.param == "postgres" else duckdb_memory()) as warehouse:
        warehouse.execute(f"create schema if not exists {identifier(warehouse.target.schema).sql(warehouse.dialect)}")
        yield warehouse
        if request.param == "postgres":
            warehouse.execute(f'drop schema if exists "{warehouse.target.schema}" cascade')


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(declared=st.lists(names, min_size=1, max_size=5, unique_by=str.lower), quote=st.lists(st.booleans(), min_size=5, max_size=5))
def test_any_declared_name_is_found_as_the_model_created_it(probe_warehouse, declared, quote):
    """A probe: the model writes each name as a dbt user would (unquoted where it can be,
    quoted where the YAML says `quote: true` or it must be), and fs reads every column back
    under its declared name."""
    warehouse = probe_warehouse
    schema = warehouse.target.schema
    quoted = [name for name, q in zip(declared, quote) if q or not PLAIN_NAME.match(name)]
    spelled = [identifier(n).sql(warehouse.dialect) if n in quoted else n for n in declared]
    table = f"{identifier(schema).sql(warehouse.dialect)}.probe"
    warehouse.execute(f"drop table if exists {table}")
    warehouse.execute(f"create table {table} as select {', '.join(f'{i} as {s}' for i, s in enumerate(spelled))}")
    view = feature_view("probe", (declared[0],), {n: "bigint" for n in declared[1:]}, schema)
    view = type(view)(**{**view.__dict__, "timestamp": declared[0], "quoted_columns": tuple(quoted)})
    got = warehouse.read_arrow(render(exp.select(*[column(n) for n in declared]).from_(relation_table(view)), warehouse.dialect))
    assert got.to_pylist() == [dict(zip(declared, range(len(declared))))]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(declared=st.lists(names, min_size=3, max_size=4, unique_by=str.lower), quote=st.lists(st.booleans(), min_size=4, max_size=4))
def test_the_index_is_found_and_the_lateral_join_reads_any_declared_name(postgres_names_warehouse, declared, quote):
    """Join keys, timestamp and a feature named anything, created as a dbt model would create
    them, with an index on (keys..., timestamp) spelt the same way: the catalog probe finds it
    under the stored names, and the lateral join reads each row back under the declared names."""
    from featurestore.engines.engine import RelationIndex
    from featurestore.sql.pit import SpineRelation, output_features, point_in_time_expression

    warehouse = postgres_names_warehouse
    schema = warehouse.target.schema
    assume("row_order" not in [n.lower() for n in declared])  # the spine's own column below
    *keys, timestamp, feature = declared  # one join key or two
    quoted = [name for name, q in zip(declared, quote) if q or not PLAIN_NAME.match(name)]
    spelled = {n: identifier(n).sql("postgres") if n in quoted else n for n in declared}
    table = f"{identifier(schema).sql('postgres')}.named"
    warehouse.execute(f"drop table if exists {table}")
    types = {**{k: "bigint" for k in keys}, timestamp: "timestamp", feature: "bigint"}
    # As a model's SQL makes them (a keyword is a name after AS), with the rows in the same step.
    values = [(1, 1, "2024-01-01", 10), (1, 1, "2024-01-02", 20), (2, 1, "2024-01-01", 30)]
    rows = " union all ".join(
        "select " + ", ".join(f"cast(%s as {types[n]}) as {spelled[n]}" for n in declared) for _ in values
    )
    params = [v for row in values for v in (*row[: len(keys)], row[2], row[3])]
    warehouse.execute(f"create table {table} as {rows}", tuple(params))
    view = feature_view("named", tuple(keys), {feature: "bigint"}, schema)
    view = type(view)(**{**view.__dict__, "timestamp": timestamp, "quoted_columns": tuple(quoted)})
    assert warehouse.latest_row_index(view) is RelationIndex.MISSING
    stored = [identifier(warehouse.engine.stored_name(n, n in quoted)).sql("postgres") for n in [*reversed(keys), timestamp]]
    warehouse.execute(f"create index on {table} ({', '.join(stored)})")
    assert warehouse.latest_row_index(view) is RelationIndex.INDEXED
    spine_rows = [(1, 1, "2024-01-01 12:00"), (1, 1, "2024-01-03"), (2, 1, "2023-12-31"), (3, 1, "2024-01-03")]
    spine_sql = exp.select(
        *[exp.alias_(exp.column(f"column{i + 1}"), identifier(k)) for i, k in enumerate(keys)],
        exp.alias_(exp.cast(exp.column(f"column{len(keys) + 1}"), "timestamp"), identifier("event_timestamp")),
        exp.alias_(exp.column(f"column{len(keys) + 2}"), identifier("row_order")),
    ).from_(
        exp.Values(
            expressions=[exp.tuple_(*[exp.convert(v) for v in (*r[: len(keys)], r[2], n)]) for n, r in enumerate(spine_rows)],
            alias=exp.TableAlias(this=identifier("v")),
        )
    )
    spine = SpineRelation(
        source=spine_sql.subquery(identifier("s")), columns=(*keys, "event_timestamp"),
        timestamp=column("event_timestamp"), row_order=column("row_order"),
    )
    selections = [FeatureSelection(view, view.features)]
    outputs = output_features(spine.columns, selections, full_names=True)
    query = point_in_time_expression(spine, selections, outputs, warehouse.engine, indexed_views={"named"})
    sql = render(query, "postgres")
    assert "LEFT JOIN LATERAL" in sql
    got = [row[f"named__{feature}"] for row in warehouse.read_arrow(sql).to_pylist()]
    assert got == [10, 20, None, None]


@pytest.fixture(scope="module")
def postgres_names_warehouse():
    with postgres() as warehouse:
        warehouse.execute(f'create schema if not exists "{warehouse.target.schema}"')
        yield warehouse
        warehouse.execute(f'drop schema if exists "{warehouse.target.schema}" cascade')


def test_push_appends_to_the_landing_table_as_postgres_folded_the_columns(case_project, cli, online, tmp_path):
    # The landing table copies the view's columns as Postgres stored them (Airport__AvgDelay__1d
    # unquoted: airport__avgdelay__1d); the rows arrive under the declared names.
    import pyarrow as pa
    import pyarrow.parquet as pq

    assert cli("sync", "--project-dir", str(case_project))[0] == 0
    rows = pa.table({
        "Airport": ["JFK"], "Event_TS": [datetime(2024, 1, 2, 6)], "Airport__AvgDelay__1d": [3.5],
        "Quoted_Feature": [21], "order": [201], "avg delay": [2001], 'it\'s "x"': ["pushed"],
    })
    pq.write_table(rows, tmp_path / "rows.parquet")
    code, stdout, stderr = cli("push", VIEW, "--file", str(tmp_path / "rows.parquet"), "--project-dir", str(case_project))
    assert (code, stderr) == (0, ""), stderr
    code, stdout, stderr = cli("get", f"{VIEW}:*", "--entity", "Airport=JFK", "--project-dir", str(case_project))
    [got] = json.loads(stdout)
    assert got["values"] == {f"{VIEW}:{f}": value for f, value in zip(FEATURES, [3.5, 21, 201, 2001, "pushed"])}
    code, stdout, stderr = cli("verify-online", "--project-dir", str(case_project))
    assert (code, stderr) == (0, ""), stderr
