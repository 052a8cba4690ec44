"""Reading and strictly validating an on-demand group: a dbt exposure whose meta has
`feature_store: {on_demand: {request: ..., features: [...]}}`.

An exposure, because an on-demand group is used downstream of the views it reads, at
request time: its `depends_on` puts it in dbt's lineage after those views, as a feature
service's does. Every expression is checked and typed here (featurestore.catalog.
on_demand_sql), so a group that loads is one every engine and the online path compute alike.
"""

from __future__ import annotations

from typing import Mapping

from featurestore.catalog.keys import refuse_unknown_keys
from featurestore.catalog.meta import META_KEY, is_reserved, yaml_path_of
from featurestore.catalog.model import FeatureView, OnDemandFeature, OnDemandGroup
from featurestore.catalog.on_demand_sql import TYPES, ExpressionError, check_expression, type_of
from featurestore.catalog.versions import (
    ModelVersions, canonical_view_name, dbt_ref, is_versioned_ref, model_of, pinned_ref, short_name,
)
from featurestore.errors import MetaError, UsageError, did_you_mean

ON_DEMAND_KEY = "on_demand"
GROUP_KEYS = {
    "request": "the request's fields and their types, e.g. {scheduled_minutes: bigint}",
    "features": "a list of features, each with name, sql, and optional data_type and description",
}
FEATURE_KEYS = {
    "name": "the feature's name (required)",
    "sql": "a SQL expression in DuckDB's dialect over view.feature (\"model@vN\".feature for a version) and request fields (required)",
    "data_type": f"the result's type, checked against the expression's: {', '.join(TYPES)}",
    "description": "what the feature means",
}


def is_on_demand_group(exposure: dict, meta: object) -> bool:
    return isinstance(meta, dict) and ON_DEMAND_KEY in meta


def parse_on_demand_group(
    exposure: dict, meta: dict, views: Mapping[str, FeatureView], versions: Mapping[str, ModelVersions] | None = None
) -> OnDemandGroup:
    """Validate the on-demand group an exposure declares; MetaError names the exposure, its
    file, the problem and what is valid. A versioned model's view is read as a feature
    service reads it (catalog/versions.py): `"model@vN".feature` names version N; a plain
    `model.feature` means the version the exposure alone depends on (`ref('model', v=N)`),
    else the latest."""
    name, yaml_path = exposure["name"], yaml_path_of(exposure)

    def fail(problem: str, valid: str = "") -> MetaError:
        return MetaError(name, yaml_path, problem, valid, kind="on-demand group")

    where = f"meta.{META_KEY}.{ON_DEMAND_KEY}"
    if set(meta) != {ON_DEMAND_KEY}:
        raise fail(f"meta.{META_KEY} of an on-demand group takes one key, '{ON_DEMAND_KEY}' (a feature service's 'features' goes in an exposure of its own)")
    if name in views:
        raise fail(f"shares its name with feature view '{name}'; features are named group:feature as view:feature, so rename one")
    body = meta[ON_DEMAND_KEY]
    if not isinstance(body, dict):
        raise fail(f"{where} must be a mapping with keys {', '.join(GROUP_KEYS)}")
    refuse_unknown_keys(body, GROUP_KEYS, where, fail)
    request = _request(body.get("request") or {}, where, fail)
    listed = body.get("features")
    if not isinstance(listed, list) or not listed:
        raise fail(f"{where}.features must be a non-empty list", GROUP_KEYS["features"])
    depends_on = {short_name(node) for node in (exposure.get("depends_on") or {}).get("nodes", [])}
    follows: dict[str, bool] = {}
    """Per view the expression being checked reads: whether only through the plain model's
    name, following its latest (a version named or pinned anywhere in it is pinned)."""

    def resolve_view(written: str) -> str:
        name = written
        if written not in views:
            pinned = pinned_ref(written, exposure.get("refs") or [])
            try:
                name = canonical_view_name(pinned, views, versions or {}) or written  # else: no feature view
            except UsageError as error:
                raise ExpressionError(f"reads {error}") from error
            following = pinned == written and not is_versioned_ref(written) and name != written
            follows[name] = follows.get(name, True) and following
        else:
            follows[name] = False
        return name

    def feature_type(view_name: str, feature_name: str) -> str:
        if view_name not in views:
            raise ExpressionError(f"reads '{view_name}.{feature_name}', but '{view_name}' is not a feature view", did_you_mean(view_name, views))
        view = views[view_name]
        declared = next((f for f in view.features if f.name == feature_name), None)
        if declared is None:
            raise ExpressionError(
                f"reads '{view_name}.{feature_name}', which is not a feature of '{view_name}'",
                did_you_mean(feature_name, view.feature_names),
            )
        dtype = type_of(declared.dtype)
        if dtype is None:
            raise ExpressionError(
                f"reads '{view_name}.{feature_name}', whose data_type ({declared.dtype or 'not declared'}) is none of {', '.join(TYPES)}",
                f"declare data_type for the column in {view.yaml_path}",
            )
        if view_name not in depends_on:
            raise ExpressionError(
                f"reads view '{view_name}' but does not depend on it",
                f"add {dbt_ref(view_name)} to the exposure's depends_on so dbt's lineage shows it",
            )
        return dtype

    features: list[OnDemandFeature] = []
    for index, entry in enumerate(listed, 1):
        follows.clear()
        features.append(_feature(entry, index, name, request, (feature_type, resolve_view, follows), features, where, fail))
    owner = (exposure.get("owner") or {}).get("name") or (exposure.get("owner") or {}).get("email")
    return OnDemandGroup(
        name=name,
        description=(exposure.get("description") or "").strip(),
        owner=owner,
        request=tuple(request.items()),
        features=tuple(features),
        yaml_path=yaml_path,
    )


def _request(raw: object, where: str, fail) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise fail(f"{where}.request must map each field's name to its type", f"types: {', '.join(TYPES)}")
    request = {}
    for field, declared in raw.items():
        if not isinstance(field, str) or not field.isidentifier() or is_reserved(field):
            raise fail(f"request field name {field!r} is not a plain column name", "letters, digits and _, not starting with __fs_")
        dtype = type_of(declared) if isinstance(declared, str) else None
        if dtype is None:
            raise fail(f"request field '{field}' has type {declared!r}", f"valid types: {', '.join(TYPES)}")
        request[field] = dtype
    return request


def _feature(entry, index: int, group: str, request, reading, earlier, where: str, fail) -> OnDemandFeature:
    feature_type, resolve_view, follows = reading
    if not isinstance(entry, dict):
        raise fail(f"{where}.features[{index}] must be a mapping", GROUP_KEYS["features"])
    refuse_unknown_keys(entry, FEATURE_KEYS, f"{where}.features[{index}]", fail)
    name = entry.get("name")
    if not isinstance(name, str) or not name.isidentifier() or is_reserved(name):
        raise fail(f"{where}.features[{index}].name must be a plain column name, not {name!r}")
    if any(f.name == name for f in earlier):
        raise fail(f"feature '{name}' is declared twice")
    sql = entry.get("sql")
    try:
        checked = check_expression(sql, request, feature_type, resolve_view)
    except ExpressionError as error:
        raise fail(f"feature '{name}': {error.problem}", error.valid) from None
    declared = entry.get("data_type")
    if declared is not None:
        dtype = type_of(declared) if isinstance(declared, str) else None
        if dtype is None:
            raise fail(f"feature '{name}' has data_type {declared!r}", f"valid types: {', '.join(TYPES)}")
        if dtype != checked.dtype:
            raise fail(
                f"feature '{name}' declares data_type {dtype} but its sql gives a {checked.dtype}",
                f"cast the expression: CAST(... AS {dtype.upper()})",
            )
    description = entry.get("description") or ""
    if not isinstance(description, str):
        raise fail(f"feature '{name}': description must be text")
    # Each input as a feature service would name it, so `fs diff` judges it as a service's.
    input_refs = tuple(f"{model_of(view) if follows.get(view) else view}:{feature}" for view, feature in checked.inputs)
    return OnDemandFeature(
        name=name, group=group, dtype=checked.dtype, description=description.strip(), sql=sql, expression=checked,
        input_refs=input_refs,
    )
