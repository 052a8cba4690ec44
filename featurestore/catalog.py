"""The feature catalog: typed feature views, entities and feature services from dbt's manifest.

`Catalog.from_manifest` is the only place that turns manifest JSON into these objects; every
other module works with the objects. Lookups raise `UsageError` with the closest names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Iterable, Iterator

from featurestore.errors import MetaError, UsageError, did_you_mean
from featurestore.meta import META_KEY, parse_feature_view, raw_feature_meta, yaml_path_of
from featurestore.ttl import format_ttl


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
    column_types: dict[str, str | None] = field(default_factory=dict, compare=False)
    rows_unique_by_test: bool = False
    """dbt tests the view for one row per (join keys, timestamp), so no tie-break is needed."""

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

    def view(self, name: str) -> FeatureView:
        if name not in self.views:
            raise UsageError(f"unknown feature view '{name}'; {did_you_mean(name, self.views)}")
        return self.views[name]

    def __iter__(self) -> Iterator[FeatureView]:
        return iter(self.views.values())

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

    @classmethod
    def from_manifest(cls, manifest: dict) -> "Catalog":
        nodes = manifest.get("nodes", {})
        parent_map = manifest.get("parent_map", {})
        views: dict[str, FeatureView] = {}
        uniqueness_tests = _uniqueness_tests(nodes)
        for unique_id, node in sorted(nodes.items()):
            if node.get("resource_type") != "model" or raw_feature_meta(node) is None:
                continue
            if not (node.get("config") or {}).get("enabled", True):
                continue
            view = _view_from_node(node, unique_id, parent_map, uniqueness_tests.get(unique_id, set()))
            if view.name in views:
                raise MetaError(
                    view.name, view.yaml_path, "two models in the project share this name; "
                    "feature views are referred to by model name, so it must be unique"
                )
            views[view.name] = view
        entities = _entities(views)
        services = _services(manifest.get("exposures", {}), views)
        relations = {
            node["name"]: Relation(node.get("database"), node["schema"], node.get("alias") or node["name"])
            for node in nodes.values()
            if node.get("resource_type") in {"model", "seed", "snapshot"}
        }
        return cls(views=views, entities=entities, services=services, relations=relations)

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


def _uniqueness_tests(nodes: dict) -> dict[str, set[tuple[str, ...]]]:
    """Model id -> the column sets an enabled, failing-severity dbt test keeps unique."""
    tested: dict[str, set[tuple[str, ...]]] = {}
    for node in nodes.values():
        metadata = node.get("test_metadata") or {}
        config = node.get("config") or {}
        if metadata.get("name") != "feature_unique_entity_timestamp" or not config.get("enabled", True):
            continue
        if str(config.get("severity", "error")).lower() != "error" or not node.get("attached_node"):
            continue
        kwargs = metadata.get("kwargs") or {}
        columns = (*(kwargs.get("join_keys") or ()), kwargs.get("timestamp"))
        tested.setdefault(node["attached_node"], set()).add(columns)
    return tested


def _view_from_node(node: dict, unique_id: str, parent_map: dict, unique_column_sets: set) -> FeatureView:
    spec = parse_feature_view(node)
    columns = node.get("columns") or {}
    features = tuple(
        Feature(
            name=name,
            view=spec.model,
            dtype=(columns[name].get("data_type") or None),
            description=(columns[name].get("description") or "").strip(),
            tags=tuple(columns[name].get("tags") or ()),
        )
        for name in spec.features
    )
    return FeatureView(
        name=spec.model,
        description=(node.get("description") or "").strip(),
        entity=spec.entity,
        join_keys=spec.join_keys,
        timestamp=spec.timestamp,
        created_at=spec.created_at,
        ttl=spec.ttl,
        online=spec.online,
        owner=spec.owner,
        features=features,
        tags=tuple(node.get("tags") or ()),
        relation=Relation(
            database=node.get("database"),
            schema=node["schema"],
            identifier=node.get("alias") or node["name"],
        ),
        yaml_path=spec.yaml_path,
        sql_path=node.get("original_file_path", ""),
        depends_on=tuple(_short_name(p) for p in (node.get("depends_on") or {}).get("nodes", [])),
        upstream_sources=tuple(sorted(_upstream_sources(unique_id, parent_map))),
        column_types={name: col.get("data_type") for name, col in columns.items()},
        rows_unique_by_test=(*spec.join_keys, spec.timestamp) in unique_column_sets,
    )


def _short_name(unique_id: str) -> str:
    """`model.pkg.name` -> `name`; `source.pkg.src.table` -> `src.table`."""
    kind, _package, *rest = unique_id.split(".")
    return ".".join(rest) if kind == "source" else rest[-1]


def _upstream_sources(unique_id: str, parent_map: dict) -> set[str]:
    found: set[str] = set()
    stack, seen = [unique_id], {unique_id}
    while stack:
        for parent in parent_map.get(stack.pop(), []):
            if parent in seen:
                continue
            seen.add(parent)
            if parent.startswith("source."):
                found.add(_short_name(parent))
            stack.append(parent)
    return found


def _entities(views: dict[str, FeatureView]) -> dict[str, Entity]:
    first_view: dict[str, FeatureView] = {}
    members: dict[str, list[str]] = {}
    for view in views.values():
        first = first_view.setdefault(view.entity, view)
        if first.join_keys != view.join_keys:
            raise MetaError(
                view.name,
                view.yaml_path,
                f"entity '{view.entity}' has join_keys {list(view.join_keys)} here but "
                f"{list(first.join_keys)} in view '{first.name}' ({first.yaml_path})",
                "every view of one entity must use the same join_keys, in the same order",
            )
        members.setdefault(view.entity, []).append(view.name)
    return {
        name: Entity(name=name, join_keys=first_view[name].join_keys, views=tuple(members[name]))
        for name in sorted(members)
    }


def _services(exposures: dict, views: dict[str, FeatureView]) -> dict[str, FeatureService]:
    services: dict[str, FeatureService] = {}
    for exposure in sorted(exposures.values(), key=lambda e: e["name"]):
        meta = raw_feature_meta(exposure)
        if meta is None:
            continue
        name, yaml_path = exposure["name"], yaml_path_of(exposure)

        def fail(problem: str, valid: str = "") -> MetaError:
            return MetaError(name, yaml_path, problem, valid, kind="feature service")

        if not isinstance(meta, dict) or set(meta) - {"features"}:
            raise fail(f"meta.{META_KEY} of an exposure takes one key, 'features'")
        refs = meta.get("features")
        if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
            raise fail(f"meta.{META_KEY}.features must be a non-empty list of view:feature names")
        depends_on = {_short_name(n) for n in (exposure.get("depends_on") or {}).get("nodes", [])}
        for ref in refs:
            view_name, _, feature_name = ref.partition(":")
            if view_name not in views:
                raise fail(f"feature '{ref}' names unknown view '{view_name}'", did_you_mean(view_name, views))
            if feature_name != "*":
                try:
                    views[view_name].feature(feature_name)
                except UsageError as error:
                    raise fail(f"feature '{ref}': {error.message}") from None
            if view_name not in depends_on:
                raise fail(
                    f"uses view '{view_name}' but does not depend on it",
                    f"add ref('{view_name}') to the exposure's depends_on so dbt's lineage shows it",
                )
        owner = (exposure.get("owner") or {}).get("name") or (exposure.get("owner") or {}).get("email")
        services[name] = FeatureService(
            name=name,
            description=(exposure.get("description") or "").strip(),
            owner=owner,
            features=tuple(refs),
            yaml_path=yaml_path,
        )
    return services
