"""The SQL of the landing table of pushed rows, per dialect, and the latest-values query that
reads it with the view (SQL in, SQL out; no warehouse)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore.engines.registry import engine_for_dialect
from featurestore.sql.expressions import render
from featurestore.sql.landing import append_expression, create_landing_expression, landing_relation
from featurestore.sql.semantics import WATERMARK, latest_values_expression
from tests.pit_fixtures import feature_view

VIEW = feature_view("carrier_daily", ("carrier",), {"flights": "bigint"}, "main", created_at=True)


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "snowflake", "bigquery", "trino", "spark"])
def test_the_landing_table_is_created_like_the_view_and_appended_to_by_name(dialect):
    quote = "`" if dialect in ("bigquery", "spark") else '"'
    # Snowflake stores dbt-snowflake's unquoted names in upper case (docs/configuration.md).
    name = str.upper if dialect == "snowflake" else str
    landing = f"{quote}{name('main')}{quote}.{quote}{name('carrier_daily__fs_pushed')}{quote}"
    assert render(create_landing_expression(VIEW), dialect) == (
        f"CREATE TABLE IF NOT EXISTS {landing} AS SELECT * FROM {quote}{name('main')}{quote}.{quote}{name('carrier_daily')}{quote} LIMIT 0"
    )
    stored = lambda c: engine_for_dialect(dialect).stored_name(c, quoted=False)  # noqa: E731
    insert = render(append_expression(VIEW, ["carrier", "ts"], "__fs_pushed_rows", stored), dialect)
    # into the landing table's columns as stored, from the uploaded rows' as declared
    # and only rows not landed already (a retried push appends nothing twice)
    q = lambda *names: ".".join(f"{quote}{n}{quote}" for n in names)  # noqa: E731
    assert insert.startswith(
        f"INSERT INTO {landing} ({quote}{name('carrier')}{quote}, {quote}{name('ts')}{quote}) "
        f"SELECT {q('__fs_new', 'carrier')}, {q('__fs_new', 'ts')} FROM {q('__fs_pushed_rows')} AS {q('__fs_new')} WHERE NOT EXISTS("
    )
    assert insert.endswith(
        f"{q('__fs_landed', 'carrier')} = {q('__fs_new', 'carrier')} AND {q('__fs_landed', 'ts')} = {q('__fs_new', 'ts')})"
    )
    with_feature = render(append_expression(VIEW, ["carrier", "ts", "flights"], "__fs_pushed_rows", stored), dialect)
    assert with_feature.endswith(  # a feature may be null: null-safe
        f"AND {q('__fs_landed', 'flights')} IS NOT DISTINCT FROM {q('__fs_new', 'flights')})"
    )
    assert str(landing_relation(VIEW)) == "main.carrier_daily__fs_pushed"


def test_the_latest_values_read_pushed_rows_but_the_watermark_follows_the_views_own():
    plain = latest_values_expression(VIEW, ["flights"], datetime(2024, 3, 1), with_watermark=True)
    with_pushed = latest_values_expression(
        VIEW, ["flights"], datetime(2024, 3, 1), with_watermark=True, pushed=landing_relation(VIEW)
    )
    sql = render(with_pushed, "duckdb")
    assert "carrier_daily__fs_pushed" not in render(plain, "duckdb")
    assert (
        'FROM (SELECT "carrier", "ts", "created_at", "flights" FROM "main"."carrier_daily" UNION ALL '
        'SELECT "carrier", "ts", "created_at", "flights" FROM "main"."carrier_daily__fs_pushed") AS "__fs_rows"'
    ) in sql
    watermark = sql[sql.index("(SELECT MAX(") : sql.index(f'AS "{WATERMARK}"')]
    assert "carrier_daily__fs_pushed" not in watermark and '"main"."carrier_daily"' in watermark


@pytest.mark.parametrize("order", [(1, 2), (2, 1)])
def test_pushed_rows_tied_on_timestamp_are_ranked_by_knowledge_time_even_in_a_view_tested_unique(order):
    """A uniqueness test speaks for the view's own rows, not for the pushed rows a sync reads
    beside them: two pushes of one key and timestamp (different created_at) must give the
    later-known one, as in Redis, whatever order the warehouse returns them in. (Timestamp
    alone ranked them, so the winner was the scan's.) In-memory DuckDB, no I/O."""
    import dataclasses

    import duckdb

    from featurestore.catalog import Relation

    view = dataclasses.replace(VIEW, rows_unique_by_test=True)
    pushed = Relation(None, "main", "carrier_daily__fs_pushed")
    con = duckdb.connect()
    con.execute("create table main.carrier_daily (carrier varchar, ts timestamp, created_at timestamp, flights bigint)")
    con.execute("create table main.carrier_daily__fs_pushed as select * from main.carrier_daily limit 0")
    rows = {1: "('UA', '2024-01-01', '2024-01-01 00:01', 1)", 2: "('UA', '2024-01-01', '2024-01-01 00:03', 2)"}
    for flights in order:
        con.execute(f"insert into main.carrier_daily__fs_pushed values {rows[flights]}")
    sql = render(latest_values_expression(view, ["flights"], datetime(2030, 1, 1), pushed=pushed), "duckdb")
    assert [r[-1] for r in con.execute(sql).fetchall()] == [2]


def test_a_value_pushed_again_after_a_newer_push_is_appended_so_the_warehouse_agrees_with_redis():
    """Pushes of one key and timestamp, each known at its own moment: A (f=1), then B (f=2),
    then A's value again. Redis holds the last-known, f=1; the landing table must too. (The
    re-push was skipped as "already there", leaving B the latest-known in the warehouse.)
    The landing SQL as fs runs it, on in-memory DuckDB."""
    import duckdb
    import pyarrow as pa

    from featurestore.sql.landing import replace_tied_expression

    con = duckdb.connect()
    con.execute("create table main.carrier_daily (carrier varchar, ts timestamp, created_at timestamp, flights bigint)")
    con.execute(render(create_landing_expression(VIEW), "duckdb"))
    columns = ["carrier", "ts", "created_at", "flights"]
    for minute, flights in [(1, 1), (2, 2), (3, 1)]:
        rows = pa.table({"carrier": ["UA"], "ts": [datetime(2024, 1, 1)], "created_at": [datetime(2024, 1, 1, 0, minute)], "flights": [flights]})
        con.register("__fs_pushed_rows", rows)
        con.execute(render(replace_tied_expression(VIEW, "__fs_pushed_rows"), "duckdb"))
        con.execute(render(append_expression(VIEW, columns, "__fs_pushed_rows"), "duckdb"))
        con.unregister("__fs_pushed_rows")
    latest = con.execute("select flights from main.carrier_daily__fs_pushed order by created_at desc limit 1").fetchall()
    assert latest == [(1,)]


PUSHED_ROW = st.fixed_dictionaries(
    {
        "carrier": st.sampled_from(["UA", "AA"]),
        "ts": st.sampled_from([datetime(2024, 1, 1), datetime(2024, 1, 2)]),
        "created_at": st.sampled_from([None, datetime(2024, 1, 1, 0, 1), datetime(2024, 1, 1, 0, 2)]),
        "flights": st.one_of(st.none(), st.integers(0, 2)),
    }
)


def _one_push(rows: list[dict]) -> list[dict]:
    """A push's rows as validated_rows lets them through: no two tie (keys, ts, knowledge time)."""
    return list({(r["carrier"], r["ts"], r["created_at"] or r["ts"]): r for r in rows}.values())


@pytest.fixture(scope="module")
def both_landing_paths():
    """In-memory DuckDB twice: its engine record, and the same told it has no transactions
    (so fs appends to the landing table as on Spark)."""
    import dataclasses
    from contextlib import ExitStack

    from featurestore.engines import duckdb as duckdb_engine
    from featurestore.project.profiles import Target

    target = Target(name="test", adapter="duckdb", schema="main", credentials={"path": ":memory:"})
    with ExitStack() as stack:
        yield [
            stack.enter_context(engine.connect(target, read_only=False))
            for engine in (duckdb_engine.ENGINE, dataclasses.replace(duckdb_engine.ENGINE, transactions=False))
        ]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pushes=st.lists(st.lists(PUSHED_ROW, min_size=1, max_size=4).map(_one_push), min_size=2, max_size=3))
def test_the_landing_table_rebuilt_without_delete_holds_what_delete_and_append_leave(both_landing_paths, pushes):
    """Spark has no DELETE: a push that ties earlier rows rebuilds the landing table and swaps
    it in (online/landing.py). Both paths, as fs runs them, on in-memory DuckDB: the same rows
    after every sequence of pushes. 20 examples of 2 or 3 pushes of up to 4 rows over 2 keys,
    2 times and 3 knowledge times (null among them): ties, retried rows, rows appended again
    after a newer push and nulls each come up in most examples."""
    import pyarrow as pa

    from featurestore.online.landing import append_to_landing

    schema = pa.schema([("carrier", pa.string()), ("ts", pa.timestamp("us")), ("created_at", pa.timestamp("us")), ("flights", pa.int64())])
    landed = []
    for warehouse in both_landing_paths:
        warehouse.execute("drop table if exists main.carrier_daily__fs_pushed")
        warehouse.execute("create or replace table main.carrier_daily (carrier varchar, ts timestamp, created_at timestamp, flights bigint)")
        for rows in pushes:
            append_to_landing(warehouse, VIEW, pa.Table.from_pylist(rows, schema))
        landed.append(warehouse.fetch_all("select * from main.carrier_daily__fs_pushed order by all"))
        tables = warehouse.fetch_all("select table_name from information_schema.tables where table_name like 'carrier%' order by 1")
        assert tables == [("carrier_daily",), ("carrier_daily__fs_pushed",)]  # no rebuilt table left
    assert landed[0] == landed[1]


@pytest.mark.parametrize(
    "dialect, renamed",
    [
        ("spark", "ALTER TABLE `main`.`carrier_daily__fs_pushed__fs_new` RENAME TO `main`.`carrier_daily__fs_pushed`"),
        ("duckdb", 'ALTER TABLE "main"."carrier_daily__fs_pushed__fs_new" RENAME TO "carrier_daily__fs_pushed"'),
    ],
)
def test_the_rebuilt_landing_table_is_renamed_into_place_in_its_schema(dialect, renamed):
    from featurestore.sql.landing import rebuilt_relation, rename_table_expression

    assert render(rename_table_expression(rebuilt_relation(VIEW), landing_relation(VIEW)), dialect) == renamed


def test_a_reader_of_a_stopped_swap_changes_no_table_and_reads_the_landing_rows(both_landing_paths):
    """Spark's swap (online/landing.py _swap) may be under way in a push that holds the
    project's lock while `fs verify-online`, which holds none, reads the landing table: the
    reader must not drop the push's rebuilt table (the push then drops the landing table and
    finds nothing to rename: every pushed row lost) nor rename it. Only a lock holder
    (a push, a sync: repair=True) completes a stopped swap."""
    from featurestore.online.landing import existing_landing
    from featurestore.sql.landing import rebuilt_relation

    warehouse = both_landing_paths[1]  # no transactions, as on Spark
    tables = "select table_name from information_schema.tables where table_name like 'carrier%' order by 1"
    warehouse.execute("drop table if exists main.carrier_daily__fs_pushed")
    warehouse.execute("create or replace table main.carrier_daily (carrier varchar, ts timestamp, created_at timestamp, flights bigint)")
    warehouse.execute("create table main.carrier_daily__fs_pushed as select * from main.carrier_daily")
    # A push's swap before its drop: the rebuilt table is being filled.
    warehouse.execute("create or replace table main.carrier_daily__fs_pushed__fs_new as select * from main.carrier_daily")
    assert existing_landing(warehouse, VIEW) == landing_relation(VIEW)
    assert warehouse.fetch_all(tables) == [("carrier_daily",), ("carrier_daily__fs_pushed",), ("carrier_daily__fs_pushed__fs_new",)]
    # After its drop, before its rename: the rebuilt table holds the landing rows; read it as it is.
    warehouse.execute("drop table main.carrier_daily__fs_pushed")
    assert existing_landing(warehouse, VIEW) == rebuilt_relation(VIEW)
    assert warehouse.fetch_all(tables) == [("carrier_daily",), ("carrier_daily__fs_pushed__fs_new",)]
    # A lock holder completes it.
    assert existing_landing(warehouse, VIEW, repair=True) == landing_relation(VIEW)
    assert warehouse.fetch_all(tables) == [("carrier_daily",), ("carrier_daily__fs_pushed",)]
