"""Which training sets generated as dbt models (`fs training-set --as-model`) are stale: a view
they read changed its keys, timestamp, created_at, ttl, features or their types, the spine's
columns changed (the SQL lists them as they were), or fs now generates other SQL, since the
model was generated. `fs check` reports each as a warning, in
one line naming the model, what changed and the command that regenerates it (the one in the
model's header, which its fingerprint keeps)."""

from __future__ import annotations

from typing import Callable, Sequence

from featurestore.catalog import Catalog
from featurestore.catalog.fingerprint import fingerprint_changes
from featurestore.governance.check_report import CheckResult
from featurestore.sql.dbt_model import SQL_GENERATION_VERSION

STALE = "stale"


def stale_model_results(
    catalog: Catalog,
    view_names: Sequence[str] | None = None,
    spine_columns: Callable[[str], Sequence[str] | None] | None = None,
) -> list[CheckResult]:
    """A warning for each generated model (of those that read one of `view_names`, when
    given) that is stale, saying what changed. A model that is not stale adds no result, so
    that a project's check counts do not change with the models it generates.
    `spine_columns(model)`: the spine model's columns in the warehouse now, None when it
    cannot be read (not built)."""
    results = []
    for model in sorted(catalog.models.values(), key=lambda m: m.name):
        stored = model.generated
        if stored is None:
            continue
        if view_names and not set(view_names) & set(stored.get("views") or {}):
            continue
        changes = fingerprint_changes(stored, catalog, stored.get("features") or [])
        changes.extend(_spine_changes(stored, spine_columns))
        if stored.get("version") != SQL_GENERATION_VERSION:
            changes.append(f"fs generates other SQL now (version {stored.get('version')} -> {SQL_GENERATION_VERSION})")
        if changes:
            detail = f"{'; '.join(changes)} since {model.sql_path} was generated; regenerate: {stored.get('command')}"
            results.append(CheckResult(model.name, None, STALE, "warn", None, None, None, detail))
    return results


def _spine_changes(stored: dict, spine_columns: Callable[[str], Sequence[str] | None] | None) -> list[str]:
    """The spine's columns added or removed since generation; none when the fingerprint has
    no columns (a model generated before fs kept them) or the spine cannot be read."""
    before, spine = stored.get("spine_columns"), stored.get("spine")
    if before is None or spine is None or spine_columns is None:
        return []
    now = spine_columns(spine)
    if now is None:
        return []
    parts = [*(f"+{c}" for c in now if c not in before), *(f"-{c}" for c in before if c not in now)]
    return [f"spine {spine}'s columns changed: {', '.join(parts)}"] if parts else []
