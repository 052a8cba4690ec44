"""The landing table of a view's pushed rows (`fs push`), as sqlglot trees.

Pushed rows are appended to `<view>__fs_pushed`, beside the view's relation (same database
and schema), so that the view's model can union them in at its next `dbt build` (the macro
feature_store_with_pushed_rows) and a sync can read them before that build.
"""

from __future__ import annotations

from typing import Callable, Sequence

from sqlglot import exp

from featurestore.catalog import FeatureView, Relation
from featurestore.sql.expressions import INTERNAL, column, every_column_probe, identifier, relation_table, table_of

LANDING_SUFFIX = "__fs_pushed"
"""Appended to the view's relation name; the macro feature_store_with_pushed_rows uses the
same suffix."""

REBUILT_SUFFIX = "__fs_new"
"""Appended to the landing table's name for its rebuild (rebuilt_relation)."""


def landing_relation(view: FeatureView) -> Relation:
    """Where the pushed rows of `view` are kept: beside its relation."""
    relation = view.relation
    return Relation(relation.database, relation.schema, relation.identifier + LANDING_SUFFIX)


def create_landing_expression(view: FeatureView) -> exp.Create:
    """`CREATE TABLE IF NOT EXISTS <landing> AS SELECT * FROM <view> LIMIT 0`: every column of
    the view's relation with the warehouse's own types, so the model can union it by name."""
    return exp.Create(
        this=table_of(landing_relation(view)), kind="TABLE", exists=True, expression=every_column_probe(view)
    )


def append_expression(
    view: FeatureView, columns: Sequence[str], source: str, stored: Callable[[str], str] = str, into: Relation | None = None
) -> exp.Insert:
    """`INSERT INTO <landing> (columns) SELECT columns FROM source WHERE NOT EXISTS (the same
    row in <landing>)`; the landing table's other columns are left null. `stored` names a
    column of the view as the warehouse stored it (the engine's `stored_name`): the landing
    table copied the view's columns so.

    A row already there (every column the same, nulls included, but created_at, which a
    push fills with its own moment) and still the latest-known of its keys and timestamp is
    not appended again: a push retried after a failure past its append (Redis down, a lost
    answer) adds nothing, and the model's uniqueness test keeps passing. `into`: another
    table of the landing table's columns to append to and look in (its rebuild, on an engine
    without DELETE)."""
    into = into or landing_relation(view)
    target = exp.Schema(this=table_of(into), expressions=[identifier(stored(c)) for c in columns])
    landed, pushed = f"{INTERNAL}landed", f"{INTERNAL}new"
    # Join keys and the timestamp are never null in a push: plain equality, which a warehouse
    # can hash-join on; the features may be null.
    never_null = {*view.join_keys, view.timestamp}
    same = [
        (exp.EQ if c in never_null else exp.NullSafeEQ)(this=column(c, landed), expression=column(c, pushed))
        for c in columns
        if c != view.created_at
    ]
    if view.created_at:
        # ... and only while that row is the latest-known of its keys and timestamp: a value
        # pushed again after a newer push is the last-known again, as in Redis.
        later = f"{INTERNAL}later"
        newer = [exp.EQ(this=column(c, later), expression=column(c, landed)) for c in (*view.join_keys, view.timestamp)]
        newer.append(exp.GT(this=_known(view, later), expression=_known(view, landed)))
        superseded = exp.select(exp.Literal.number(1)).from_(relation_table(view, later, into)).where(exp.and_(*newer))
        same.insert(0, exp.Not(this=exp.Exists(this=superseded)))
    # Read under the declared names, as the uploaded rows are (relation_table renames).
    present = exp.select(exp.Literal.number(1)).from_(relation_table(view, landed, into)).where(exp.and_(*same))
    rows = (
        exp.select(*[column(c, pushed) for c in columns])
        .from_(exp.Table(this=identifier(source), alias=exp.TableAlias(this=identifier(pushed))))
        .where(exp.Not(this=exp.Exists(this=present)))
    )
    return exp.insert(rows, target)


def append_events_expression(view: FeatureView, columns: Sequence[str], source: str, stored: Callable[[str], str] = str) -> exp.Insert:
    """`INSERT INTO <landing> (columns) SELECT columns FROM source`: every pushed event of an
    aggregation view, equal ones included (two equal events are two events)."""
    target = exp.Schema(this=table_of(landing_relation(view)), expressions=[identifier(stored(c)) for c in columns])
    return exp.insert(exp.select(*[column(c) for c in columns]).from_(exp.Table(this=identifier(source))), target)


def _known(view: FeatureView, table: str) -> exp.Expression:
    """A landed row's knowledge time, under the declared names: created_at, else the timestamp."""
    return exp.Coalesce(this=column(view.created_at, table), expressions=[column(view.timestamp, table)])


def replace_tied_expression(view: FeatureView, source: str, stored: Callable[[str], str] = str) -> exp.Delete:
    """`DELETE FROM <landing> WHERE EXISTS (a row of source with the same join keys, timestamp
    and knowledge time)`: the earlier pushed rows a new push ties exactly, which it replaces
    (the last of tied pushes wins in the warehouse as in Redis). `stored` as for
    append_expression. A correlated EXISTS, not a tuple IN, which some warehouses lack."""
    return exp.Delete(this=table_of(landing_relation(view)), where=exp.Where(this=_tied(view, source, stored)))


def tied_probe_expression(view: FeatureView, source: str, stored: Callable[[str], str] = str) -> exp.Select:
    """`SELECT 1 FROM <landing> WHERE EXISTS (...) LIMIT 1`: a row if the push in `source`
    ties any row of the landing table (replace_tied_expression would delete something)."""
    landing = table_of(landing_relation(view))
    return exp.select(exp.Literal.number(1)).from_(landing).where(_tied(view, source, stored)).limit(1)


def kept_rows_expression(view: FeatureView, source: str, stored: Callable[[str], str] = str) -> exp.Select:
    """`SELECT * FROM <landing> WHERE NOT EXISTS (...)`: the rows replace_tied_expression
    keeps, for an engine without DELETE, which builds the landing table anew from them."""
    landing = table_of(landing_relation(view))
    return exp.select(exp.Star()).from_(landing).where(exp.Not(this=_tied(view, source, stored)))


def _tied(view: FeatureView, source: str, stored: Callable[[str], str]) -> exp.Exists:
    """EXISTS (a row of source with the landing row's join keys, timestamp and knowledge
    time), the landing table's columns named as stored and qualified by its name."""
    landing = landing_relation(view)

    def known(table: str, name: Callable[[str], str]) -> exp.Expression:
        timestamp = column(name(view.timestamp), table)
        if not view.created_at:
            return timestamp
        return exp.Coalesce(this=column(name(view.created_at), table), expressions=[timestamp.copy()])

    same = [
        exp.EQ(this=column(stored(key), landing.identifier), expression=column(key, source)) for key in view.join_keys
    ]
    same.append(exp.EQ(this=column(stored(view.timestamp), landing.identifier), expression=column(view.timestamp, source)))
    if view.created_at:
        same.append(exp.EQ(this=known(landing.identifier, stored), expression=known(source, str)))
    return exp.Exists(this=exp.select(exp.Literal.number(1)).from_(exp.Table(this=identifier(source))).where(exp.and_(*same)))


def rebuilt_relation(view: FeatureView) -> Relation:
    """Where an engine without DELETE builds the landing table anew before swapping it in."""
    landing = landing_relation(view)
    return Relation(landing.database, landing.schema, landing.identifier + REBUILT_SUFFIX)


def create_table_as_expression(relation: Relation, query: exp.Select) -> exp.Create:
    """`CREATE TABLE <relation> AS <query>`."""
    return exp.Create(this=table_of(relation), kind="TABLE", expression=query)


def drop_table_expression(relation: Relation) -> exp.Drop:
    """`DROP TABLE IF EXISTS <relation>`."""
    return exp.Drop(tables=[table_of(relation)], kind="TABLE", exists=True)


def rename_table_expression(relation: Relation, to: Relation) -> exp.Alter:
    """`ALTER TABLE <relation> RENAME TO <to>` (in the same schema)."""
    return exp.Alter(this=table_of(relation), kind="TABLE", actions=[exp.AlterRename(this=table_of(to))])


def probe_expression(relation: Relation) -> exp.Select:
    """A query that reads no rows: the relation's columns and types, or an error if it is
    missing."""
    return exp.select(exp.Star()).from_(table_of(relation)).limit(0)

