"""The training-set query as a sqlglot tree: every spine row once, in order, with each
requested feature as it was known at the row's timestamp.

The as-of join takes the form the engine record names (featurestore.engines.base.AsOfJoin:
a native ASOF LEFT JOIN, an ASOF JOIN with a MATCH_CONDITION, or the portable form built
here), or, for a view whose table has an index on (join keys..., timestamp) on an engine
with `Engine.top_one_lateral`, a top-one LEFT JOIN LATERAL; everything else is the same for
every engine. The rules are in docs/training-sets.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Sequence

from sqlglot import exp

from featurestore.catalog import Feature, FeatureSelection, FeatureView
from featurestore.engines.base import AsOfJoin, Engine
from featurestore.errors import UsageError
from featurestore.sql.expressions import INTERNAL, column, identifier, relation_table
from featurestore.sql.semantics import first_ranked, knowledge_time, tie_break_winner_last


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


@dataclass(frozen=True)
class OutputFeature:
    """One feature column of the training set."""

    selection_index: int
    feature: Feature
    name: str


SPINE = f"{INTERNAL}spine"
SPINE_TIME = f"{INTERNAL}t"
SPINE_ROW = f"{INTERNAL}row"
VIEW_TIME = f"{INTERNAL}at"  # the time a row becomes the answer (join on this)
VIEW_EVENT_TIME = f"{INTERNAL}ts"  # the row's event timestamp (ttl is measured on this)
VIEW_TIE = f"{INTERNAL}tie"  # VIEW_TIE0, 1, ...: the tie-break keys the portable form sorts by


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
) -> exp.Select:
    """The training-set query: every spine row once, in order, with each feature of
    `outputs` as of the row's timestamp (see docs/training-sets.md for the exact rules).

    The as-of join takes the form `engine` names; `event_time_only` ignores created_at
    (`--as-of event-time`). `indexed_views` names the views whose relation has a btree index
    on (join keys..., timestamp) (the warehouse's catalog says so: offline/indexes.py): those
    `top_one_lateral_fits` are joined by a top-one LEFT JOIN LATERAL.
    """
    # A spine timestamp used as it is joins under its own name; a converted one gets a column
    # of its own. (Every column carried costs: the join and the final sort move them all.)
    spine_time = spine.timestamp.name if isinstance(spine.timestamp, exp.Column) else SPINE_TIME
    query = _spine_query(spine, engine, spine_time)
    # A spine numbered by its scan is read once, or every read must see one numbering.
    numbered_by_scan = spine.row_order is None
    chained = numbered_by_scan and not engine.materialized_cte
    for index, selection in enumerate(selections):
        if selection.view.name in indexed_views and top_one_lateral_fits(selection.view, engine, event_time_only):
            query = query.join(_top_one_lateral_join(index, selection, spine_time))
        else:
            query = _join_view(query, index, selection, engine, spine_time, event_time_only, chained)
    for output in outputs:
        view = selections[output.selection_index].view
        query = query.select(_output_column(output, view, engine, spine_time, event_time_only))
    if numbered_by_scan and engine.materialized_cte:
        _materialize_if_shared(query, SPINE)
    return query.order_by(column(SPINE_ROW, SPINE))


def _materialize_if_shared(query: exp.Select, name: str) -> None:
    """Mark the CTE `name` MATERIALIZED where the query reads it more than once."""
    reads = sum(1 for table in query.find_all(exp.Table) if table.name == name)
    for cte in query.args["with_"].expressions if reads > 1 else ():
        if cte.alias == name:
            cte.set("materialized", True)


def _spine_query(spine: SpineRelation, engine: Engine, spine_time: str) -> exp.Select:
    """SELECT the spine's columns FROM the spine CTE: its rows numbered in their order, its
    time converted where needed."""
    row_order = spine.row_order if spine.row_order is not None else engine.scan_row_order()
    converted = [exp.alias_(spine.timestamp, identifier(SPINE_TIME))] if spine_time == SPINE_TIME else []
    numbered = exp.select(
        *[column(c) for c in spine.columns], *converted, exp.alias_(row_order, identifier(SPINE_ROW))
    ).from_(spine.source)
    query = exp.select(*[column(c, SPINE) for c in spine.columns]).from_(exp.Table(this=identifier(SPINE)))
    return query.with_(identifier(SPINE), as_=numbered)


def _join_view(
    query: exp.Select,
    index: int,
    selection: FeatureSelection,
    engine: Engine,
    spine_time: str,
    event_time_only: bool,
    chained: bool,
) -> exp.Select:
    """The view's timeline as a CTE, joined to the spine in the engine's as-of form (as a
    link of a chain of as-of joins, if `chained`: see point_in_time_expression)."""
    alias = f"{INTERNAL}v{index}"
    view, names = selection.view, [f.name for f in selection.features]
    portable = engine.as_of_join is AsOfJoin.PORTABLE
    query = query.with_(identifier(alias), as_=timeline_expression(view, names, event_time_only, ties_sorted_later=portable))
    matched = f"{alias}_match"
    event_time = _event_time_column(view, event_time_only)
    if portable:
        match = _latest_row_match_expression if engine.last_value_ignores_nulls else _portable_match_expression
        ties = tie_columns(view, event_time_only)
        query = query.with_(identifier(matched), as_=match(alias, view, names, spine_time, event_time, ties))
    elif index == 0 or chained:
        # The first view joins the spine itself: its as-of join carries the spine's columns
        # along, which costs less than joining them back on the row (one view: 1.2x in DuckDB).
        # Where the spine must be read once (`chained`), every view does, in a chain.
        return query.join(_as_of_join(engine.as_of_join, alias, view, spine_time))
    else:
        query = query.with_(identifier(matched), as_=_as_of_match_expression(engine.as_of_join, alias, view, names, spine_time, event_time))
    return query.join(
        exp.Table(this=identifier(matched), alias=exp.TableAlias(this=identifier(alias))),
        on=exp.EQ(this=column(SPINE_ROW, alias), expression=column(SPINE_ROW, SPINE)),
        join_type="left",
    )


def top_one_lateral_fits(view: FeatureView, engine: Engine, event_time_only: bool) -> bool:
    """Whether `view` is joined by a top-one lateral join on `engine` when its relation has
    the index on (join keys..., timestamp): where the engine has one that is fast, and the
    row wanted is the latest by timestamp. Under a knowledge cut-off (created_at, unless
    `event_time_only`) it is the latest row *known* at the spine's time, which no order of
    an index on the timestamp finds in one probe: such a view keeps the engine's form."""
    return engine.top_one_lateral and (not view.created_at or event_time_only)


def _top_one_lateral_join(index: int, selection: FeatureSelection, spine_time: str) -> exp.Join:
    """LEFT JOIN LATERAL (the view's latest row for the spine row's keys at or before its
    time) ON TRUE: with an index on (join keys..., timestamp), one backward index scan per
    spine row. Rows with a null key or timestamp never match (= and <= are not true on
    null), nor does a spine row with one. Rows of one (keys, timestamp) are ordered as the
    portable form orders them, reversed: its winner is the last in tie_break_winner_last's
    ascending, nulls-first order, so here it comes first (descending, nulls last)."""
    view, alias = selection.view, f"{INTERNAL}v{index}"
    rows = f"{alias}_rows"

    def own(expression: exp.Expression) -> exp.Expression:
        # Every column of the view's, named with its table: the spine's columns are in scope too.
        expression = expression.copy()
        for name in list(expression.find_all(exp.Column)):
            name.set("table", identifier(rows))
        return expression

    # The timestamp DESC, nulls first: the order a btree index on it gives read backwards
    # (no null timestamp gets past the WHERE); then the tie-break keys (none for a view dbt
    # tests for one row per key and timestamp).
    latest = [
        exp.Ordered(this=column(view.timestamp, rows), desc=True, nulls_first=True),
        *[exp.Ordered(this=own(o.this), desc=True, nulls_first=False) for o in tie_break_winner_last(view)],
    ]
    keys_match = [exp.EQ(this=column(k, rows), expression=column(k, SPINE)) for k in view.join_keys]
    not_after = exp.LTE(this=column(view.timestamp, rows), expression=column(spine_time, SPINE))
    top_one = (
        exp.select(
            exp.alias_(column(view.timestamp, rows), identifier(VIEW_TIME)),
            *[exp.alias_(column(f.name, rows), identifier(f.name)) for f in selection.features],
        )
        .from_(relation_table(view, alias=rows))
        .where(exp.and_(*keys_match, not_after))
        .order_by(*latest)
        .limit(1)
    )
    lateral = exp.Lateral(this=top_one.subquery(), alias=exp.TableAlias(this=identifier(alias)))
    return exp.Join(this=lateral, side="LEFT", on=exp.true())


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
        fresh = exp.GTE(this=column(_event_time_column(view, event_time_only), alias), expression=oldest)
        value = exp.Case(ifs=[exp.If(this=fresh, true=value)])
    return exp.alias_(value, identifier(output.name))


def _keys_match(view: FeatureView, alias: str) -> exp.Expression:
    return exp.and_(*[exp.EQ(this=column(k, SPINE), expression=column(k, alias)) for k in view.join_keys])


def _event_time_column(view: FeatureView, event_time_only: bool) -> str:
    """The timeline column holding a row's event timestamp: the join time itself, unless a
    knowledge cut-off makes the two differ."""
    return VIEW_EVENT_TIME if view.created_at and not event_time_only else VIEW_TIME


def _as_of_match_expression(
    style: AsOfJoin, timeline: str, view: FeatureView, features: Sequence[str], spine_time: str, event_time: str
) -> exp.Select:
    """Each spine row's matching timeline row by the engine's as-of join, over only what the
    join needs of the spine: its row number, keys and time. Joining each view after the first
    to this narrow spine, and the results to the spine on the row, keeps the cost linear in
    the number of views: a chain of as-of joins sorts the spine again for each view, wider
    each time (measured in DuckDB: a chain of 50 costs 2.2x the 50 narrow joins;
    docs/benchmarks.md)."""
    carried = [event_time, *features]
    return exp.select(column(SPINE_ROW, SPINE), *[column(c, timeline) for c in carried]).from_(
        exp.Table(this=identifier(SPINE))
    ).join(_as_of_join(style, timeline, view, spine_time))


def _as_of_join(style: AsOfJoin, alias: str, view: FeatureView, spine_time: str) -> exp.Join:
    not_after = exp.GTE(this=column(spine_time, SPINE), expression=column(VIEW_TIME, alias))
    table = exp.Table(this=identifier(alias), alias=exp.TableAlias(this=identifier(alias)))
    if style is AsOfJoin.NATIVE:
        return exp.Join(this=table, method="ASOF", side="LEFT", on=exp.and_(_keys_match(view, alias), not_after))
    # An ASOF JOIN with a MATCH_CONDITION keeps unmatched left rows, as a left join does.
    return exp.Join(this=table, method="ASOF", match_condition=not_after, on=_keys_match(view, alias))


def _portable_match_expression(
    timeline: str, view: FeatureView, features: Sequence[str], spine_time: str, event_time: str, ties: Sequence[str]
) -> exp.Select:
    """For engines without an as-of join: each spine row's matching timeline row, found by
    sorting spine and timeline rows together per entity. A timeline row opens a group that
    the spine rows after it (at the same time too: the bound is inclusive) belong to, so the
    group's first row is the answer. One sort, no range join, whatever the history length.

    Timeline rows of one time (`ties`: the view has no uniqueness test) are sorted winner
    last, so the spine rows after them join the winner's group: the tie-break is a few
    more sort keys of the one sort, not a ranking of the whole view."""
    keys = list(view.join_keys)
    carried = [event_time, *features]
    kind, group, when = f"{INTERNAL}kind", f"{INTERNAL}group", f"{INTERNAL}time"
    timeline_rows = exp.select(
        *[column(k) for k in keys],
        exp.alias_(column(VIEW_TIME), identifier(when)),
        exp.alias_(exp.Literal.number(0), identifier(kind)),
        exp.alias_(exp.cast(exp.null(), exp.DataType.build("bigint")), identifier(SPINE_ROW)),
        *[column(c) for c in carried],
        *[column(t) for t in ties],
    ).from_(identifier(timeline))
    events = exp.union(timeline_rows, _spine_rows(keys, spine_time, len(carried) + len(ties)), distinct=False)
    opened_groups = _along_timeline(exp.Sum(this=exp.Sub(this=exp.Literal.number(1), expression=column(kind))), keys, when, kind, ties)
    grouped = exp.select("*", exp.alias_(opened_groups, identifier(group))).from_(events.subquery(identifier(f"{INTERNAL}events")))

    def first_in_group(name: str) -> exp.Expression:
        window = exp.Window(
            this=exp.FirstValue(this=column(name)),
            partition_by=[*[column(k) for k in keys], column(group)],
            order=exp.Order(expressions=[exp.Ordered(this=column(kind))]),
        )
        return exp.alias_(window, identifier(name))

    answered = exp.select(column(SPINE_ROW), column(kind), *[first_in_group(c) for c in carried]).from_(
        grouped.subquery(identifier(f"{INTERNAL}grouped"))
    )
    return (
        exp.select(column(SPINE_ROW), *[column(c) for c in carried])
        .from_(answered.subquery(identifier(f"{INTERNAL}answered")))
        .where(exp.EQ(this=column(kind), expression=exp.Literal.number(1)))
    )


def _spine_rows(keys: Sequence[str], spine_time: str, nulls: int) -> exp.Select:
    """The spine's rows as rows of the sorted timeline (kind 1, after the view's rows of the
    same time), with `nulls` nulls where timeline rows carry their values; rows whose keys or
    time are null match nothing and are left out."""
    present = [exp.Not(this=exp.Is(this=column(c), expression=exp.null())) for c in [*keys, spine_time]]
    return (
        exp.select(
            *[column(k) for k in keys],
            column(spine_time),
            exp.Literal.number(1),
            column(SPINE_ROW),
            *[exp.null() for _ in range(nulls)],
        )
        .from_(exp.Table(this=identifier(SPINE)))
        .where(exp.and_(*present))
    )


def _along_timeline(function: exp.Expression, keys: Sequence[str], when: str, kind: str, ties: Sequence[str]) -> exp.Window:
    """`function` over each entity's rows up to the current one, in timeline order: time, view
    rows before spine rows, tied view rows winner last."""
    return exp.Window(
        this=function,
        partition_by=[column(k) for k in keys],
        order=exp.Order(
            expressions=[
                exp.Ordered(this=column(when)),
                exp.Ordered(this=column(kind)),
                *[exp.Ordered(this=column(t), nulls_first=True) for t in ties],
            ]
        ),
        spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"),
    )


def _latest_row_match_expression(
    timeline: str, view: FeatureView, features: Sequence[str], spine_time: str, event_time: str, ties: Sequence[str]
) -> exp.Select:
    """The portable form in one window, for engines with LAST_VALUE(...) IGNORE NULLS: spine
    and timeline rows sorted together per entity as there, each timeline row carrying its
    values as one struct (never null, even when its values are) and each spine row taking the
    last struct before it. No groups to number, so one sort where the other form needs two.
    Ties (`ties`) are sorted winner last, as in _portable_match_expression."""
    keys = list(view.join_keys)
    carried = [event_time, *features]
    kind, when, row = f"{INTERNAL}kind", f"{INTERNAL}time", f"{INTERNAL}latest"
    values = exp.Struct(expressions=[exp.PropertyEQ(this=identifier(c), expression=column(c)) for c in carried])
    timeline_rows = exp.select(
        *[column(k) for k in keys],
        exp.alias_(column(VIEW_TIME), identifier(when)),
        exp.alias_(exp.Literal.number(0), identifier(kind)),
        exp.alias_(exp.cast(exp.null(), exp.DataType.build("bigint")), identifier(SPINE_ROW)),
        exp.alias_(values, identifier(row)),
        *[column(t) for t in ties],
    ).from_(identifier(timeline))
    latest = _along_timeline(exp.IgnoreNulls(this=exp.LastValue(this=column(row))), keys, when, kind, ties)
    events = exp.union(timeline_rows, _spine_rows(keys, spine_time, 1 + len(ties)), distinct=False).subquery(
        identifier(f"{INTERNAL}events")
    )
    answered = exp.select(column(SPINE_ROW), column(kind), exp.alias_(latest, identifier(row))).from_(events)
    return (
        exp.select(column(SPINE_ROW), *[exp.alias_(exp.Dot(this=column(row), expression=identifier(c)), identifier(c)) for c in carried])
        .from_(answered.subquery(identifier(f"{INTERNAL}answered")))
        .where(exp.EQ(this=column(kind), expression=exp.Literal.number(1)))
    )


def breaks_ties_at_a_cost(view: FeatureView, engine: Engine, laterally_joined: bool, event_time_only: bool) -> bool:
    """Whether joining `view` orders its rows by every feature only to break ties, at a cost a
    uniqueness test would save: a window over the view before an as-of join
    (_event_time_timeline), a sort per spine row in a lateral join. The portable form sorts
    the tie keys with rows it sorts anyway, and a knowledge cut-off (created_at) ranks the
    rows whatever the tests say."""
    if view.rows_unique_by_test or (view.created_at and not event_time_only):
        return False
    return laterally_joined or engine.as_of_join is not AsOfJoin.PORTABLE


def tie_columns(view: FeatureView, event_time_only: bool) -> list[str]:
    """The columns a timeline built with `ties_sorted_later` carries for the tie-break:
    none where its rows are unique per (join keys, `__fs_at`) already."""
    if (view.created_at and not event_time_only) or view.rows_unique_by_test:
        return []
    return [f"{VIEW_TIE}{i}" for i in range(len(tie_break_winner_last(view)))]


def timeline_expression(
    view: FeatureView, features: Sequence[str], event_time_only: bool = False, ties_sorted_later: bool = False
) -> exp.Select:
    """The rows of `view` an as-of join can land on, one per (join keys, `__fs_at`).

    `__fs_at` is when a row becomes the answer. Without a knowledge cut-off that is its
    timestamp, and `__fs_at` is all the timeline carries of time. With one (the view declares
    created_at), a row is usable once both its timestamp and its created_at have passed; the
    answer at t is the greatest (timestamp, created_at) among usable rows, which changes only
    when a row that beats every earlier-usable row becomes usable. Only those rows are kept,
    keyed by the moment they become usable, and `__fs_ts` carries their event timestamp.

    With `ties_sorted_later`, rows of one (join keys, `__fs_at`) are all kept, with their
    tie-break keys as `tie_columns(view, ...)`, for a join that sorts by them.
    """
    if not view.created_at or event_time_only:
        return _event_time_timeline(view, features, ties_sorted_later)
    return _knowledge_time_timeline(view, features)


def _present(view: FeatureView) -> exp.Expression:
    """Rows with every join key and the timestamp set: the only ones a spine can match."""
    needed = [*view.join_keys, view.timestamp]
    return exp.and_(*[exp.Not(this=exp.Is(this=column(c), expression=exp.null())) for c in needed])


def _event_time_timeline(view: FeatureView, features: Sequence[str], ties_sorted_later: bool) -> exp.Select:
    """One row per (join keys, timestamp): the timestamp is when a row becomes the answer.
    (All rows, with their tie-break keys, if `ties_sorted_later`.)"""
    keys = [column(k) for k in view.join_keys]
    present = _present(view)
    feature_columns = [column(f) for f in features]
    rows = exp.select(*keys, exp.alias_(column(view.timestamp), identifier(VIEW_TIME)), *feature_columns)
    if view.rows_unique_by_test:
        # A dbt test guarantees one row per key and timestamp (catalog/from_manifest.py
        # says which count), so the tie-break below would only cost time.
        return rows.from_(relation_table(view)).where(present)
    winner_last = tie_break_winner_last(view)
    if ties_sorted_later:
        ties = [exp.alias_(o.this, identifier(name)) for o, name in zip(winner_last, tie_columns(view, True))]
        return rows.select(*ties).from_(relation_table(view)).where(present)
    # The winner of a timestamp is the row the next timestamp follows, in an order that puts
    # it last. One window per entity, not per (entity, timestamp): measured 25% less CPU in
    # DuckDB than ROW_NUMBER over (keys, timestamp), whose many tiny partitions cost.
    following = f"{INTERNAL}next"
    next_time = exp.Window(
        this=exp.Lead(this=column(view.timestamp)),
        partition_by=[k.copy() for k in keys],
        order=exp.Order(expressions=[exp.Ordered(this=column(view.timestamp)), *winner_last]),
    )
    ordered = rows.select(exp.alias_(next_time, identifier(following))).from_(relation_table(view)).where(present)
    last_of_time = exp.or_(
        exp.Is(this=column(following), expression=exp.null()),
        exp.NEQ(this=column(following), expression=column(VIEW_TIME)),
    )
    return (
        exp.select(*[column(c) for c in [*view.join_keys, VIEW_TIME, *features]])
        .from_(ordered.subquery(identifier(f"{INTERNAL}ordered")))
        .where(last_of_time)
    )


def _knowledge_time_timeline(view: FeatureView, features: Sequence[str]) -> exp.Select:
    """The rows that ever become the answer under a created_at cut-off, keyed by the moment
    they become usable (see timeline_expression)."""
    keys = [column(k) for k in view.join_keys]
    present = _present(view)
    created = f"{INTERNAL}created"
    known = knowledge_time(view)
    # Ties are broken on every feature of the view, so all of them travel to the ranking.
    feature_columns = [column(f) for f in view.feature_names]
    usable = exp.select(
        *keys,
        exp.alias_(column(view.timestamp), identifier(VIEW_EVENT_TIME)),
        exp.alias_(known, identifier(created)),
        exp.alias_(exp.Greatest(this=column(view.timestamp), expressions=[known.copy()]), identifier(VIEW_TIME)),
        *feature_columns,
    ).from_(relation_table(view)).where(present)
    previous_best = exp.Window(
        this=exp.Max(this=column(VIEW_EVENT_TIME)),
        partition_by=[k.copy() for k in keys],
        order=exp.Order(expressions=[exp.Ordered(this=column(c)) for c in (VIEW_TIME, VIEW_EVENT_TIME, created)]),
        spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end=exp.Literal.number(1), end_side="PRECEDING"),
    )
    best = f"{INTERNAL}previous_best"
    with_best = exp.select("*", exp.alias_(previous_best, identifier(best))).from_(usable.subquery(identifier(f"{INTERNAL}usable")))
    beats_earlier = exp.or_(
        exp.Is(this=column(best), expression=exp.null()),
        exp.GTE(this=column(VIEW_EVENT_TIME), expression=column(best)),
    )
    # Rows becoming usable at the same moment: the greatest (timestamp, created_at) wins.
    rank = exp.Window(
        this=exp.RowNumber(),
        partition_by=[*[k.copy() for k in keys], column(VIEW_TIME)],
        order=exp.Order(
            expressions=[
                exp.Ordered(this=column(c), desc=True, nulls_first=False)
                for c in (VIEW_EVENT_TIME, created, *view.feature_names)
            ]
        ),
    )
    ranked = (
        exp.select(*[k.copy() for k in keys], column(VIEW_TIME), column(VIEW_EVENT_TIME), *[column(f) for f in features])
        .select(exp.alias_(rank, identifier(f"{INTERNAL}rank")))
        .from_(with_best.subquery(identifier(f"{INTERNAL}candidates")))
        .where(beats_earlier)
    )
    return first_ranked(ranked, [*view.join_keys, VIEW_TIME, VIEW_EVENT_TIME, *features])
