"""The classification of `fs diff`, as a property: for any mix of edits to a view, each feature
service gets the worst impact among the edits that reach a feature it serves, and the diff
exits non-zero (raise_if_breaking) exactly when one of them breaks.

The manifests are the small documents of tests/manifests.py; the real dbt manifests are in
tests/integration/test_diff.py.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.errors import EXIT_DIFF_BREAKING, BreakingChange
from featurestore.governance.diff import Impact, diff_manifests
from tests.manifests import exposure, manifest, model_node

FEATURES = ["f0", "f1", "f2", "f3"]
META = {"entity": "customer", "timestamp": "ts", "ttl": "30d"}
TYPES = {"f0": "double", "f1": "bigint", "f2": "double", "f3": "varchar"}


def deployed_manifest(served: list[str]) -> dict:
    node = model_node("stats", META, ["customer_id", "ts", *FEATURES], types=TYPES)
    node["checksum"] = {"name": "sha256", "checksum": "a"}
    return manifest(node, exposures=[exposure("service", served, ["stats"])])


edits = st.fixed_dictionaries(
    {
        "dropped": st.sets(st.sampled_from(FEATURES), max_size=3),
        "retyped": st.sets(st.sampled_from(FEATURES)),
        "described": st.sets(st.sampled_from(FEATURES)),
        "added": st.booleans(),
        "ttl": st.booleans(),
        "sql": st.booleans(),
    }
)
services = st.one_of(
    st.just(["stats:*"]),
    st.lists(st.sampled_from(FEATURES), min_size=1, unique=True).map(lambda fs: [f"stats:{f}" for f in fs]),
)


def edited(deployed: dict, edit: dict) -> dict:
    current = copy.deepcopy(deployed)
    node = current["nodes"]["model.demo.stats"]
    columns = node["columns"]
    for name in edit["retyped"]:
        columns[name]["data_type"] = "text"  # none of TYPES
    for name in edit["described"]:
        columns[name]["description"] += " (edited)"
    for name in edit["dropped"]:
        del columns[name]
    if edit["added"]:
        columns["f_new"] = {"name": "f_new", "description": "new", "data_type": "bigint", "tags": []}
    if edit["ttl"]:
        node["config"]["meta"]["feature_store"]["ttl"] = "7d"
    if edit["sql"]:
        node["checksum"] = {"name": "sha256", "checksum": "b"}
    return current


def expected_impact(served: list[str], edit: dict) -> Impact:
    """The service's impact, worked out from the edits by hand."""
    features = FEATURES if served == ["stats:*"] else [ref.split(":")[1] for ref in served]
    if edit["ttl"] or any(f in edit["dropped"] or f in edit["retyped"] for f in features):
        return Impact.BREAKING
    if edit["sql"]:
        return Impact.VALUES
    if any(f in edit["described"] for f in features) or (edit["added"] and served == ["stats:*"]):
        return Impact.COMPATIBLE
    return Impact.UNCHANGED


@settings(max_examples=300, deadline=None)
@given(served=services, edit=edits)
def test_a_service_gets_the_worst_impact_that_reaches_its_features(served, edit):
    deployed = deployed_manifest(served)
    report = diff_manifests(edited(deployed, edit), deployed, "deployed/manifest.json")
    (service,) = report.services
    assert service.impact is expected_impact(served, edit)
    (view,) = report.views
    assert view.impact is max(
        [Impact.BREAKING] * bool(edit["dropped"] or edit["retyped"] or edit["ttl"])
        + [Impact.VALUES] * edit["sql"]
        + [Impact.COMPATIBLE] * bool(edit["described"] - edit["dropped"] or edit["added"]),
        default=Impact.UNCHANGED,
    )
    if service.impact is Impact.BREAKING:
        with pytest.raises(BreakingChange) as raised:
            report.raise_if_breaking()
        assert raised.value.exit_code == EXIT_DIFF_BREAKING and raised.value.services == ["service"]
    else:
        report.raise_if_breaking()
