"""The training-set query as a sqlglot tree: every spine row once, in order, with each
requested feature as it was known at the row's timestamp.

The query is composed here, reading downwards only: the spine's CTE (sql/spine.py), per
view its timeline (sql/semantics.py, the point-in-time rules) joined in the form chosen here
(sql/pit_joins.py builds each), then the output columns. The as-of join takes the form the
engine record names (featurestore.engines.engine.AsOfJoin: a native ASOF LEFT JOIN, an ASOF
JOIN with a MATCH_CONDITION, or the portable form), or, for a view whose table has an index
on (join keys..., timestamp) on an engine with `Engine.top_one_lateral`, a top-one LEFT JOIN
LATERAL; or, for a view with a ttl whose windows hold few rows (the scan says so:
sql/scans.py `ViewScan.ttl_window`) on an engine with `Engine.ttl_window_join`, a hash join
within each spine row's ttl window (sql/ttl_window.py); everything else is the same for every
engine. The rules are in
docs/training-sets.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Collection, Mapping, Sequence

from sqlglot import exp

from featurestore.catalog import Feature, FeatureSelection, FeatureView
from featurestore.engines.engine import AsOfJoin, Engine
from featurestore.errors import UsageError
from featurestore.sql.expressions import INTERNAL, column, identifier, left_join
from featurestore.sql.pit_joins import (
    as_of_join,
    as_of_match_expression,
    latest_row_match_expression,
    portable_match_expression,
    top_one_lateral_join,
)
from featurestore.sql.scans import ViewScan, scan_condition
from featurestore.sql.semantics import event_time_column, tie_columns, timeline_expression
from featurestore.sql.spine import SPINE, SPINE_ROW, SPINE_TIME, SpineRelation, spine_query
from featurestore.sql.ttl_window import join_within_ttl, ttl_window_fits
from featurestore.sql.windows import join_aggregations


@dataclass(frozen=True)
class OutputFeature:
    """One feature column of the training set."""

    selection_index: int
    feature: Feature
    name: str


def output_features(
    spine_columns: Sequence[str], selections: Sequence[FeatureSelection], full_names: bool
) -> list[OutputFeature]:
    """Name each requested feature's output column; collisions are an error.

    Names compare case-insensitively, as most warehouses compare identifiers.
    """
    taken = {c.lower(): f"spine column '{c}'" for c in spine_columns}
    outputs = []
    for index, selection in enumerate(selections):
        for feature in selection.features:
            name = f"{selection.view.name}__{feature.name}" if full_names else feature.name
            if name.lower() in taken:
                hint = (
                    "; use --full-names (full_names=True) to name features view__feature"
                    if not full_names
                    else "; rename the spine column"
                )
                raise UsageError(f"output column '{name}' of {feature.ref} clashes with {taken[name.lower()]}{hint}")
            taken[name.lower()] = f"feature {feature.ref}"
            outputs.append(OutputFeature(index, feature, name))
    return outputs


def point_in_time_expression(
    spine: SpineRelation,
    selections: Sequence[FeatureSelection],
    outputs: Sequence[OutputFeature],
    engine: Engine,
    event_time_only: bool = False,
    indexed_views: Collection[str] = (),
    scans: Mapping[str, ViewScan] | None = None,
) -> exp.Select:
    """The training-set query: every spine row once, in order, with each feature of
    `outputs` as of the row's timestamp (see docs/training-sets.md for the exact rules).

    The as-of join takes the form `engine` names; `event_time_only` ignores created_at
    (`--as-of event-time`). `indexed_views` names the views whose relation has a btree index
    on (join keys..., timestamp) (the warehouse's catalog says so: offline/indexes.py): those
    `top_one_lateral_fits` are joined by a top-one LEFT JOIN LATERAL. `scans` bounds what is
    read of each view it names (sql/scans.py; an index probe per spine row needs none).
    """
    # A spine timestamp used as it is joins under its own name; a converted one gets a column
    # of its own. (Every column carried costs: the join and the final sort move them all.)
    spine_time = spine.timestamp.name if isinstance(spine.timestamp, exp.Column) else SPINE_TIME
    query = spine_query(spine, engine, spine_time)
    # A spine numbered by its scan is read once, or every read must see one numbering.
    numbered_by_scan = spine.row_order is None
    chained = numbered_by_scan and not engine.materialized_cte
    for index, selection in enumerate(selections):
        if selection.view.is_aggregation:
            scan = (scans or {}).get(selection.view.name, ViewScan())
            hops, pairs = engine.window_hops and scan.window_hops, engine.window_pairs and scan.window_pairs
            query = join_aggregations(query, index, selection, engine, spine_time, event_time_only, hops, pairs)
        elif selection.view.name in indexed_views and top_one_lateral_fits(selection.view, engine, event_time_only):
            query = query.join(top_one_lateral_join(index, selection, spine_time), copy=False)
        else:
            scan = (scans or {}).get(selection.view.name, ViewScan())
            if scan.ttl_window and not chained and ttl_window_fits(selection.view, engine):
                # It reads the spine twice (the window join, the join back on the row). Its hash
                # join on the keys drops what the semi-join would (a row no spine row has the keys
                # of), and the engine filters the scan by the join's keys already: the semi-join
                # would only probe the spine's keys a second time (docs/training-sets.md).
                condition = scan_condition(selection.view, replace(scan, spine_keys_only=False), engine, not event_time_only)
                event_time = event_time_column(selection.view, event_time_only)
                query = join_within_ttl(query, index, selection, engine, spine_time, event_time, event_time_only, condition)
            else:
                condition = scan_condition(selection.view, scan, engine, knowledge_cut_off=not event_time_only)
                query = _join_view(query, index, selection, engine, spine_time, event_time_only, chained, condition)
    for output in outputs:
        view = selections[output.selection_index].view
        # In place: a copy of the whole query per output column costs more than the rest.
        query = query.select(_output_column(output, view, engine, spine_time, event_time_only), copy=False)
    if numbered_by_scan and engine.materialized_cte:
        _materialize_if_shared(query, SPINE)
    return query.order_by(column(SPINE_ROW, SPINE), copy=False)


def _materialize_if_shared(query: exp.Select, name: str) -> None:
    """Mark the CTE `name` MATERIALIZED where the query reads it more than once."""
    reads = sum(1 for table in query.find_all(exp.Table) if table.name == name)
    for cte in query.args["with_"].expressions if reads > 1 else ():
        if cte.alias == name:
            cte.set("materialized", True)


def _join_view(
    query: exp.Select,
    index: int,
    selection: FeatureSelection,
    engine: Engine,
    spine_time: str,
    event_time_only: bool,
    chained: bool,
    scan: exp.Expression | None,
) -> exp.Select:
    """The view's timeline as a CTE (its scan bounded by `scan`), joined to the spine in the
    engine's as-of form (as a link of a chain of as-of joins, if `chained`: see
    point_in_time_expression)."""
    alias = f"{INTERNAL}v{index}"
    view, names = selection.view, [f.name for f in selection.features]
    portable = engine.as_of_join is AsOfJoin.PORTABLE
    # In place, as every step here: the query is this call's own, and a copy of it per CTE and
    # join grows with the views joined before (most of a training set's planning time).
    query = query.with_(
        identifier(alias), as_=timeline_expression(view, names, event_time_only, ties_sorted_later=portable, scan=scan), copy=False
    )
    matched = f"{alias}_match"
    event_time = event_time_column(view, event_time_only)
    if portable:
        match = latest_row_match_expression if engine.last_value_ignores_nulls else portable_match_expression
        ties = tie_columns(view, event_time_only)
        query = query.with_(identifier(matched), as_=match(alias, view, names, spine_time, event_time, ties), copy=False)
    elif index == 0 or chained:
        # The first view joins the spine itself: its as-of join carries the spine's columns
        # along, which costs less than joining them back on the row (one view: 1.2x in DuckDB).
        # Where the spine must be read once (`chained`), every view does, in a chain.
        return query.join(as_of_join(engine.as_of_join, alias, view, spine_time), copy=False)
    else:
        query = query.with_(
            identifier(matched), as_=as_of_match_expression(engine.as_of_join, alias, view, names, spine_time, event_time), copy=False
        )
    return left_join(
        query,
        exp.Table(this=identifier(matched), alias=exp.TableAlias(this=identifier(alias))),
        exp.EQ(this=column(SPINE_ROW, alias), expression=column(SPINE_ROW, SPINE)),
    )


def top_one_lateral_fits(view: FeatureView, engine: Engine, event_time_only: bool) -> bool:
    """Whether `view` is joined by a top-one lateral join on `engine` when its relation has
    the index on (join keys..., timestamp): where the engine has one that is fast, and the
    row wanted is the latest by timestamp. Under a knowledge cut-off (created_at, unless
    `event_time_only`) it is the latest row *known* at the spine's time, which no order of
    an index on the timestamp finds in one probe: such a view keeps the engine's form."""
    # An aggregation view is no latest-row lookup: its events are aggregated (sql/windows.py).
    return engine.top_one_lateral and not view.is_aggregation and (not view.created_at or event_time_only)


def _output_column(
    output: OutputFeature, view: FeatureView, engine: Engine, spine_time: str, event_time_only: bool
) -> exp.Expression:
    """One feature column of the output: the matched value, null past the view's ttl."""
    alias = f"{INTERNAL}v{output.selection_index}"
    value: exp.Expression = column(output.feature.name, alias)
    if view.ttl is not None:
        oldest = exp.Sub(
            this=column(spine_time, SPINE), expression=engine.interval_seconds(int(view.ttl.total_seconds()))
        )
        fresh = exp.GTE(this=column(event_time_column(view, event_time_only), alias), expression=oldest)
        value = exp.Case(ifs=[exp.If(this=fresh, true=value)])
    return exp.alias_(value, identifier(output.name), copy=False)


def breaks_ties_at_a_cost(view: FeatureView, engine: Engine, laterally_joined: bool, event_time_only: bool) -> bool:
    """Whether joining `view` orders its rows by every feature only to break ties, at a cost a
    uniqueness test would save: a window over the view before an as-of join
    (the event-time timeline), a sort per spine row in a lateral join. The portable form sorts
    the tie keys with rows it sorts anyway, and a knowledge cut-off (created_at) ranks the
    rows whatever the tests say."""
    if view.is_aggregation or view.rows_unique_by_test or (view.created_at and not event_time_only):
        return False
    return laterally_joined or engine.as_of_join is not AsOfJoin.PORTABLE
