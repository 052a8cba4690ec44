"""Reading and strictly validating the `feature_store` meta of one dbt model.

The result is a `FeatureViewSpec`: plain names and values, checked against the columns the
model declares in its YAML. Cross-view rules (one entity, one set of join keys) are the
catalog's job, since they need every view at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from featurestore.errors import MetaError, closest
from featurestore.catalog.aggregations import WindowedAggregation, aggregated_columns, parse_aggregations
from featurestore.catalog.data_types import TIME_FAMILIES, is_clearly_not_time, type_family
from featurestore.catalog.keys import refuse_unknown_keys
from featurestore.catalog.monitoring import CheckSettings, Freshness, parse_checks, parse_freshness
from featurestore.catalog.ttl import MAX_TTL_TEXT, VALID_TTL, TtlOutOfRange, not_a_duration, parse_ttl

META_KEY = "feature_store"

RESERVED_PREFIX = "__fs_"
"""fs's generated queries name their own columns with this prefix. Engines compare names
case-insensitively, so a user's column may not start with it in any case (`__FS_T` would
be taken for fs's join time)."""


def is_reserved(name: str) -> bool:
    return name.lower().startswith(RESERVED_PREFIX)

KNOWN_KEYS = {
    "entity": "the entity the rows describe (required)",
    "join_keys": "columns identifying the entity (default [<entity>_id])",
    "timestamp": "column holding when each value became true (required)",
    "created_at": "column holding when each row was written",
    "ttl": "how long a value stays valid, e.g. 30d",
    "online": "true (default) to sync the view to Redis",
    "owner": "team or person responsible",
    "features": "explicit list of feature columns (default: every other column)",
    "freshness": "how old the newest row may get, e.g. 2h (default: the ttl)",
    "checks": "fs check's window, baseline and thresholds (docs/monitoring.md)",
    "aggregations": "windowed aggregations of an event model (docs/aggregations.md)",
}


@dataclass(frozen=True)
class FeatureViewSpec:
    """A model's validated feature metadata."""

    model: str
    yaml_path: str
    entity: str
    join_keys: tuple[str, ...]
    timestamp: str
    created_at: str | None
    ttl: timedelta | None
    online: bool
    owner: str | None
    features: tuple[str, ...]
    freshness: Freshness | None = None
    checks: CheckSettings = CheckSettings()
    aggregations: tuple[WindowedAggregation, ...] = ()


def raw_feature_meta(node: dict) -> dict | None:
    """The `feature_store` mapping of a manifest node, from config.meta or the older meta."""
    for meta in ((node.get("config") or {}).get("meta") or {}, node.get("meta") or {}):
        if META_KEY in meta:
            return meta[META_KEY]
    return None


def misspelt_meta_key(node: dict) -> str | None:
    """A key of the node's meta or config.meta that looks like a misspelt `feature_store`
    (`feature_stor`, `featurestore`, `feature-store`, ...) when the real key is absent."""
    if raw_feature_meta(node) is not None:
        return None
    for meta in ((node.get("config") or {}).get("meta") or {}, node.get("meta") or {}):
        for key in meta:
            if isinstance(key, str) and _edit_distance(_normalised(key), _normalised(META_KEY)) <= 2:
                return key
    return None


def _normalised(key: str) -> str:
    return "".join(c for c in key.lower() if c.isalnum())


def _edit_distance(a: str, b: str) -> int:
    """Levenshtein distance. Two edits past case and separators catch typos such as
    `features_store` without flagging keys of other tools such as `features` (four away)."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def yaml_path_of(node: dict) -> str:
    """The project-relative YAML file that describes a node (its SQL file if it has none)."""
    patch = node.get("patch_path")
    if patch:
        return patch.split("://", 1)[-1]
    return node.get("original_file_path") or node.get("path") or "unknown file"


def parse_feature_view(node: dict) -> FeatureViewSpec:
    """Validate the feature metadata of a manifest model node that has some."""
    model = node["name"]
    yaml_path = yaml_path_of(node)
    meta = raw_feature_meta(node)

    def fail(problem: str, valid: str = "") -> MetaError:
        return MetaError(model, yaml_path, problem, valid)

    _check_keys(meta, fail)
    columns = list(node.get("columns") or {})
    if not columns:
        raise fail(
            "declares no columns; a feature view lists its columns in YAML",
            "add a `columns:` entry with name, description and data_type for each column",
        )
    entity = meta.get("entity")
    if entity is None:
        raise fail(f"meta.{META_KEY}.entity is missing", KNOWN_KEYS["entity"])
    if not isinstance(entity, str) or not entity.strip():
        raise fail(f"meta.{META_KEY}.entity must be a name (text), not {entity!r}")
    join_keys = _join_keys(meta, entity, columns, fail)
    data_types = {name: (column or {}).get("data_type") or None for name, column in (node.get("columns") or {}).items()}
    timestamp = _time_column(meta, "timestamp", data_types, fail, required=True)
    created_at = _time_column(meta, "created_at", data_types, fail, required=False)
    if created_at == timestamp:
        raise fail("created_at and timestamp name the same column; leave created_at out instead")
    ttl = _ttl(meta, fail)
    online = meta.get("online", True)
    if not isinstance(online, bool):
        raise fail(f"meta.{META_KEY}.online must be true or false, not {online!r}")
    owner = meta.get("owner")
    if owner is not None and not isinstance(owner, str):
        raise fail(f"meta.{META_KEY}.owner must be a name (text), not {owner!r}")
    reserved = [*join_keys, timestamp, *([created_at] if created_at else [])]
    aggregations = _aggregations(meta, data_types, entity, reserved, fail)
    features = [a.name for a in aggregations] if aggregations else _features(meta, columns, reserved, fail)
    for name in [*reserved, *features]:
        if is_reserved(name):
            raise fail(
                f"column '{name}' starts with {RESERVED_PREFIX}, which is reserved for fs's own columns in any case",
                "rename the column",
            )
    for name in features:
        if ":" in name:
            # A feature is named `view:feature`, split at the first ':'.
            raise fail(
                f"feature '{name}' has a ':' in its name, which `{model}:<feature>` cannot name",
                f"rename the column, or list the other columns in meta.{META_KEY}.features",
            )
    freshness = parse_freshness(meta.get("freshness"), ttl, fail)
    # fs check watches what a view reads: an aggregation view's events, by their columns.
    checked = aggregated_columns(aggregations) if aggregations else tuple(features)
    checks = parse_checks(meta.get("checks"), checked, fail)
    return FeatureViewSpec(
        model=model,
        yaml_path=yaml_path,
        entity=entity,
        join_keys=tuple(join_keys),
        timestamp=timestamp,
        created_at=created_at,
        ttl=ttl,
        online=online,
        owner=owner,
        features=tuple(features),
        freshness=freshness,
        checks=checks,
        aggregations=aggregations,
    )


def _aggregations(meta: dict, data_types: dict[str, str | None], entity: str, reserved: list[str], fail) -> tuple[WindowedAggregation, ...]:
    """An aggregation view's features come only from its aggregations, and its windows bound
    its values, so `features` and `ttl` are refused beside them rather than half obeyed."""
    if "aggregations" not in meta:
        return ()
    for key, why in (("ttl", "each window bounds its aggregation"), ("features", "its features are its aggregations")):
        if meta.get(key) is not None:
            raise fail(f"meta.{META_KEY}.{key} is not allowed beside aggregations: {why}", f"remove {key}")
    return parse_aggregations(meta["aggregations"], entity, data_types, reserved, fail)


def _check_keys(meta: object, fail) -> None:
    if not isinstance(meta, dict):
        raise fail(f"meta.{META_KEY} must be a mapping of settings", "keys: " + ", ".join(KNOWN_KEYS))
    refuse_unknown_keys(meta, KNOWN_KEYS, f"meta.{META_KEY}", fail)


def _column(meta: dict, key: str, columns: list[str], fail, required: bool) -> str | None:
    """The column a meta key names, which must be one of the model's."""
    value = meta.get(key)
    if value is None:
        if required:
            raise fail(f"meta.{META_KEY}.{key} is missing", KNOWN_KEYS[key])
        return None
    if not isinstance(value, str) or not value:
        raise fail(f"meta.{META_KEY}.{key} must be a column name, not {value!r}")
    if value not in columns:
        raise fail(f"{key} column '{value}' is not a column of the model", _columns_hint(value, columns))
    return value


def _time_column(meta: dict, key: str, data_types: dict[str, str | None], fail, required: bool) -> str | None:
    """The timestamp or created_at column; refused where its declared data_type is clearly no
    time (the training set's join would fail on it in the warehouse). dbt columns need not
    declare a type, and a type fs does not know is left to the warehouse."""
    name = _column(meta, key, list(data_types), fail, required)
    if name is not None and is_clearly_not_time(data_types[name]):
        times = [c for c, kind in data_types.items() if type_family(kind or "") in TIME_FAMILIES]
        raise fail(
            f"{key} column '{name}' has data_type {data_types[name]}, not a date or timestamp",
            f"date and time columns: {', '.join(times) or 'none declared'}",
        )
    return name


def _join_keys(meta: dict, entity: str, columns: list[str], fail) -> list[str]:
    declared = meta.get("join_keys", [f"{entity}_id"])
    join_keys = [declared] if isinstance(declared, str) else declared
    if not isinstance(join_keys, list) or not join_keys or not all(isinstance(k, str) for k in join_keys):
        raise fail(f"meta.{META_KEY}.join_keys must be a non-empty list of column names, not {declared!r}")
    if len(set(join_keys)) != len(join_keys):
        raise fail(f"join_keys {join_keys} name a column twice")
    for key in join_keys:
        if key not in columns:
            origin = "" if "join_keys" in meta else f" (the default for entity '{entity}')"
            raise fail(f"join key '{key}'{origin} is not a column of the model", _columns_hint(key, columns))
    return join_keys


def _ttl(meta: dict, fail) -> timedelta | None:
    if meta.get("ttl") is None:
        return None
    text = meta["ttl"]
    try:
        return parse_ttl(text)
    except TtlOutOfRange as error:
        problem = "is zero" if _is_zero(text) else "is longer than the maximum"
        raise fail(f"ttl '{text}' {problem}", f"valid: more than zero and at most {MAX_TTL_TEXT}; leave ttl out for no limit") from error
    except ValueError as error:
        raise fail(not_a_duration(f"ttl '{text}'", error), VALID_TTL) from error


def _is_zero(ttl: object) -> bool:
    return not any(c in "123456789" for c in str(ttl))


def _features(meta: dict, columns: list[str], reserved: list[str], fail) -> list[str]:
    if "features" not in meta:
        features = [c for c in columns if c not in reserved]
        if not features:
            raise fail("has no feature columns: every declared column is a key or a timestamp")
        return features
    listed = meta["features"]
    if not isinstance(listed, list) or not listed or not all(isinstance(f, str) for f in listed):
        raise fail(f"meta.{META_KEY}.features must be a non-empty list of column names, not {listed!r}")
    seen: set[str] = set()
    for name in listed:
        if name in seen:
            raise fail(f"feature '{name}' is listed twice in meta.{META_KEY}.features")
        seen.add(name)
        if name in reserved:
            raise fail(f"feature '{name}' is a join key or timestamp column, not a feature")
        if name not in columns:
            raise fail(f"feature '{name}' is not a column of the model", _columns_hint(name, columns))
    return listed


def _columns_hint(name: str, columns: list[str]) -> str:
    hint = closest(name, columns)
    prefix = f"did you mean '{hint[0]}'? " if hint else ""
    return prefix + "declared columns: " + ", ".join(columns)

