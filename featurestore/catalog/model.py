"""The feature catalog: typed feature views, entities and feature services.

`featurestore.catalog.from_manifest` is the only place that makes these objects from dbt's
manifest; every other module works with the objects. Lookups raise `UsageError` with the
closest names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

from featurestore.catalog.aggregations import WindowedAggregation, aggregated_columns
from featurestore.catalog.monitoring import CheckSettings, Freshness
from featurestore.catalog.ttl import format_ttl
from featurestore.catalog.versions import ModelVersions, canonical_view_name
from featurestore.errors import UsageError, did_you_mean

if TYPE_CHECKING:
    from featurestore.catalog.dbt_models import DbtModel
    from featurestore.catalog.on_demand_sql import CheckedExpression


@dataclass(frozen=True)
class Feature:
    name: str
    view: str
    dtype: str | None
    description: str
    tags: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.view}:{self.name}"


@dataclass(frozen=True)
class Relation:
    """Where a view's rows live in the warehouse."""

    database: str | None
    schema: str
    identifier: str

    def __str__(self) -> str:
        return ".".join(part for part in (self.database, self.schema, self.identifier) if part)


@dataclass(frozen=True)
class FeatureView:
    name: str
    description: str
    entity: str
    join_keys: tuple[str, ...]
    timestamp: str
    created_at: str | None
    ttl: timedelta | None
    online: bool
    owner: str | None
    features: tuple[Feature, ...]
    tags: tuple[str, ...]
    relation: Relation
    yaml_path: str
    sql_path: str
    depends_on: tuple[str, ...] = ()
    """Models and sources the view reads directly (`model.x` / `source.src.table`)."""
    upstream_sources: tuple[str, ...] = ()
    """Every source the view is built from, through any number of models."""
    rows_unique_by_test: bool = False
    """dbt tests the view for one row per (join keys, timestamp), so no tie-break is needed."""
    freshness: Freshness | None = None
    """How old the newest row may get before `fs check` reports it (default: the ttl)."""
    checks: CheckSettings = field(default_factory=CheckSettings)
    """`fs check`'s window, baseline and thresholds for the view."""
    folds_pushed_rows: bool | None = None
    """Whether the model calls the macro feature_store_with_pushed_rows (dbt's manifest lists
    it among the model's macros), so the next build folds in pushed rows; None when the
    manifest does not list the model's macros."""
    quoted_columns: tuple[str, ...] = ()
    """Columns the YAML marks `quote: true`: the model created them quoted, so the
    warehouse keeps their case (others are stored as it folds unquoted names)."""
    declared_types: tuple[tuple[str, str], ...] = ()
    """(column, YAML data_type) of each column fs reads that declares one."""
    compiled_sql: str | None = field(default=None, compare=False, repr=False)
    """The model's SQL as dbt last compiled it, when the manifest holds it (dbt build,
    compile or run wrote it): tells a column the SQL lacks from a relation built earlier."""
    version: str | None = None
    """The dbt model version this view is (its name is then `model@v<version>`), or None."""
    deprecation_date: date | None = None
    """The version's dbt deprecation_date: fs warns whoever reads it after that day."""
    latest_version: str | None = None
    """The model's latest_version, which its plain name means (for a versioned view)."""
    aggregations: tuple[WindowedAggregation, ...] = ()
    """An aggregation view's windowed aggregations, one per feature in the same order
    (docs/aggregations.md); empty for a view of plain features."""

    def feature(self, name: str) -> Feature:
        return _named(self.features, name, f"view '{self.name}'")

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def is_aggregation(self) -> bool:
        """Whether the view's features are windowed aggregations of its rows (events)."""
        return bool(self.aggregations)

    @property
    def value_columns(self) -> tuple[str, ...]:
        """The columns holding values: the features, or the columns an aggregation view
        aggregates (its features are not columns of the relation)."""
        return aggregated_columns(self.aggregations) if self.aggregations else self.feature_names

    def aggregation(self, feature: str) -> WindowedAggregation:
        """The aggregation behind one feature of an aggregation view."""
        return next(a for a in self.aggregations if a.name == feature)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column fs reads: join keys, timestamp, created_at (if any), and the features,
        or for an aggregation view the columns it aggregates."""
        return (*self.join_keys, self.timestamp, *([self.created_at] if self.created_at else []), *self.value_columns)


def _named(features, name: str, owner: str):
    """The feature called `name`; a UsageError with the closest names if there is none."""
    for feature in features:
        if feature.name == name:
            return feature
    raise UsageError(f"{owner} has no feature '{name}'; {did_you_mean(name, [f.name for f in features])}")


@dataclass(frozen=True)
class Entity:
    name: str
    join_keys: tuple[str, ...]
    views: tuple[str, ...]


@dataclass(frozen=True)
class FeatureService:
    """A named list of features, declared as a dbt exposure of type ml."""

    name: str
    description: str
    owner: str | None
    features: tuple[str, ...]
    yaml_path: str


@dataclass(frozen=True)
class FeatureSelection:
    """Some features of one view, as asked for by a training set or an online read."""

    view: FeatureView
    features: tuple[Feature, ...]


@dataclass(frozen=True)
class OnDemandFeature:
    """A feature computed from a request's fields and other features, at request time online
    and inside the training-set query offline (the same expression both ways)."""

    name: str
    group: str
    dtype: str
    description: str
    sql: str
    """The expression as written (DuckDB dialect)."""
    expression: "CheckedExpression"
    input_refs: tuple[str, ...] = ()
    """Each input (`expression.inputs`) as a feature service names it: `view:feature`, a
    pinned version spelled out (`plane_daily@v1:plane__seats`), and the plain model's name
    for a version read as the model's latest (`plane_daily:plane__seats`)."""

    @property
    def ref(self) -> str:
        return f"{self.group}:{self.name}"


@dataclass(frozen=True)
class OnDemandGroup:
    """A named group of on-demand features, declared as a dbt exposure (docs/configuration.md)."""

    name: str
    description: str
    owner: str | None
    request: tuple[tuple[str, str], ...]
    """The request fields, (name, type), in declared order."""
    features: tuple[OnDemandFeature, ...]
    yaml_path: str

    def feature(self, name: str) -> OnDemandFeature:
        return _named(self.features, name, f"on-demand group '{self.name}'")


@dataclass(frozen=True)
class OnDemandSelection:
    """The on-demand features a request names, and the view features they read."""

    features: tuple[OnDemandFeature, ...] = ()
    inputs: tuple[FeatureSelection, ...] = ()
    """Per view, every feature the on-demand features read (requested or not)."""

    def joined(self, selections: Sequence[FeatureSelection]) -> list[FeatureSelection]:
        """`selections` with the features the on-demand features read added: to the view's
        selection when it is there (after the features asked for), else as a selection of
        its own at the end."""
        joined = list(selections)
        position = {selection.view.name: index for index, selection in enumerate(joined)}
        for needed in self.inputs:
            index = position.setdefault(needed.view.name, len(joined))
            if index == len(joined):
                joined.append(FeatureSelection(needed.view, ()))
            have = joined[index].features
            joined[index] = FeatureSelection(needed.view, (*have, *(f for f in needed.features if f not in have)))
        return joined

    def request_fields(self) -> dict[str, str]:
        """Each request field the features read -> its type."""
        fields: dict[str, str] = {}
        for feature in self.features:
            for name, dtype in feature.expression.request_fields:
                fields[name] = dtype
        return fields


_NO_ON_DEMAND = OnDemandSelection()


@dataclass(frozen=True)
class Catalog:
    views: dict[str, FeatureView]
    entities: dict[str, Entity]
    services: dict[str, FeatureService]
    relations: dict[str, Relation] = field(default_factory=dict)
    """Every model, seed and snapshot of the project by name (spines can be any of them)."""
    sources: dict[str, Relation] = field(default_factory=dict)
    """Every dbt source by `source_name.table_name`: tables dbt reads and fs must not write."""
    warnings: tuple[str, ...] = ()
    """One line per problem that does not stop the catalog (a misspelt `feature_store` key),
    for the caller to show: the catalog never prints."""
    on_demand: dict[str, OnDemandGroup] = field(default_factory=dict)
    """On-demand feature groups by name; their features are `group:feature` like views'."""
    versions: dict[str, ModelVersions] = field(default_factory=dict)
    """Versioned dbt models by name: their views `model@vN` and which is the latest."""
    models: "dict[str, DbtModel]" = field(default_factory=dict)
    """Every dbt model by name: its columns' descriptions and unique tests, and the
    fingerprint of a training set generated as a model (catalog/dbt_models.py)."""

    def canonical(self, name: str) -> str | None:
        """The view `name` means (a versioned model's plain name: its latest version), None
        if no view; an unknown version is a UsageError naming the valid ones."""
        return canonical_view_name(name, self.views, self.versions)

    def view(self, name: str) -> FeatureView:
        canonical = self.canonical(name)
        if canonical is None:
            raise UsageError(f"unknown feature view '{name}'; {did_you_mean(name, [*self.views, *self.versions])}")
        return self.views[canonical]

    def __iter__(self) -> Iterator[FeatureView]:
        return iter(self.views.values())

    @staticmethod
    def refuse_offline(selections: Sequence[FeatureSelection]) -> None:
        """Refuse reading online a view with `online: false`, whatever Redis still holds of it:
        the sync no longer refreshes it (and removes it), so what it holds only gets older."""
        for selection in selections:
            view = selection.view
            if not view.online:
                raise UsageError(
                    f"feature view '{view.name}' has online: false, so it is not served online "
                    f"(set online: true in {view.yaml_path} and run fs sync to serve it)"
                )

    def online_views(self, names: Sequence[str] | None = None) -> list[FeatureView]:
        """The views synced to Redis: those named (each must be online), else every online view."""
        if not names:
            return [view for view in self if view.online]
        views = list({view.name: view for view in map(self.view, names)}.values())
        for view in views:
            if not view.online:
                raise UsageError(
                    f"view '{view.name}' is not synced to Redis (online: false in {view.yaml_path}); "
                    f"online views: {', '.join(v.name for v in self if v.online) or 'none'}"
                )
        return views

    def resolve(self, refs: Iterable[str]) -> list[FeatureSelection]:
        """Turn `view:feature`, `view:*` and feature-service names into selections per view.

        Views keep the order they are first named in; a feature named twice counts once.
        On-demand features (`group:feature`) among `refs` are left to `resolve_on_demand`.
        """
        return self._resolve(refs)[0]

    def resolve_on_demand(self, refs: Iterable[str]) -> OnDemandSelection:
        """The on-demand features `refs` name (`group:feature`, `group:*`, or through a
        feature service), and per view the features they read."""
        return self.resolve_all(refs)[1]

    def resolve_all(self, refs: Iterable[str]) -> tuple[list[FeatureSelection], OnDemandSelection]:
        """`resolve` and `resolve_on_demand` in one pass over `refs` (online reads call it)."""
        selections, features = self._resolve(refs)
        if not features:
            return selections, _NO_ON_DEMAND
        needed: dict[str, list[Feature]] = {}
        for feature in features:
            for view_name, feature_name in feature.expression.inputs:
                bucket = needed.setdefault(view_name, [])
                wanted = self.views[view_name].feature(feature_name)
                if wanted not in bucket:
                    bucket.append(wanted)
        inputs = tuple(FeatureSelection(self.views[name], tuple(feats)) for name, feats in needed.items())
        return selections, OnDemandSelection(tuple(features), inputs)

    def _resolve(self, refs: Iterable[str]) -> tuple[list[FeatureSelection], list[OnDemandFeature]]:
        chosen: dict[str, list[Feature]] = {}
        on_demand: list[OnDemandFeature] = []
        for ref in self._expand_services(refs):
            view_name, sep, feature_name = ref.partition(":")
            if not sep or not view_name or not feature_name:
                raise UsageError(
                    f"'{ref}' is neither view:feature, view:* nor a feature service; "
                    f"services: {', '.join(sorted(self.services)) or 'none declared'}"
                )
            if view_name in self.on_demand:
                group = self.on_demand[view_name]
                wanted_now = group.features if feature_name == "*" else (group.feature(feature_name),)
                on_demand.extend(f for f in wanted_now if f not in on_demand)
                continue
            canonical = self.canonical(view_name)
            if canonical is None:
                named = [*self.views, *self.versions, *self.on_demand]
                raise UsageError(f"unknown feature view '{view_name}'; {did_you_mean(view_name, named)}")
            view, view_name = self.views[canonical], canonical
            wanted = view.features if feature_name == "*" else (view.feature(feature_name),)
            bucket = chosen.setdefault(view_name, [])
            bucket.extend(f for f in wanted if f not in bucket)
        if not chosen and not on_demand:
            raise UsageError("no features requested; name some as view:feature or view:*")
        return [FeatureSelection(self.views[name], tuple(feats)) for name, feats in chosen.items()], on_demand

    def _expand_services(self, refs: Iterable[str]) -> Iterator[str]:
        for ref in refs:
            ref = ref.strip()
            if not ref:
                continue
            if ":" in ref:
                yield ref
            elif ref in self.services:
                yield from self.services[ref].features
            elif ref in self.views or ref in self.versions or ref in self.on_demand:
                kind = "an on-demand group" if ref in self.on_demand else "a feature view"
                raise UsageError(
                    f"'{ref}' is {kind}, not a feature: name its features as {ref}:feature, or all of them as {ref}:*"
                )
            else:
                # Views and groups are suggested as what is valid here: all their features.
                named = [*self.services, *(f"{name}:*" for name in [*self.views, *self.versions, *self.on_demand])]
                raise UsageError(f"'{ref}' is not a feature service and not view:feature; {did_you_mean(ref, named)}")

    def search(self, text: str) -> list[tuple[FeatureView, tuple[Feature, ...]]]:
        """Views whose name, description, entity, owner or tags mention `text`, with the
        features that do; a view matches also when only some of its features do."""
        needle = text.lower()
        hits = []
        for view in self:
            view_text = " ".join(
                [view.name, view.description, view.entity, view.owner or "", *view.tags]
            ).lower()
            features = tuple(
                f
                for f in view.features
                if needle in " ".join([f.name, f.description, *f.tags]).lower()
            )
            if needle in view_text or features:
                hits.append((view, features))
        return hits

    def to_dict(self) -> dict:
        return {
            "views": [view_to_dict(v) for v in self],
            "entities": [
                {"name": e.name, "join_keys": list(e.join_keys), "views": list(e.views)}
                for e in self.entities.values()
            ],
            "services": [
                {
                    "name": s.name,
                    "description": s.description,
                    "owner": s.owner,
                    "features": list(s.features),
                }
                for s in self.services.values()
            ],
            "on_demand": [
                {
                    "name": g.name,
                    "description": g.description,
                    "owner": g.owner,
                    "request": {name: dtype for name, dtype in g.request},
                    "yaml_path": g.yaml_path,
                    "features": [
                        {"name": f.name, "type": f.dtype, "description": f.description, "sql": f.sql}
                        for f in g.features
                    ],
                }
                for g in self.on_demand.values()
            ],
        }


def view_to_dict(view: FeatureView) -> dict:
    return {
        "name": view.name,
        "description": view.description,
        "entity": view.entity,
        "join_keys": list(view.join_keys),
        "timestamp": view.timestamp,
        "created_at": view.created_at,
        "ttl": format_ttl(view.ttl) if view.ttl else None,
        "ttl_seconds": int(view.ttl.total_seconds()) if view.ttl else None,
        "online": view.online,
        "owner": view.owner,
        "tags": list(view.tags),
        "relation": str(view.relation),
        "version": view.version,
        "latest_version": view.latest_version,
        "deprecation_date": view.deprecation_date.isoformat() if view.deprecation_date else None,
        "yaml_path": view.yaml_path,
        "sql_path": view.sql_path,
        "depends_on": list(view.depends_on),
        "upstream_sources": list(view.upstream_sources),
        "features": [
            {"name": f.name, "type": f.dtype, "description": f.description, "tags": list(f.tags)}
            for f in view.features
        ],
        "aggregations": [
            {"feature": a.name, "column": a.column or "*", "function": a.function, "window": a.window_text}
            for a in view.aggregations
        ],
    }
