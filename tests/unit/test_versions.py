"""The spelling of feature-view versions and which version a name means (catalog/versions.py),
against hand-made manifest nodes; the real dbt build is tests/integration/test_model_versions.py."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.catalog.versions import (
    canonical_view_name, dbt_ref, model_of, model_versions, pinned_ref, versioned_name,
)
from featurestore.errors import UsageError

model_names = st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True)
versions = st.one_of(st.integers(0, 10_000), st.from_regex(r"[0-9][0-9a-z_]{0,5}", fullmatch=True))


def node(name: str, version, latest=None) -> dict:
    return {"resource_type": "model", "name": name, "version": version, "latest_version": latest}


@settings(max_examples=40, deadline=None)  # a loaded machine, not the code, is slow
@given(model_names, versions)
def test_a_versioned_name_splits_back_into_model_and_version(model, version):
    name = versioned_name(model, version)
    assert (model_of(name), name.removeprefix(model)) == (model, f"@v{version}")
    assert dbt_ref(name) == f"ref('{model}', v={version})"
    assert versioned_name(model, None) == model_of(model) == model


@settings(deadline=None)
@given(st.lists(st.integers(0, 300), min_size=1, max_size=8, unique=True), st.data())
def test_a_plain_name_means_the_latest_version_and_versions_sort_as_numbers(numbers, data):
    latest = data.draw(st.sampled_from(numbers + [None]))
    nodes = [node("m", n, latest) for n in numbers]
    found = model_versions(nodes, [f"m@v{n}" for n in numbers])["m"]
    assert found.views == tuple(f"m@v{n}" for n in sorted(numbers))  # v10 after v9
    expected = f"m@v{latest if latest is not None else max(numbers)}"  # dbt: the greatest by default
    assert canonical_view_name("m", found.views, {"m": found}) == expected
    for n in numbers:
        assert canonical_view_name(f"m@v{n}", found.views, {"m": found}) == f"m@v{n}"


def test_unknown_and_malformed_versions_name_the_valid_ones():
    known = model_versions([node("m", 1, 2), node("m", 2, 2)], ["m@v1", "m@v2"])
    views = ["m@v1", "m@v2"]
    assert canonical_view_name("other", views, known) is None
    with pytest.raises(UsageError, match=r"^'m@v9': model 'm' has no feature-view version v9; versions: m@v1, m@v2 \(latest\)$"):
        canonical_view_name("m@v9", views, known)
    for malformed in ("m@2", "m@", "m@v"):
        with pytest.raises(UsageError, match=rf"^'{malformed}' is not a version's name \(m@v<version>\); versions: m@v1, m@v2 \(latest\)$"):
            canonical_view_name(malformed, views, known)


def test_a_latest_version_that_is_no_view_leaves_the_plain_name_to_the_versions():
    known = model_versions([node("m", 1, 2), node("m", 2, 2)], ["m@v1"])
    with pytest.raises(UsageError, match=r"^'m' means the latest version m@v2, which is not a feature view; name a version: m@v1$"):
        canonical_view_name("m", ["m@v1"], known)


@pytest.mark.parametrize(
    ("refs", "pinned"),
    [
        ([{"name": "m", "version": 1}], "m@v1:f"),  # depends on one version only: pinned to it
        ([{"name": "m", "version": None}], "m:f"),  # ref('m'): follows the latest
        ([{"name": "m", "version": 1}, {"name": "m", "version": None}], "m:f"),
        ([{"name": "m", "version": 1}, {"name": "m", "version": 2}], "m:f"),
        ([], "m:f"),
    ],
)
def test_a_service_pins_the_one_version_it_depends_on(refs, pinned):
    assert pinned_ref("m:f", refs) == pinned
    assert pinned_ref("m@v2:f", refs) == "m@v2:f"  # a spelled version stays as written
    assert pinned_ref("plain:f", refs) == "plain:f"
