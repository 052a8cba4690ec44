"""`fs diff`: what changed between the deployed version of the project (its manifest, as dbt's
`--state`) and this one, for every feature view and feature service, and whether it breaks.

Every change has one of three impacts, worst first:

- **breaking**: a consumer of the feature gets something else, or nothing: a view or feature
  removed or renamed, a type changed, the entity, join keys, timestamp column or ttl changed,
  a view taken offline, a service removed or no longer serving a feature;
- **values may change**: the same columns with other numbers: the model's SQL, an upstream
  model, seed, snapshot, source or project macro, or the view's created_at changed;
- **compatible**: added views and features, description, owner and tag edits.

A service breaks when a feature it served in the deployed version breaks or is no longer
served; `fs diff` exits with EXIT_DIFF_BREAKING exactly then. Values that may change are
reported but pass: changing values is what editing a model is for (docs/governance.md).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from featurestore.catalog import Catalog, FeatureView
from featurestore.catalog.from_manifest import catalog_from_manifest
from featurestore.catalog.ttl import format_ttl, older_spellings
from featurestore.console import plural
from featurestore.errors import BreakingChange, MetaError, ProjectError, UsageError, first_line
from featurestore.governance.changes import IMPACT_OF, Change, Impact, worst
from featurestore.governance.diff_versions import feature_names_of, reaching_served, served_view
from featurestore.governance.lineage import InputComparison

__all__ = ["IMPACT_OF", "Change", "DiffReport", "Impact", "ServiceDiff", "ViewDiff", "diff_manifests"]


@dataclass(frozen=True)
class ViewDiff:
    name: str
    status: str
    """added, removed, changed or unchanged."""
    changes: tuple[Change, ...]

    @property
    def impact(self) -> Impact:
        return worst(self.changes)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "status": self.status,
            "impact": self.impact.label,
            "changes": [c.to_dict() for c in self.changes],
        }


@dataclass(frozen=True)
class AffectedFeature:
    """A feature a service served in the deployed version, and what changed for it."""

    ref: str
    changes: tuple[Change, ...]

    @property
    def impact(self) -> Impact:
        return worst(self.changes)


@dataclass(frozen=True)
class ServiceDiff:
    name: str
    status: str
    """added, removed, changed or unchanged."""
    changes: tuple[Change, ...]
    """Of the service itself: added, removed, a feature newly served."""
    affected: tuple[AffectedFeature, ...]
    """Each feature it served before that a change concerns, in the service's order."""
    served: int
    """How many features it served in the deployed version."""

    @property
    def impact(self) -> Impact:
        return max(worst(self.changes), max((f.impact for f in self.affected), default=Impact.UNCHANGED))

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "status": self.status,
            "impact": self.impact.label,
            "served_before": self.served,
            "changes": [c.to_dict() for c in self.changes],
            "affected_features": [
                {"feature": f.ref, "impact": f.impact.label, "changes": [c.to_dict() for c in f.changes]}
                for f in self.affected
            ],
        }


@dataclass(frozen=True)
class DiffReport:
    """Every feature view and service of either version, what changed, and how much it matters."""

    state: str
    """The deployed manifest compared with."""
    views: tuple[ViewDiff, ...]
    services: tuple[ServiceDiff, ...]

    def services_at(self, impact: Impact) -> list[str]:
        return [s.name for s in self.services if s.impact is impact]

    @property
    def breaking_services(self) -> list[str]:
        return self.services_at(Impact.BREAKING)

    def raise_if_breaking(self) -> None:
        if self.breaking_services:
            raise BreakingChange(self.breaking_services, self.state)

    def line(self) -> str:
        changed = [v for v in self.views if v.changes]
        counts = ", ".join(
            f"{sum(v.impact is impact for v in changed)} {words}"
            for impact, words in ((Impact.BREAKING, "breaking"), (Impact.VALUES, "may change values"), (Impact.COMPATIBLE, "compatible"))
        )
        views = f"{len(changed)} of {plural(len(self.views), 'feature view')} changed ({counts})"
        broken = self.breaking_services
        if broken:
            verb = "breaks" if len(broken) == 1 else "break"
            return f"{views}; {len(broken)} of {plural(len(self.services), 'feature service')} {verb}: {', '.join(broken)}"
        values = self.services_at(Impact.VALUES)
        may = f", {len(values)} may serve other values: {', '.join(values)}" if values else ""
        return f"{views}; no feature service breaks{may}"

    def to_dict(self) -> dict:
        return {
            "state": self.state,
            "breaking": bool(self.breaking_services),
            "breaking_services": self.breaking_services,
            "values_may_change_services": self.services_at(Impact.VALUES),
            "views": [v.to_dict() for v in self.views],
            "services": [s.to_dict() for s in self.services],
        }


def diff_manifests(current: dict, deployed: dict, state: str) -> DiffReport:
    """Compare the project's manifest (`current`) with the deployed one, read the same way.

    >>> report = diff_manifests(current, deployed, "prod/manifest.json")   # doctest: +SKIP
    >>> report.breaking_services                                           # doctest: +SKIP
    ['flight_delay_model']
    """
    # Deployed by this fs or an older one, which read durations leniently: read as it was served.
    with _deployed_shape(state), older_spellings():
        try:
            before = catalog_from_manifest(deployed)
        except MetaError as error:
            raise ProjectError(f"the deployed manifest {state}: {error}") from error
    after = _current_catalog(current, before)
    inputs = InputComparison(current, deployed)
    with _deployed_shape(state):
        views = {
            name: _view_diff(name, before.views.get(name), after.views.get(name), inputs)
            for name in sorted({*before.views, *after.views})
        }
    services = tuple(
        _service_diff(name, before, after, views) for name in sorted({*before.services, *after.services})
    )
    return DiffReport(state=state, views=tuple(views.values()), services=services)


@contextmanager
def _deployed_shape(state: str) -> Iterator[None]:
    """A deployed manifest (a file the user names, not one dbt just wrote for this project)
    whose fields have other shapes than dbt's - a list where an object goes, nesting past
    Python's recursion limit - is one line naming it, as --state's other problems are."""
    try:
        yield
    except (AttributeError, TypeError, KeyError, RecursionError) as error:
        raise UsageError(
            f"--state {state}: not a dbt manifest fs can read (a field has another shape than dbt writes: "
            f"{type(error).__name__}: {first_line(error)})"
        ) from error


def _current_catalog(current: dict, before: Catalog) -> Catalog:
    """The project's catalog now. A service naming a feature the deployed version served
    and this one lacks is what the diff reports (a breaking change), not an error; a name
    that neither version has is the project's mistake, said as the catalog says it."""
    try:
        return catalog_from_manifest(current)
    except MetaError as error:
        after = catalog_from_manifest(current, check_services=False)
        for name in after.services:
            served_before = _served(before, name)[0] if name in before.services else []
            if any(ref not in served_before for ref in _served(after, name)[1]):
                raise error
        return after


# -- feature views -----------------------------------------------------------------------------
VIEW_SETTINGS = (
    ("entity", "entity_changed"),
    ("join_keys", "join_keys_changed"),
    ("timestamp", "timestamp_changed"),
    ("ttl", "ttl_changed"),
    ("created_at", "created_at_changed"),
)


def _view_diff(name: str, before: FeatureView | None, after: FeatureView | None, inputs: InputComparison) -> ViewDiff:
    if after is None:
        return ViewDiff(name, "removed", (Change("view_removed", f"view {name} removed"),))
    if before is None:
        return ViewDiff(name, "added", (Change("view_added", f"view {name} added"),))
    changes = [_setting(kind, attribute, before, after) for attribute, kind in VIEW_SETTINGS]
    changes.append(_setting("online_enabled" if after.online else "online_disabled", "online", before, after))
    changes.extend(_feature_changes(before, after))
    if before.description != after.description:
        changes.append(Change("description_changed", "view description edited"))
    changes.extend(_setting("metadata_changed", attribute, before, after) for attribute in ("owner", "tags"))
    for changed in inputs.changed(name):
        kind = "sql_changed" if changed.kind == "sql" else "upstream_changed"
        changes.append(Change(kind, str(changed) if changed.new else f"{changed} changed", after=changed.name))
    changes = [change for change in changes if change is not None]
    return ViewDiff(name, "changed" if changes else "unchanged", tuple(changes))


def _setting(kind: str, attribute: str, before: object, after: object, feature: str | None = None) -> Change | None:
    """The change of one setting of a view (or of its `feature`), or None when it is the same."""
    old, new = _plain(getattr(before, attribute)), _plain(getattr(after, attribute))
    if old == new:
        return None
    subject = f"{feature} {attribute}" if feature else attribute
    return Change(kind, f"{subject} {_words(old)} -> {_words(new)}", feature, old, new)


def _plain(value: Any) -> Any:
    """A setting as compared and as --json shows it: ttls as `7d`, tuples as lists."""
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "total_seconds"):
        return format_ttl(value)
    return value


def _words(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    return str(value)


def _feature_changes(before: FeatureView, after: FeatureView) -> list[Change]:
    old = {f.name: f for f in before.features}
    new = {f.name: f for f in after.features}
    removed = [n for n in old if n not in new]
    added = [n for n in new if n not in old]
    # One feature gone and one new of the same type in the same view is how a rename looks in
    # a manifest; either way the old name is gone, so it breaks the same.
    renamed = (
        {removed[0]: added[0]}
        if len(removed) == len(added) == 1 and _type(old[removed[0]].dtype) == _type(new[added[0]].dtype)
        else {}
    )
    changes = []
    for name in removed:
        if name in renamed:
            changes.append(Change("feature_renamed", f"{name} renamed to {renamed[name]}", name, name, renamed[name]))
        else:
            changes.append(Change("feature_removed", f"{name} removed", name, name, None))
    for name in old:
        if name not in new:
            continue
        was, now = _type(old[name].dtype), _type(new[name].dtype)
        if was != now:
            kind = "type_changed" if was and now else "type_declared"
            changes.append(Change(kind, f"{name} type {was or 'undeclared'} -> {now or 'undeclared'}", name, was, now))
        if old[name].description != new[name].description:
            changes.append(Change("description_changed", f"{name} description edited", name))
        tags = _setting("metadata_changed", "tags", old[name], new[name], feature=name)
        if tags is not None:
            changes.append(tags)
    for name in added:
        if name not in renamed.values():
            changes.append(Change("feature_added", f"{name} added", name, None, name))
    return changes


def _type(dtype: str | None) -> str | None:
    """A declared type as compared: `VARCHAR` and `varchar` are one type, undeclared is None."""
    return " ".join(dtype.lower().split()) if dtype else None


# -- feature services --------------------------------------------------------------------------
def _service_diff(name: str, before: Catalog, after: Catalog, views: dict[str, ViewDiff]) -> ServiceDiff:
    if name not in after.services:
        served, _ = _served(before, name)
        return ServiceDiff(name, "removed", (Change("service_removed", f"service {name} removed"),), (), len(served))
    if name not in before.services:
        return ServiceDiff(name, "added", (Change("service_added", f"service {name} added"),), (), 0)
    (served_before, _), (served_now, _) = _served(before, name), _served(after, name)
    changes = tuple(
        Change("feature_served", f"{ref} newly served", ref) for ref in served_now if ref not in served_before
    )
    affected = []
    for ref in served_before:
        view_name, _, feature = ref.partition(":")
        if view_name in before.on_demand:
            relevant = _on_demand_changes(ref, before, after, views)
            group = after.on_demand.get(view_name)
            still_in_view = group is not None and any(f.name == feature for f in group.features)
        else:
            relevant = reaching_served(ref, before, after, {name: diff.changes for name, diff in views.items()})
            still_in_view = feature in feature_names_of(after, view_name)
        if ref not in served_now and still_in_view:
            relevant.append(Change("feature_dropped", f"{feature} no longer served", feature))
        if relevant:
            affected.append(AffectedFeature(ref, tuple(relevant)))
    status = "changed" if changes or affected else "unchanged"
    return ServiceDiff(name, status, changes, tuple(affected), len(served_before))


def _on_demand_changes(ref: str, before: Catalog, after: Catalog, views: dict[str, ViewDiff]) -> list[Change]:
    """What reaches an on-demand feature the deployed version served: its own removal, type,
    request fields or expression, and every change that reaches a view feature it reads."""
    group_name, _, name = ref.partition(":")
    old_group = before.on_demand[group_name]
    old = next(f for f in old_group.features if f.name == name)
    new_group = after.on_demand.get(group_name)
    new = next((f for f in new_group.features if f.name == name), None) if new_group else None
    if new is None:
        return [Change("feature_removed", f"on-demand feature {ref} removed", name)]
    changes = []
    if new.dtype != old.dtype:
        changes.append(Change("type_changed", f"type {old.dtype} -> {new.dtype}", name, old.dtype, new.dtype))
    if dict(new_group.request) != dict(old_group.request):
        before_fields, after_fields = dict(old_group.request), dict(new_group.request)
        changes.append(Change("request_changed", f"request fields {before_fields} -> {after_fields}", name, before_fields, after_fields))
    if new.sql.strip() != old.sql.strip():
        changes.append(Change("expression_changed", f"expression {old.sql.strip()} -> {new.sql.strip()}", name, old.sql, new.sql))
    # Each input judged as a service's feature naming it the same way: a pinned version's edit
    # breaks it, a plain model's input follows the latest.
    changes_of = {view: diff.changes for view, diff in views.items()}
    for ref in old.input_refs:
        if served_view(before, ref.partition(":")[0]) is not None:
            changes.extend(c for c in reaching_served(ref, before, after, changes_of) if c not in changes)
    return changes


def _served(catalog: Catalog, service: str) -> tuple[list[str], list[str]]:
    """The `view:feature` names a service serves (`view:*` expanded against that version),
    and those of its list that name no feature of that version."""
    served: list[str] = []
    unresolved: list[str] = []
    for ref in catalog.services[service].features:
        view_name, _, feature = ref.partition(":")
        view, group = catalog.views.get(served_view(catalog, view_name) or ""), catalog.on_demand.get(view_name)
        known = view.feature_names if view is not None else tuple(f.name for f in group.features) if group else ()
        if not known or (feature != "*" and feature not in known):
            unresolved.append(ref)
            continue
        names = known if feature == "*" else (feature,)
        served.extend(f"{view_name}:{name}" for name in names if f"{view_name}:{name}" not in served)
    return served, unresolved
