"""The spine in the training-set query: what the query builder is given of it
(`SpineRelation`, made by featurestore.offline.spine) and the CTE that numbers its rows and
converts its time, under the names every join of a view reads it by."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from featurestore.engines.base import Engine
from featurestore.sql.expressions import INTERNAL, column, identifier


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


def spine_query(spine: SpineRelation, engine: Engine, spine_time: str) -> exp.Select:
    """SELECT the spine's columns FROM the spine CTE: its rows numbered in their order, its
    time converted where needed."""
    row_order = spine.row_order if spine.row_order is not None else engine.scan_row_order()
    converted = [exp.alias_(spine.timestamp, identifier(SPINE_TIME))] if spine_time == SPINE_TIME else []
    numbered = exp.select(
        *[column(c) for c in spine.columns], *converted, exp.alias_(row_order, identifier(SPINE_ROW))
    ).from_(spine.source)
    query = exp.select(*[column(c, SPINE) for c in spine.columns]).from_(exp.Table(this=identifier(SPINE)))
    return query.with_(identifier(SPINE), as_=numbered)
