"""dbt model versions as feature-view versions: how a version is spelled, which version a
plain name means, and which versions are deprecated.

A versioned dbt model (`versions:` in its YAML) has one node, and one relation, per
version; each version that carries `feature_store` meta is a feature view of its own,
named `<model>@v<version>` (`plane_daily@v2`, and its features `plane_daily@v2:plane__seats`).
The `@` cannot be part of a dbt model name, so the spelling never collides with a model
called `plane_daily_v2`, and it splits back into the model and the version: the view's
online key space (`fs:<prefix>:plane_daily@v2:...`), its page and its rows in `fs diff`
carry it as it is. A plain `plane_daily` means the model's `latest_version`, as
`ref('plane_daily')` does in dbt.

A feature service pins a version by naming it (`plane_daily@v1:plane__seats`) or by
depending on it (`ref('plane_daily', v=1)` in the exposure's depends_on) while its
features name the model plainly; a service that names the plain model and depends on
`ref('plane_daily')` follows the latest version. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, Iterable

from featurestore.errors import UsageError

VERSION_MARK = "@v"


def versioned_name(model: str, version: Any) -> str:
    """`plane_daily`, 2 -> `plane_daily@v2`; a model without versions keeps its name."""
    return model if version is None else f"{model}{VERSION_MARK}{version}"


def model_of(view_name: str) -> str:
    """`plane_daily@v2` -> `plane_daily` (the dbt model's name)."""
    return view_name.partition("@")[0]


def short_name(unique_id: str) -> str:
    """`model.pkg.name` -> `name`; `model.pkg.name.v2` -> `name@v2` (the view of that
    version); `source.pkg.src.table` -> `src.table`: what a depends_on node names."""
    kind, _package, *rest = unique_id.split(".")
    if kind == "source":
        return ".".join(rest)
    return f"{rest[0]}@{rest[1]}" if kind == "model" and len(rest) == 2 else rest[-1]


def dbt_ref(view_name: str) -> str:
    """How a dbt exposure depends on a view: `ref('plane_daily', v=1)` for `plane_daily@v1`."""
    model, at, version = view_name.partition(VERSION_MARK)
    return f"ref('{model}', v={version})" if at else f"ref('{model}')"


def is_versioned_ref(view_name: str) -> bool:
    """Whether a name spells a version (`plane_daily@v1`), as a pinned service does."""
    return "@" in view_name


@dataclass(frozen=True)
class ModelVersions:
    """The feature-view versions of one versioned dbt model."""

    model: str
    views: tuple[str, ...]
    """Each version that is a feature view, `model@vN`, in dbt's order of versions."""
    latest: str
    """`model@v<latest_version>`: what the plain model name means (it may not be a view)."""

    def describe(self) -> str:
        """`plane_daily@v1, plane_daily@v2 (latest)`: the valid names, for error lines."""
        return ", ".join(f"{name} (latest)" if name == self.latest else name for name in self.views)


def model_versions(nodes: Iterable[dict], views: Iterable[str]) -> dict[str, ModelVersions]:
    """Model name -> its versions, for every versioned model with a version that is a view."""
    view_names = set(views)
    found: dict[str, tuple[list[tuple[Any, str]], Any]] = {}
    for node in nodes:
        if node.get("resource_type") != "model" or node.get("version") is None:
            continue
        name = versioned_name(node["name"], node["version"])
        listed, latest = found.setdefault(node["name"], ([], node.get("latest_version")))
        if name in view_names:
            listed.append((node["version"], name))
    versions = {}
    for model, (listed, latest) in sorted(found.items()):
        if not listed:
            continue
        listed.sort(key=lambda pair: _version_order(pair[0]))
        # dbt fills latest_version in with the greatest version when the YAML leaves it out.
        latest_name = versioned_name(model, latest) if latest is not None else listed[-1][1]
        versions[model] = ModelVersions(model, tuple(name for _, name in listed), latest_name)
    return versions


def _version_order(version: Any) -> tuple:
    """Versions sort as numbers where they are numbers (v10 after v9), else as text."""
    try:
        return (0, float(version), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(version))


def canonical_view_name(name: str, views: Iterable[str], versions: dict[str, ModelVersions]) -> str | None:
    """The view a name means: itself, or for a versioned model's plain name its latest
    version. None when the name is no view and no versioned model (the caller says so, with
    its own candidates); an unknown version, or a latest version that is no view, is a
    UsageError naming the valid versions."""
    if name in views:
        return name
    model, at, version = name.partition("@")
    known = versions.get(model)
    if known is None:
        return None
    if at and (not version.startswith("v") or version == "v"):
        raise UsageError(f"'{name}' is not a version's name ({model}@v<version>); versions: {known.describe()}")
    if at:
        raise UsageError(f"'{name}': model '{model}' has no feature-view version {version}; versions: {known.describe()}")
    if known.latest not in known.views:
        raise UsageError(
            f"'{name}' means the latest version {known.latest}, which is not a feature view; "
            f"name a version: {known.describe()}"
        )
    return known.latest


def pinned_ref(ref: str, exposure_refs: list[dict]) -> str:
    """A service's feature `ref` with the version it pins spelled out: a plain
    `model:feature` becomes `model@vN:feature` when the exposure depends on
    `ref('model', v=N)` and not on `ref('model')`; otherwise it is unchanged."""
    view_name, sep, feature = ref.partition(":")
    # Pinned by the exposure's refs alone, whether or not the model's versions are views in
    # this manifest: `fs diff` then finds the pinned version removed, not an unknown name.
    pins = {r.get("version") for r in exposure_refs if r.get("name") == view_name}
    if len(pins) != 1 or None in pins:
        return ref
    return f"{versioned_name(view_name, pins.pop())}{sep}{feature}"


def parse_deprecation_date(value: Any) -> date | None:
    """dbt writes `2024-01-01T00:00:00+00:00` (or a date) into the manifest."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).date()


def deprecation_line(view: Any, user: str, now: datetime, versions: dict[str, ModelVersions]) -> str | None:
    """The warning for `user` (a service, a training set, an online read) reading `view`,
    when its deprecation_date has passed at `now` (the project's clock); else None."""
    deprecated = getattr(view, "deprecation_date", None)
    if deprecated is None or deprecated > now.date():
        return None
    known = versions.get(model_of(view.name))
    latest = f"; the latest is {known.latest}" if known is not None and known.latest != view.name else ""
    return f"{user} uses {view.name}, deprecated since {deprecated.isoformat()}{latest}"



class DeprecationNotices:
    """The warnings of deprecated versions in use: each version once per catalog read, by
    whoever names it first (a feature service when the catalog is read, else the training
    set or online read that asks for it). `warn` shows a line; the catalog never prints."""

    def __init__(self, catalog: Any, now: Callable[[], datetime], warn: Callable[[str], None]):
        self.catalog, self.now, self.warn = catalog, now, warn
        self.said: set[str] = set()
        for service in catalog.services.values():
            self.of(read_selections(catalog, [service.name]), f"feature service '{service.name}'")

    def of(self, selections: Iterable[Any], user: str) -> None:
        for selection in selections:
            line = deprecation_line(selection.view, user, self.now(), self.catalog.versions)
            if line is not None and selection.view.name not in self.said:
                self.said.add(selection.view.name)
                self.warn(line)


def read_selections(catalog: Any, refs: Iterable[str]) -> list[Any]:
    """The views `refs` read, with the features asked for and those their on-demand features
    read (a version read only by an on-demand expression is in use too)."""
    selections, on_demand = catalog.resolve_all(refs)
    return on_demand.joined(selections)


def version_facts(view: Any) -> list[tuple[str, str]]:
    """What `fs catalog show` and the feature site say of a view's version: none for a view
    without versions, else `2 of plane_daily (the latest)` and its deprecation date."""
    if view.version is None:
        return []
    model = model_of(view.name)
    latest = view.latest_version
    which = "the latest" if latest == view.version else f"latest: {versioned_name(model, latest)}"
    facts = [("version", f"{view.version} of {model} ({which})")]
    if view.deprecation_date is not None:
        facts.append(("deprecation date", view.deprecation_date.isoformat()))
    return facts
