"""Planning a training set: the features resolved, the spine checked against what they need,
the output columns named, and the query built. Pure: no I/O, nothing uploaded or run."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Collection, Mapping, Sequence

from featurestore.catalog import Feature, FeatureSelection, OnDemandSelection
from featurestore.engines.engine import Engine
from featurestore.errors import UsageError, did_you_mean
from featurestore.offline.request import TrainingSetRequest
from featurestore.offline.spine import Spine, timestamp_as_naive_utc
from featurestore.sql.expressions import render
from featurestore.sql.on_demand import (
    HIDDEN_INPUT,
    OnDemandOutput,
    check_request_columns,
    on_demand_outputs,
    with_on_demand_expression,
)
from featurestore.sql.pit import OutputFeature, SpineRelation, output_features, point_in_time_expression
from featurestore.sql.scans import ViewScan
from featurestore.sql.windows import refuse_unsupported

if TYPE_CHECKING:
    from sqlglot import exp


@dataclass(frozen=True)
class Staged:
    """The training set built in stages (offline/stages.py decides when and builds it): each
    temporary table made in turn, then the final query over them."""

    tables: tuple[tuple[str, exp.Create], ...]
    """Each temporary table's name and the statement that makes it, in order."""
    final: exp.Select


@dataclass(frozen=True)
class Plan:
    expression: exp.Select
    outputs: list[OutputFeature]
    selections: list[FeatureSelection]
    spine: Spine
    engine: Engine
    staged: Staged | None = None
    """How the warehouse builds it where one query would not fit its memory; the result is
    `expression`'s, which the record keeps and `sql()` shows."""

    def sql(self, pretty: bool = False) -> str:
        return render(self.expression, self.engine.dialect, pretty=True) if pretty else self._sql

    @cached_property
    def _sql(self) -> str:
        """The query's text, rendered once: a training set's run reads it twice (to run it,
        and for its record), and rendering costs about what building the tree did."""
        return render(self.expression, self.engine.dialect)

    def view_of(self, output: OutputFeature) -> str:
        """The view (or on-demand group) an output column comes from."""
        return output.feature.view


@dataclass(frozen=True)
class CheckedRequest:
    """A request that planning will not refuse, and the names it gives: what
    `check_training_set` decides without building any part of the query."""

    relation: SpineRelation
    outputs: list[OutputFeature]
    """The requested view features' columns."""
    joined: list[FeatureSelection]
    """The selections joined: the request's, with the view features on-demand ones read."""
    hidden: list[OutputFeature]
    """The features joined only for on-demand ones, under internal names."""
    computed: list[OnDemandOutput]
    """The on-demand features' columns."""


def check_training_set(
    request: TrainingSetRequest,
    selections: list[FeatureSelection],
    spine: Spine,
    engine: Engine,
    on_demand: OnDemandSelection | None = None,
) -> CheckedRequest:
    """Every refusal planning the request makes, in the order planning makes them, without
    building the query: the spine against the views' keys and the on-demand features'
    request fields, the output columns' names, an aggregation the engine has no function
    for. offline/training_set.py checks a request so before anything is uploaded, and plans
    it once, with the bounds the uploaded spine's facts give."""
    _check_columns(spine, selections)
    relation = SpineRelation(
        source=spine.source, columns=spine.columns, timestamp=timestamp_as_naive_utc(spine, engine), row_order=spine.row_order
    )
    outputs = output_features(spine.columns, selections, request.full_names)
    if on_demand is None or not on_demand.features:
        _refuse_unsupported(selections, engine)
        return CheckedRequest(relation, outputs, selections, [], [])
    check_request_columns(spine.kinds, on_demand.request_fields(), spine.given.describe())
    joined, hidden = _with_inputs(selections, on_demand)
    _check_columns(spine, joined)
    _refuse_unsupported(joined, engine)
    computed = on_demand_outputs([*spine.columns, *(o.name for o in outputs)], on_demand.features, request.full_names)
    return CheckedRequest(relation, outputs, joined, hidden, computed)


def _refuse_unsupported(selections: Sequence[FeatureSelection], engine: Engine) -> None:
    """What joining an aggregation view refuses (sql/windows.py join_aggregations)."""
    for selection in selections:
        if selection.view.is_aggregation:
            refuse_unsupported(selection.view, [selection.view.aggregation(f.name) for f in selection.features], engine)


def plan_training_set(
    request: TrainingSetRequest,
    selections: list[FeatureSelection],
    spine: Spine,
    engine: Engine,
    on_demand: OnDemandSelection | None = None,
    indexed_views: Collection[str] = (),
    scans: Mapping[str, ViewScan] | None = None,
) -> Plan:
    """The training-set query for `engine`: `selections` and `on_demand` (the request's
    features, resolved by the catalog) over a spine read by `read_spine`. `indexed_views`:
    the views whose relation has a btree index on (join keys..., timestamp), as the
    warehouse said before planning (offline/indexes.py). `scans`: what to read of each view
    (offline/scans.py), decided from the spine's facts; None reads every row."""
    checked = check_training_set(request, selections, spine, engine, on_demand)
    relation, outputs, joined = checked.relation, checked.outputs, checked.joined
    if on_demand is None or not on_demand.features:
        expression = point_in_time_expression(relation, selections, outputs, engine, request.event_time_only, indexed_views, scans)
        return Plan(expression=expression, outputs=outputs, selections=selections, spine=spine, engine=engine)
    hidden, computed = checked.hidden, checked.computed
    expression = point_in_time_expression(
        relation, joined, [*outputs, *hidden], engine, request.event_time_only, indexed_views, scans
    )
    input_columns = {(joined[o.selection_index].view.name, o.feature.name): o.name for o in [*outputs, *hidden]}
    expression = with_on_demand_expression(
        expression, [*spine.columns, *(o.name for o in outputs)], input_columns, computed, spine.kinds
    )
    # Each on-demand column is counted and summarised as its group's, under the group's name.
    described = [
        OutputFeature(-1, Feature(c.feature.name, c.feature.group, c.feature.dtype, c.feature.description), c.name)
        for c in computed
    ]
    return Plan(expression=expression, outputs=[*outputs, *described], selections=joined, spine=spine, engine=engine)


def _with_inputs(
    selections: list[FeatureSelection], on_demand: OnDemandSelection
) -> tuple[list[FeatureSelection], list[OutputFeature]]:
    """The selections with the view features on-demand features read added, and an output
    under an internal name for each feature added (left out of the result)."""
    joined = on_demand.joined(selections)
    hidden: list[OutputFeature] = []
    for index, selection in enumerate(joined):
        asked = selections[index].features if index < len(selections) else ()
        extra = [f for f in selection.features if f not in asked]
        hidden.extend(OutputFeature(index, f, f"{HIDDEN_INPUT}{len(hidden) + n}") for n, f in enumerate(extra))
    return joined, hidden


def _check_columns(spine: Spine, selections: Sequence[FeatureSelection]) -> None:
    given, columns = spine.given, list(spine.columns)
    if given.timestamp_column not in columns:
        raise UsageError(
            f"{given.describe()} has no timestamp column '{given.timestamp_column}' "
            f"(set --timestamp-column); {did_you_mean(given.timestamp_column, columns)}"
        )
    missing: dict[str, list[str]] = {}
    for selection in selections:
        for key in selection.view.join_keys:
            if key not in columns:
                missing.setdefault(key, []).append(selection.view.name)
    if missing:
        needs = "; ".join(f"'{key}' (needed by {', '.join(views)})" for key, views in missing.items())
        raise UsageError(f"{given.describe()} lacks join key column(s) {needs}; spine columns: {', '.join(columns)}")
