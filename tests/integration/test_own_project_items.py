"""The small findings of a new user with their own dbt project (issue 19, item 8), each
against the real thing: the catalog from a manifest, DuckDB, Redis, dbt."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import pandas as pd
import pytest

from featurestore.catalog.from_manifest import catalog_from_manifest
from featurestore.errors import EXIT_PROJECT, EXIT_WAREHOUSE, MetaError
from tests.conftest import write_manifest_project
from tests.manifests import CUSTOMER_COLUMNS, CUSTOMER_META, exposure, manifest, model_node
from tests.online_fixtures import TINY_COLUMNS, TinyProject, online, row, write_tiny_manifest  # noqa: F401
from tests.tiny_projects import run_fs, write_tiny_project


NOT_A_VIEW = (
    "models/ml.yml: feature service 'churn': feature 'customer_stats:orders_30d' names model 'customer_stats', "
    "which is not a feature view: "
)


@pytest.mark.parametrize(
    "meta, why",
    [
        ({"feature_stor": CUSTOMER_META}, "its meta key 'feature_stor' is not 'feature_store' (did you mean 'feature_store'? rename the key)"),
        ({}, "it has no meta.feature_store (add one to its YAML to make it a feature view)"),
    ],
)
def test_a_service_naming_a_model_that_is_not_a_view_says_why(meta, why):
    node = model_node("customer_stats", None, CUSTOMER_COLUMNS)
    node["config"]["meta"].update(meta)
    document = manifest(node, exposures=[exposure("churn", ["customer_stats:orders_30d"], ["customer_stats"])])
    with pytest.raises(MetaError) as raised:
        catalog_from_manifest(document)
    assert str(raised.value) == NOT_A_VIEW + why


def test_catalog_show_of_a_service_shows_the_service(tmp_path, clean_env, cli):
    node = model_node("customer_stats", CUSTOMER_META, CUSTOMER_COLUMNS)
    document = manifest(node, exposures=[exposure("churn", ["customer_stats:orders_30d"], ["customer_stats"])])
    write_manifest_project(tmp_path, document)
    code, out, err = cli("catalog", "show", "churn", "--json", "--project-dir", str(tmp_path))
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "feature_service": "churn",
        "description": "The churn model.",
        "owner": "ml-team",
        "yaml_path": "models/ml.yml",
        "features": ["customer_stats:orders_30d"],
    }
    code, out, err = cli("catalog", "show", "churn", "--project-dir", str(tmp_path))
    assert code == 0 and "feature service churn" in out and "customer_stats:orders_30d" in out


def test_fs_get_echoes_an_integer_id_as_an_integer(tmp_path, online, cli):
    types = {**TINY_COLUMNS, "customer_id": "bigint"}
    write_tiny_manifest(tmp_path, types)
    tiny = TinyProject(tmp_path)
    tiny.set_rows([{**row(None, 28), "customer_id": 7}], types)
    assert cli("sync", "--project-dir", str(tmp_path))[0] == 0
    code, out, err = cli("get", "customer_stats:orders", "-e", "customer_id=7", "--project-dir", str(tmp_path))
    assert (code, err) == (0, "")
    (result,) = json.loads(out)
    assert result["entity"] == {"customer_id": 7} and result["values"] == {"customer_stats:orders": 1}


def test_a_pandas_int64_spine_key_keeps_its_dtype(tmp_path, online):
    types = {**TINY_COLUMNS, "customer_id": "bigint"}
    write_tiny_manifest(tmp_path, types)
    tiny = TinyProject(tmp_path)
    tiny.set_rows([{**row(None, 20), "customer_id": 7}], types)
    spine = pd.DataFrame(
        {"customer_id": pd.array([7, None], dtype="Int64"), "event_timestamp": [datetime(2024, 3, 1)] * 2}
    )
    frame = tiny.store().training_set(spine, ["customer_stats:orders"]).to_pandas()
    assert str(frame["customer_id"].dtype) == "Int64"
    assert frame["customer_id"].tolist() == [7, pd.NA]


def test_fs_build_on_a_locked_duckdb_file_is_exit_4_and_one_line(tmp_path):
    root = write_tiny_project(tmp_path / "tiny")
    # This process makes the target's file and holds its write lock (no `dbt seed` first: a
    # dbt process, 3 s of CPU, for a file the lock makes anyway).
    holder = duckdb.connect(str(root / "dev.duckdb"))
    try:
        result = run_fs(root, "build")
    finally:
        holder.close()
    assert result.returncode == EXIT_WAREHOUSE
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: the DuckDB file {root / 'dev.duckdb'} is locked by ")
    assert line.endswith("wait for it to finish and retry")


@pytest.mark.parametrize("command", [["sync"], ["push", "customer_stats", "--file", "rows.csv"]])
def test_an_invalid_project_starts_no_redis_server(tmp_path, clean_env, cli, command):
    from featurestore.online.embedded import socket_path, stop_server

    node = model_node("customer_stats", {**CUSTOMER_META, "ttl": "soon"}, CUSTOMER_COLUMNS)
    write_manifest_project(tmp_path, manifest(node))
    try:
        code, _, err = cli(*command, "--project-dir", str(tmp_path))
        assert code == EXIT_PROJECT and "ttl" in err and err.count("\n") == 1
        assert not socket_path(tmp_path).exists()  # no server was started for nothing
    finally:
        stop_server(tmp_path)
