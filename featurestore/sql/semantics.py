"""The shared point-in-time semantics, as sqlglot trees: when a row was known, which of tied
rows wins, the latest row per entity at a moment, and a view's timeline (the rows an as-of
join can land on, keyed by when each becomes the answer). Training sets, syncs and parity
checks all take their answer from here, so they cannot disagree (docs/training-sets.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlglot import exp

from featurestore.catalog import FeatureView, Relation
from featurestore.sql.expressions import INTERNAL, column, identifier, named_table, relation_table, timestamp_literal

WATERMARK = f"{INTERNAL}watermark"  # see latest_values_expression(with_watermark=True)
VIEW_TIME = f"{INTERNAL}at"  # the time a row becomes the answer (join on this)
VIEW_EVENT_TIME = f"{INTERNAL}ts"  # the row's event timestamp (ttl is measured on this)
VIEW_TIE = f"{INTERNAL}tie"  # VIEW_TIE0, 1, ...: the tie-break keys the portable form sorts by
VIEW_ROWS = f"{INTERNAL}rows"  # the view's relation in a timeline whose scan is bounded (sql/scans.py)


def knowledge_time(view: FeatureView) -> exp.Expression:
    """When a row of `view` was known: its created_at, or its timestamp where created_at is
    null or not declared (a row cannot be known before it is true)."""
    if not view.created_at:
        return column(view.timestamp)
    return exp.Coalesce(this=column(view.created_at), expressions=[column(view.timestamp)])


def tie_break_order(view: FeatureView, rows_unique: bool | None = None) -> list[exp.Ordered]:
    """Latest first: greatest timestamp, then greatest knowledge time, then - for rows equal
    in both - the greatest values of *all* the view's features in declared order (nulls
    last). Every engine, every selection of features and the online store then pick the same
    row. A view dbt tests for one row per key and timestamp has no ties: its timestamp alone
    orders it (`rows_unique` overrides the test, for rows it does not cover)."""
    if view.rows_unique_by_test if rows_unique is None else rows_unique:
        keys = [column(view.timestamp)]
    else:
        keys = [column(view.timestamp), knowledge_time(view), *[column(f) for f in view.feature_names]]
    return [exp.Ordered(this=k, desc=True, nulls_first=False) for k in keys]


def tie_break_winner_last(view: FeatureView) -> list[exp.Ordered]:
    """The order among rows of one timestamp that ends with tie_break_order's winner: its keys
    after the timestamp, ascending, nulls first. For the forms that take the last row of a
    sort (a view row followed by the next timestamp or by a spine row) instead of ranking
    every row: ties then cost a few more sort keys, not a window of their own. Empty for a
    view dbt tests for one row per key and timestamp."""
    # Past the timestamp; and past the knowledge time too where that is the timestamp itself.
    after_timestamp = tie_break_order(view)[1 if view.created_at else 2 :]
    return [exp.Ordered(this=o.this.copy(), desc=False, nulls_first=True) for o in after_timestamp]


def latest_values_expression(
    view: FeatureView,
    features: Sequence[str],
    as_of: datetime,
    written_after: datetime | None = None,
    respect_created_at: bool = True,
    with_watermark: bool = False,
    pushed: Relation | None = None,
    newest_first: bool = False,
) -> exp.Select:
    """One row per entity of `view`: the row a training set at `as_of` would use.

    Columns: the join keys, the view's timestamp column, its created_at column (if any) and
    `features`, under their own names. ttl is not applied: callers decide what an expired
    value means (sync skips and counts it; a training set returns null).

    With `written_after`, only rows written later count (by created_at, or by the timestamp
    for views without one): the latest of the *new* rows, for an incremental sync.

    With `with_watermark`, every row also carries `WATERMARK`: the greatest knowledge time
    of all the rows considered, not only of the latest ones - where the next incremental
    sync starts.

    With `pushed` (the view's landing table, featurestore.sql.landing), its rows count as
    rows of the view: the pushed rows a `dbt build` has not folded in yet. They do not move
    the watermark, which is about the view's own rows (a pushed row newer than the batch
    must not make the next incremental sync skip batch rows built after it).

    With `newest_first` (engines that hash a join on IS NOT DISTINCT FROM: Engine.
    null_safe_hash_join), rows that may tie are ranked only among each entity's rows of its
    greatest timestamp (`_ranked_among_newest`): the same winner, without sorting every row.

    >>> from featurestore.catalog import FeatureView, Relation   # doctest: +SKIP
    """
    keep = [*view.join_keys, view.timestamp, *([view.created_at] if view.created_at else []), *features]
    conditions: list[exp.Expression] = [exp.LTE(this=column(view.timestamp), expression=timestamp_literal(as_of))]
    if view.created_at and respect_created_at:
        conditions.append(exp.LTE(this=knowledge_time(view), expression=timestamp_literal(as_of)))
    if written_after is not None:
        conditions.append(exp.GT(this=knowledge_time(view), expression=timestamp_literal(written_after)))
    # The uniqueness test covers the view's rows, not the pushed rows read beside them.
    order = tie_break_order(view, rows_unique=False if pushed is not None else None)
    rank = exp.Window(
        this=exp.RowNumber(), partition_by=[column(k) for k in view.join_keys], order=exp.Order(expressions=order)
    )
    source: exp.Expression = relation_table(view)
    if pushed is not None:
        rows = [exp.select(*[column(c) for c in keep]).from_(t) for t in (relation_table(view), relation_table(view, relation=pushed))]
        source = exp.union(*rows, distinct=False).subquery(identifier(f"{INTERNAL}rows"))
    if newest_first and len(order) > 1:
        candidates = exp.select(*[column(c) for c in keep]).from_(source).where(exp.and_(*conditions))
        latest, newest = _ranked_among_newest(view, keep, candidates, rank, knowledge=pushed is None)
        if with_watermark and newest is not None:
            # The newest knowledge time per entity is already there: its max is the watermark.
            return latest.select(exp.alias_(newest.subquery(copy=False), identifier(WATERMARK)))
    else:
        ranked = (
            exp.select(*[column(c) for c in keep], exp.alias_(rank, identifier(f"{INTERNAL}rank")))
            .from_(source)
            .where(exp.and_(*conditions))
        )
        latest = first_ranked(ranked, keep)
    if with_watermark:
        # A scalar subquery in the same statement: the same snapshot as the rows, and a
        # parallel aggregate where MAX(...) OVER () would be one thread over every row.
        newest = (
            exp.select(exp.Max(this=knowledge_time(view)))
            .from_(relation_table(view))
            .where(exp.and_(*[c.copy() for c in conditions]))
        )
        latest = latest.select(exp.alias_(newest.subquery(copy=False), identifier(WATERMARK)))
    return latest


def _ranked_among_newest(
    view: FeatureView, keep: Sequence[str], candidates: exp.Select, rank: exp.Window, knowledge: bool
) -> tuple[exp.Select, exp.Select | None]:
    """The latest row per entity among `candidates`, ranking by `rank` (the full tie-break
    order) only the rows of each entity's greatest timestamp: the winner is one of them, and
    a hash aggregate and a join find them without the sort of every row a window over all of
    them costs (DuckDB, 9M rows: about a third of the CPU). Null join keys group together, as
    in the window's partitions. With `knowledge`, also the query of the greatest knowledge
    time of all the candidates (the watermark, from the aggregate's 1 row per entity).

    WITH c AS MATERIALIZED (candidates),
         n AS MATERIALIZED (SELECT keys, MAX(ts) AS newest[, MAX(known) AS known] FROM c GROUP BY keys)
    SELECT keep FROM (SELECT keep, rank FROM c JOIN n ON keys IS NOT DISTINCT FROM AND ts = newest) WHERE rank = 1
    """
    rows, per_entity = f"{INTERNAL}candidates", f"{INTERNAL}newest"
    newest, known = f"{INTERNAL}newest_ts", f"{INTERNAL}newest_known"
    aggregate = exp.select(*[column(k) for k in view.join_keys], exp.alias_(exp.Max(this=column(view.timestamp)), identifier(newest)))
    if knowledge:
        aggregate = aggregate.select(exp.alias_(exp.Max(this=knowledge_time(view)), identifier(known)))
    aggregate = aggregate.from_(named_table(rows)).group_by(*[column(k) for k in view.join_keys])
    matches = [
        exp.NullSafeEQ(this=column(k, rows), expression=column(k, per_entity)) for k in view.join_keys
    ] + [exp.EQ(this=column(view.timestamp, rows), expression=column(newest, per_entity))]
    ranked = (
        exp.select(*[column(c, rows) for c in keep], exp.alias_(rank, identifier(f"{INTERNAL}rank")))
        .from_(named_table(rows))
        .join(named_table(per_entity), on=exp.and_(*matches))
    )
    for key in ranked.find_all(exp.Column):  # the window's names: the candidates' columns
        if not key.table and key.name != f"{INTERNAL}rank":
            key.set("table", identifier(rows))
    latest = first_ranked(ranked, keep)
    for name, query in ((rows, candidates), (per_entity, aggregate)):
        latest = latest.with_(identifier(name), as_=query, materialized=True)
    watermark = exp.select(exp.Max(this=column(known))).from_(named_table(per_entity)) if knowledge else None
    return latest, watermark


def first_ranked(ranked: exp.Select, keep: Sequence[str]) -> exp.Select:
    return (
        exp.select(*[column(c) for c in keep])
        .from_(ranked.subquery(identifier(f"{INTERNAL}ranked"), copy=False), copy=False)
        .where(exp.EQ(this=column(f"{INTERNAL}rank"), expression=exp.Literal.number(1)), copy=False)
    )


def tie_columns(view: FeatureView, event_time_only: bool) -> list[str]:
    """The columns a timeline built with `ties_sorted_later` carries for the tie-break:
    none where its rows are unique per (join keys, `__fs_at`) already."""
    if (view.created_at and not event_time_only) or view.rows_unique_by_test:
        return []
    return [f"{VIEW_TIE}{i}" for i in range(len(tie_break_winner_last(view)))]


def event_time_column(view: FeatureView, event_time_only: bool) -> str:
    """The timeline column holding a row's event timestamp: the join time itself, unless a
    knowledge cut-off makes the two differ."""
    return VIEW_EVENT_TIME if view.created_at and not event_time_only else VIEW_TIME


def timeline_expression(
    view: FeatureView,
    features: Sequence[str],
    event_time_only: bool = False,
    ties_sorted_later: bool = False,
    scan: exp.Expression | None = None,
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

    `scan` (sql/scans.py `scan_condition`) bounds the rows read: the view's relation is then
    named VIEW_ROWS, which the condition may refer to.
    """
    rows = _ViewRows(view, scan)
    if not view.created_at or event_time_only:
        return _event_time_timeline(view, features, ties_sorted_later, rows)
    return _knowledge_time_timeline(view, features, rows)


class _ViewRows:
    """The view's relation and the rows of it a timeline reads: those with every join key
    and the timestamp set (the only ones a spine can match), within the scan's bounds."""

    def __init__(self, view: FeatureView, scan: exp.Expression | None):
        self.view, self.scan = view, scan

    def table(self) -> exp.Table:
        return relation_table(self.view, alias=VIEW_ROWS if self.scan is not None else None)

    def present(self) -> exp.Expression:
        needed = [*self.view.join_keys, self.view.timestamp]
        present = [exp.Not(this=exp.Is(this=column(c), expression=exp.null())) for c in needed]
        return exp.and_(*present, *([self.scan.copy()] if self.scan is not None else []))


def _event_time_timeline(view: FeatureView, features: Sequence[str], ties_sorted_later: bool, source: _ViewRows) -> exp.Select:
    """One row per (join keys, timestamp): the timestamp is when a row becomes the answer.
    (All rows, with their tie-break keys, if `ties_sorted_later`.)"""
    keys = [column(k) for k in view.join_keys]
    present = source.present()
    feature_columns = [column(f) for f in features]
    rows = exp.select(*keys, exp.alias_(column(view.timestamp), identifier(VIEW_TIME)), *feature_columns)
    if view.rows_unique_by_test:
        # A dbt test guarantees one row per key and timestamp (catalog/from_manifest.py
        # says which count), so the tie-break below would only cost time.
        return rows.from_(source.table(), copy=False).where(present, copy=False)
    winner_last = tie_break_winner_last(view)
    if ties_sorted_later:
        ties = [exp.alias_(o.this, identifier(name)) for o, name in zip(winner_last, tie_columns(view, True))]
        return rows.select(*ties).from_(source.table(), copy=False).where(present, copy=False)
    # The winner of a timestamp is the row the next timestamp follows, in an order that puts
    # it last. One window per entity, not per (entity, timestamp): measured 25% less CPU in
    # DuckDB than ROW_NUMBER over (keys, timestamp), whose many tiny partitions cost.
    following = f"{INTERNAL}next"
    next_time = exp.Window(
        this=exp.Lead(this=column(view.timestamp)),
        partition_by=[k.copy() for k in keys],
        order=exp.Order(expressions=[exp.Ordered(this=column(view.timestamp)), *winner_last]),
    )
    ordered = rows.select(exp.alias_(next_time, identifier(following))).from_(source.table(), copy=False).where(present, copy=False)
    last_of_time = exp.or_(
        exp.Is(this=column(following), expression=exp.null()),
        exp.NEQ(this=column(following), expression=column(VIEW_TIME)),
    )
    return (
        exp.select(*[column(c) for c in [*view.join_keys, VIEW_TIME, *features]])
        .from_(ordered.subquery(identifier(f"{INTERNAL}ordered"), copy=False), copy=False)
        .where(last_of_time, copy=False)
    )


def _knowledge_time_timeline(view: FeatureView, features: Sequence[str], source: _ViewRows) -> exp.Select:
    """The rows that ever become the answer under a created_at cut-off, keyed by the moment
    they become usable (see timeline_expression)."""
    keys = [column(k) for k in view.join_keys]
    present = source.present()
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
    ).from_(source.table(), copy=False).where(present, copy=False)
    previous_best = exp.Window(
        this=exp.Max(this=column(VIEW_EVENT_TIME)),
        partition_by=[k.copy() for k in keys],
        order=exp.Order(expressions=[exp.Ordered(this=column(c)) for c in (VIEW_TIME, VIEW_EVENT_TIME, created)]),
        spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end=exp.Literal.number(1), end_side="PRECEDING"),
    )
    best = f"{INTERNAL}previous_best"
    # The subqueries are this call's own: from_ need not copy them (a copy of all below).
    with_best = exp.select("*", exp.alias_(previous_best, identifier(best))).from_(
        usable.subquery(identifier(f"{INTERNAL}usable"), copy=False), copy=False
    )
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
        .from_(with_best.subquery(identifier(f"{INTERNAL}candidates"), copy=False), copy=False)
        .where(beats_earlier, copy=False)
    )
    return first_ranked(ranked, [*view.join_keys, VIEW_TIME, VIEW_EVENT_TIME, *features])
