"""How fs names relations for OpenLineage (as openlineage-dbt does, per engine), when lineage
is on, and feature_store.yml's lineage section: no I/O beyond a temp file."""

from __future__ import annotations

import pytest

from featurestore.engines.registry import engine_for_dialect
from featurestore.errors import ProjectError
from featurestore.governance.lineage_events import dbt_parent, job_namespace, lineage_configured
from featurestore.project.settings import Settings, load_settings


@pytest.mark.parametrize(
    "dialect, profile, namespace",
    [
        ("duckdb", {"type": "duckdb", "path": "feature_store.duckdb"}, "duckdb://feature_store.duckdb"),
        ("duckdb", {"type": "duckdb", "path": "/data/x.duckdb"}, "duckdb:///data/x.duckdb"),
        ("postgres", {"type": "postgres", "host": "db.internal", "port": 5433}, "postgres://db.internal:5433"),
        ("spark", {"type": "spark", "method": "thrift", "host": "spark.internal", "port": 10000}, "spark://spark.internal:10000"),
        # dbt-ol glues its default port to the host without a colon; fs names them the same.
        ("spark", {"type": "spark", "method": "thrift", "host": "h"}, "spark://h10001"),
        ("spark", {"type": "spark", "method": "http", "host": "h"}, "spark://h443"),
        ("spark", {"type": "spark", "method": "session", "host": "local"}, "spark://local"),
    ],
)
def test_relations_are_named_in_dbt_ols_namespaces(dialect, profile, namespace):
    assert engine_for_dialect(dialect).lineage_namespace(profile) == namespace


def test_lineage_is_on_only_when_configured(monkeypatch):
    for name in ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "OPENLINEAGE_DISABLED", "OPENLINEAGE_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OPENLINEAGE__TRANSPORT__TYPE", raising=False)
    assert not lineage_configured(Settings())
    assert lineage_configured(Settings(lineage_transport={"type": "console"}))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    assert lineage_configured(Settings())
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert not lineage_configured(Settings(lineage_transport={"type": "console"}))
    assert job_namespace(Settings()) == "fs"
    monkeypatch.setenv("OPENLINEAGE_NAMESPACE", "team")
    assert job_namespace(Settings()) == "team" and job_namespace(Settings(lineage_namespace="ml")) == "ml"


def test_the_parent_is_openlineage_parent_id_else_the_last_dbt_invocation(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENLINEAGE_NAMESPACE", raising=False)
    results = tmp_path / "run_results.json"
    results.write_text('{"metadata": {"invocation_id": "0b9b2c5e-3a2f-4a39-9f2c-1d2e3f4a5b6c"}}')
    monkeypatch.delenv("OPENLINEAGE_PARENT_ID", raising=False)
    parent = dbt_parent("demo", results)
    assert (parent.namespace, parent.name, parent.run_id) == ("dbt", "dbt-run-demo", "0b9b2c5e-3a2f-4a39-9f2c-1d2e3f4a5b6c")
    monkeypatch.setenv("OPENLINEAGE_PARENT_ID", "airflow/dag.task/01890000-0000-7000-8000-000000000001")
    parent = dbt_parent("demo", results)
    assert (parent.namespace, parent.name, parent.run_id) == ("airflow", "dag.task", "01890000-0000-7000-8000-000000000001")
    monkeypatch.delenv("OPENLINEAGE_PARENT_ID")
    results.write_text('{"metadata": {"invocation_id": "not a uuid"}}')
    assert dbt_parent("demo", results) is None and dbt_parent("demo", tmp_path / "missing.json") is None


@pytest.mark.parametrize("transport", ["http", "[1, 2]", "{url: x}"])
def test_a_lineage_transport_without_a_type_is_one_line(tmp_path, transport):
    path = tmp_path / "feature_store.yml"
    path.write_text(f"lineage:\n  transport: {transport}\n")
    with pytest.raises(ProjectError) as raised:
        load_settings(path)
    assert str(raised.value) == f"{path}: lineage.transport must be a mapping with a type (valid: http, file, console, kafka...)"
