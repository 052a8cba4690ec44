"""Building blocks of the SQL trees: quoted identifiers and columns, a view's relation,
literals, and rendering a tree as text for one dialect.

Functions named `*_expression` (here and in the modules beside this one) return sqlglot
trees; only `render` returns SQL text.

Trees name what dbt built as the project declares it (the model's name, its YAML's column
names), the same for every engine. `render` names them as the engine stores them: a
warehouse that folds unquoted names (PostgreSQL to lower case, Snowflake to upper case)
stores a column the model's SQL left unquoted, `Airport__AvgDelay__1d`, as
`airport__avgdelay__1d` or `AIRPORT__AVGDELAY__1D`. Where a stored name differs from the
declared one, the relation is read through a subquery that renames its columns back, so
the rest of the query, and its result, keep the declared names. The same subquery casts the
view's times where the engine needs one timestamp type (`Engine.casts_times`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Sequence

import sqlglot
from sqlglot import exp

from featurestore.catalog import FeatureView, Relation
from featurestore.catalog.meta import RESERVED_PREFIX
from featurestore.engines.engine import Engine

INTERNAL = RESERVED_PREFIX
"""Prefix of the internal column and table names of generated queries; the catalog and the
spine refuse user columns that start with it, in any case."""


PARSE_ERRORS = (sqlglot.errors.ParseError, sqlglot.errors.TokenError)
"""What sqlglot raises on text it cannot read: catch both wherever the user's SQL or names
are parsed (a name such as `x"; --` fails in the tokenizer, before any parsing)."""


def table_name(name: str, dialect: str) -> exp.Table:
    """`name` read as `[[catalog.]schema.]table` in `dialect`. Raises one of PARSE_ERRORS
    when it is anything else: text that does not tokenize, a function call, several
    statements, more than three parts."""
    table = exp.to_table(name, dialect=dialect)
    parts = [table.args.get(key) for key in ("this", "db", "catalog")] if isinstance(table, exp.Table) else [None]
    if parts[0] is None or not all(part is None or isinstance(part, exp.Identifier) for part in parts):
        raise sqlglot.errors.ParseError(f"not a table name: {type(table).__name__}")
    return table


def identifier(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def column(name: str, table: str | None = None) -> exp.Column:
    # The identifiers are this call's own: sqlglot's default copies each (most of the cost).
    return exp.column(identifier(name), table=identifier(table) if table else None, copy=False)


@lru_cache(maxsize=None)
def _parsed_type(text: str) -> exp.DataType:
    return exp.DataType.build(text)


def data_type(text: str) -> exp.DataType:
    """`exp.DataType.build(text)`, a type of fs's own: parsed once per text (a parse costs
    what a plan's hundred copies of it do), a copy of it for each place in a tree."""
    return _parsed_type(text).copy()


def left_join(query: exp.Select, table: exp.Expression, on: exp.Expression) -> exp.Select:
    """`query` LEFT JOIN `table` ON `on`, in place. sqlglot's `join(..., join_type="left")`
    parses a statement each time to learn the join's side: most of a join's planning CPU."""
    return query.join(exp.Join(this=table, side="LEFT", on=on), copy=False)


def named_table(name: str) -> exp.Table:
    """A table (or CTE) by its quoted name alone."""
    return exp.Table(this=identifier(name))


BUILT_BY_DBT = "fs_built_by_dbt"
"""Key, in the `meta` of a table node, of the `BuiltByDbt` facts `render` names it by."""


@dataclass(frozen=True)
class BuiltByDbt:
    """A relation dbt built, and what its YAML declares of the columns fs reads from it."""

    relation: Relation
    columns: tuple[tuple[str, bool], ...] = ()
    """(name, `quote: true`) of each column."""
    times: tuple[str, ...] = ()
    """The columns holding the view's times (its timestamp and created_at)."""


def relation_table(view: FeatureView, alias: str | None = None, relation: Relation | None = None) -> exp.Table:
    """The view's relation, its columns read under their declared names; or `relation`, a
    table made with the view's columns as the warehouse stored them (its landing table of
    pushed rows), read the same way."""
    quoted = set(view.quoted_columns)
    columns = tuple((c, c in quoted) for c in dict.fromkeys(view.columns))
    times = (view.timestamp, *([view.created_at] if view.created_at else []))
    table = _built_table(BuiltByDbt(relation or view.relation, columns, times))
    if alias:
        table.set("alias", exp.TableAlias(this=identifier(alias)))
    return table


def columns_probe(view: FeatureView, columns: Sequence[str] | None = None) -> exp.Select:
    """A query that reads no rows of the view: `columns` (default: every column it declares)
    under their declared names, with the warehouse's types; an error names what is missing."""
    return exp.select(*[column(c) for c in (view.columns if columns is None else columns)]).from_(relation_table(view)).limit(0)


def every_column_probe(view: FeatureView) -> exp.Select:
    """A query that reads no rows of the view: every column of its relation, declared or not,
    as the warehouse names them, with its types."""
    return exp.select(exp.Star()).from_(relation_table(view)).limit(0)


def relation_probe(relation: Relation) -> exp.Select:
    """Every column of a relation dbt built, no rows: the warehouse's names and types."""
    return exp.select(exp.Star()).from_(table_of(relation)).limit(0)


def table_of(relation: Relation) -> exp.Table:
    """A relation dbt built (a model, seed or snapshot: its columns are read as they are)."""
    return _built_table(BuiltByDbt(relation))


def _built_table(built: BuiltByDbt) -> exp.Table:
    relation = built.relation
    table = exp.Table(
        this=identifier(relation.identifier),
        db=identifier(relation.schema) if relation.schema else None,
        catalog=identifier(relation.database) if relation.database else None,
    )
    table.meta[BUILT_BY_DBT] = built
    return table


def engine_expression(expression: exp.Expression, engine: Engine) -> exp.Expression:
    """A copy of `expression` as `engine` must read it: what dbt built named as the engine
    stores it (see the module's docstring), its times cast where the engine says so, and
    every order without a null order in the engine's own default one."""
    expression = expression.copy()
    # One walk finds both (a walk of a training set's tree costs about what its copy does).
    found = list(expression.find_all(exp.Table, exp.Ordered))
    for table in found:
        built = table.meta.pop(BUILT_BY_DBT, None) if isinstance(table, exp.Table) else None
        if built is not None:
            _read_as_stored(table, built, engine)
    null_ordering = sqlglot.Dialect.get_or_raise(engine.dialect).NULL_ORDERING
    for ordered in (node for node in found if isinstance(node, exp.Ordered)):
        # fs builds an ascending order without a null order only over columns that are never
        # null (times, kinds, row numbers), where the null order cannot matter: the dialect's
        # own needs no NULLS clause, which some (BigQuery) cannot print in a window frame.
        if ordered.args.get("nulls_first") is None and not ordered.args.get("desc"):
            ordered.set("nulls_first", null_ordering == "nulls_are_small")
    return expression


def _read_as_stored(table: exp.Table, built: BuiltByDbt, engine: Engine) -> None:
    """Name `table` as `engine` stores it and, where a column the query reads is stored
    under another name or its time must be cast, read it through a subquery:
    (SELECT stored AS declared, CAST(time AS TIMESTAMP(6)) AS time, ... FROM table)."""
    stored = engine.stored_relation(built.relation)
    for key, part in (("this", stored.identifier), ("db", stored.schema), ("catalog", stored.database)):
        table.set(key, identifier(part) if part else None)
    scope = table.parent_select or table.root()
    read = {c.name for c in scope.find_all(exp.Column)}
    columns, changed = [], False
    for name, quoted in built.columns:
        if name not in read:
            continue
        value: exp.Expression = column(engine.stored_name(name, quoted))
        if engine.casts_times and name in built.times:
            # Microseconds, as every engine keeps them: Trino's bare TIMESTAMP is milliseconds.
            value = exp.cast(value, data_type("timestamp(6)"))
        if value != column(name):
            columns.append(exp.alias_(value, identifier(name)))
            changed = True
        else:
            columns.append(value)
    if not changed:
        return
    alias = table.args.get("alias")
    plain = table.copy()
    plain.set("alias", None)
    table.replace(exp.select(*columns).from_(plain).subquery(alias.this.copy() if alias else identifier(built.relation.identifier)))


def timestamp_literal(value: datetime) -> exp.Expression:
    """A naive UTC timestamp literal, `CAST('2013-12-31 00:30:00' AS TIMESTAMP)`."""
    return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), data_type("timestamp"))


def sample_expression(query: exp.Select, rows: int) -> exp.Select:
    """`rows` of the rows `query` returns, drawn at random."""
    return exp.select("*").from_(query.subquery("__fs_sample")).order_by(exp.Rand()).limit(rows)


def zoned_as_naive_utc(value: exp.Expression, kind: str) -> exp.Expression:
    """A timestamp with a time zone (`kind` timestamptz) or ISO-8601 text (`text`, with or
    without `Z`/`+hh:mm`) as a naive UTC timestamp: the instant it names, in UTC. Casting the
    text straight to a timestamp would drop its offset (DuckDB, PostgreSQL), where Python
    converts it: the spine's timestamp and on-demand request fields both go this way. Text
    without an offset is UTC (fs's sessions run in UTC)."""
    naive = data_type("timestamp")
    zoned = value if kind == "timestamptz" else exp.cast(value, data_type("timestamptz"))
    return exp.cast(exp.AtTimeZone(this=zoned, zone=exp.Literal.string("UTC")), naive)


def render(expression: exp.Expression, dialect: str, pretty: bool = False) -> str:
    """SQL text of `expression` for `dialect` (the sqlglot dialect of an engine in the
    registry), with what dbt built named as that engine stores it."""
    from featurestore.engines.registry import engine_for_dialect

    # engine_expression's tree is a copy of render's own: the generator need not copy it again.
    return engine_expression(expression, engine_for_dialect(dialect)).sql(dialect=dialect, pretty=pretty, copy=False)
