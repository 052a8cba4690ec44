"""The fingerprint of a training set generated as a dbt model: every fact of the catalog its
SQL was generated from, per view (the dbt model version it reads, keys, timestamp,
created_at, ttl, the features and their declared types, whether a test keeps its rows
unique, which columns are quoted) and per on-demand feature (its type and expression), as plain JSON values.

The generated model stores it in its meta (catalog/dbt_models.py); `fs check` computes it
again from the catalog now, and `fingerprint_changes` names what differs, so a stale model is
reported with the view and what changed. A view's SQL is not in it: the model reads the view
through `ref()`, and dbt rebuilds it after the view whatever the view's SQL says."""

from __future__ import annotations

from typing import Sequence

from featurestore.catalog.model import Catalog, FeatureView
from featurestore.catalog.ttl import format_ttl
from featurestore.errors import UsageError

VIEW_FACTS = ("version", "join_keys", "timestamp", "created_at", "ttl", "rows_unique", "quoted")
"""A view's facts compared one by one; its features are compared apart, feature by feature."""

FACT_NAMES = {"rows_unique": "uniqueness test", "quoted": "quoted columns", "join_keys": "keys"}


def features_fingerprint(catalog: Catalog, features: Sequence[str]) -> dict:
    """What the generated SQL of a training set of `features` depends on in `catalog`.

    Raises UsageError when the features no longer resolve (a view or feature removed)."""
    selections, on_demand = catalog.resolve_all(features)
    views: dict[str, dict] = {}
    for selection in on_demand.joined(selections):
        entry = views.setdefault(selection.view.name, _view_facts(selection.view))
        for feature in selection.features:
            entry["features"][feature.name] = feature.dtype
    computed = {f.ref: {"dtype": f.dtype, "sql": f.sql} for f in on_demand.features}
    return {"views": views, "on_demand": computed}


def _view_facts(view: FeatureView) -> dict:
    return {
        # The dbt model version read (`ref(..., v=N)`); None for a model without versions.
        "version": view.version,
        "join_keys": list(view.join_keys),
        "timestamp": view.timestamp,
        "created_at": view.created_at,
        "ttl": format_ttl(view.ttl) if view.ttl is not None else None,
        "rows_unique": view.rows_unique_by_test,
        "quoted": sorted(view.quoted_columns),
        "features": {},
    }


def fingerprint_changes(stored: dict, catalog: Catalog, features: Sequence[str]) -> list[str]:
    """What changed in `catalog` since `stored` (a `features_fingerprint`) was taken, one
    phrase each ("view weather_hourly's ttl changed from 1h to 2h"); empty when nothing did."""
    try:
        current = features_fingerprint(catalog, features)
    except UsageError as error:
        return [f"its features no longer resolve ({error.message})"]
    changes: list[str] = []
    before_views, now_views = stored.get("views") or {}, current["views"]
    for name, before in before_views.items():
        now = now_views.get(name)
        if now is None:
            changes.append(f"view {name} is no longer read")
            continue
        for fact in VIEW_FACTS:
            if before.get(fact) != now[fact]:
                label = FACT_NAMES.get(fact, fact)
                changes.append(f"view {name}'s {label} changed from {_shown(before.get(fact))} to {_shown(now[fact])}")
        changes.extend(_feature_changes(f"view {name}", before.get("features") or {}, now["features"]))
    changes.extend(f"view {name} is now read" for name in now_views if name not in before_views)
    changes.extend(_feature_changes("on-demand", stored.get("on_demand") or {}, current["on_demand"]))
    return changes


def _feature_changes(owner: str, before: dict, now: dict) -> list[str]:
    added = [n for n in now if n not in before]
    removed = [n for n in before if n not in now]
    changed = [n for n in now if n in before and before[n] != now[n]]
    parts = [*(f"+{n}" for n in added), *(f"-{n}" for n in removed), *(f"{n} ({_shown(before[n])} -> {_shown(now[n])})" for n in changed)]
    return [f"{owner} features changed: {', '.join(parts)}"] if parts else []


def _shown(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return f"[{', '.join(map(str, value))}]"
    return str(value)
