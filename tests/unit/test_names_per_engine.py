"""Names as each warehouse stores what dbt built, checked against sqlglot's own reading of
unquoted names in each dialect, and the Snowflake form against what dbt-snowflake creates."""

from __future__ import annotations

import sqlglot
from hypothesis import given
from hypothesis import strategies as st
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect, NormalizationStrategy
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from featurestore.catalog import Relation
from featurestore.engines.engine import PLAIN_NAME, IdentifierCase
from featurestore.engines.registry import ENGINES, engine_for_dialect
from featurestore.sql.expressions import column, relation_table, render
from tests.pit_fixtures import feature_view
from tests.unit.test_training_set_golden import golden_query

FOLDING = {NormalizationStrategy.LOWERCASE: IdentifierCase.LOWER, NormalizationStrategy.UPPERCASE: IdentifierCase.UPPER}

plain_names = st.from_regex(PLAIN_NAME, fullmatch=True).filter(lambda name: len(name) < 40)


def test_each_engine_folds_unquoted_names_as_sqlglot_reads_its_dialect():
    for engine in ENGINES:
        strategy = Dialect.get_or_raise(engine.dialect).NORMALIZATION_STRATEGY
        assert engine.unquoted_case is FOLDING.get(strategy, IdentifierCase.INSENSITIVE), engine.name


@given(name=plain_names)
def test_an_unquoted_name_is_stored_as_sqlglot_normalizes_it(name):
    for engine in ENGINES:
        if engine.unquoted_case is IdentifierCase.INSENSITIVE or name.lower() in engine.reserved_words:
            continue
        normalized = normalize_identifiers(exp.to_identifier(name, quoted=False), dialect=engine.dialect)
        assert engine.stored_name(name, quoted=False) == normalized.name


@given(name=st.text(min_size=1, max_size=20))
def test_a_quoted_name_or_one_that_needs_quotes_keeps_its_case(name):
    for engine in ENGINES:
        assert engine.stored_name(name, quoted=True) == name
        if not PLAIN_NAME.match(name):
            assert engine.stored_name(name, quoted=False) == name


def test_a_snowflake_reserved_word_was_created_quoted():
    snowflake = engine_for_dialect("snowflake")
    assert [snowflake.stored_name(n, quoted=False) for n in ["order", "Order", "orders"]] == ["order", "Order", "ORDERS"]


def dbt_snowflake_objects() -> dict[tuple[str, ...], set[str]]:
    """The tables and columns of the golden query's views as Snowflake stores them when
    dbt-snowflake creates them: names unquoted, as sqlglot resolves them in Snowflake."""
    created = {
        "features.customer_orders": "customer_id, ts, created_at, orders_30d, spend_30d",
        "features.store_visits": "customer_id, store_id, ts, visits_7d",
    }
    objects = {}
    for table, columns in created.items():
        ddl = normalize_identifiers(sqlglot.parse_one(f"create table {table} as select {columns} from raw", read="snowflake"), dialect="snowflake")
        target = ddl.this
        objects[tuple(p.name for p in target.parts)] = {c.alias_or_name for c in ddl.expression.expressions}
    return objects


def tables_and_columns_read(sql: str) -> dict[tuple[str, ...], set[str]]:
    """Each table a Snowflake query reads (CTEs aside) and the columns its SELECTs read from
    it, as Snowflake resolves the names."""
    tree = normalize_identifiers(sqlglot.parse_one(sql, read="snowflake"), dialect="snowflake")
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    read: dict[tuple[str, ...], set[str]] = {}
    for table in tree.find_all(exp.Table):
        if not table.db and table.name in ctes:
            continue
        select = table.parent_select
        assert list(select.find_all(exp.Table)) == [table], "one table per SELECT that reads a view"
        read.setdefault(tuple(p.name for p in table.parts), set()).update(c.name for c in select.find_all(exp.Column))
    return read


def test_snowflake_sql_reads_the_tables_and_columns_dbt_snowflake_created():
    sql = golden_query("snowflake")
    dbt = dbt_snowflake_objects()
    assert sorted(dbt) == [("FEATURES", "CUSTOMER_ORDERS"), ("FEATURES", "STORE_VISITS")]
    read = {table: columns for table, columns in tables_and_columns_read(sql).items() if table != ("ANALYTICS", "LABELS")}
    assert read.keys() == dbt.keys()
    for table, columns in read.items():
        assert columns <= dbt[table], table
    # The rest of the query reads its own names: the result has the declared (lower-case) ones.
    assert [s.alias_or_name for s in sqlglot.parse_one(sql, read="snowflake").expressions][-3:] == [
        "orders_30d", "spend_30d", "visits_7d",
    ]


def test_snowflake_asof_joins_keep_snowflakes_rules():
    """MATCH_CONDITION holds one comparison; ON holds equalities only."""
    tree = sqlglot.parse_one(golden_query("snowflake"), read="snowflake")
    joins = [j for j in tree.find_all(exp.Join) if j.args.get("match_condition")]
    assert len(joins) == 2
    for join in joins:
        assert isinstance(join.args["match_condition"], (exp.GTE, exp.GT, exp.LTE, exp.LT))
        on = join.args["on"]
        assert all(isinstance(c, exp.EQ) for c in (on.flatten() if isinstance(on, exp.And) else [on]))


def test_a_mixed_case_view_is_read_through_its_stored_names_only_where_they_differ():
    view = feature_view("Airport_Stats", ("Airport",), {"AvgDelay": "double", "Quoted": "double"}, "Main")
    view = type(view)(**{**view.__dict__, "quoted_columns": ("Quoted",)})
    query = exp.select(column("Airport"), column("AvgDelay"), column("Quoted")).from_(relation_table(view))
    assert render(query, "postgres") == (
        'SELECT "Airport", "AvgDelay", "Quoted" FROM (SELECT "airport" AS "Airport", "avgdelay" AS "AvgDelay", '
        '"Quoted" FROM "Main"."Airport_Stats") AS "Airport_Stats"'
    )
    assert render(query, "duckdb") == 'SELECT "Airport", "AvgDelay", "Quoted" FROM "Main"."Airport_Stats"'
    lower = feature_view("airport_stats", ("airport",), {"avg_delay": "double"}, "main")
    plain = exp.select(column("avg_delay")).from_(relation_table(lower))
    assert render(plain, "postgres") == 'SELECT "avg_delay" FROM "main"."airport_stats"'


def test_a_relation_is_named_as_dbt_created_it():
    relation = Relation("Analytics", "Main", "Customer Stats")
    stored = {e.name: e.stored_relation(relation) for e in ENGINES}
    assert stored["snowflake"] == Relation("ANALYTICS", "MAIN", "Customer Stats")
    assert stored["postgres"] == relation  # dbt-postgres quotes them: case kept
