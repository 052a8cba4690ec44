"""A training set built in stages (offline/stages.py decides when): the spine numbered once
into a temporary table; each batch of views joined to it by the one-query form (sql/pit.py)
into a temporary table of its own, holding the spine's row number and the batch's feature
columns; and the final query, which puts the spine's columns and every batch's features
side by side in the spine's order. Each statement holds only its own batch's views in
memory, where one query over every view holds them all until it ends (docs/benchmarks.md,
"50 views")."""

from __future__ import annotations

from typing import Collection, Mapping, Sequence

from sqlglot import exp

from featurestore.catalog import FeatureSelection
from featurestore.engines.engine import Engine
from featurestore.sql.expressions import column, identifier, left_join, named_table
from featurestore.sql.pit import OutputFeature, point_in_time_expression
from featurestore.sql.scans import ViewScan
from featurestore.sql.spine import SPINE, SPINE_ROW, SPINE_TIME, SpineRelation, numbered_spine_expression, spine_query


def spine_time_name(spine: SpineRelation) -> str:
    """The spine time's column in the numbered spine: its own where it is used as it is,
    SPINE_TIME where it is converted (as sql/pit.py names it)."""
    return spine.timestamp.name if isinstance(spine.timestamp, exp.Column) else SPINE_TIME


def temporary_table_expression(name: str, query: exp.Query) -> exp.Create:
    """CREATE OR REPLACE TEMPORARY TABLE name AS query: a table of that name a failed run
    could not drop stays with the connection (a FeatureStore's lives as long as the caller's
    program), and would otherwise fail every later staged run on it. Only DuckDB stages
    (offline/stages.py: the engine that reports a memory limit), and it takes OR REPLACE."""
    return exp.Create(
        this=named_table(name), kind="TABLE", expression=query, replace=True,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )


def drop_table_expression(name: str) -> exp.Drop:
    return exp.Drop(tables=[named_table(name)], kind="TABLE", exists=True)


def numbered_spine_table_expression(spine: SpineRelation, engine: Engine, table: str) -> exp.Create:
    """`spine`'s columns, numbered once (a scan order fixed for every stage), as the
    temporary table `table`."""
    return temporary_table_expression(table, numbered_spine_expression(spine, engine, spine_time_name(spine)))


def staged_spine_relation(spine: SpineRelation, table: str, columns: Sequence[str]) -> SpineRelation:
    """The numbered spine table as a stage reads it: `columns` of the spine (the join keys its
    views need), its time, and its row number as the order."""
    time = spine_time_name(spine)
    # A time used as it is is one of the spine's columns; a converted one is SPINE_TIME.
    kept = tuple(c for c in spine.columns if c in columns or c == time)
    return SpineRelation(source=named_table(table), columns=kept, timestamp=column(time), row_order=column(SPINE_ROW))


def stage_expression(
    spine: SpineRelation,
    selections: Sequence[FeatureSelection],
    outputs: Sequence[OutputFeature],
    engine: Engine,
    event_time_only: bool,
    indexed_views: Collection[str],
    scans: Mapping[str, ViewScan] | None,
) -> exp.Select:
    """One batch of views over the numbered spine (`staged_spine_relation`): each spine row's
    number and the batch's output columns (`outputs`, whose selection_index counts within
    the batch), in no order."""
    query = point_in_time_expression(spine, selections, outputs, engine, event_time_only, indexed_views, scans)
    features = query.expressions[len(spine.columns):]
    query.set("expressions", [column(SPINE_ROW, SPINE), *features])
    query.set("order", None)
    return query


def combined_expression(spine: SpineRelation, engine: Engine, stages: Sequence[tuple[str, Sequence[str]]]) -> exp.Select:
    """The training set from the spine and the stages' tables (each a name and its output
    columns, in output order): the spine's columns, then every stage's, each spine row
    once, in the spine's order. `spine` numbers its rows as the stages' spine table did:
    the source itself where its order is exact (a file's or a frame's own row numbers),
    else that table (staged_spine_relation)."""
    query = spine_query(spine, engine, spine_time_name(spine))
    for table, names in stages:
        query = left_join(
            query.select(*[column(n, table) for n in names], copy=False),
            exp.Table(this=identifier(table)),
            exp.EQ(this=column(SPINE_ROW, table), expression=column(SPINE_ROW, SPINE)),
        )
    return query.order_by(column(SPINE_ROW, SPINE), copy=False)
