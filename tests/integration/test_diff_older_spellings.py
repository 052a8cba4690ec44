"""`fs diff --state` against a manifest deployed by an older fs, which read durations leniently
(any case, units in any order, a unit repeated and summed): the current project is read
strictly, the deployed one as the older fs read it, so the diff compares what was deployed.
A spelling fixed in the project is then no change (`3D` -> `3d`), a ttl that meant something
else than it looked like is a ttl change (`1M`, one minute, -> `30d`), and a window whose text
is fixed renames its features, which the services naming them notice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from featurestore.errors import EXIT_DIFF_BREAKING
from tests.conftest import write_manifest_project
from tests.manifests import CUSTOMER_META, exposure, manifest, model_node

pytestmark = pytest.mark.integration

COLUMNS = ["customer_id", "event_timestamp", "orders"]
EVENTS = ["customer_id", "event_timestamp", "amount"]
EVENT_TYPES = {"customer_id": "integer", "event_timestamp": "timestamp", "amount": "double"}


def stats(ttl: str) -> dict:
    return model_node("customer_stats", {**CUSTOMER_META, "ttl": ttl}, COLUMNS)


def orders(window: str) -> dict:
    meta = {"entity": "customer", "join_keys": ["customer_id"], "timestamp": "event_timestamp",
            "aggregations": [{"column": "*", "function": "count", "windows": [window]}]}
    return model_node("customer_orders", meta, EVENTS, types=EVENT_TYPES)


def service(feature: str) -> dict:
    return {**exposure("churn", [f"customer_orders:{feature}"], ["customer_orders"]), "unique_id": "exposure.demo.churn"}


def as_dbt_wrote(document: dict) -> dict:
    document["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/manifest/v12.json"
    return document


def diff(cli, tmp_path: Path, deployed: dict, current: dict) -> tuple[int, dict, str]:
    project = write_manifest_project(tmp_path / "now", current)
    state = tmp_path / "prod" / "manifest.json"
    state.parent.mkdir()
    state.write_text(json.dumps(as_dbt_wrote(deployed)))
    code, out, err = cli("diff", "--project-dir", str(project), "--state", str(state), "--json")
    assert out and "Traceback" not in err, err
    return code, json.loads(out), err


def changes(report: dict) -> dict[str, list[tuple[str, str | None]]]:
    return {v["name"]: sorted((c["kind"], c["feature"]) for c in v["changes"]) for v in report["views"] if v["changes"]}


@pytest.mark.parametrize("deployed", ["3D", "1d1d1d", "12h2d12h", " 3D "])
def test_a_deployed_ttl_spelt_as_the_older_fs_allowed_is_what_it_meant(cli, tmp_path, deployed):
    code, report, err = diff(cli, tmp_path, manifest(stats(deployed)), manifest(stats("3d")))
    assert (code, changes(report)) == (0, {}), err


def test_a_deployed_ttl_of_1M_was_one_minute(cli, tmp_path):
    code, report, err = diff(cli, tmp_path, manifest(stats("1M")), manifest(stats("1m")))
    assert (code, changes(report)) == (0, {}), err
    code, report, err = diff(cli, tmp_path / "again", manifest(stats("1M")), manifest(stats("30d")))
    assert changes(report) == {"customer_stats": [("ttl_changed", None)]}
    view = report["views"][0]["changes"][0]
    assert (view["before"], view["after"]) == ("1m", "30d")


def test_the_project_itself_is_still_read_strictly(cli, tmp_path):
    project = write_manifest_project(tmp_path / "now", manifest(stats("3D")))
    state = tmp_path / "manifest.json"
    state.write_text(json.dumps(as_dbt_wrote(manifest(stats("3d")))))
    code, out, err = cli("diff", "--project-dir", str(project), "--state", str(state))
    assert (code, out) == (3, "")
    assert err == (
        "error: models/customer_stats.yml: model 'customer_stats': ttl '3D' is not a duration: units are lower "
        "case, so 'D' is not one (valid: a number and a lower-case unit, s m h d or w, such as 90m, 3h or 30d; "
        "units combine largest first, each once, such as 1d12h)\n"
    )


def test_a_window_written_anew_renames_its_features_and_breaks_the_services_naming_them(cli, tmp_path):
    deployed = manifest(orders("7D"), exposures=[service("customer__count__7D")])
    current = manifest(orders("7d"), exposures=[service("customer__count__7d")])
    code, report, err = diff(cli, tmp_path, deployed, current)
    assert code == EXIT_DIFF_BREAKING, err
    assert changes(report) == {"customer_orders": [("feature_renamed", "customer__count__7D")]}
    (change,) = report["views"][0]["changes"]
    assert (change["impact"], change["before"], change["after"]) == ("breaking", "customer__count__7D", "customer__count__7d")
    assert report["breaking_services"] == ["churn"]
