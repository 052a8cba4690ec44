"""The trees around a training set's output table: its name read and qualified, the name as
the warehouse resolves it (to compare it with the tables dbt owns), and the one query that
counts its rows and each feature's values for the summary."""

from __future__ import annotations

from typing import Sequence

from sqlglot import exp

from featurestore.sql.expressions import identifier, table_name


def output_table_expression(name: str, schema: str, dialect: str) -> exp.Table:
    """`name` read as a table name in `dialect`, in `schema` unless it names one. Raises one
    of PARSE_ERRORS when it is no table name."""
    table = table_name(name, dialect)
    if not table.args.get("db"):
        table.set("db", identifier(schema))
    return table


def resolved_table_name(table: exp.Table, dialect: str) -> tuple[str | None, str, str]:
    """(database or None, schema, name) as `dialect` resolves the identifiers."""
    from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

    normal = normalize_identifiers(table.copy(), dialect=dialect)
    return normal.catalog or None, normal.db, normal.name


def counts_expression(table: exp.Table, columns: Sequence[str]) -> exp.Select:
    """The rows of `table`, and the non-null values of each of `columns`, in one row."""
    counted = [exp.Count(this=exp.column(identifier(c))) for c in columns]
    return exp.select(exp.Count(this=exp.Star()), *counted).from_(table.copy())
