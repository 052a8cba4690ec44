"""The tiles' arithmetic without Redis: a read plan covers each window (t - w, t] exactly
once, and tiles plus edge events give what folding every event one by one gives."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from featurestore.online.tile_combine import _add_values, combine, read_plan
from featurestore.online.tiles import (
    MAX,
    MIN,
    N,
    SECOND_US,
    SUM,
    TileLayout,
    add_value,
    empty_partial,
    event_member,
    iso,
    tile_field,
    tile_size_us,
    tile_updates,
)
from featurestore.online.tile_verify import reference_values


@dataclass(frozen=True)
class Aggregation:
    name: str
    column: str | None
    function: str
    window: timedelta


@dataclass(frozen=True)
class View:
    aggregations: tuple


def test_each_window_takes_a_size_that_divides_it_into_at_least_12_tiles():
    assert [tile_size_us(s * SECOND_US) // SECOND_US for s in (300, 3600, 86400, 7 * 86400, 7, 90 * 60)] == [
        15, 300, 7200, 43200, 1, 300]


@given(t=st.integers(0, 10**15), window=st.sampled_from([5, 60, 300, 3600, 5400, 86400, 7 * 86400]))
def test_the_plan_covers_the_window_exactly_once(t, window):
    layout = TileLayout.of_view(View((Aggregation("a", "x", "sum", timedelta(seconds=window)),)), {"x": "int"})
    plan = read_plan(layout, t)
    (step,) = plan.steps
    tiles, edges = step.tiles, step.pieces
    size = layout.sizes_us[0]
    at = plan.bounds
    assert all(plan.ranges[e.range][0] <= at[e.low] < at[e.high] <= plan.ranges[e.range][1] for e in edges)
    pieces = sorted([(at[e.low], at[e.high]) for e in edges] + [(start, start + size) for start in _starts([plan.fields[i] for i in tiles])])
    low = t - window * SECOND_US
    covered = [p for p in pieces if p[0] < p[1]]
    assert covered[0][0] == low and covered[-1][1] == t
    assert all(a[1] == b[0] for a, b in zip(covered, covered[1:]))  # no gap, no overlap


def _starts(fields):
    return [(datetime.fromisoformat(f.partition("@")[2]) - datetime(1970, 1, 1)) // timedelta(microseconds=1) for f in fields]


FUNCTIONS = ["count", "sum", "avg", "min", "max", "stddev", "last", "count_distinct"]
events = st.lists(
    st.tuples(st.integers(0, 3 * 86400).map(lambda s: s * SECOND_US), st.integers(0, 100), st.one_of(st.none(), st.integers(-9, 9))),
    max_size=60,
)


@settings(max_examples=60)
@given(events=events, t_offset=st.integers(0, 86400), untiled=st.sets(st.sampled_from([15, 300, 7200])))
def test_tiles_and_edges_equal_folding_every_event(events, t_offset, untiled):
    """Also with tile sizes left out (untiled: the windows of those sizes read their events)."""
    aggregations = tuple(
        Aggregation(f"{f}_{w}", "x", f, timedelta(seconds=w)) for f in FUNCTIONS for w in (300, 3600, 86400)
    ) + (Aggregation("events", None, "count", timedelta(hours=1)),)
    layout = TileLayout.of_view(View(aggregations), {"x": "int"}, untiled={s * SECOND_US for s in untiled})
    assert not {s * SECOND_US for s in untiled} & set(layout.sizes_us)
    t = 3 * 86400 * SECOND_US + t_offset * SECOND_US
    rows = [(ts, iso(ts), iso(ts + later * SECOND_US), [value]) for ts, later, value in events]
    tiles = tile_updates(layout, {}, rows)
    plan = read_plan(layout, t)
    # In Redis's order: by score (event time), then by member.
    members = sorted((ts, event_member(text, known, str(n), [None if v[0] is None else str(v[0])])) for n, (ts, text, known, v) in enumerate(rows))
    ranges = [[m for ts, m in members if low < ts <= high] for low, high in plan.ranges]
    online = combine(layout, plan, [tiles.get(f) for f in plan.fields], ranges)
    expected = reference_values(layout, rows, t)
    for (name, _, _), got, wanted in zip(layout.features, online, expected):
        if isinstance(wanted, float):
            assert math.isclose(got, wanted, rel_tol=1e-9, abs_tol=1e-12), name
        else:
            assert got == wanted, name


def test_a_tile_field_names_its_size_and_start():
    assert tile_field(3600 * SECOND_US, 0) == "3600s@1970-01-01T00:00:00"


def test_a_sync_leaves_out_the_tile_sizes_whose_tiles_hold_about_one_event():
    import numpy as np

    from featurestore.online.tile_sync import _sparse_sizes

    minute, hour = 60 * SECOND_US, 3600 * SECOND_US
    # Entity 0: 4 events in one hour, a minute apart; entity 1: 2 events in another hour.
    entities = np.array([0, 0, 0, 0, 1, 1])
    ts = np.array([1, 2, 3, 4, 30, 31]) * minute
    # Per minute: 6 tiles of 1 event; per hour: 2 tiles of 3 on average.
    assert _sparse_sizes(entities, ts, [minute, hour]) == [minute]
    assert _sparse_sizes(entities[:0], ts[:0], [minute, hour]) == []  # no events: keep every size


def test_a_read_of_some_features_takes_their_columns_where_the_sync_put_them():
    """Tiles and events hold every aggregated column of the view, in the view's order: a read
    of the second column's features alone must not take the first column's slot."""
    hour = timedelta(hours=1)
    view = View((Aggregation("x_max", "x", "max", hour), Aggregation("y_max", "y", "max", hour), Aggregation("y_sum", "y", "sum", hour)))
    full = TileLayout.of_view(view, {"x": "int", "y": "int"})
    t = 86400 * SECOND_US
    rows = [(t - n * 60 * SECOND_US, iso(t - n * 60 * SECOND_US), iso(t), [100 + n, n]) for n in range(1, 40, 7)]
    tiles = tile_updates(full, {}, rows)
    members = sorted((ts, event_member(text, known, str(n), [str(v) for v in values])) for n, (ts, text, known, values) in enumerate(rows))
    for names in (["y_max"], ["y_sum", "y_max"], ["x_max"]):
        layout = TileLayout.of_view(view, {"x": "int", "y": "int"}, names)
        plan = read_plan(layout, t)
        ranges = [[m for ts, m in members if low < ts <= high] for low, high in plan.ranges]
        got = combine(layout, plan, [tiles.get(f) for f in plan.fields], ranges)
        assert dict(zip([name for name, _, _ in layout.features], got)) == {n: {"x_max": 136, "y_max": 36, "y_sum": 111}[n] for n in names}


@given(
    values=st.one_of(
        st.lists(st.one_of(st.floats(allow_nan=True), st.sampled_from([0.1, 0.2, 0.3, -0.0]))),
        st.lists(st.decimals(allow_nan=False, allow_infinity=False, places=2) | st.sampled_from([Decimal("1.0"), Decimal("1.00")])),
        st.lists(st.integers(-(2**70), 2**70)),
    ),
    tiles=st.integers(0, 3),
)
@example(values=[5.0, float("nan"), 3.0], tiles=1)  # a NaN first: min(values) alone is NaN
@example(values=[Decimal("1.00"), Decimal("1.0"), Decimal("1")], tiles=1)
def test_a_read_folds_events_to_the_same_bits_as_adding_them_one_by_one(values, tiles):
    """The reader folds a window's events with builtins (tile_combine._add_values); the
    result must be what tiles.add_value, one event after another, gives: the same sums to the
    bit (the same order of additions) and the same min and max, NaN and 1.0 vs 1.00 included."""
    numeric = True
    start = empty_partial()
    for value in values[:tiles]:  # a partial that already holds some values, as tiles give
        add_value(start, value, "t", "k", numeric)
    by_builtins, one_by_one = list(start), list(start)
    _add_values(by_builtins, values[tiles:], numeric, frozenset({"count", "sum", "min", "max"}))
    for value in values[tiles:]:
        add_value(one_by_one, value, "t", "k", numeric)
    for slot in (N, SUM, MIN, MAX):
        assert repr(by_builtins[slot]) == repr(one_by_one[slot]), slot


@settings(max_examples=200)
@given(
    windows=st.lists(st.sampled_from([60, 300, 3600, 5400, 86400, 7 * 86400]), min_size=1, max_size=4, unique=True),
    untiled=st.sets(st.sampled_from([5, 15, 300, 7200, 43200])),
    t=st.integers(0, 10**13),
    shift=st.integers(-3 * SECOND_US, 3 * SECOND_US),
)
def test_a_plan_moved_along_with_the_clock_is_the_plan_made_at_that_instant(windows, untiled, t, shift):
    """A moving clock's reads take the plan of another instant moved to theirs (within the
    layout's grain): it must be the plan made at their instant, bound for bound."""
    from featurestore.online.tile_combine import _plan

    aggregations = tuple(Aggregation(f"a{w}", "x", f, timedelta(seconds=w)) for w in windows for f in ("sum", "last"))
    layout = TileLayout.of_view(View(aggregations), {"x": "int"}, untiled={s * SECOND_US for s in untiled})
    read_plan(layout, t + shift)
    moved, made = read_plan(layout, t), _plan(layout, t)
    assert moved == made


@given(
    sums=st.one_of(
        st.lists(st.one_of(st.floats(allow_nan=False), st.sampled_from([-0.0, 1e16, 1.0, 0.1])), min_size=1),
        st.lists(st.decimals(allow_nan=False, allow_infinity=False) | st.sampled_from([Decimal("-0.00"), Decimal("1." + "1" * 40)]), min_size=1),
        st.lists(st.integers(-(2**70), 2**70), min_size=1),
    ),
)
@example(sums=[-0.0])  # 0 + -0.0 is 0.0: a fold from an int 0 loses the sign
@example(sums=[1e16, 1.0, 1.0])  # Python 3.12's sum() compensates: 1e16 + 2, not 1e16
@example(sums=[Decimal("1." + "1" * 40)])  # 0 + d rounds d to the context's 28 digits
def test_a_read_folds_tiles_to_the_same_bits_as_merging_them_one_by_one(sums):
    """The reader folds whole tiles with builtins (tile_combine._folded); their sum must be
    what tiles.merge, one tile after another, gives, on every Python version: not sum(),
    which starts from the int 0 and, since 3.12, compensates a float sum."""
    from featurestore.online.tile_combine import _folded
    from featurestore.online.tiles import merge

    tiles = []
    for total in sums:
        partial = empty_partial()
        add_value(partial, total, "t", "k", True)
        tiles.append(partial)
    by_builtins = _folded(tiles, frozenset({"sum", "count", "min", "max"}), True)
    one_by_one = empty_partial()
    for tile in tiles:
        merge(one_by_one, tile, True)
    for slot in (N, SUM, MIN, MAX):
        assert repr(by_builtins[slot]) == repr(one_by_one[slot]), slot


@given(st.datetimes())
def test_iso_writes_a_time_as_datetime_does(moment):
    assert iso((moment - datetime(1970, 1, 1)) // timedelta(microseconds=1)) == moment.isoformat(timespec="microseconds")


def test_a_read_of_tiles_alone_asks_for_no_events():
    """At an instant on the tiles' edges every window is whole tiles: no event range."""
    hour = timedelta(hours=1)
    layout = TileLayout.of_view(View((Aggregation("x_last", "x", "last", hour), Aggregation("x_sum", "x", "sum", hour))), {"x": "int"})
    t = 86400 * SECOND_US
    rows = [(t - n * 60 * SECOND_US, iso(t - n * 60 * SECOND_US), iso(t), [n]) for n in (5, 30)]
    plan = read_plan(layout, t)
    assert plan.ranges == ()
    tiles = tile_updates(layout, {}, rows)
    assert combine(layout, plan, [tiles.get(f) for f in plan.fields], []) == [5, 35]
