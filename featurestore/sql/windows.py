"""The training-set join of an aggregation view: each spine row's windowed aggregates of the
view's events, exact at the row's time t with the window `(t - w, t]` (docs/aggregations.md).

No spine x events work but the range join of sparse windows: every other plan sorts the spine's rows together with the events, per
entity, and lets window functions over that one order do the aggregating.

- count, sum, avg, stddev, min, max (sql/window_frames.py): RANGE frames over the event time
  in integer microseconds, `RANGE BETWEEN w - 1 PRECEDING AND CURRENT ROW` being exactly
  `(t - w, t]`. Under a knowledge cut-off (created_at), an event known after its timestamp
  ("late") would be in a frame before it is known, so only events known on time go to the
  frames and the late ones are matched to the spine by a range join, their partial
  aggregates combined with the frames'.
- count, sum, avg, min, max where windows are dense (sql/window_hops.py): per-entity, per-hop
  partial aggregates for the whole hops inside each window and the raw events of its two
  edge hops; chosen per view from cheap facts (offline/scans.py `window_hops_pay`) on an
  engine with the plan (`Engine.window_hops`), never under a knowledge cut-off. stddev
  stays on frames.
- every function where an entity has few events (sql/window_pairs.py): a range
  join of each spine row to its entity's events in its longest window, grouped by the spine
  row; chosen per view from cheap facts (offline/scans.py `window_pairs_pay`) on an engine
  with the plan (`Engine.window_pairs`), after hops (which keep their functions where both
  pay), with or without a knowledge cut-off.
- count_distinct and last (sql/window_intervals.py): intervals of activity, exact with or
  without a cut-off: an event counts from when it is known, max(timestamp, created_at),
  until its timestamp + w.

This module reads the view's events and the spine's rows once each as CTEs, asks those two
modules for the aggregates (each a CTE of `__fs_row` and feature columns) and joins them to
the spine on its row number.
"""

from __future__ import annotations

from typing import Sequence

from sqlglot import exp

from featurestore.catalog import FeatureSelection, FeatureView, WindowedAggregation
from featurestore.engines.engine import Engine
from featurestore.errors import UsageError
from featurestore.sql.expressions import INTERNAL, column, identifier, left_join, named_table, relation_table
from featurestore.sql.spine import SPINE, SPINE_ROW
from featurestore.sql.window_frames import FRAME_FUNCTIONS, frames_expression
from featurestore.sql.window_hops import HOP_FUNCTIONS, hop_size, hops_expression
from featurestore.sql.window_pairs import PAIR_FUNCTIONS, pairs_expression
from featurestore.sql.window_intervals import INTERVAL_FUNCTIONS, distinct_counts_expression, last_values_expression
from featurestore.sql.window_parts import ACTIVE, EVENT, KNOWN, TIME, WindowInputs

DISTINCT_FUNCTIONS = frozenset({"count_distinct", "approx_count_distinct"})


def join_aggregations(
    query: exp.Select,
    index: int,
    selection: FeatureSelection,
    engine: Engine,
    spine_time: str,
    event_time_only: bool,
    hops: bool = False,
    pairs: bool = False,
) -> exp.Select:
    """`query` (the spine's SELECT) with the CTEs that aggregate `selection`'s features and a
    LEFT JOIN of their results on the spine row, under the alias `__fs_v{index}`: each
    feature is a column of that name there. A spine row with a null key or time has null
    features (no events are its), as in every other view's join. `hops`: the view's windows
    are dense (offline/scans.py `window_hops_pay`) and the engine has the plan
    (`Engine.window_hops`): the functions the hop plan computes exactly go to it. `pairs`:
    an entity has few events (`window_pairs_pay`, `Engine.window_pairs`): the functions
    left go to the range join."""
    view = selection.view
    aggregations = [view.aggregation(f.name) for f in selection.features]
    refuse_unsupported(view, aggregations, engine)
    alias = f"{INTERNAL}v{index}"
    inputs = WindowInputs(
        view=view,
        events=f"{alias}_events",
        spine=f"{alias}_spine",
        knowledge_cut_off=bool(view.created_at) and not event_time_only,
        engine=engine,
    )
    query = query.with_(identifier(inputs.events), as_=events_expression(inputs), copy=False)
    query = query.with_(identifier(inputs.spine), as_=spine_rows_expression(view, spine_time, engine), copy=False)
    parts: list[tuple[str, list[str]]] = []
    hopped = [a for a in aggregations if a.function in HOP_FUNCTIONS] if hops and not inputs.knowledge_cut_off else []
    if hopped and hop_size(hopped) is None:  # no hop coarse enough for these windows
        hopped = []
    if hopped:
        for name, tree in hops_expression(inputs, hopped, f"{alias}_hops"):
            query = query.with_(identifier(name), as_=tree, copy=False)
        parts.append((f"{alias}_hops", [a.name for a in hopped]))
    paired = [a for a in aggregations if a.function in PAIR_FUNCTIONS and a not in hopped] if pairs else []
    if paired:
        for name, tree in pairs_expression(inputs, paired, f"{alias}_pairs"):
            query = query.with_(identifier(name), as_=tree, copy=False)
        parts.append((f"{alias}_pairs", [a.name for a in paired]))
    framed = [a for a in aggregations if a.function in FRAME_FUNCTIONS and a not in hopped and a not in paired]
    if framed:
        for name, tree in frames_expression(inputs, framed, f"{alias}_frames"):
            query = query.with_(identifier(name), as_=tree, copy=False)
        parts.append((f"{alias}_frames", [a.name for a in framed]))
    distinct = [a for a in aggregations if a.function in DISTINCT_FUNCTIONS and a not in paired]
    if distinct:
        name = f"{alias}_distinct"
        for cte, tree in distinct_counts_expression(inputs, distinct, name):
            query = query.with_(identifier(cte), as_=tree, copy=False)
        parts.append((name, [a.name for a in distinct]))
    for position, (source, lasts) in enumerate(_by_column([a for a in aggregations if a.function == "last" and a not in paired])):
        name = f"{alias}_last{position}"
        for cte, tree in last_values_expression(inputs, source, lasts, name):
            query = query.with_(identifier(cte), as_=tree, copy=False)
        parts.append((name, [a.name for a in lasts]))
    return left_join(query, _joined_parts(parts, alias), _same_row(alias))


def refuse_unsupported(view: FeatureView, aggregations: Sequence[WindowedAggregation], engine: Engine) -> None:
    """approx_count_distinct promises the engine's own approximate count: refused in one line
    on an engine that has none."""
    for aggregation in aggregations:
        if aggregation.function == "approx_count_distinct" and not engine.approx_distinct:
            raise UsageError(
                f"feature {view.name}:{aggregation.name} uses approx_count_distinct, which {engine.name} has no "
                f"function for; declare count_distinct in {view.yaml_path} for this engine"
            )
    unknown = [a.function for a in aggregations if a.function not in {*FRAME_FUNCTIONS, *INTERVAL_FUNCTIONS}]
    assert not unknown, unknown  # catalog/aggregations.py's FUNCTIONS and these plans list the same names


def _by_column(aggregations: Sequence[WindowedAggregation]) -> list[tuple[str, list[WindowedAggregation]]]:
    grouped: dict[str, list[WindowedAggregation]] = {}
    for aggregation in aggregations:
        grouped.setdefault(aggregation.column or "", []).append(aggregation)
    return list(grouped.items())


def events_expression(inputs: WindowInputs) -> exp.Select:
    """The view's events with a key and a timestamp: keys, TIME (the timestamp in integer
    microseconds), KNOWN (the knowledge time, created_at or else the timestamp, in
    microseconds), ACTIVE (when the event starts to count: the later of the two under a
    knowledge cut-off, else the timestamp), EVENT (1, to count events) and the aggregated
    columns."""
    view, engine = inputs.view, inputs.engine
    micros = engine.epoch_micros(column(view.timestamp))
    known = micros
    if view.created_at:
        known = engine.epoch_micros(exp.Coalesce(this=column(view.created_at), expressions=[column(view.timestamp)]))
    active = micros
    if inputs.knowledge_cut_off:
        active = exp.Greatest(this=micros.copy(), expressions=[known.copy()])
    present = [exp.Not(this=exp.Is(this=column(c), expression=exp.null())) for c in (*view.join_keys, view.timestamp)]
    # `micros` may be `known` and `active` too: the three aliases copy it (the default); the
    # other nodes are this call's own.
    return (
        exp.select(
            *[column(k) for k in view.join_keys],
            exp.alias_(micros, identifier(TIME)),
            exp.alias_(known, identifier(KNOWN)),
            exp.alias_(active, identifier(ACTIVE)),
            exp.alias_(exp.Literal.number(1), identifier(EVENT), copy=False),
            *[column(c) for c in view.value_columns],
            copy=False,
        )
        .from_(relation_table(view), copy=False)
        .where(exp.and_(*present, copy=False), copy=False)
    )


def spine_rows_expression(view: FeatureView, spine_time: str, engine: Engine) -> exp.Select:
    """The spine rows that can have events: their row number, keys and TIME in microseconds."""
    present = [exp.Not(this=exp.Is(this=column(c), expression=exp.null())) for c in (*view.join_keys, spine_time)]
    return (
        exp.select(
            column(SPINE_ROW),
            *[column(k) for k in view.join_keys],
            exp.alias_(engine.epoch_micros(column(spine_time)), identifier(TIME), copy=False),
            copy=False,
        )
        .from_(named_table(SPINE), copy=False)
        .where(exp.and_(*present, copy=False), copy=False)
    )


def _joined_parts(parts: list[tuple[str, list[str]]], alias: str) -> exp.Expression:
    """The parts' features side by side per spine row: the first part's rows, the others
    joined on the row (every part has a row for each spine row that can have events)."""
    first, _ = parts[0]
    select = exp.select(column(SPINE_ROW, first), copy=False).from_(named_table(first), copy=False)
    for name, features in parts:
        if name != first:
            select = left_join(select, named_table(name), exp.EQ(this=column(SPINE_ROW, first), expression=column(SPINE_ROW, name)))
        select = select.select(*[column(f, name) for f in features], copy=False)
    return select.subquery(identifier(alias), copy=False)


def _same_row(alias: str) -> exp.Expression:
    return exp.EQ(this=column(SPINE_ROW, alias), expression=column(SPINE_ROW, SPINE))
