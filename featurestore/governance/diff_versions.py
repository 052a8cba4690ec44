"""`fs diff` for the versions of a versioned dbt model (catalog/versions.py): which version a
service's feature is read from in each manifest, and what a change to it means.

- A new version is a new view: compatible, as every added view is.
- A service pinned to a version (`plane_daily@v1:...`, or `ref('plane_daily', v=1)`) was
  promised that version: an edit of the version's own definition (its SQL or created_at)
  breaks it (`pinned_version_changed`), where the same edit of a view without versions only
  may change values. Publish such a change as a new version instead.
- A service that names the plain model follows its latest version. When the latest moves
  (v1 -> v2) it reads another view: the values may change (`latest_version_changed`), and a
  feature the new latest lacks, or has with another type, breaks it. Edits of the latest
  reach it as edits of a view without versions do; services pinned to another version are
  not reached at all.
"""

from __future__ import annotations

from typing import Mapping

from featurestore.catalog import Catalog
from featurestore.catalog.versions import is_versioned_ref, model_of
from featurestore.errors import UsageError
from featurestore.governance.changes import Change, reaching

PINNED_EDITS = {"sql_changed", "created_at_changed"}
"""Changes to a version's own definition: what a service pinned to it was promised not to see."""


def served_view(catalog: Catalog, view_name: str) -> str | None:
    """The view a service's `view_name` reads in `catalog`, or None when it reads none there."""
    try:
        return catalog.canonical(view_name)
    except UsageError:
        return None  # a version, or a latest, that this manifest does not have


def feature_names_of(catalog: Catalog, view_name: str) -> tuple[str, ...]:
    name = served_view(catalog, view_name)
    return catalog.views[name].feature_names if name is not None else ()


def reaching_served(ref: str, before: Catalog, after: Catalog, changes: Mapping[str, tuple[Change, ...]]) -> list[Change]:
    """The changes that reach the feature `ref` a service served in the deployed version
    (`before`), from the view it read there to the view it reads now."""
    view_name, _, feature = ref.partition(":")
    was, now = served_view(before, view_name), served_view(after, view_name)
    relevant = reaching(changes[was], feature)
    if before.views[was].version is None:
        return relevant
    if is_versioned_ref(view_name):
        if any(change.kind in PINNED_EDITS for change in relevant):
            relevant.append(Change(
                "pinned_version_changed",
                f"{was} is pinned by the service and its definition changed (publish the change as a new version)",
                feature, was, was,
            ))
        return relevant
    if now is None or now == was:
        return relevant
    # The service follows the latest version, which is another view now.
    relevant = [Change("latest_version_changed", f"latest version of {model_of(was)}: {was} -> {now}", feature, was, now)]
    new = next((f for f in after.views[now].features if f.name == feature), None)
    old = before.views[was].feature(feature)
    if new is None:
        relevant.append(Change("feature_removed", f"{feature} is not in {now}", feature, feature, None))
    elif _type(old.dtype) != _type(new.dtype) and old.dtype and new.dtype:
        relevant.append(Change("type_changed", f"{feature} type {old.dtype} in {was} -> {new.dtype} in {now}", feature, old.dtype, new.dtype))
    return relevant


def _type(dtype: str | None) -> str | None:
    return " ".join(dtype.lower().split()) if dtype else None
