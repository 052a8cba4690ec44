"""`fs training-set` tells the user, once per view, when a view without a uniqueness test
makes fs break ties (a window over the whole view on DuckDB), and says nothing for a view
whose test makes that unnecessary. The rows are the same either way."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from tests.conftest import write_manifest_project
from tests.manifests import manifest, model_node

pytestmark = pytest.mark.integration

COLUMNS = {"customer_id": "varchar", "ts": "timestamp", "spend": "double"}


def unique_test(model: str) -> dict:
    return {
        "unique_id": f"test.demo.unique_{model}",
        "resource_type": "test",
        "name": f"unique_{model}",
        "attached_node": f"model.demo.{model}",
        "test_metadata": {
            "name": "unique_combination_of_columns",
            "namespace": "dbt_utils",
            "kwargs": {"combination_of_columns": ["customer_id", "ts"]},
        },
        "config": {"enabled": True, "severity": "ERROR"},
        "depends_on": {"nodes": [f"model.demo.{model}"]},
    }


@pytest.fixture
def project(tmp_path):
    nodes = []
    for name in ("tested", "untested"):
        node = model_node(name, {"entity": "customer", "timestamp": "ts"}, list(COLUMNS), types=COLUMNS)
        node["database"] = "demo"
        nodes.append(node)
    document = manifest(*nodes)
    document["nodes"]["test.demo.unique_tested"] = unique_test("tested")
    write_manifest_project(tmp_path, document)
    with duckdb.connect(str(tmp_path / "demo.duckdb")) as con:
        for name in ("tested", "untested"):
            con.execute(f"create table main.{name} as select 'c1' as customer_id, timestamp '2024-01-01' as ts, 1.5 as spend")
        con.execute("create table main.spine as select 'c1' as customer_id, timestamp '2024-01-02' as event_timestamp")
    return tmp_path


def hints(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("hint:")]


def test_a_view_without_a_uniqueness_test_gets_one_hint(project, cli, tmp_path):
    out = tmp_path / "out.parquet"
    code, _, stderr = cli(
        "training-set", "--project-dir", str(project), "--spine", "spine", "--features", "tested:spend,untested:spend",
        "--full-names", "-o", str(out),
    )
    assert code == 0, stderr
    assert hints(stderr) == [
        "hint: view 'untested' has no test fs can rely on to keep its rows unique per (customer_id, ts), so fs breaks ties on every "
        "feature, which costs time; add the featurestore.feature_unique_entity_timestamp test (or "
        "dbt_utils.unique_combination_of_columns) to its model, with severity error and no where, to skip that"
    ]
    rows = duckdb.execute(f"select * from read_parquet('{out}')").fetchall()
    assert rows == [("c1", datetime(2024, 1, 2), 1.5, 1.5)]


def test_no_hint_when_every_view_is_tested(project, cli):
    code, _, stderr = cli("training-set", "--project-dir", str(project), "--spine", "spine", "--features", "tested:spend", "--sql")
    assert code == 0, stderr
    assert hints(stderr) == []
