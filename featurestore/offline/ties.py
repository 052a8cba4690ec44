"""The hint for a view whose ties cost a training set time: it has no dbt test that keeps its
rows unique per (join keys, timestamp), so fs orders its rows by every feature to find each
timestamp's winner (docs/training-sets.md). Where the join is an as-of join that is a window
over the whole view, 1.5-2x the query on DuckDB (docs/benchmarks.md); in a top-one lateral
join, a sort per spine row. The portable form sorts the tie keys with rows it sorts anyway,
so there ties cost nothing and no hint is given."""

from __future__ import annotations

from typing import Collection, Iterable

from featurestore.catalog import FeatureView
from featurestore.engines.engine import Engine
from featurestore.sql.pit import breaks_ties_at_a_cost


def tie_break_hints(views: Iterable[FeatureView], engine: Engine, laterally_joined: Collection[str], event_time_only: bool) -> list[str]:
    """One line per view of `views` that pays for the tie-break on `engine` and would not with
    a uniqueness test fs can rely on (docs/training-sets.md)."""
    return [
        f"view '{view.name}' has no test fs can rely on to keep its rows unique per "
        f"({', '.join([*view.join_keys, view.timestamp])}), so fs breaks ties on every feature, which costs time; "
        "add the featurestore.feature_unique_entity_timestamp test (or dbt_utils.unique_combination_of_columns) to its model, "
        "with severity error and no where, to skip that"
        for view in views
        if breaks_ties_at_a_cost(view, engine, view.name in laterally_joined, event_time_only)
    ]
