"""Planning a training set: the features resolved, the spine checked against what they need,
the output columns named, and the query built. Pure: no I/O, nothing uploaded or run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sqlglot import exp

from featurestore.catalog import FeatureSelection
from featurestore.engines.base import Engine
from featurestore.errors import UsageError, did_you_mean
from featurestore.offline.request import TrainingSetRequest
from featurestore.offline.spine import Spine, timestamp_as_naive_utc
from featurestore.sql.expressions import render
from featurestore.sql.pit import OutputFeature, SpineRelation, output_features, point_in_time_expression


@dataclass(frozen=True)
class Plan:
    expression: exp.Select
    outputs: list[OutputFeature]
    selections: list[FeatureSelection]
    spine: Spine
    engine: Engine

    def sql(self, pretty: bool = False) -> str:
        return render(self.expression, self.engine.dialect, pretty=pretty)

    def view_of(self, output: OutputFeature) -> str:
        return self.selections[output.selection_index].view.name


def plan_training_set(
    request: TrainingSetRequest, selections: list[FeatureSelection], spine: Spine, engine: Engine
) -> Plan:
    """The training-set query for `engine`: `selections` (the request's features, resolved
    by the catalog) over a spine read by `read_spine`."""
    _check_columns(spine, selections)
    relation = SpineRelation(
        source=spine.source, columns=spine.columns, timestamp=timestamp_as_naive_utc(spine, engine), row_order=spine.row_order
    )
    outputs = output_features(spine.columns, selections, request.full_names)
    expression = point_in_time_expression(relation, selections, outputs, engine, request.event_time_only)
    return Plan(expression=expression, outputs=outputs, selections=selections, spine=spine, engine=engine)


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
