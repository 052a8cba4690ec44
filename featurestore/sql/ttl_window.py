"""The ttl-window join: a view with a ttl joined to the spine by a hash join on its keys
restricted to each spine row's ttl window, then the latest row per spine row. Only the rows
a spine row could take come out of the join, so where each spine row's window holds few of
its entity's rows it costs less than an as-of join, which sorts every row the scan keeps
(the rule is featurestore/offline/scans.py `ttl_window_pays`, measured in
docs/benchmarks.md; the engine's record says whether it gets the form:
`Engine.ttl_window_join`).

    WITH __fs_vN AS (SELECT keys, ts, [created_at,] features FROM view WHERE keys and ts set [AND bounds])
    , __fs_vN_match AS (
      SELECT __fs_row, __fs_at, features FROM (
        SELECT spine.__fs_row, v.ts AS __fs_at, v.features,
               ROW_NUMBER() OVER (PARTITION BY spine.__fs_row ORDER BY <tie-break order>) AS __fs_rank
        FROM __fs_spine JOIN __fs_vN AS v
          ON keys = AND v.ts <= spine.t AND v.ts >= spine.t - ttl [AND known(v) <= spine.t]
      ) WHERE __fs_rank = 1)
    ... LEFT JOIN __fs_vN_match AS __fs_vN ON __fs_vN.__fs_row = __fs_spine.__fs_row

The same answer as the as-of join (docs/training-sets.md, the rules): the row wanted is the
greatest (timestamp, knowledge time, features) among the usable rows; if its timestamp is
within the ttl it is in the window and is the window's greatest, and if not, no usable row
is in the window and the feature is null, as the ttl would make it. The window's bounds are
the ttl's: a row exactly at t - ttl counts, as one exactly at t does. Null keys and times
match nothing (`=` and `<=` are not true on null), and each spine row, duplicates too, has
its own row number to rank by.
"""

from __future__ import annotations

from sqlglot import exp

from featurestore.catalog import FeatureSelection, FeatureView
from featurestore.engines.engine import Engine
from featurestore.sql.expressions import INTERNAL, column, identifier, left_join, named_table, relation_table
from featurestore.sql.semantics import VIEW_ROWS, first_ranked, knowledge_time, tie_break_order
from featurestore.sql.spine import SPINE, SPINE_ROW


def ttl_window_fits(view: FeatureView, engine: Engine) -> bool:
    """Whether `view` can be joined within its ttl window on `engine` (the rule on whether it
    pays is the caller's): a view of latest rows with a ttl, on an engine whose record has
    the form."""
    return engine.ttl_window_join and not view.is_aggregation and view.ttl is not None


def join_within_ttl(
    query: exp.Select,
    index: int,
    selection: FeatureSelection,
    engine: Engine,
    spine_time: str,
    event_time: str,
    event_time_only: bool,
    scan: exp.Expression | None,
) -> exp.Select:
    """`query` (over the spine CTE) with the view of `selection` joined by the ttl-window
    join, as `__fs_v<index>`: each spine row's matching row, its event timestamp named
    `event_time` (what the output's ttl test reads) and the selected features. `scan`
    (sql/scans.py `scan_condition`) bounds the rows read of the view."""
    alias = f"{INTERNAL}v{index}"
    matched = f"{alias}_match"
    # In place, as sql/pit.py's joins: a copy of the query per step grows with the views before.
    query = query.with_(identifier(alias), as_=_view_rows(selection.view, scan), copy=False)
    match = ttl_window_match_expression(alias, selection, engine, spine_time, event_time, event_time_only)
    query = query.with_(identifier(matched), as_=match, copy=False)
    return left_join(
        query,
        exp.Table(this=identifier(matched), alias=exp.TableAlias(this=identifier(alias))),
        exp.EQ(this=column(SPINE_ROW, alias), expression=column(SPINE_ROW, SPINE)),
    )


def _view_rows(view: FeatureView, scan: exp.Expression | None) -> exp.Select:
    """The view's rows the join may take, under their own names: every key and the
    timestamp set (no other row can match), within the scan's bounds; the columns the join
    reads (created_at and all the features where they break ties)."""
    needed = [*view.join_keys, view.timestamp]
    present = [exp.Not(this=exp.Is(this=column(c), expression=exp.null())) for c in needed]
    carried = [*needed, *([view.created_at] if view.created_at else []), *view.feature_names]
    # Every node is this call's own (`scan`, the caller's, goes as a copy): no copies.
    return (
        exp.select(*[column(c) for c in carried], copy=False)
        .from_(relation_table(view, alias=VIEW_ROWS if scan is not None else None), copy=False)
        .where(exp.and_(*present, *([scan.copy()] if scan is not None else []), copy=False), copy=False)
    )


def ttl_window_match_expression(
    rows: str, selection: FeatureSelection, engine: Engine, spine_time: str, event_time: str, event_time_only: bool
) -> exp.Select:
    """Each spine row's matching row of the view's rows `rows` (a CTE of the view's columns
    under their own names), found within the spine row's ttl window: its row number, the
    row's timestamp as `event_time` and the selected features. Spine rows with no usable
    row in their window have no row here."""
    view = selection.view
    assert view.ttl is not None, "a view without a ttl has no ttl window"

    def own(expression: exp.Expression) -> exp.Expression:
        # The view's columns, named with its CTE: the spine's columns are in scope too.
        expression = expression.copy()
        for name in list(expression.find_all(exp.Column)):
            name.set("table", identifier(rows))
        return expression

    now = column(spine_time, SPINE)
    oldest = exp.Sub(this=now.copy(), expression=engine.interval_seconds(int(view.ttl.total_seconds())))
    within = [
        *[exp.EQ(this=column(k, SPINE), expression=column(k, rows)) for k in view.join_keys],
        exp.LTE(this=column(view.timestamp, rows), expression=now.copy()),
        exp.GTE(this=column(view.timestamp, rows), expression=oldest),
    ]
    if view.created_at and not event_time_only:
        within.append(exp.LTE(this=own(knowledge_time(view)), expression=now.copy()))
    latest_first = [exp.Ordered(this=own(o.this), desc=True, nulls_first=False) for o in tie_break_order(view)]
    rank = exp.Window(
        this=exp.RowNumber(), partition_by=[column(SPINE_ROW, SPINE)], order=exp.Order(expressions=latest_first)
    )
    features = [f.name for f in selection.features]
    # Built for this one place (`now` goes as copies): no copies.
    ranked = (
        exp.select(
            column(SPINE_ROW, SPINE),
            exp.alias_(column(view.timestamp, rows), identifier(event_time), copy=False),
            *[exp.alias_(column(f, rows), identifier(f), copy=False) for f in features],
            exp.alias_(rank, identifier(f"{INTERNAL}rank"), copy=False),
            copy=False,
        )
        .from_(named_table(SPINE), copy=False)
        .join(named_table(rows), on=exp.and_(*within, copy=False), copy=False)
    )
    return first_ranked(ranked, [SPINE_ROW, event_time, *features])
