"""How the catalog is shown: tables for people, JSON for programs."""

from __future__ import annotations

from featurestore.catalog import Catalog, Feature, FeatureService, FeatureView, view_to_dict
from featurestore.console import Console, plural
from featurestore.catalog.ttl import format_ttl
from featurestore.catalog.versions import version_facts


def show_catalog(catalog: Catalog, console: Console, as_json: bool) -> None:
    if as_json:
        console.json(catalog.to_dict())
        return
    rows = [
        (
            view.name,
            view.entity,
            ", ".join(view.join_keys),
            len(view.features),
            format_ttl(view.ttl),
            "yes" if view.online else "no",
            view.owner or "-",
            _first_sentence(view.description),
        )
        for view in catalog
    ]
    console.table(
        ["view", "entity", "join keys", "features", "ttl", "online", "owner", "description"],
        rows,
        title=plural(len(rows), "feature view"),
        shorten=["description"],
        optional=["online", "owner", "join keys"],
    )
    if catalog.services:
        console.table(
            ["feature service", "features", "owner", "description"],
            [
                (
                    s.name,
                    sum(len(sel.features) for sel in catalog.resolve([s.name]))
                    + len(catalog.resolve_on_demand([s.name]).features),
                    s.owner or "-",
                    _first_sentence(s.description),
                )
                for s in catalog.services.values()
            ],
            shorten=["description"],
            optional=["owner"],
        )
    if catalog.on_demand:
        console.table(
            ["on-demand feature", "type", "request fields", "sql"],
            [
                (f.ref, f.dtype, ", ".join(f"{name} {dtype}" for name, dtype in f.expression.request_fields) or "-", f.sql)
                for group in catalog.on_demand.values()
                for f in group.features
            ],
            shorten=["sql"],
            optional=["request fields", "sql"],
        )


def show_view(view: FeatureView, console: Console, as_json: bool) -> None:
    if as_json:
        console.json(view_to_dict(view))
        return
    facts = [
        ("description", view.description),
        ("entity", f"{view.entity} (join keys: {', '.join(view.join_keys)})"),
        ("timestamp", view.timestamp),
        ("created_at", view.created_at or "-"),
        ("ttl", format_ttl(view.ttl)),
        ("online", "yes" if view.online else "no"),
        ("owner", view.owner or "-"),
        ("tags", ", ".join(view.tags) or "-"),
        *version_facts(view),
        ("relation", str(view.relation)),
        ("defined in", f"{view.sql_path}, {view.yaml_path}"),
        ("depends on", ", ".join(view.depends_on) or "-"),
        ("sources", ", ".join(view.upstream_sources) or "-"),
    ]
    console.table(["", view.name], facts, wrap=[view.name])
    _features_table(view.features, console, title=plural(len(view.features), "feature"))


def show_service(catalog: Catalog, service: FeatureService, console: Console, as_json: bool) -> None:
    """A feature service: what it is, and every feature it lists (view features, then
    on-demand ones), as `fs catalog show` shows a view."""
    if as_json:
        console.json(
            {
                "feature_service": service.name,
                "description": service.description,
                "owner": service.owner,
                "yaml_path": service.yaml_path,
                "features": list(service.features),
            }
        )
        return
    facts = [("description", service.description), ("owner", service.owner or "-"), ("defined in", service.yaml_path)]
    console.table(["", f"feature service {service.name}"], facts, wrap=[f"feature service {service.name}"])
    features = tuple(f for selection in catalog.resolve([service.name]) for f in selection.features)
    _features_table(features, console, title=plural(len(features), "view feature"))
    on_demand = catalog.resolve_on_demand([service.name]).features
    if on_demand:
        console.table(["on-demand feature", "type", "sql"], [(f.ref, f.dtype, f.sql) for f in on_demand], shorten=["sql"])


def show_search(hits: list[tuple[FeatureView, tuple[Feature, ...]]], text: str, console: Console, as_json: bool) -> None:
    """The features that mention `text`, view by view, and how many others each view has; a
    view that mentions it only in its own name, description, entity, owner or tags is named
    with its number of features, none of which matched."""
    if as_json:
        console.json(
            [
                {
                    "view": view.name,
                    "matched": "features" if features else "view",
                    "features": [f.name for f in features],
                    "other_features": len(view.features) - len(features),
                }
                for view, features in hits
            ]
        )
        return
    if not hits:
        console.print(f"nothing in the catalog mentions '{text}'")
        return
    for view, features in hits:
        count = plural(len(view.features), "feature")
        if not features:
            console.print(
                f"{view.name} ({view.entity}) mentions '{text}' itself (name, description, entity, owner "
                f"or tags), none of its {count}: fs catalog show {view.name}"
            )
            continue
        which = f"all {count}" if len(features) == len(view.features) else f"{len(features)} of its {count}"
        more = f" (all: fs catalog show {view.name})" if len(features) < len(view.features) else ""
        _features_table(features, console, title=f"{view.name} ({view.entity}): {which} mention '{text}'{more}")


def _features_table(features: tuple[Feature, ...], console: Console, title: str) -> None:
    console.table(
        ["feature", "type", "tags", "description"],
        [(f.ref, f.dtype or "?", ", ".join(f.tags), f.description) for f in features],
        title=title,
        shorten=["description"],
        optional=["tags"],
    )


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]
