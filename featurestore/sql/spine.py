"""The spine in the training-set query: what the query builder is given of it
(`SpineRelation`, made by featurestore.offline.spine) and the CTE that numbers its rows and
converts its time, under the names every join of a view reads it by; and the trees
offline/spine.py reads a spine with: a query spine as a FROM item, the probe of its
columns, its time as naive UTC, the search for text that is no ISO-8601 timestamp."""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from featurestore.engines.engine import Engine
from featurestore.errors import UsageError
from featurestore.sql.expressions import INTERNAL, PARSE_ERRORS, column, data_type, identifier, zoned_as_naive_utc


@dataclass(frozen=True)
class SpineRelation:
    """The spine as the query builder sees it (made by `featurestore.offline.spine`)."""

    source: exp.Expression
    """A FROM item: a table, a subquery or a table function such as read_parquet(...)."""
    columns: tuple[str, ...]
    """The spine's own columns, in order: all of them appear in the output."""
    timestamp: exp.Expression
    """The spine's point in time as a naive UTC timestamp, over the source's columns."""
    row_order: exp.Expression | None = None
    """A column giving the spine's order; None means the order the source is scanned in."""


SPINE = f"{INTERNAL}spine"
SPINE_TIME = f"{INTERNAL}t"
SPINE_ROW = f"{INTERNAL}row"
ISO_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$"


def spine_query(spine: SpineRelation, engine: Engine, spine_time: str) -> exp.Select:
    """SELECT the spine's columns FROM the spine CTE: its rows numbered in their order, its
    time converted where needed."""
    query = exp.select(*[column(c, SPINE) for c in spine.columns]).from_(exp.Table(this=identifier(SPINE)))
    return query.with_(identifier(SPINE), as_=numbered_spine_expression(spine, engine, spine_time))


def numbered_spine_expression(spine: SpineRelation, engine: Engine, spine_time: str) -> exp.Select:
    """The spine's columns, its time converted where needed (as `spine_time`), and its row
    number (SPINE_ROW), over its source."""
    row_order = spine.row_order if spine.row_order is not None else engine.scan_row_order()
    converted = [exp.alias_(spine.timestamp, identifier(SPINE_TIME))] if spine_time == SPINE_TIME else []
    return exp.select(
        *[column(c) for c in spine.columns], *converted, exp.alias_(row_order, identifier(SPINE_ROW))
    ).from_(spine.source)


def naive_utc_expression(name: str, kind: str, engine: Engine) -> exp.Expression | None:
    """The spine's time column `name`, of `kind` (as Warehouse.column_kinds says), as a naive
    UTC timestamp; None for a kind that is no time."""
    value = column(name)
    naive = data_type("timestamp")
    if kind == "timestamp":
        # Where naive timestamps come in several types, one for both sides (Engine.casts_times).
        return exp.cast(value, data_type("timestamp(6)")) if engine.casts_times else value
    if kind in ("timestamptz", "text"):
        return zoned_as_naive_utc(value, kind)
    if kind == "date":
        return exp.cast(value, naive)
    return None


def query_source(sql: str, dialect: str) -> exp.Subquery:
    """A spine given as SQL (--spine-sql), as a FROM item."""
    try:
        parsed = sqlglot.parse_one(sql, read=dialect)
    except PARSE_ERRORS as error:
        raise UsageError(f"--spine-sql is not valid {dialect} SQL: {str(error).splitlines()[0]}") from error
    if not isinstance(parsed, exp.Query):
        raise UsageError("--spine-sql must be a query (SELECT ...)")
    return parsed.subquery(identifier(f"{INTERNAL}spine_query"))


def columns_probe_expression(source: exp.Expression) -> exp.Select:
    """Every column of the spine's FROM item, for Warehouse.column_kinds (which reads no rows)."""
    return exp.select("*").from_(source)


def holding_value_expression(source: exp.Expression, name: str, value: str) -> exp.Select:
    """A row of `source` whose column `name`, as text, is `value`, if there is one."""
    as_text = exp.cast(column(name), data_type("text"))
    return exp.select(exp.Literal.number(1)).from_(source.copy()).where(exp.EQ(this=as_text, expression=exp.Literal.string(value))).limit(1)


def not_iso_text_expression(source: exp.Expression, name: str) -> exp.Select:
    """A value of the text column `name` that is not an ISO-8601 timestamp, if there is one."""
    value = column(name)
    return (
        exp.select(value)
        .from_(source.copy())
        .where(
            exp.and_(
                exp.Not(this=exp.Is(this=value.copy(), expression=exp.null())),
                exp.Not(this=exp.RegexpLike(this=value.copy(), expression=exp.Literal.string(ISO_TIMESTAMP))),
            )
        )
        .limit(1)
    )
