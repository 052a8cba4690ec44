"""Which views a training set can join by a top-one lateral join: asked of the warehouse's
catalog before planning (the plan itself does no I/O), with a hint for each view that would
take it if its table had the index (docs/training-sets.md).

Nothing is kept between runs: an index made, or dropped, counts on the next run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from featurestore.catalog import FeatureSelection, FeatureView, OnDemandSelection
from featurestore.engines.base import Warehouse
from featurestore.engines.engine import Engine, RelationIndex
from featurestore.sql.pit import top_one_lateral_fits


@dataclass(frozen=True)
class ViewIndexes:
    """What the warehouse said of the views a training set reads."""

    indexed: frozenset[str] = frozenset()
    """Views whose relation has a btree index on (join keys..., timestamp)."""
    hints: tuple[str, ...] = ()
    """One line per view that would be joined faster with the index (and, from
    offline.training_set.probe_views, with a uniqueness test): what to add."""


def probe_view_indexes(
    selections: Sequence[FeatureSelection],
    on_demand: OnDemandSelection | None,
    engine: Engine,
    warehouse: Warehouse | None,
    event_time_only: bool,
) -> ViewIndexes:
    """Ask `warehouse` about each view the training set joins that `engine` would join by
    a top-one lateral join if its relation had the index. Only a warehouse of `engine`
    itself is asked (SQL for another dialect is planned without the index)."""
    views = list(joined_views(selections, on_demand))
    indexed, hints = set(), []
    asked = engine.top_one_lateral and warehouse is not None and warehouse.engine is engine
    for view in views if asked else ():
        if not top_one_lateral_fits(view, engine, event_time_only):
            continue
        state = warehouse.latest_row_index(view)
        if state is RelationIndex.INDEXED:
            indexed.add(view.name)
        elif state in (RelationIndex.MISSING, RelationIndex.NOT_A_TABLE):
            hints.append(index_hint(view, state))
        # NOT_FOUND: the query's own error will say to build the view.
    return ViewIndexes(frozenset(indexed), tuple(hints))


def index_hint(view: FeatureView, state: RelationIndex) -> str:
    """The hint for a view whose relation lacks the index (`state` MISSING) or cannot hold
    one (NOT_A_TABLE: a dbt view), with the dbt model config that makes it: dbt-postgres
    writes the columns as given, so one the model created quoted is given in quotes."""
    columns = [*view.join_keys, view.timestamp]
    spelt = [f'"{c}"' if c in view.quoted_columns else c for c in columns]
    config = "indexes: [{columns: [" + ", ".join(f"'{c}'" for c in spelt) + "]}]"
    if state is RelationIndex.NOT_A_TABLE:
        return (
            f"view '{view.name}' is not a table, so it has no index on ({', '.join(columns)}); "
            f"materialised as a table with one (config: materialized: table, {config}) training sets use a faster plan"
        )
    return f"view '{view.name}' has no index on ({', '.join(columns)}); with one (config: {config}) training sets use a faster plan"


def joined_views(selections: Sequence[FeatureSelection], on_demand: OnDemandSelection | None) -> Iterable[FeatureView]:
    """Each view joined once, in the order of the query: the selections', then those only
    on-demand features read."""
    joined = on_demand.joined(selections) if on_demand is not None and on_demand.features else selections
    return {s.view.name: s.view for s in joined}.values()
