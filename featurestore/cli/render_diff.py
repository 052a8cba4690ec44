"""How `fs diff` is shown: a table of what changed in each view, one of what reaches each
service's features, and a summary line; or the whole report as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from featurestore.console import Console, plural

if TYPE_CHECKING:
    from featurestore.governance.diff import Change, DiffReport, ServiceDiff


def show_diff(report: "DiffReport", console: Console, as_json: bool) -> None:
    if as_json:
        console.json(report.to_dict())
        return
    view_rows = [
        (view.name, _words(change), change.detail)
        for view in report.views
        for change in sorted(view.changes, key=lambda c: -c.impact)
    ]
    if view_rows:
        console.table(["view", "impact", "change"], view_rows, title="feature views", wrap=["change"])
    service_rows = [row for service in report.services for row in _service_rows(service)]
    if service_rows:
        console.table(["service", "feature", "impact", "change"], service_rows, title="feature services", wrap=["change"])
    console.print(report.line())


def _service_rows(service: "ServiceDiff") -> list[tuple[str, str, str, str]]:
    """A row for each feature a breaking change reaches and for each change of the service
    itself; features whose values may change (or that changed compatibly) share one row per
    impact, since one upstream edit reaches many of them alike. Worst first."""
    from featurestore.governance.diff import Impact

    rows = [(change.impact, change.feature or "", _reason(change)) for change in service.changes]
    shared: dict[Impact, list] = {}
    for feature in service.affected:
        if feature.impact is Impact.BREAKING:
            worst = [c for c in feature.changes if c.impact is Impact.BREAKING]
            rows.append((Impact.BREAKING, feature.ref, "; ".join(_reason(c) for c in worst)))
        else:
            shared.setdefault(feature.impact, []).append(feature)
    for impact, features in shared.items():
        reasons = dict.fromkeys(_reason(c) for f in features for c in f.changes if c.impact is impact)
        label = features[0].ref if len(features) == 1 else plural(len(features), "feature")
        rows.append((impact, label, "; ".join(reasons)))
    rows.sort(key=lambda row: -row[0])
    return [(service.name, label, impact.label.replace("_", " "), how) for impact, label, how in rows]


def _words(change: "Change") -> str:
    return change.impact.label.replace("_", " ")


def _reason(change: "Change") -> str:
    """A change as it reads next to the feature it concerns: without the feature's name."""
    if change.feature and change.detail.startswith(change.feature + " "):
        return change.detail[len(change.feature) + 1 :]
    return change.detail
