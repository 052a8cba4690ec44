"""The kinds of change `fs diff` reports and how much each matters: the one place the
classification is decided (governance/diff.py compares the manifests, diff_versions.py
follows a service to the version it reads)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class Impact(IntEnum):
    """How much a change matters to a consumer; ordered, so the worst of several is max()."""

    UNCHANGED = 0
    COMPATIBLE = 1
    VALUES = 2
    BREAKING = 3

    @property
    def label(self) -> str:
        """As `--json` and the docs spell it: unchanged, compatible, values_may_change, breaking."""
        return "values_may_change" if self is Impact.VALUES else self.name.lower()


IMPACT_OF = {
    # a feature view, or one of its features
    "view_removed": Impact.BREAKING,
    "feature_removed": Impact.BREAKING,
    "feature_renamed": Impact.BREAKING,
    "type_changed": Impact.BREAKING,
    "request_changed": Impact.BREAKING,
    "entity_changed": Impact.BREAKING,
    "join_keys_changed": Impact.BREAKING,
    "timestamp_changed": Impact.BREAKING,
    "ttl_changed": Impact.BREAKING,
    "online_disabled": Impact.BREAKING,
    "sql_changed": Impact.VALUES,
    "expression_changed": Impact.VALUES,
    "upstream_changed": Impact.VALUES,
    "created_at_changed": Impact.VALUES,
    "view_added": Impact.COMPATIBLE,
    "feature_added": Impact.COMPATIBLE,
    "type_declared": Impact.COMPATIBLE,
    "online_enabled": Impact.COMPATIBLE,
    "description_changed": Impact.COMPATIBLE,
    "metadata_changed": Impact.COMPATIBLE,
    # a feature service
    "pinned_version_changed": Impact.BREAKING,
    "latest_version_changed": Impact.VALUES,
    "service_removed": Impact.BREAKING,
    "feature_dropped": Impact.BREAKING,
    "service_added": Impact.COMPATIBLE,
    "feature_served": Impact.COMPATIBLE,
}
"""Every kind of change and its impact: the one place the classification is decided."""


@dataclass(frozen=True)
class Change:
    kind: str
    """A key of IMPACT_OF."""
    detail: str
    """What changed, in words: `type double -> bigint`."""
    feature: str | None = None
    """The feature it concerns; None for the whole view or service."""
    before: Any = None
    after: Any = None

    @property
    def impact(self) -> Impact:
        return IMPACT_OF[self.kind]

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "impact": self.impact.label,
            "feature": self.feature,
            "before": self.before,
            "after": self.after,
            "detail": self.detail,
        }


def worst(changes) -> Impact:
    return max((c.impact for c in changes), default=Impact.UNCHANGED)


def reaching(changes: tuple[Change, ...], feature: str) -> list[Change]:
    """Of a view's changes, those that reach one of its features: its settings, lineage and
    removal (not its description or owner), and those of the feature itself."""
    return [c for c in changes if c.feature == feature or (c.feature is None and c.impact >= Impact.VALUES)]
