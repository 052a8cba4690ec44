"""Turning dbt's manifest into the feature catalog: feature views from models that carry
`feature_store` meta, entities from their keys, feature services from `ml` exposures, and
every model's relation (a spine can be any of them)."""

from __future__ import annotations

from typing import Sequence

from featurestore.catalog.aggregations import aggregated_columns, aggregation_dtype
from featurestore.catalog.dbt_models import dbt_models
from featurestore.catalog.meta import META_KEY, misspelt_meta_key, parse_feature_view, raw_feature_meta, yaml_path_of
from featurestore.catalog.model import Catalog, Entity, Feature, FeatureService, FeatureView, OnDemandGroup, Relation
from featurestore.catalog.on_demand_meta import is_on_demand_group, parse_on_demand_group
from featurestore.catalog.versions import (
    canonical_view_name, dbt_ref, model_versions, parse_deprecation_date, pinned_ref, short_name, versioned_name,
)
from featurestore.errors import MetaError, UsageError, did_you_mean


def catalog_from_manifest(manifest: dict, check_services: bool = True) -> Catalog:
    """The catalog a manifest describes; MetaError names the model and file of any problem.

    Without `check_services`, a service may name views and features the manifest lacks (they
    stay in its list as written): `fs diff` reports a service whose feature was removed as a
    breaking change rather than failing to read the project."""
    nodes = manifest.get("nodes", {})
    parent_map = manifest.get("parent_map", {})
    views: dict[str, FeatureView] = {}
    uniqueness_tests = _uniqueness_tests(nodes)
    for unique_id, node in sorted(nodes.items()):
        if node.get("resource_type") not in VIEW_RESOURCES or raw_feature_meta(node) is None:
            continue
        if not (node.get("config") or {}).get("enabled", True):
            continue
        _refuse_unreadable(node)
        view = _view_from_node(node, unique_id, parent_map, uniqueness_tests.get(unique_id, set()))
        if view.name in views:
            raise MetaError(
                view.name, view.yaml_path, "two models in the project share this name; "
                "feature views are referred to by model name, so it must be unique"
            )
        views[view.name] = view
    entities = _entities(views)
    versions = model_versions(nodes.values(), views)
    on_demand = _on_demand_groups(manifest.get("exposures", {}), views, versions)
    models = {n["name"]: n for n in nodes.values() if n.get("resource_type") == "model"}
    services = _services(manifest.get("exposures", {}), views, on_demand, check_services, models, versions)
    relations = {
        name: Relation(node.get("database"), node["schema"], node.get("alias") or node["name"])
        for node in nodes.values()
        if node.get("resource_type") in {"model", "seed", "snapshot"}
        for name in _relation_names(node)
    }
    sources = {
        f"{source['source_name']}.{source['name']}": Relation(
            source.get("database"), source["schema"], source.get("identifier") or source["name"]
        )
        for source in manifest.get("sources", {}).values()
    }
    return Catalog(
        views=views,
        entities=entities,
        services=services,
        relations=relations,
        sources=sources,
        warnings=_misspelt_keys(nodes),
        on_demand=on_demand,
        versions=versions,
        models=dbt_models(nodes, uniqueness_tests),
    )


def _relation_names(node: dict) -> list[str]:
    """What a spine may call a node's relation: its name, or a version's `model@vN` and, for
    the latest version, the plain name (as `ref('model')` reads it)."""
    version = node.get("version")
    if version is None:
        return [node["name"]]
    latest = str(version) == str(node.get("latest_version", version))
    return [versioned_name(node["name"], version), *([node["name"]] if latest else [])]


VIEW_RESOURCES = {"model", "snapshot"}
"""What a feature view can be: a model of any materialization that leaves a relation, or a
snapshot (an SCD-2 table: each version of a row is valid from its `dbt_valid_from`)."""

MATERIALIZED_AS_RELATION = "materialize it as table, view or incremental: `config: {materialized: table}`"


def _refuse_unreadable(node: dict) -> None:
    """A model fs cannot read the rows of, refused in one line before anything is read.

    An ephemeral model has no relation: dbt inlines it into the models that use it, so a
    table of its name could only be a leftover of an older build, with older values.
    (Each version of a versioned model is a view of its own: catalog/versions.py.)"""
    name, path = node["name"], yaml_path_of(node)
    materialized = (node.get("config") or {}).get("materialized")
    if materialized == "ephemeral":
        raise MetaError(
            name, path, "is ephemeral, so dbt builds no table or view of it for fs to read", MATERIALIZED_AS_RELATION
        )


def _why_not_a_view(node: dict) -> str:
    """Why a model a service names is not a feature view, and what would make it one."""
    key = misspelt_meta_key(node)
    if key is not None:
        return f"its meta key '{key}' is not '{META_KEY}' (did you mean '{META_KEY}'? rename the key)"
    return f"it has no meta.{META_KEY} (add one to its YAML to make it a feature view)"


def _misspelt_keys(nodes: dict) -> tuple[str, ...]:
    """A warning for each enabled model whose meta has a near miss of `feature_store`: not an
    error, since the key may belong to another tool, but a typo would hide the view silently."""
    warnings = []
    for _unique_id, node in sorted(nodes.items()):
        if node.get("resource_type") not in VIEW_RESOURCES or not (node.get("config") or {}).get("enabled", True):
            continue
        key = misspelt_meta_key(node)
        if key is not None:
            warnings.append(
                f"{yaml_path_of(node)}: model '{node['name']}': meta key '{key}' is not '{META_KEY}', "
                f"so the model is not a feature view; rename the key to '{META_KEY}' if it should be one"
            )
    return tuple(warnings)


def _uniqueness_tests(nodes: dict) -> dict[str, set[frozenset[str]]]:
    """Model id -> the column sets a dbt test keeps unique over all the model's rows, once
    `dbt build` passes: fs's own feature_unique_entity_timestamp, dbt_utils'
    unique_combination_of_columns and dbt's unique. A test that checks only the rows a
    `where` selects, lets some failures pass (`error_if`, `fail_calc`), only warns or is
    disabled guarantees nothing, and fs must break ties on such a view."""
    tested: dict[str, set[frozenset[str]]] = {}
    for node in nodes.values():
        columns = _unique_columns(node.get("test_metadata") or {})
        if columns and node.get("attached_node") and _fails_on_any_duplicate(node.get("config") or {}):
            tested.setdefault(node["attached_node"], set()).add(columns)
    return tested


def _unique_columns(metadata: dict) -> frozenset[str] | None:
    """The columns a generic test keeps unique together, if it is a test of that."""
    kwargs = metadata.get("kwargs") or {}
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if name == "feature_unique_entity_timestamp":
        columns = [*(kwargs.get("join_keys") or ()), kwargs.get("timestamp")]
    elif name == "unique_combination_of_columns" and namespace == "dbt_utils":
        columns = list(kwargs.get("combination_of_columns") or ())
    elif name == "unique" and namespace is None:
        columns = [kwargs.get("column_name")]
    else:
        return None
    return frozenset(columns) if columns and all(isinstance(c, str) for c in columns) else None


def _fails_on_any_duplicate(config: dict) -> bool:
    """Whether `dbt build` stops on a single failing row of the test."""

    def setting(key: str, default: str) -> str:
        return "".join(str(config.get(key) or default).split()).lower()

    limit = config.get("limit")
    return bool(
        config.get("enabled", True)
        and setting("severity", "error") == "error"
        and not config.get("where")
        # dbt counts at most `limit` failing rows: 0 makes the test pass whatever the data.
        and (limit is None or _positive(limit))
        and setting("error_if", "!=0") in ANY_FAILURE
        and setting("fail_calc", "count(*)") == "count(*)"
    )


ANY_FAILURE = {"!=0", "<>0", ">0", ">=1"}
"""`error_if` thresholds that fail the test on a single failing row."""


def _positive(value: object) -> bool:
    try:
        return int(str(value)) > 0
    except ValueError:
        return False


def _view_from_node(node: dict, unique_id: str, parent_map: dict, unique_column_sets: set) -> FeatureView:
    spec = parse_feature_view(node)
    columns = node.get("columns") or {}
    view_name = versioned_name(spec.model, node.get("version"))
    features = _aggregation_features(spec, columns, view_name) if spec.aggregations else tuple(
        Feature(
            name=name,
            view=view_name,
            dtype=(columns[name].get("data_type") or None),
            description=(columns[name].get("description") or "").strip(),
            tags=tuple(columns[name].get("tags") or ()),
        )
        for name in spec.features
    )
    read_columns = aggregated_columns(spec.aggregations) if spec.aggregations else spec.features
    return FeatureView(
        name=view_name,
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
        depends_on=tuple(short_name(p) for p in (node.get("depends_on") or {}).get("nodes", [])),
        upstream_sources=tuple(sorted(_upstream_sources(unique_id, parent_map))),
        # Rows unique by any subset of (join keys, timestamp) are unique by all of them.
        rows_unique_by_test=any(tested <= {*spec.join_keys, spec.timestamp} for tested in unique_column_sets),
        freshness=spec.freshness,
        checks=spec.checks,
        quoted_columns=tuple(name for name, column in columns.items() if column.get("quote") is True),
        folds_pushed_rows=_calls_macro(node, PUSHED_ROWS_MACRO),
        declared_types=tuple(
            (name, str(columns[name]["data_type"]))
            for name in dict.fromkeys([*spec.join_keys, spec.timestamp, *([spec.created_at] if spec.created_at else []), *read_columns])
            if columns[name].get("data_type")
        ),
        compiled_sql=node.get("compiled_code") or None,
        version=None if node.get("version") is None else str(node["version"]),
        deprecation_date=parse_deprecation_date(node.get("deprecation_date")),
        latest_version=None if node.get("version") is None else str(node.get("latest_version") or node["version"]),
        aggregations=spec.aggregations,
    )


def _aggregation_features(spec, columns: dict, view_name: str) -> tuple[Feature, ...]:
    """An aggregation view's features: one per aggregation, typed by its function and column
    and described from the column's description."""
    features = []
    for aggregation in spec.aggregations:
        source = (columns.get(aggregation.column) or {}) if aggregation.column else {}
        what = f"{aggregation.function} of {aggregation.column}" if aggregation.column else "number of events"
        described = (source.get("description") or "").strip()
        features.append(Feature(
            name=aggregation.name,
            view=view_name,
            dtype=aggregation_dtype(aggregation.function, source.get("data_type") or None),
            description=f"{what} in the last {aggregation.window_text}" + (f": {described}" if described else ""),
            tags=tuple(source.get("tags") or ()),
        ))
    return tuple(features)


def _upstream_sources(unique_id: str, parent_map: dict) -> set[str]:
    found: set[str] = set()
    stack, seen = [unique_id], {unique_id}
    while stack:
        for parent in parent_map.get(stack.pop(), []):
            if parent in seen:
                continue
            seen.add(parent)
            if parent.startswith("source."):
                found.add(short_name(parent))
            stack.append(parent)
    return found


def join_keys_disagreement(entity: str, join_keys: Sequence[str], other: FeatureView) -> tuple[str, str]:
    """The problem and what is valid when a view of `entity` has `join_keys` and `other`, a
    view of the same entity, has others (the catalog's rule, said the same in fs new view)."""
    return (
        f"entity '{entity}' has join_keys {list(join_keys)} here but {list(other.join_keys)} in view '{other.name}' ({other.yaml_path})",
        "every view of one entity must use the same join_keys, in the same order",
    )


def entity_keys_refusal(manifest: dict, entity: str, join_keys: Sequence[str], columns: Sequence[str]) -> str | None:
    """Why a new view of `entity` keyed by `join_keys`, over a model of `columns`, would break
    the catalog's rule that every view of an entity has the same join keys (fs new view says
    so before it writes the file), with what to do; None when it would not, or when the
    catalog cannot be read (that is fs catalog's to report). The advice is what the model can
    follow: `--join-key X` only where it has a column X, else to rename its key column."""
    try:
        known = catalog_from_manifest(manifest)
    except MetaError:
        return None
    found = known.entities.get(entity)
    if found is None:
        return None
    missing = [key for key in found.join_keys if key not in columns]
    if not missing and found.join_keys == tuple(join_keys):
        return None
    other = known.view(found.views[0])
    names = ", ".join(missing)
    rename = f"rename its key column{'s' if len(missing) > 1 else ''} to {names} in the model, or use another --entity"
    if found.join_keys == tuple(join_keys):
        return (
            f"entity '{entity}' has join_keys {list(found.join_keys)} in view '{other.name}' ({other.yaml_path}), "
            f"and the model has no column {names} ({rename})"
        )
    problem, valid = join_keys_disagreement(entity, join_keys, other)
    if missing:
        return f"{problem} ({valid}: the model has no column {names}: {rename})"
    return f"{problem} ({valid}: pass {' '.join(f'--join-key {key}' for key in found.join_keys)})"


def _entities(views: dict[str, FeatureView]) -> dict[str, Entity]:
    first_view: dict[str, FeatureView] = {}
    members: dict[str, list[str]] = {}
    for view in views.values():
        first = first_view.setdefault(view.entity, view)
        if first.join_keys != view.join_keys:
            raise MetaError(view.name, view.yaml_path, *join_keys_disagreement(view.entity, view.join_keys, first))
        members.setdefault(view.entity, []).append(view.name)
    return {
        name: Entity(name=name, join_keys=first_view[name].join_keys, views=tuple(members[name]))
        for name in sorted(members)
    }


def _on_demand_groups(exposures: dict, views: dict[str, FeatureView], versions: dict) -> dict[str, OnDemandGroup]:
    groups: dict[str, OnDemandGroup] = {}
    field_types: dict[str, tuple[str, str]] = {}
    for exposure in sorted(exposures.values(), key=lambda e: e["name"]):
        meta = raw_feature_meta(exposure)
        if not is_on_demand_group(exposure, meta):
            continue
        group = parse_on_demand_group(exposure, meta, views, versions)
        # A request field is a spine column offline and a key of the entity row online, so
        # one name has one type whichever groups a request mixes.
        for field, dtype in group.request:
            first = field_types.setdefault(field, (dtype, group.name))
            if first[0] != dtype:
                raise MetaError(
                    group.name, group.yaml_path,
                    f"request field '{field}' is {dtype} here but {first[0]} in on-demand group '{first[1]}'",
                    "a request field has one type in every group", kind="on-demand group",
                )
        groups[group.name] = group
    return groups


def _services(
    exposures: dict,
    views: dict[str, FeatureView],
    on_demand: dict[str, OnDemandGroup],
    check_refs: bool = True,
    models: dict[str, dict] | None = None,
    versions: dict | None = None,
) -> dict[str, FeatureService]:
    """The feature services; `models` (name -> manifest node) lets a reference to a model
    that is not a feature view say why it is not. A plain name of a versioned model the
    exposure depends on at one version only is pinned to it (catalog/versions.py)."""
    models, versions = models or {}, versions or {}
    services: dict[str, FeatureService] = {}
    for exposure in sorted(exposures.values(), key=lambda e: e["name"]):
        meta = raw_feature_meta(exposure)
        if meta is None or is_on_demand_group(exposure, meta):
            continue
        name, yaml_path = exposure["name"], yaml_path_of(exposure)

        def fail(problem: str, valid: str = "") -> MetaError:
            return MetaError(name, yaml_path, problem, valid, kind="feature service")

        if not isinstance(meta, dict) or set(meta) - {"features"}:
            raise fail(f"meta.{META_KEY} of an exposure takes one key, 'features'")
        refs = meta.get("features")
        if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
            raise fail(f"meta.{META_KEY}.features must be a non-empty list of view:feature names")
        depends_on = {short_name(n) for n in (exposure.get("depends_on") or {}).get("nodes", [])}
        refs = [pinned_ref(ref, exposure.get("refs") or []) for ref in refs]
        for ref in refs if check_refs else ():
            view_name, _, feature_name = ref.partition(":")
            if view_name in on_demand:
                if feature_name != "*":
                    try:
                        on_demand[view_name].feature(feature_name)
                    except UsageError as error:
                        raise fail(f"feature '{ref}': {error.message}") from None
                continue  # the group's own exposure depends on the views it reads
            if view_name in models and view_name not in views and view_name not in versions:
                raise fail(f"feature '{ref}' names model '{view_name}', which is not a feature view: {_why_not_a_view(models[view_name])}")
            try:
                view_name = canonical_view_name(view_name, views, versions) or view_name
            except UsageError as error:
                raise fail(f"feature '{ref}': {error.message}") from None
            if view_name not in views:
                raise fail(f"feature '{ref}' names unknown view '{view_name}'", did_you_mean(view_name, [*views, *versions, *on_demand]))
            if feature_name != "*":
                try:
                    views[view_name].feature(feature_name)
                except UsageError as error:
                    raise fail(f"feature '{ref}': {error.message}") from None
            if view_name not in depends_on:
                raise fail(f"uses view '{view_name}' but does not depend on it", f"add {dbt_ref(view_name)} to the exposure's depends_on so dbt's lineage shows it")
        owner = (exposure.get("owner") or {}).get("name") or (exposure.get("owner") or {}).get("email")
        services[name] = FeatureService(
            name=name,
            description=(exposure.get("description") or "").strip(),
            owner=owner,
            features=tuple(refs),
            yaml_path=yaml_path,
        )
    return services


PUSHED_ROWS_MACRO = "feature_store_with_pushed_rows"
"""The macro a view's model ends in to fold its landing table of pushed rows in (macros/)."""


def _calls_macro(node: dict, name: str) -> bool | None:
    """Whether the model calls macro `name` (of any package); None if the manifest does not say."""
    macros = (node.get("depends_on") or {}).get("macros")
    if macros is None:
        return None
    return any(macro.rsplit(".", 1)[-1] == name for macro in macros)
