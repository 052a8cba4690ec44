"""What differs between warehouses, as data: how each one spells the point-in-time join.

sqlglot renders most SQL for every dialect, but it prints `ASOF JOIN` unchanged even for
engines without one. The table below says, per sqlglot dialect, which form of as-of join the
query builder must produce; the builders for each form live in `featurestore.query`.
"""

from __future__ import annotations

from enum import Enum

from sqlglot import exp

from featurestore.errors import UsageError


class AsOfJoin(Enum):
    NATIVE = "ASOF LEFT JOIN ... ON keys AND spine.t >= view.t"  # DuckDB
    MATCH_CONDITION = "ASOF JOIN ... MATCH_CONDITION (spine.t >= view.t) ON keys"  # Snowflake
    PORTABLE = "window functions over the union of spine and feature rows"  # the rest


AS_OF_JOIN = {
    "duckdb": AsOfJoin.NATIVE,
    "snowflake": AsOfJoin.MATCH_CONDITION,
    "postgres": AsOfJoin.PORTABLE,
    "bigquery": AsOfJoin.PORTABLE,
    "spark": AsOfJoin.PORTABLE,
    "databricks": AsOfJoin.PORTABLE,
    "trino": AsOfJoin.PORTABLE,
}

# Dialects whose interval literals take a bare number (`INTERVAL 3600 SECOND`); the others
# take a quoted one, which sqlglot adapts per dialect (`INTERVAL '3600 SECOND'` in Postgres).
_NUMERIC_INTERVAL = {"bigquery", "spark", "databricks"}


# Numbering a spine in the order its source is scanned. Most engines accept a window with no
# ORDER BY; Spark and Snowflake require one, so they get an ordering that follows the scan.
_SCAN_ORDER = {
    "spark": "monotonically_increasing_id()",
    "databricks": "monotonically_increasing_id()",
    "snowflake": "SEQ8()",
}


def scan_order_row_number(dialect: str) -> exp.Expression:
    """ROW_NUMBER() over the order rows are scanned in (a spine with no order column of its
    own: a table or a query has no defined order beyond that)."""
    ordering = _SCAN_ORDER.get(dialect)
    if ordering is None:
        return exp.Window(this=exp.RowNumber())
    return exp.Window(this=exp.RowNumber(), order=exp.Order(expressions=[exp.Ordered(this=exp.maybe_parse(ordering, dialect=dialect))]))


def as_of_join(dialect: str) -> AsOfJoin:
    if dialect not in AS_OF_JOIN:
        raise UsageError(f"unknown dialect '{dialect}'; supported: {', '.join(sorted(AS_OF_JOIN))}")
    return AS_OF_JOIN[dialect]


def interval_seconds(seconds: int, dialect: str) -> exp.Interval:
    literal = exp.Literal.number(seconds) if dialect in _NUMERIC_INTERVAL else exp.Literal.string(str(seconds))
    return exp.Interval(this=literal, unit=exp.var("SECOND"))
