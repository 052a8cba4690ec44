"""The feature catalog: typed feature views, entities and feature services.

`featurestore.catalog.from_manifest` is the only place that makes these objects from dbt's
manifest; every other module works with the objects. Lookups raise `UsageError` with the
closest names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Iterable, Iterator, Sequence

from featurestore.catalog.ttl import format_ttl
from featurestore.errors import UsageError, did_you_mean


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
    quoted_columns: tuple[str, ...] = ()
    """Columns the YAML marks `quote: true`: the model created them quoted, so the
    warehouse keeps their case (others are stored as it folds unquoted names)."""

    def feature(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise UsageError(
            f"view '{self.name}' has no feature '{name}'; "
            f"{did_you_mean(name, [f.name for f in self.features])}"
        )

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column fs reads: join keys, timestamp, created_at (if any), features."""
        return (*self.join_keys, self.timestamp, *([self.created_at] if self.created_at else []), *self.feature_names)


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

    def view(self, name: str) -> FeatureView:
        if name not in self.views:
            raise UsageError(f"unknown feature view '{name}'; {did_you_mean(name, self.views)}")
        return self.views[name]

    def __iter__(self) -> Iterator[FeatureView]:
        return iter(self.views.values())

    def online_views(self, names: Sequence[str] | None = None) -> list[FeatureView]:
        """The views synced to Redis: those named (each must be online), else every online view."""
        if not names:
            return [view for view in self if view.online]
        views = [self.view(name) for name in dict.fromkeys(names)]
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
        """
        chosen: dict[str, list[Feature]] = {}
        for ref in self._expand_services(refs):
            view_name, sep, feature_name = ref.partition(":")
            if not sep or not view_name or not feature_name:
                raise UsageError(
                    f"'{ref}' is neither view:feature, view:* nor a feature service; "
                    f"services: {', '.join(sorted(self.services)) or 'none declared'}"
                )
            view = self.view(view_name)
            wanted = view.features if feature_name == "*" else (view.feature(feature_name),)
            bucket = chosen.setdefault(view_name, [])
            bucket.extend(f for f in wanted if f not in bucket)
        if not chosen:
            raise UsageError("no features requested; name some as view:feature or view:*")
        return [FeatureSelection(self.views[name], tuple(feats)) for name, feats in chosen.items()]

    def _expand_services(self, refs: Iterable[str]) -> Iterator[str]:
        for ref in refs:
            ref = ref.strip()
            if not ref:
                continue
            if ":" in ref:
                yield ref
            elif ref in self.services:
                yield from self.services[ref].features
            else:
                raise UsageError(
                    f"'{ref}' is not a feature service and not view:feature; "
                    f"{did_you_mean(ref, [*self.services, *self.views])}"
                )

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
        "yaml_path": view.yaml_path,
        "sql_path": view.sql_path,
        "depends_on": list(view.depends_on),
        "upstream_sources": list(view.upstream_sources),
        "features": [
            {"name": f.name, "type": f.dtype, "description": f.description, "tags": list(f.tags)}
            for f in view.features
        ],
    }
