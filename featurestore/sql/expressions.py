"""Building blocks of the SQL trees: quoted identifiers and columns, a view's relation,
literals, and rendering a tree as text for one dialect.

Functions named `*_expression` (here and in the modules beside this one) return sqlglot
trees; only `render` returns SQL text.
"""

from __future__ import annotations

from datetime import datetime

import sqlglot
from sqlglot import exp

from featurestore.catalog import FeatureView, Relation
from featurestore.catalog.meta import RESERVED_PREFIX

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
    return exp.column(identifier(name), table=identifier(table) if table else None)


def relation_table(view: FeatureView, alias: str | None = None) -> exp.Table:
    table = table_of(view.relation)
    if alias:
        table.set("alias", exp.TableAlias(this=identifier(alias)))
    return table


def table_of(relation: Relation) -> exp.Table:
    """A relation dbt built, each part quoted as dbt quotes it."""
    return exp.Table(
        this=identifier(relation.identifier),
        db=identifier(relation.schema) if relation.schema else None,
        catalog=identifier(relation.database) if relation.database else None,
    )


def timestamp_literal(value: datetime) -> exp.Expression:
    """A naive UTC timestamp literal, `CAST('2013-12-31 00:30:00' AS TIMESTAMP)`."""
    return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), exp.DataType.build("timestamp"))


def render(expression: exp.Expression, dialect: str, pretty: bool = False) -> str:
    """SQL text of `expression` for `dialect` (a sqlglot dialect name)."""
    return expression.sql(dialect=dialect, pretty=pretty)
