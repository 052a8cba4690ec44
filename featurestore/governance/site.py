"""The feature site (`fs docs`): a static folder of HTML pages that opens from disk, with no
server and nothing fetched from the internet.

- index.html: the catalog (views, services, the last fs check), with a search over an index
  embedded in the page;
- views/<view>.html: entity, keys, ttl, freshness, lineage, the latest checks, and each
  feature's description, type, null rate and distribution chart;
- services/<service>.html: a feature service's features, by view;
- history.html: every check's value over the runs of fs check, as charts.

The figures come from one profile query per view (profile.py) and the check history table
(history.py), read when the site is built; the charts are SVG drawn in Python (charts.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from featurestore.catalog.ttl import format_ttl
from featurestore.catalog.versions import version_facts
from featurestore.errors import UsageError, ViewNotBuilt
from featurestore.governance import charts
from featurestore.governance.history import CheckHistory, check_history_relation, read_check_history
from featurestore.governance.profile import FeatureProfile, Kind, ViewProfile, profile_view

if TYPE_CHECKING:
    from featurestore.catalog import Catalog, FeatureView
    from featurestore.console import Console
    from featurestore.engines.base import Warehouse
    from featurestore.project.profiles import Target

MARKER = ".fs-docs-site"
"""A file in every folder fs docs writes: only such a folder is replaced by the next build."""
NO_CHECK_RUN = "no fs check run yet"


@dataclass(frozen=True)
class Freshness:
    """How recent a view's newest value is at the project's now, against its SLA (the ttl)."""

    newest: datetime | None
    """The newest timestamp not after now."""
    newest_created: datetime | None
    now: datetime
    sla: timedelta | None
    latest: datetime | None = None
    """The newest timestamp of all, when rows are dated after now (else None)."""

    @property
    def age(self) -> timedelta | None:
        return None if self.newest is None else self.now - self.newest

    @property
    def label(self) -> str:
        """The status as the page says it."""
        return {"unknown": "no limit"}.get(self.status, self.status)

    @property
    def status(self) -> str:
        """fresh, stale (older than the SLA), unknown (no SLA) or empty (no rows)."""
        if self.newest is None:
            return "empty"
        if self.sla is None:
            return "unknown"
        return "fresh" if self.age <= self.sla else "stale"  # type: ignore[operator]


def freshness_sla(view: "FeatureView") -> timedelta | None:
    """The age past which a view counts as stale: its declared `freshness` (the age fs check
    fails at, else the one it warns at), else its ttl, after which its values are not served
    anyway, as fs check does (None: no limit)."""
    declared = view.freshness
    if declared is not None and (declared.fail_after or declared.warn_after):
        return declared.fail_after or declared.warn_after
    return view.ttl


@dataclass(frozen=True)
class ViewPage:
    view: "FeatureView"
    profile: ViewProfile | None
    """None when the view is not built (the page says so)."""
    freshness: Freshness | None
    services: list[tuple[str, list[str]]]
    """The feature services that use the view, with the features each uses."""
    file: str


@dataclass(frozen=True)
class SiteSummary:
    index: Path
    views: int
    services: int
    features: int
    check_runs: int | None
    """Runs of fs check in the history; None when there is no history table."""
    not_built: tuple[str, ...] = ()

    def line(self) -> str:
        checks = NO_CHECK_RUN if self.check_runs is None else _plural(self.check_runs, "fs check run")
        missing = f"; not built, so without figures: {', '.join(self.not_built)}" if self.not_built else ""
        return (
            f"wrote the feature site to {self.index}: {_plural(self.views, 'view')}, "
            f"{_plural(self.features, 'feature')}, {_plural(self.services, 'service')}, {checks}{missing}; "
            "open it in a browser"
        )

    def to_dict(self) -> dict:
        return {
            "index": str(self.index),
            "views": self.views,
            "features": self.features,
            "services": self.services,
            "check_runs": self.check_runs,
            "not_built": list(self.not_built),
        }


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@dataclass
class SiteInputs:
    """Everything a site is drawn from, read before any page is written."""

    catalog: "Catalog"
    project_name: str
    target: str
    now: datetime
    pages: dict[str, ViewPage]
    history: CheckHistory | None
    dbt_docs: Path | None = None
    training_sets: dict[str, list[dict]] = field(default_factory=dict)
    """View -> the training sets recorded against it, newest first (project/records_index.py)."""
    built_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc).replace(tzinfo=None))


def page_file(kind: str, name: str) -> str:
    """The page of a view or service, relative to the site: its name where that is a safe
    file name (dbt model names are, and a version's `model@v2`), else a readable name made
    safe plus a hash."""
    if re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.@-]*", name):
        return f"{kind}/{name}.html"
    import hashlib

    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or kind
    return f"{kind}/{safe}-{hashlib.sha1(name.encode()).hexdigest()[:8]}.html"


def read_site_inputs(
    catalog: "Catalog",
    open_warehouse: Callable[[], "Warehouse"],
    target: "Target",
    project_name: str,
    now: datetime,
    console: "Console",
) -> SiteInputs:
    """Profile every view (one query each) and read the check history."""
    pages: dict[str, ViewPage] = {}
    with open_warehouse() as warehouse, console.progress("profiling feature views", total=len(catalog.views)) as advance:
        for view in catalog:
            try:
                profile: ViewProfile | None = profile_view(view, warehouse, now)
            except ViewNotBuilt as error:
                console.warn(f"{error}; its page shows no figures")
                profile = None
            freshness = (
                None
                if profile is None
                else Freshness(
                    profile.newest_at_now,
                    profile.newest_created,
                    now,
                    freshness_sla(view),
                    latest=profile.newest if profile.newest != profile.newest_at_now else None,
                )
            )
            pages[view.name] = ViewPage(view, profile, freshness, _services_of(catalog, view), page_file("views", view.name))
            advance(1)
        # Last: on engines where a failed statement spoils the transaction, the missing
        # table's error must not stand in the way of the profiles.
        history = read_check_history(warehouse, check_history_relation(target))
    return SiteInputs(catalog=catalog, project_name=project_name, target=target.name, now=now, pages=pages, history=history)


def _services_of(catalog: "Catalog", view: "FeatureView") -> list[tuple[str, list[str]]]:
    used = []
    for service in catalog.services.values():
        features: list[str] = []
        for ref in service.features:
            name, _, feature = ref.partition(":")
            if name not in catalog.on_demand and catalog.canonical(name) == view.name:
                features.extend(view.feature_names if feature == "*" else [feature])
        if features:
            used.append((service.name, list(dict.fromkeys(features))))
    return used


# -- rendering ---------------------------------------------------------------------------------
def _duration(delta: timedelta | None) -> str:
    if delta is None:
        return "–"
    seconds = int(delta.total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes and not days else ""]
    return sign + (" ".join(p for p in parts if p) or "0m")


def _percent(rate: float | None) -> str:
    if rate is None:
        return "–"
    if 0 < rate < 0.001:
        return "<0.1%"
    return f"{rate:.1%}"


def _when(moment: datetime | None) -> str:
    return "–" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def feature_chart(profile: FeatureProfile) -> str:
    """The distribution chart of one feature, as SVG markup ('' when it has none)."""
    label = f"distribution of {profile.name}"
    if profile.histogram is not None:
        return charts.histogram_svg(profile.histogram, label)
    if profile.top_values is not None and profile.non_null:
        return charts.top_values_svg(profile.top_values, profile.non_null, label)
    return ""


def _environment():
    import jinja2
    from markupsafe import Markup

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("featurestore.governance", "site_templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        number=charts.number,
        percent=_percent,
        duration=_duration,
        when=_when,
        ttl=lambda ttl: format_ttl(ttl) if ttl else "none",
    )
    environment.globals.update(
        feature_chart=lambda profile: Markup(feature_chart(profile)),
        history_chart=lambda results, label: Markup(charts.history_svg(results, label)),
        page_file=page_file,
        Kind=Kind,
        NO_CHECK_RUN=NO_CHECK_RUN,
        status_of=_status_counts,
        version_facts=version_facts,
    )
    return environment


def _status_counts(results) -> dict[str, int]:
    counts = {"ok": 0, "warn": 0, "fail": 0}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    return counts


def search_index(inputs: SiteInputs) -> list[dict]:
    """What the search looks through: every view, feature and service, with its page."""
    entries: list[dict] = []
    for page in inputs.pages.values():
        view = page.view
        entries.append(
            {
                "kind": "view",
                "name": view.name,
                "view": view.name,
                "text": " ".join([view.description, view.entity, view.owner or "", *view.tags]),
                "description": view.description,
                "url": page.file,
            }
        )
        for feature in view.features:
            entries.append(
                {
                    "kind": "feature",
                    "name": feature.name,
                    "view": view.name,
                    "text": " ".join([feature.description, feature.dtype or "", *feature.tags, view.entity]),
                    "description": feature.description,
                    "url": f"{page.file}#feature-{feature.name}",
                }
            )
    for service in inputs.catalog.services.values():
        entries.append(
            {
                "kind": "service",
                "name": service.name,
                "view": "",
                "text": " ".join([service.description, service.owner or "", *service.features]),
                "description": service.description,
                "url": page_file("services", service.name),
            }
        )
    return entries


def _embedded_json(data: object) -> str:
    """JSON safe inside a <script> element: no `</script>` or `<!--` can close it early."""
    return json.dumps(data, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_site(inputs: SiteInputs, folder: Path) -> int:
    """Write every page and asset of the site into `folder` (which exists and is empty);
    returns the number of features."""
    environment = _environment()
    common = {name: getattr(inputs, name) for name in ("target", "now", "built_at", "history", "catalog", "pages")}
    common["project"] = inputs.project_name

    def write(relative: str, template: str, **context) -> None:
        depth = relative.count("/")
        root = "../" * depth
        dbt_docs = os.path.relpath(inputs.dbt_docs, folder / os.path.dirname(relative)) if inputs.dbt_docs else None
        html = environment.get_template(template).render(root=root, dbt_docs=dbt_docs, **common, **context)
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(html, encoding="utf-8")

    write("index.html", "index.html", search_json=_embedded_json(search_index(inputs)))
    for page in inputs.pages.values():
        here = (folder / page.file).parent
        recorded = [(entry, os.path.relpath(entry["record"], here)) for entry in inputs.training_sets.get(page.view.name, [])]
        write(page.file, "view.html", page=page, training_sets=recorded)
    for service in inputs.catalog.services.values():
        write(
            page_file("services", service.name), "service.html", service=service,
            by_view=_by_view(inputs, service.features), on_demand=_on_demand_of(inputs, service.features),
        )
    write("history.html", "history.html", series=_series(inputs.history))
    assets = resources.files("featurestore.governance") / "site_assets"
    (folder / "assets").mkdir(exist_ok=True)
    for asset in assets.iterdir():
        if asset.name.endswith((".css", ".js")):
            (folder / "assets" / asset.name).write_bytes(asset.read_bytes())
    (folder / MARKER).write_text("written by fs docs; the next fs docs replaces this folder\n")
    return sum(len(page.view.features) for page in inputs.pages.values())


def _by_view(inputs: SiteInputs, refs) -> list[tuple[ViewPage, list]]:
    """A service's features grouped by view, in the order it names them."""
    grouped: dict[str, list] = {}
    for ref in refs:
        name, _, feature = ref.partition(":")
        if name in inputs.catalog.on_demand:
            continue  # computed at request time: no rows to profile (_on_demand_of)
        name = inputs.catalog.canonical(name) or name  # a versioned model's plain name: its latest
        view = inputs.pages[name].view
        chosen = view.features if feature == "*" else (view.feature(feature),)
        bucket = grouped.setdefault(name, [])
        bucket.extend(f for f in chosen if f not in bucket)
    return [(inputs.pages[name], features) for name, features in grouped.items()]


def _on_demand_of(inputs: SiteInputs, refs) -> list:
    """A service's on-demand features (docs/configuration.md), in the order it names them."""
    chosen: list = []
    for ref in refs:
        name, _, feature = ref.partition(":")
        group = inputs.catalog.on_demand.get(name)
        if group is not None:
            chosen.extend(f for f in group.features if feature in ("*", f.name) and f not in chosen)
    return chosen


def _series(history: CheckHistory | None) -> dict[str, list[tuple[str, str | None, list]]]:
    """view -> [(check, feature, results oldest first)], view-level checks first."""
    if history is None:
        return {}
    grouped: dict[tuple[str, str, str | None], list] = {}
    for result in history.results:
        grouped.setdefault(result.series, []).append(result)
    by_view: dict[str, list[tuple[str, str | None, list]]] = {}
    for (view, check, feature), results in sorted(grouped.items(), key=lambda item: (item[0][0], item[0][2] or "", item[0][1])):
        by_view.setdefault(view, []).append((check, feature, results))
    return by_view


def write_site(inputs: SiteInputs, out: Path) -> SiteSummary:
    """Render the site into a new folder beside `out`, then put it in place of `out`: a
    reader never sees half a site, and a folder fs docs did not write is never replaced."""
    out = out.resolve()
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise UsageError(
            f"--out {out} exists and is not a site fs docs wrote; choose an empty or new folder (fs docs replaces its own site only)"
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as error:  # a file where a folder must be, no permission, a full disk
        raise UsageError(
            f"--out {out}: cannot make a folder there ({error.strerror or type(error).__name__}); choose a writable folder"
        ) from None
    try:
        features = render_site(inputs, staging)
        os.chmod(staging, 0o755)  # mkdtemp makes it private; a site is for reading
        if out.exists():
            retired = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(retired)
            staging.rename(out)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    runs = None if inputs.history is None else len({r.run_id for r in inputs.history.results})
    return SiteSummary(
        index=out / "index.html",
        views=len(inputs.pages),
        services=len(inputs.catalog.services),
        features=features,
        check_runs=runs,
        not_built=tuple(name for name, page in inputs.pages.items() if page.profile is None),
    )
